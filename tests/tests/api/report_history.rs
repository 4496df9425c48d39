//! The report history over HTTP: completed exports record themselves, with a file that outlives
//! the export's; records made by hand move forward only; downloads by signed link; deletion only
//! after the retention period, with the deletion kept in the log.

use api::http::auth::Role;
use domain::schema::{self, Measure, Unit};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_on_postgres};

pub const ORG: &str = "org-hist";

/// A field summed from record values, and its metric.
pub fn count_field() -> (String, String) {
    let (_, field) = schema::bufdir_2025_v2()
        .fields()
        .find(|(_, f)| f.unit == Unit::Count && f.measure == Measure::Value)
        .expect("a count field");
    (field.key.clone(), field.metric.clone())
}

/// Imports records of `metric` (id, date, value) for the organisation.
pub async fn import(app: &TestApp, org: &str, metric: &str, records: &[(&str, &str, f64)]) {
    let records: Vec<Value> = records
        .iter()
        .map(|(id, date, value)| {
            json!({"record_id": id, "occurred_on": date, "metric": metric, "value": value})
        })
        .collect();
    let body = json!({"organization_id": org, "data_source": "fagsystem-cis", "records": records});
    let (status, body) = app.post("/api/v1/source-records", &app.admin, &body).await;
    assert_eq!(status, 200, "{body}");
}

/// An export of 2025 by a reporter (`user-rep`), run to completion; returns the export.
pub async fn export_2025(app: &TestApp, org: &str, format: &str) -> Value {
    let reporter = app
        .keys
        .mint("user-rep", vec![org.into()], vec![Role::Reporter], 3600);
    let body = json!({"org_id": org, "format": format, "period_from": "2025-01-01",
                      "period_to": "2025-12-31", "activity_types": [], "include_attachments": false,
                      "submit_to_bufdir_api": false});
    let (status, created) = app.post("/api/v1/bufdir-exports", &reporter, &body).await;
    assert_eq!(status, 202, "{created}");
    app.drain_workers().await;
    let id = created["export_id"].as_str().unwrap();
    let (status, export) = app
        .get(&format!("/api/v1/bufdir-exports/{id}"), &app.admin)
        .await;
    assert_eq!(status, 200);
    assert_eq!(export["status"], "completed", "{export}");
    export
}

/// The history's report of an export.
pub async fn report_of(app: &TestApp, org: &str, export_id: &str) -> Value {
    let (status, list) = app
        .get(&format!("/api/v1/report-history?org_id={org}"), &app.admin)
        .await;
    assert_eq!(status, 200, "{list}");
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["export_id"] == export_id)
        .cloned()
        .unwrap_or_else(|| panic!("no report of {export_id} in {list}"))
}

