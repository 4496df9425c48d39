//! Why did this figure change, over real HTTP on SQLite and PostgreSQL: a bitemporal story. A
//! report is submitted; afterwards the case system adds 43 records for 2025 and Kari corrects 3
//! down to zero, while a 2024 record is corrected too. The diff since the submission names
//! exactly those changes, by whom, where in the log, and how much each moved the figure.

use std::time::Duration;

use api::http::auth::Role;
use domain::schema;
use serde_json::{Value, json};

use crate::bufdir::{options, sandbox};
use crate::helpers::{TestApp, spawn_app_on_postgres_with, spawn_app_with};
use crate::report_history::count_field;

const ORG: &str = "org_482";
const NUMBER: &str = "986128433";
const OTHER: &str = "org-other";

fn token(app: &TestApp, sub: &str, org: &str, roles: &[Role]) -> String {
    app.keys
        .mint(sub, vec![org.to_string()], roles.to_vec(), 3600)
}

/// Imports `records` (id, date, metric, value) from `data_source` as `sub`.
async fn import(
    app: &TestApp,
    sub: &str,
    org: &str,
    data_source: &str,
    records: &[(String, &str, String, f64)],
) {
    let records: Vec<Value> = records
        .iter()
        .map(|(id, on, metric, value)| json!({"record_id": id, "occurred_on": on, "metric": metric, "value": value}))
        .collect();
    let by = token(app, sub, org, &[Role::Reporter]);
    let body = json!({"organization_id": org, "data_source": data_source, "records": records});
    let (status, answer) = app.post("/api/v1/source-records", &by, &body).await;
    assert_eq!(status, 200, "{answer}");
}

