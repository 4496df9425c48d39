//! Re-exports over HTTP: regenerated from the log as it stood when the report was made (not
//! today's data), in another format and language; cancellation; an external renderer reporting
//! through PUT; and the signed completion webhook, delivered from an outbox through failures.

use std::sync::{Arc, Mutex};

use api::http::auth::Role;
use domain::schema;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_on_postgres};
use crate::report_history::{ORG, count_field, export_2025, import, report_of};

/// The CSV's value for a field key (`;` or `,` separated, the key in the third column).
fn csv_value(csv: &str, key: &str) -> String {
    let separator = if csv.lines().next().unwrap_or("").contains(';') {
        ';'
    } else {
        ','
    };
    let line = csv
        .lines()
        .find(|l| l.split(separator).nth(2) == Some(key))
        .unwrap_or_else(|| panic!("no line for {key} in {csv}"));
    line.split(separator).nth(3).unwrap().to_string()
}

async fn text(app: &TestApp, url: &str) -> String {
    let r = app.client.get(url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    r.text().await.unwrap()
}

/// The file of the report a (re-)export recorded, as text.
async fn report_file(app: &TestApp, export_id: &str) -> (Value, String) {
    let report = report_of(app, ORG, export_id).await;
    let id = report["report_id"].as_str().unwrap();
    let (status, link) = app
        .get(
            &format!("/api/v1/report-history/{id}/download-url"),
            &app.admin,
        )
        .await;
    assert_eq!(status, 200, "{link}");
    let body = text(app, link["download_url"].as_str().unwrap()).await;
    (report, body)
}

pub async fn reexport(app: &TestApp, token: &str, body: &Value) -> Value {
    let r = app
        .client
        .post(app.url("/api/v1/report-reexports"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let created: Value = r.json().await.unwrap();
    assert_eq!(
        location,
        format!(
            "/api/v1/report-reexports/{}",
            created["reexport_id"].as_str().unwrap()
        )
    );
    created
}

async fn get(app: &TestApp, id: &str) -> Value {
    let (status, body) = app
        .get(&format!("/api/v1/report-reexports/{id}"), &app.admin)
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// An organisation with one report of 2025 made when r1 was 10; since then r1 was corrected to
/// 99 and r2 (5) arrived. Returns the report.
pub async fn report_then_changes(app: &TestApp) -> Value {
    assert_eq!(app.create_org(ORG, "986128433").await.0, 201);
    let (_, metric) = count_field();
    import(app, ORG, &metric, &[("r1", "2025-03-01", 10.0)]).await;
    let export = export_2025(app, ORG, "csv").await;
    let report = report_of(app, ORG, export["export_id"].as_str().unwrap()).await;
    import(
        app,
        ORG,
        &metric,
        &[("r1", "2025-03-01", 99.0), ("r2", "2025-04-01", 5.0)],
    )
    .await;
    app.drain_workers().await;
    report
}

#[tokio::test]
async fn a_reexport_regenerates_the_report_from_the_data_as_it_stood_then() {
    regenerates_as_it_stood(spawn_app().await).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run ci/test, or set TEST_DATABASE_URL and pass --run-ignored all"]
async fn a_reexport_on_postgres_regenerates_the_report_as_it_stood_then() {
    let app = spawn_app_on_postgres().await;
    regenerates_as_it_stood(app).await;
}

async fn regenerates_as_it_stood(app: TestApp) {
    let report = report_then_changes(&app).await;
    let (key, _) = count_field();
    let report_id = report["report_id"].as_str().unwrap();

    // Today's data has moved on.
    let today = export_2025(&app, ORG, "csv").await;
    let (_, today_csv) = report_file(&app, today["export_id"].as_str().unwrap()).await;
    assert_eq!(csv_value(&today_csv, &key), "104");

    let reporter = app.token(&[ORG], &[Role::Reporter]);
    let body = json!({"report_id": report_id,
                      "export_params": {"format": "csv", "include_annexes": true, "locale": "nb-NO"},
                      "notify_on_completion": false});
    let created = reexport(&app, &reporter, &body).await;
    assert_eq!(created["status"], "pending");
    assert_eq!(created["report_id"], report_id);
    assert_eq!(created["org_id"], ORG);
    assert_eq!(
        created["export_params"],
        json!({"format": "csv", "include_annexes": true, "locale": "nb-NO"})
    );
    assert_eq!(created["output_file_ref"], Value::Null);
    assert_eq!(created["completed_at"], Value::Null);
    assert_eq!(created["requested_by"], "test-user");
    assert_eq!(created["notified"], false);
    assert_eq!(created["as_of_position"], report["source_position"]);
    let id = created["reexport_id"].as_str().unwrap();
    assert!(id.starts_with("reexp_"));

    app.drain_workers().await;
    let done = get(&app, id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["error_message"], Value::Null);
    assert!(done["completed_at"].as_str().is_some());
    assert!(done["output_file_size_bytes"].as_u64().unwrap() > 0);
    assert!(
        done["output_file_ref"]
            .as_str()
            .unwrap()
            .ends_with("-reexport-nb-NO.csv")
    );

    // The old figure, and only the records known then in the annex.
    let (regenerated, csv) = report_file(&app, id).await;
    assert_eq!(csv_value(&csv, &key), "10", "{csv}");
    assert!(csv.contains("r1"), "{csv}");
    assert!(
        !csv.contains("r2"),
        "a record that came later is not in it: {csv}"
    );
    assert_eq!(regenerated["source_position"], report["source_position"]);
    assert_eq!(regenerated["generated_by"], "test-user");

    // In English: the schema's English labels.
    let english =
        json!({"report_id": report_id, "export_params": {"format": "csv", "locale": "en-GB"}});
    let created = reexport(&app, &reporter, &english).await;
    app.drain_workers().await;
    let (_, csv) = report_file(&app, created["reexport_id"].as_str().unwrap()).await;
    let (_, field) = schema::bufdir_2025_v2()
        .fields()
        .find(|(_, f)| f.key == key)
        .unwrap();
    assert!(csv.contains(&field.labels.en), "{csv}");
    assert!(!csv.contains(&field.labels.nb), "{csv}");
    assert_eq!(csv_value(&csv, &key), "10");

    // Listed with filters; plain export lists do not show re-exports.
    let (_, list) = app
        .get(
            &format!("/api/v1/report-reexports?report_id={report_id}"),
            &reporter,
        )
        .await;
    assert_eq!(list["pagination"]["total"], 2, "{list}");
    let (_, list) = app
        .get(
            "/api/v1/report-reexports?status=completed&org_id=org-hist",
            &reporter,
        )
        .await;
    assert_eq!(list["pagination"]["total"], 2, "{list}");
    let (_, list) = app
        .get("/api/v1/report-reexports?status=pending", &reporter)
        .await;
    assert_eq!(list["pagination"]["total"], 0, "{list}");
    let (_, exports) = app.get("/api/v1/bufdir-exports", &reporter).await;
    assert_eq!(exports["pagination"]["total"], 2, "{exports}");
}

#[tokio::test]
async fn bad_reexport_requests_are_refused_and_nothing_is_queued() {
    let app = spawn_app().await;
    let report = report_then_changes(&app).await;
    let report_id = report["report_id"].as_str().unwrap();
    let reporter = app.token(&[ORG], &[Role::Reporter]);
    let cases = [
        (
            json!({"report_id": report_id, "export_params": {"format": "docx"}}),
            422,
        ),
        (
            json!({"report_id": report_id, "export_params": {"locale": "de-DE"}}),
            422,
        ),
        (json!({"report_id": "rpt_unknown"}), 404),
        (json!({"export_params": {}}), 400),
    ];
    for (body, expected) in cases {
        let (status, problem) = app.post("/api/v1/report-reexports", &reporter, &body).await;
        assert_eq!(status, expected, "{body}: {problem}");
    }
    let viewer = app.token(&[ORG], &[Role::Viewer]);
    let (status, _) = app
        .post(
            "/api/v1/report-reexports",
            &viewer,
            &json!({"report_id": report_id}),
        )
        .await;
    assert_eq!(status, 403);
    let stranger = app.token(&["org-other"], &[Role::Reporter]);
    let (status, _) = app
        .post(
            "/api/v1/report-reexports",
            &stranger,
            &json!({"report_id": report_id}),
        )
        .await;
    assert_eq!(status, 404);
    let pending = json!({"org_id": ORG, "report_type": "annual_summary",
                         "period_from": "2024-01-01", "period_to": "2024-12-31"});
    let (_, pending) = app
        .post("/api/v1/report-history", &reporter, &pending)
        .await;
    let (status, problem) = app
        .post(
            "/api/v1/report-reexports",
            &reporter,
            &json!({"report_id": pending["report_id"]}),
        )
        .await;
    assert_eq!(
        status, 409,
        "a report without a file has nothing to regenerate: {problem}"
    );
    let (_, list) = app.get("/api/v1/report-reexports", &app.admin).await;
    assert_eq!(list["pagination"]["total"], 0, "{list}");
}

#[tokio::test]
async fn a_pending_reexport_is_cancelled_and_a_completed_one_is_not() {
    let app = spawn_app().await;
    let report = report_then_changes(&app).await;
    let body = json!({"report_id": report["report_id"]});
    let first = reexport(&app, &app.admin, &body).await;
    assert_eq!(
        first["export_params"]["format"], "csv",
        "the original's format"
    );
    let id = first["reexport_id"].as_str().unwrap();
    let path = format!("/api/v1/report-reexports/{id}");
    let (status, cancelled) = app.delete(&path, &app.admin).await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["reexport_id"], id);
    assert_eq!(cancelled["cancelled"], true);
    assert!(cancelled["cancelled_at"].as_str().is_some());
    assert_eq!(get(&app, id).await["status"], "cancelled");
    let (status, _) = app.delete(&path, &app.admin).await;
    assert_eq!(status, 409);

    let second = reexport(&app, &app.admin, &body).await;
    app.drain_workers().await;
    let id = second["reexport_id"].as_str().unwrap();
    assert_eq!(get(&app, id).await["status"], "completed");
    let (status, problem) = app
        .delete(&format!("/api/v1/report-reexports/{id}"), &app.admin)
        .await;
    assert_eq!(status, 409, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("completed"));
    // The cancelled one left no file and no report.
    let (_, list) = app
        .get(&format!("/api/v1/report-history?org_id={ORG}"), &app.admin)
        .await;
    assert_eq!(list["pagination"]["total"], 2, "{list}");
}

/// A re-export waiting for an external renderer: its path, the renderer's (service) token and
/// a reporter's token.
pub(crate) async fn renderer_job(app: &TestApp) -> (String, String, String) {
    let report = report_then_changes(app).await;
    let created = reexport(app, &app.admin, &json!({"report_id": report["report_id"]})).await;
    let id = created["reexport_id"].as_str().unwrap();
    let service = app.token(&[ORG], &[Role::Service]);
    let reporter = app.token(&[ORG], &[Role::Reporter]);
    (format!("/api/v1/report-reexports/{id}"), service, reporter)
}

#[tokio::test]
async fn only_a_renderer_reports_progress_and_a_result_needs_its_file() {
    let app = spawn_app().await;
    let (path, service, reporter) = renderer_job(&app).await;
    let (status, _) = app
        .put(&path, &reporter, &json!({"status": "running"}))
        .await;
    assert_eq!(status, 403, "only a renderer (service role) reports");
    let (status, running) = app
        .put(&path, &service, &json!({"status": "running"}))
        .await;
    assert_eq!(status, 200, "{running}");
    assert_eq!(running["status"], "running");
    let (status, again) = app
        .put(&path, &service, &json!({"status": "running"}))
        .await;
    assert_eq!(status, 200, "renewing the hold: {again}");
    let (status, problem) = app.put(&path, &service, &json!({"notified": true})).await;
    assert_eq!(status, 409, "no result to tell of yet: {problem}");
    let (status, problem) = app
        .put(&path, &service, &json!({"status": "completed"}))
        .await;
    assert_eq!(status, 422, "{problem}");
}

#[tokio::test]
async fn a_renderers_result_is_recorded_with_its_file_and_is_final() {
    let app = spawn_app().await;
    let (path, service, _) = renderer_job(&app).await;
    let id = path.rsplit('/').next().unwrap().to_string();
    let (status, running) = app
        .put(&path, &service, &json!({"status": "running"}))
        .await;
    assert_eq!(status, 200, "{running}");

    // The renderer left its file in the organisation's own part of the store.
    app.put_file(
        "reports/org-hist/reexports/rpt_reexport_20260326.xlsx",
        &vec![7u8; 215040],
    )
    .await;
    let done = json!({"status": "completed",
                      "output_file_ref": "reports/org-hist/reexports/rpt_reexport_20260326.xlsx",
                      "output_file_size_bytes": 215040, "completed_at": "2026-03-26T12:02:30Z",
                      "notified": true});
    let (status, completed) = app.put(&path, &service, &done).await;
    assert_eq!(status, 200, "{completed}");
    assert_eq!(completed["status"], "completed");
    assert_eq!(
        completed["output_file_ref"],
        "reports/org-hist/reexports/rpt_reexport_20260326.xlsx"
    );
    assert_eq!(completed["output_file_size_bytes"], 215040);
    let completed_at = completed["completed_at"].as_str().unwrap();
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(completed_at).unwrap(),
        chrono::DateTime::parse_from_rfc3339("2026-03-26T12:02:30Z").unwrap()
    );
    assert_eq!(completed["notified"], true);
    for body in [
        json!({"status": "running"}),
        json!({"status": "failed"}),
        json!({"status": "pending"}),
        json!({"notified": false}),
        json!({"notified": true}),
    ] {
        let (status, problem) = app.put(&path, &service, &body).await;
        assert_eq!(status, 409, "{body}: {problem}");
    }
    // The worker finds nothing to render: the job is the renderer's.
    app.drain_workers().await;
    assert_eq!(get(&app, &id).await["output_file_size_bytes"], 215040);
}

/// Each request a receiver got: its signature header, webhook id and body.
pub type Seen = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

/// A webhook receiver on a local port that answers 503 to its first `fail` requests.
pub struct Receiver {
    pub url: String,
    pub seen: Seen,
    _server: tokio::task::JoinHandle<()>,
}

pub async fn receiver(fail: usize) -> Receiver {
    use poem::http::StatusCode;
    use poem::listener::{Acceptor, Listener, TcpListener};
    use poem::{EndpointExt, Request, Route, handler, post, web::Data};

    #[handler]
    async fn hook(req: &Request, body: poem::Body, seen: Data<&(Seen, usize)>) -> StatusCode {
        let header = |name: &str| req.header(name).unwrap_or("").to_string();
        let bytes = body.into_vec().await.unwrap();
        let mut seen_now = seen.0.0.lock().unwrap();
        seen_now.push((
            header("Bufdir-Signature"),
            header("Bufdir-Webhook-Id"),
            bytes,
        ));
        if seen_now.len() <= seen.0.1 {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::NO_CONTENT
        }
    }
    let seen: Seen = Arc::default();
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    let app = Route::new()
        .at("/hooks/bufdir", post(hook))
        .data((seen.clone(), fail));
    let server = tokio::spawn(async move {
        let _ = poem::Server::new_with_acceptor(acceptor).run(app).await;
    });
    Receiver {
        url: format!("http://{addr}/hooks/bufdir"),
        seen,
        _server: server,
    }
}

/// Steps one worker (by name) until it has nothing to do.
async fn step(app: &TestApp, name: &str) -> usize {
    let all = workers::all(&app.state.db, &app.state.projections, &app.state.services);
    let worker = all.iter().find(|w| w.name() == name).unwrap();
    let mut steps = 0;
    while worker.run_once().await.unwrap() == workers::Outcome::Worked {
        steps += 1;
    }
    steps
}

#[tokio::test]
async fn the_completion_webhook_is_signed_retried_and_notified_only_once_delivered() {
    let app = spawn_app().await;
    let report = report_then_changes(&app).await;
    let hook = receiver(2).await;
    let admin = app.token(&[ORG], &[Role::Admin]);
    let (status, problem) = app
        .put(
            &format!("/api/v1/organizations/{ORG}/webhook"),
            &admin,
            &json!({"url": "ftp://x"}),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    let (status, set) = app
        .put(
            &format!("/api/v1/organizations/{ORG}/webhook"),
            &admin,
            &json!({"url": hook.url}),
        )
        .await;
    assert_eq!(status, 200, "{set}");
    let secret = set["secret"].as_str().unwrap().to_string();
    let (status, shown) = app
        .get(&format!("/api/v1/organizations/{ORG}/webhook"), &admin)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        shown,
        json!({"org_id": ORG, "url": hook.url}),
        "the secret is shown once"
    );

    let body = json!({"report_id": report["report_id"], "notify_on_completion": true});
    let created = reexport(&app, &app.admin, &body).await;
    let id = created["reexport_id"].as_str().unwrap();
    assert_eq!(step(&app, "export").await, 1);
    assert_eq!(get(&app, id).await["notified"], false);

    // Two refusals, then delivered: three attempts, one notification recorded.
    assert_eq!(step(&app, "webhooks").await, 3);
    let done = get(&app, id).await;
    assert_eq!(done["notified"], true, "{done}");
    let seen = hook.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    for (signature, webhook_id, body) in &seen {
        assert_eq!(webhook_id, id);
        assert!(
            workers::webhooks::signature::verify(&secret, signature, body).is_some(),
            "signed with the organisation's secret: {signature}"
        );
        assert!(workers::webhooks::signature::verify("wrong", signature, body).is_none());
        let body: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(body["event"], "reexport.completed");
        assert_eq!(body["reexport_id"], id);
        assert_eq!(body["report_id"], report["report_id"]);
        assert_eq!(body["status"], "completed");
        assert_eq!(body["output_file_ref"], done["output_file_ref"]);
    }
    let events = app
        .state
        .db
        .events
        .read_stream(&format!("export-{id}"), 0)
        .await
        .unwrap();
    let notifications: Vec<&str> = events
        .iter()
        .map(|e| e.event_type.as_str())
        .filter(|t| t.contains("Notif"))
        .collect();
    assert_eq!(
        notifications,
        [
            "ExportNotificationFailed",
            "ExportNotificationFailed",
            "ExportNotified"
        ]
    );
    assert_eq!(step(&app, "webhooks").await, 0, "delivered once, not again");
}