async fn bytes(app: &TestApp, url: &str) -> (u16, Vec<u8>) {
    let r = app.client.get(url).send().await.unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn a_completed_export_records_its_report_with_a_file_that_outlives_the_export() {
    completed_export_records_a_report(spawn_app().await).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run ci/test, or set TEST_DATABASE_URL and pass --run-ignored all"]
async fn a_completed_export_records_its_report_on_postgres() {
    let app = spawn_app_on_postgres().await;
    completed_export_records_a_report(app).await;
}

async fn completed_export_records_a_report(app: TestApp) {
    assert_eq!(app.create_org(ORG, "986128433").await.0, 201);
    let (_, metric) = count_field();
    import(&app, ORG, &metric, &[("r1", "2025-03-01", 10.0)]).await;
    let export = export_2025(&app, ORG, "csv").await;
    let export_id = export["export_id"].as_str().unwrap();
    let report = report_of(&app, ORG, export_id).await;
    let report_id = report["report_id"].as_str().unwrap();
    assert!(report_id.starts_with("rpt_"));
    assert_eq!(report["report_type"], "annual_summary");
    assert_eq!(report["period_from"], "2025-01-01");
    assert_eq!(report["period_to"], "2025-12-31");
    assert_eq!(report["status"], "completed");
    assert_eq!(report["generated_by"], "user-rep");
    assert_eq!(report["generated_at"], export["completed_at"]);
    assert_eq!(report["source_position"], export["source_position"]);
    assert_eq!(report["retained_until"], "2030-12-31");
    let file_ref = report["file_ref"].as_str().unwrap();
    assert!(
        file_ref.starts_with(&format!("reports/{ORG}/{report_id}/")),
        "{file_ref}"
    );
    assert_eq!(report["file_size_bytes"], export["file_size_bytes"]);

    // The single record, as the contract shows it.
    let (status, one) = app
        .get(&format!("/api/v1/report-history/{report_id}"), &app.admin)
        .await;
    assert_eq!(status, 200);
    assert_eq!(one, report);

    // Downloaded by signed link, without a token: the export's bytes.
    let (status, link) = app
        .get(
            &format!("/api/v1/report-history/{report_id}/download-url"),
            &app.admin,
        )
        .await;
    assert_eq!(status, 200, "{link}");
    assert_eq!(link["report_id"], report_id);
    assert_eq!(link["file_size_bytes"], report["file_size_bytes"]);
    assert!(link["file_name"].as_str().unwrap().ends_with(".csv"));
    assert!(link["expires_at"].as_str().is_some());
    let url = link["download_url"].as_str().unwrap();
    let (status, from_report) = bytes(&app, url).await;
    assert_eq!(status, 200);
    let (_, from_export) = bytes(&app, export["file_url"].as_str().unwrap()).await;
    assert_eq!(from_report, from_export);
    let (status, _) = bytes(&app, &url.replace("signature=", "signature=0")).await;
    assert_eq!(status, 403, "a tampered link is refused");

    // Deleting the export removes its file; the report keeps its own copy.
    let (status, _) = app
        .delete(&format!("/api/v1/bufdir-exports/{export_id}"), &app.admin)
        .await;
    assert_eq!(status, 200);
    app.drain_workers().await;
    let (status, again) = bytes(&app, url).await;
    assert_eq!(status, 200);
    assert_eq!(again, from_export);

    // Running the workers again records nothing twice.
    app.drain_workers().await;
    let (_, list) = app
        .get(&format!("/api/v1/report-history?org_id={ORG}"), &app.admin)
        .await;
    assert_eq!(list["pagination"]["total"], 1, "{list}");
}

/// A quarterly report for 2026-Q1 as a client records it, with `generated_by` of its own.
fn quarterly_report() -> Value {
    json!({"org_id": ORG, "report_type": "quarterly_activity", "period_from": "2026-01-01",
           "period_to": "2026-03-31", "status": "pending", "generated_by": "user_09AXKL2"})
}

/// A report recorded by hand, as the organisation's reporter, in a new app.
struct Recorded {
    app: TestApp,
    reporter: String,
    /// Where the answer's `Location` pointed.
    location: String,
    created: Value,
    /// The report's own path.
    path: String,
}

async fn a_report_recorded_by_hand() -> Recorded {
    let app = spawn_app().await;
    assert_eq!(app.create_org(ORG, "986128433").await.0, 201);
    let reporter = app.token(&[ORG], &[Role::Reporter]);
    let r = app
        .client
        .post(app.url("/api/v1/report-history"))
        .bearer_auth(&reporter)
        .json(&quarterly_report())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let created: Value = r.json().await.unwrap();
    let path = format!(
        "/api/v1/report-history/{}",
        created["report_id"].as_str().unwrap()
    );
    Recorded {
        app,
        reporter,
        location,
        created,
        path,
    }
}

/// Takes the report through `generating` to `completed` with a file the renderer left in the
/// organisation's own part of the store; returns the completed report.
async fn complete_with_a_file(report: &Recorded) -> Value {
    let Recorded {
        app,
        reporter,
        path,
        ..
    } = report;
    let (status, updated) = app
        .put(path, reporter, &json!({"status": "generating"}))
        .await;
    assert_eq!(status, 200, "{updated}");
    app.put_file(
        "reports/org-hist/2026-Q1/report_final.xlsx",
        &vec![7u8; 318720],
    )
    .await;
    let done = json!({"status": "completed", "file_ref": "reports/org-hist/2026-Q1/report_final.xlsx",
                      "file_size_bytes": 318720, "generated_at": "2026-03-26T12:45:00Z"});
    let (status, updated) = app.put(path, reporter, &done).await;
    assert_eq!(status, 200, "{updated}");
    updated
}

#[tokio::test]
async fn a_report_recorded_by_hand_answers_201_with_its_location_and_starts_pending() {
    let report = a_report_recorded_by_hand().await;
    let created = &report.created;
    let id = created["report_id"].as_str().unwrap();
    assert_eq!(report.location, format!("/api/v1/report-history/{id}"));
    assert_eq!(created["status"], "pending");
    assert_eq!(created["file_ref"], Value::Null);
    assert_eq!(created["generated_at"], Value::Null);
    assert_eq!(created["generated_by"], "user_09AXKL2");
}

#[tokio::test]
async fn a_report_without_a_file_has_no_download_link() {
    let Recorded {
        app,
        reporter,
        path,
        ..
    } = a_report_recorded_by_hand().await;
    let (status, problem) = app.get(&format!("{path}/download-url"), &reporter).await;
    assert_eq!(status, 409, "{problem}");
}

#[tokio::test]
async fn a_report_completes_only_with_a_file_in_its_organisation() {
    let Recorded {
        app,
        reporter,
        path,
        ..
    } = a_report_recorded_by_hand().await;
    let (status, problem) = app
        .put(&path, &reporter, &json!({"status": "completed"}))
        .await;
    assert_eq!(status, 422, "completion needs a file: {problem}");
    assert_eq!(problem["errors"][0]["field"], "file_ref");
    let (status, problem) = app
        .put(
            &path,
            &reporter,
            &json!({"file_ref": "../../etc/passwd", "file_size_bytes": 1}),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
}

#[tokio::test]
async fn a_completed_report_keeps_its_file_and_generated_at_and_never_goes_back() {
    let report = a_report_recorded_by_hand().await;
    let updated = complete_with_a_file(&report).await;
    assert_eq!(updated["status"], "completed");
    assert_eq!(updated["file_size_bytes"], 318720);
    let generated_at = updated["generated_at"].as_str().unwrap();
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(generated_at).unwrap(),
        chrono::DateTime::parse_from_rfc3339("2026-03-26T12:45:00Z").unwrap()
    );
    assert_ne!(updated["updated_at"], report.created["updated_at"]);
    for back in ["pending", "generating", "failed"] {
        let (status, problem) = report
            .app
            .put(&report.path, &report.reporter, &json!({"status": back}))
            .await;
        assert_eq!(status, 409, "completed → {back}: {problem}");
    }
}

#[tokio::test]
async fn a_report_type_that_does_not_fit_the_period_is_refused() {
    let Recorded { app, reporter, .. } = a_report_recorded_by_hand().await;
    let mismatch = json!({"org_id": ORG, "report_type": "annual_summary", "period_from": "2026-01-01",
                          "period_to": "2026-03-31"});
    let (status, problem) = app
        .post("/api/v1/report-history", &reporter, &mismatch)
        .await;
    assert_eq!(status, 422);
    assert_eq!(problem["errors"][0]["code"], "report_type_mismatch");
}

#[tokio::test]
async fn a_viewer_cannot_record_a_report() {
    let Recorded { app, .. } = a_report_recorded_by_hand().await;
    let viewer = app.token(&[ORG], &[Role::Viewer]);
    let (status, _) = app
        .post("/api/v1/report-history", &viewer, &quarterly_report())
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn another_organisations_report_and_an_unknown_one_are_not_found() {
    let Recorded {
        app,
        reporter,
        path,
        ..
    } = a_report_recorded_by_hand().await;
    let stranger = app.token(&["org-other"], &[Role::Reporter]);
    let (status, _) = app.get(&path, &stranger).await;
    assert_eq!(
        status, 404,
        "another organisation's report does not exist for them"
    );
    let (status, _) = app.get("/api/v1/report-history/rpt_nope", &reporter).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_report_recorded_without_generated_by_names_the_caller() {
    let Recorded { app, reporter, .. } = a_report_recorded_by_hand().await;
    let annual = json!({"org_id": ORG, "report_type": "annual_summary", "period_from": "2025-01-01",
                        "period_to": "2025-12-31"});
    let (status, annual) = app.post("/api/v1/report-history", &reporter, &annual).await;
    assert_eq!(status, 201);
    assert_eq!(
        annual["generated_by"], "test-user",
        "defaults to the caller"
    );
}

#[tokio::test]
async fn the_history_filters_by_period_type_and_status() {
    // A completed quarterly report of 2026-Q1, then a pending annual one of 2025.
    let report = a_report_recorded_by_hand().await;
    complete_with_a_file(&report).await;
    let Recorded {
        app,
        reporter,
        created,
        ..
    } = report;
    let id = created["report_id"].as_str().unwrap().to_string();
    let annual = json!({"org_id": ORG, "report_type": "annual_summary", "period_from": "2025-01-01",
                        "period_to": "2025-12-31"});
    let (status, annual) = app.post("/api/v1/report-history", &reporter, &annual).await;
    assert_eq!(status, 201);
    let ids = |list: &Value| -> Vec<String> {
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["report_id"].as_str().unwrap().to_string())
            .collect()
    };
    let annual_id = annual["report_id"].as_str().unwrap().to_string();
    let cases = [
        ("", vec![annual_id.clone(), id.clone()]),
        ("&report_type=quarterly_activity", vec![id.clone()]),
        ("&status=pending", vec![annual_id.clone()]),
        ("&period_from=2026-02-01", vec![id.clone()]),
        ("&period_to=2025-06-30", vec![annual_id.clone()]),
        (
            "&period_from=2025-12-31&period_to=2026-01-01",
            vec![annual_id.clone(), id.clone()],
        ),
        ("&period_from=2027-01-01", vec![]),
    ];
    for (query, expected) in cases {
        let (status, list) = app
            .get(
                &format!("/api/v1/report-history?org_id={ORG}{query}"),
                &reporter,
            )
            .await;
        assert_eq!(status, 200, "{query}: {list}");
        assert_eq!(ids(&list), expected, "{query}");
        assert_eq!(list["pagination"]["total"], expected.len(), "{query}");
    }
}

#[tokio::test]
async fn an_unknown_report_type_filter_is_refused() {
    let Recorded { app, reporter, .. } = a_report_recorded_by_hand().await;
    let (status, _) = app
        .get("/api/v1/report-history?report_type=weekly", &reporter)
        .await;
    assert!(status == 400 || status == 422, "{status}");
}

/// Two completed annual reports an admin recorded, with a file an external renderer left in the
/// store: one of 2019, past its retention, and one of 2025, within it.
struct OldAndRecent {
    app: TestApp,
    admin: String,
    old: String,
    recent: String,
    file_ref: String,
}

async fn an_old_and_a_recent_report() -> OldAndRecent {
    let app = spawn_app().await;
    assert_eq!(app.create_org(ORG, "986128433").await.0, 201);
    let admin = app.token(&[ORG], &[Role::Admin]);
    let work_dir = &app.state.services.exports.work_dir;
    std::fs::create_dir_all(work_dir).unwrap();
    let source = work_dir.join("old-report.pdf");
    std::fs::write(&source, b"old report").unwrap();
    let file_ref = format!("reports/{ORG}/2019/report.pdf");
    app.state
        .services
        .files
        .put_file(&file_ref, &source)
        .await
        .unwrap();
    let mut ids = vec![];
    for (from, to) in [("2019-01-01", "2019-12-31"), ("2025-01-01", "2025-12-31")] {
        let body = json!({"org_id": ORG, "report_type": "annual_summary", "period_from": from,
                          "period_to": to, "status": "completed", "file_ref": file_ref,
                          "file_size_bytes": 10});
        let (status, created) = app.post("/api/v1/report-history", &admin, &body).await;
        assert_eq!(status, 201, "{created}");
        ids.push(created["report_id"].as_str().unwrap().to_string());
    }
    let recent = ids.pop().unwrap();
    let old = ids.pop().unwrap();
    OldAndRecent {
        app,
        admin,
        old,
        recent,
        file_ref,
    }
}

#[tokio::test]
async fn a_report_within_its_retention_is_not_deleted_and_the_refusal_says_until_when() {
    let OldAndRecent {
        app, admin, recent, ..
    } = an_old_and_a_recent_report().await;
    let (status, problem) = app
        .delete(&format!("/api/v1/report-history/{recent}"), &admin)
        .await;
    assert_eq!(status, 409, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("2030-12-31"),
        "the refusal says until when: {problem}"
    );
}

#[tokio::test]
async fn only_an_admin_deletes_a_report() {
    let OldAndRecent { app, old, .. } = an_old_and_a_recent_report().await;
    let reporter = app.token(&[ORG], &[Role::Reporter]);
    let (status, _) = app
        .delete(&format!("/api/v1/report-history/{old}"), &reporter)
        .await;
    assert_eq!(status, 403, "deleting a legal record is for admins");
}

#[tokio::test]
async fn a_report_past_its_retention_is_deleted_once_together_with_its_file() {
    let OldAndRecent {
        app,
        admin,
        old,
        file_ref,
        ..
    } = an_old_and_a_recent_report().await;
    let (status, deleted) = app
        .delete(&format!("/api/v1/report-history/{old}"), &admin)
        .await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted["report_id"], old.as_str());
    assert_eq!(deleted["deleted"], true);
    assert!(deleted["deleted_at"].as_str().is_some());
    let (status, _) = app
        .get(&format!("/api/v1/report-history/{old}"), &admin)
        .await;
    assert_eq!(status, 404);
    assert!(
        app.state
            .services
            .files
            .get(&file_ref)
            .await
            .unwrap()
            .is_none(),
        "the file went with the record"
    );
    let (status, _) = app
        .delete(&format!("/api/v1/report-history/{old}"), &admin)
        .await;
    assert_eq!(status, 404);
    let (_, list) = app
        .get(&format!("/api/v1/report-history?org_id={ORG}"), &admin)
        .await;
    assert_eq!(list["pagination"]["total"], 1);
}

#[tokio::test]
async fn the_log_keeps_that_a_report_was_deleted_and_who_did_it() {
    let OldAndRecent {
        app, admin, old, ..
    } = an_old_and_a_recent_report().await;
    let (status, deleted) = app
        .delete(&format!("/api/v1/report-history/{old}"), &admin)
        .await;
    assert_eq!(status, 200, "{deleted}");
    let events = app
        .state
        .db
        .events
        .read_stream(&format!("report-{old}"), 0)
        .await
        .unwrap();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        ["ReportRecorded", "ReportDeleted", "ReportFileRemoved"]
    );
    assert_eq!(events[1].metadata.actor.as_deref(), Some("test-user"));
}