/// Exports 2025 in `format` as `token`, lets the workers make it, and answers the export and its
/// file's bytes.
async fn export_2025(app: &TestApp, token: &str, format: &str) -> (Value, Vec<u8>) {
    let body = json!({"org_id": ORG, "format": format, "period_from": "2025-01-01", "period_to": "2025-12-31"});
    let (status, export) = app.post("/api/v1/bufdir-exports", token, &body).await;
    assert_eq!(status, 202, "{export}");
    app.drain_workers().await;
    let id = export["export_id"].as_str().unwrap();
    let (_, done) = app
        .get(&format!("/api/v1/bufdir-exports/{id}"), token)
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    let file = app
        .client
        .get(done["file_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    (export, file.bytes().await.unwrap().to_vec())
}

async fn diff(app: &TestApp, token: &str, query: &str) -> (u16, Value) {
    app.get(
        &format!("/api/v1/organizations/{ORG}/report-diffs/2025?{query}"),
        token,
    )
    .await
}

async fn why_figures_changed(app: TestApp) {
    assert_eq!(app.create_org(ORG, NUMBER).await.0, 201);
    assert_eq!(app.create_org(OTHER, "991825827").await.0, 201);
    let (key, m1) = count_field();
    // Every metric once (so the report validates), and three more records of m1: m1 is 8.
    let mut metrics: Vec<String> = schema::bufdir_2025_v2()
        .fields()
        .map(|(_, f)| f.metric.clone())
        .collect();
    metrics.sort();
    metrics.dedup();
    let mut first: Vec<(String, &str, String, f64)> = metrics
        .iter()
        .map(|m| (format!("{m}-0"), "2025-05-01", m.clone(), 5.0))
        .collect();
    for i in 1..=3 {
        first.push((format!("m1-{i}"), "2025-06-01", m1.clone(), 1.0));
    }
    first.push(("old-2024".into(), "2024-05-01", m1.clone(), 9.0));
    import(&app, "case-system", ORG, "fagsystem", &first).await;

    // Submitted to Bufdir and received.
    let reporter = token(&app, "rita", ORG, &[Role::Reporter]);
    let (status, body) = app
        .post(
            "/api/v1/bufdir-api/authenticate",
            &reporter,
            &json!({"client_id": "eircodex_org_482", "client_secret": "s3cr3t_token_here"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, shown) = app
        .get(
            &format!("/api/v1/organizations/{ORG}/sign-offs/2025"),
            &reporter,
        )
        .await;
    let body = json!({"report_id": "rpt-2025", "org_id": ORG,
                      "payload_version": "bufdir_2025_v2", "payload": shown["payload"]});
    let (status, submitted) = app
        .post("/api/v1/bufdir-api/submit", &reporter, &body)
        .await;
    assert!(status == 200 || status == 202, "{status} {submitted}");
    let requested = app
        .state
        .db
        .events
        .head()
        .await
        .unwrap()
        .unwrap()
        .to_string();
    app.drain_workers().await;
    let submission = submitted["submission_id"].as_str().unwrap().to_string();
    // Its status as it stood before the workers delivered it, read from the log.
    let status_of = |query: String| {
        let path = format!("/api/v1/bufdir-api/submission-status/{submission}{query}");
        let reporter = reporter.clone();
        let app = &app;
        async move { app.get(&path, &reporter).await }
    };
    let (_, now) = status_of(String::new()).await;
    assert!(
        now["status"] == "received" || now["status"] == "accepted",
        "{now}"
    );
    let (status, then) = status_of(format!("?as_of=position:{requested}")).await;
    assert_eq!(status, 200, "{then}");
    assert_eq!(then["status"], "pending");
    assert!(then["reference_id"].is_null());
    assert_eq!(then["requested_at"], now["requested_at"]);
    assert_eq!(status_of("?as_of=position:0".into()).await.0, 404);
    assert_eq!(status_of("?as_of=soon".into()).await.0, 422);

    // Afterwards: 43 new records from the case system; Kari corrects three to zero; a 2024
    // record is corrected (another period); another organisation imports in between.
    let added: Vec<(String, &str, String, f64)> = (0..43)
        .map(|i| (format!("new-{i}"), "2025-09-01", m1.clone(), 1.0))
        .collect();
    import(&app, "case-system", ORG, "fagsystem", &added).await;
    import(
        &app,
        "someone-else",
        OTHER,
        "x",
        &[("b-1".into(), "2025-09-01", m1.clone(), 100.0)],
    )
    .await;
    let corrected: Vec<(String, &str, String, f64)> = (1..=3)
        .map(|i| (format!("m1-{i}"), "2025-06-01", m1.clone(), 0.0))
        .collect();
    import(&app, "kari", ORG, "korrigering", &corrected).await;
    import(
        &app,
        "kari",
        ORG,
        "korrigering",
        &[("old-2024".into(), "2024-05-01", m1.clone(), 1.0)],
    )
    .await;

    let viewer = token(&app, "vera", ORG, &[Role::Viewer]);
    let (status, since) = diff(&app, &viewer, "").await;
    assert_eq!(status, 200, "{since}");
    assert_eq!(since["from"]["version"], "last_submission");
    assert!(since["to"]["position"].is_null());
    let fields = since["fields"].as_array().unwrap();
    let changed: Vec<&str> = fields.iter().map(|f| f["key"].as_str().unwrap()).collect();
    assert!(changed.contains(&key.as_str()), "{since}");
    for f in fields {
        assert_eq!(f["before"], 8.0, "{f}");
        assert_eq!(f["after"], 48.0);
        assert_eq!(f["change"], 40.0);
        assert_eq!(f["relative_change"], 5.0);
        assert_eq!(f["unit"], "count");
        assert!(f["label_nn"].is_string());
        let lineage = f["lineage"].as_array().unwrap();
        assert_eq!(lineage.len(), 2, "{f}");
        assert_eq!(lineage[0]["actor"], "case-system");
        assert_eq!(lineage[0]["change"], 43.0);
        assert_eq!(lineage[0]["records_added"], 43);
        assert_eq!(lineage[0]["records_replaced"], 0);
        assert_eq!(lineage[1]["actor"], "kari");
        assert_eq!(lineage[1]["data_source"], "korrigering");
        assert_eq!(lineage[1]["change"], -3.0);
        assert_eq!(lineage[1]["records_replaced"], 3);
        let position = |c: &Value| c["position"].as_str().unwrap().parse::<i64>().unwrap();
        assert!(position(&lineage[0]) < position(&lineage[1]));
    }
    assert_eq!(since["findings_appeared"], json!([]));

    // The same from the submission by id, and backwards.
    let (_, by_id) = diff(
        &app,
        &viewer,
        &format!("from_version=submission:{submission}"),
    )
    .await;
    assert_eq!(by_id["fields"], since["fields"]);
    let (_, back) = diff(
        &app,
        &viewer,
        "from_version=current&to_version=last_submission",
    )
    .await;
    assert_eq!(back["fields"][0]["change"], -40.0);
    assert_eq!(back["fields"][0]["lineage"][1]["change"], 3.0);

    // From just after the case system's import: Kari's correction alone.
    let first_change = &since["fields"][0]["lineage"][0];
    let (_, later) = diff(
        &app,
        &viewer,
        &format!(
            "from_version=position:{}",
            first_change["position"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(later["fields"][0]["change"], -3.0, "{later}");
    assert_eq!(later["fields"][0]["before"], 51.0);
    // The same by time: what was recorded by a millisecond after that import (the answer
    // writes times to the millisecond).
    let at = chrono::DateTime::parse_from_rfc3339(first_change["imported_at"].as_str().unwrap())
        .unwrap()
        + chrono::Duration::milliseconds(1);
    let at = at
        .to_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let (status, by_time) = diff(&app, &viewer, &format!("from_version={at}")).await;
    assert_eq!(status, 200, "{by_time}");
    assert_eq!(by_time["fields"], later["fields"]);

    // The records behind a change, a page at a time, as each import sent them.
    let records = |position: &str, query: &str| {
        format!(
            "/api/v1/organizations/{ORG}/report-diffs/2025/imports/{position}/records?field_key={key}&{query}"
        )
    };
    let case_import = since["fields"][0]["lineage"][0]["position"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, page) = app
        .get(&records(&case_import, "limit=20&page=3"), &viewer)
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["pagination"]["total"], 43);
    assert_eq!(page["data"].as_array().unwrap().len(), 3);
    assert_eq!(page["actor"], "case-system");
    let kari_import = since["fields"][0]["lineage"][1]["position"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, kari) = app.get(&records(&kari_import, ""), &viewer).await;
    let values: Vec<f64> = kari["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["value"].as_f64().unwrap())
        .collect();
    assert_eq!(values, [0.0, 0.0, 0.0], "{kari}");
    // Another organisation's import, by its position, is not found; nor is a field that is none.
    let stranger = token(&app, "sam", OTHER, &[Role::Viewer, Role::Reporter]);
    let (_, theirs) = app
        .get(
            &format!("/api/v1/organizations/{OTHER}/report-diffs/2025?from_version=position:0"),
            &stranger,
        )
        .await;
    let their_import = theirs["fields"][0]["lineage"][0]["position"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, problem) = app.get(&records(&their_import, ""), &viewer).await;
    assert_eq!(status, 404, "{problem}");
    assert!(!problem.to_string().contains("someone-else"), "{problem}");
    let (status, _) = app
        .get(&format!("/api/v1/organizations/{ORG}/report-diffs/2025/imports/{case_import}/records?field_key=nope"), &viewer)
        .await;
    assert_eq!(status, 422);

    // An Excel export carries the same as a sheet of changes since the submission: a blackline
    // for numbers, read back with calamine.
    let (export, bytes) = export_2025(&app, &reporter, "xlsx").await;
    // The export's report-history record, as it stood before and after it was made.
    let report =
        crate::report_history::report_of(&app, ORG, export["export_id"].as_str().unwrap()).await;
    let record = format!(
        "/api/v1/report-history/{}",
        report["report_id"].as_str().unwrap()
    );
    let head = app
        .state
        .db
        .events
        .head()
        .await
        .unwrap()
        .unwrap()
        .to_string();
    let (status, then) = app
        .get(&format!("{record}?as_of=position:{head}"), &reporter)
        .await;
    assert_eq!(status, 200, "{then}");
    assert_eq!(then["status"], "completed");
    assert_eq!(then["file_ref"], report["file_ref"]);
    let (status, _) = app
        .get(&format!("{record}?as_of=position:0"), &reporter)
        .await;
    assert_eq!(status, 404);
    use calamine::{Data, Reader};
    let mut book = calamine::Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
    let sheet = book
        .worksheet_range("Endringer")
        .expect("a sheet of changes");
    let rows: Vec<Vec<Data>> = sheet.rows().map(|r| r.to_vec()).collect();
    let at = rows
        .iter()
        .position(|r| r.get(1) == Some(&Data::String(key.clone())))
        .unwrap_or_else(|| panic!("{rows:?}"));
    assert_eq!(
        rows[at][2..5],
        [Data::Float(8.0), Data::Float(48.0), Data::Float(40.0)]
    );
    let lineage = |r: &Vec<Data>| match (&r[4], &r[5]) {
        (Data::Float(change), Data::String(text)) => (*change, text.clone()),
        other => panic!("{other:?}"),
    };
    let (change, text) = lineage(&rows[at + 1]);
    assert_eq!(change, 43.0);
    assert!(
        text.contains("case-system (fagsystem), 43 poster"),
        "{text}"
    );
    let (change, text) = lineage(&rows[at + 2]);
    assert_eq!(change, -3.0);
    assert!(
        text.contains("kari (korrigering), 3 poster, 3 korrigert"),
        "{text}"
    );

    // A CSV export has the same as rows, one per import behind each changed field.
    let (_, bytes) = export_2025(&app, &reporter, "csv").await;
    let text = String::from_utf8(bytes).unwrap();
    let block: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("felt;nokkel;ved_siste_innsending"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    let ours: Vec<Vec<&str>> = block
        .iter()
        .map(|l| l.split(';').collect::<Vec<_>>())
        .filter(|cells| cells[1] == key)
        .collect();
    assert_eq!(ours.len(), 2, "{text}");
    assert_eq!(ours[0][2..5], ["8", "48", "43"]);
    assert_eq!(ours[0][7..], ["case-system", "fagsystem", "43", "0"]);
    assert_eq!(ours[1][4], "-3");
    assert_eq!(ours[1][7..], ["kari", "korrigering", "3", "3"]);

    // Refused: a version that is none, a period that is none; another organisation's caller,
    // and another organisation's snapshot named as a version, are not found.
    assert_eq!(diff(&app, &viewer, "from_version=yesterday").await.0, 422);
    let (status, _) = app
        .get(
            &format!("/api/v1/organizations/{ORG}/report-diffs/2025-Q5"),
            &viewer,
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(diff(&app, &stranger, "").await.0, 404);
    let (status, snapshot) = app
        .post(
            "/api/v1/aggregated-report-data",
            &token(&app, "sam", OTHER, &[Role::Reporter]),
            &json!({"organization_id": OTHER, "period_id": "2025"}),
        )
        .await;
    assert!(status == 200 || status == 202, "{snapshot}");
    let theirs = snapshot["snapshot_id"].as_str().unwrap();
    let (status, problem) = diff(&app, &viewer, &format!("from_version=snapshot:{theirs}")).await;
    assert_eq!(status, 404, "{problem}");
    assert!(!problem.to_string().contains(OTHER), "{problem}");
}

#[tokio::test]
async fn a_diff_since_the_submission_names_each_change_and_who_made_it_on_sqlite() {
    let (bufdir, _stop) = sandbox(Duration::ZERO).await;
    let app = spawn_app_with(options(&bufdir, Duration::ZERO, false)).await;
    why_figures_changed(app).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run ci/test, or set TEST_DATABASE_URL and pass --run-ignored all"]
async fn a_diff_since_the_submission_names_each_change_and_who_made_it_on_postgres() {
    let (bufdir, _stop) = sandbox(Duration::ZERO).await;
    let app = spawn_app_on_postgres_with(options(&bufdir, Duration::ZERO, false)).await;
    why_figures_changed(app).await;
}
