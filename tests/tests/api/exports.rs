//! Export jobs over HTTP: validation, rendering read back, signed downloads, the job state
//! machine, claims by competing workers, lease takeover, cancellation of a running render,
//! file expiry and submission to Bufdir.

use std::path::Path;
use std::sync::Arc;

use api::http::auth::Role;
use calamine::{Data, Reader};
use chrono::Utc;
use domain::export::{Export, ExportCommand};
use domain::schema::{self, Requirement};
use serde_json::{Value, json};
use tokio::sync::Notify;
use workers::export::job::ExportWorker;
use workers::files::{FileStore, LocalFileStore};

use crate::helpers::{Options, TestApp, spawn_app, spawn_app_on_postgres, spawn_app_with};

const ORG: &str = "org-exp";

fn record(id: &str, date: &str, metric: &str, value: f64, hours: Option<f64>) -> Value {
    let mut r = json!({"record_id": id, "occurred_on": date, "metric": metric, "value": value});
    if let Some(h) = hours {
        r["hours"] = json!(h);
    }
    r
}

/// Every required and recommended field of 2025 gets records (so the payload validates), plus
/// 2024 figures for the prior period and two activity categories. Returns how many records are
/// dated 2025.
async fn seed(app: &TestApp) -> usize {
    assert_eq!(app.create_org(ORG, "986128433").await.0, 201);
    let schema = schema::bufdir_2025_v2();
    let mut records = vec![];
    let mut metrics: Vec<&str> = schema
        .fields()
        .filter(|(_, f)| f.requirement != Requirement::Optional)
        .map(|(_, f)| f.metric.as_str())
        .collect();
    metrics.sort();
    metrics.dedup();
    for (i, metric) in metrics.iter().enumerate() {
        records.push(record(
            &format!("a{i}"),
            "2025-03-01",
            metric,
            10.0 + i as f64,
            Some(2.5),
        ));
        records.push(record(
            &format!("b{i}"),
            "2025-09-01",
            metric,
            5.0,
            Some(1.0),
        ));
        records.push(record(&format!("p{i}"), "2024-05-01", metric, 7.0, None));
    }
    records.push(record(
        "g1",
        "2025-02-01",
        "group_session",
        12.0,
        Some(30.0),
    ));
    records.push(record(
        "m1",
        "2025-02-01",
        "individual_mentoring",
        4.0,
        Some(9.0),
    ));
    let body = json!({"organization_id": ORG, "data_source": "fagsystem-cis", "records": records});
    let (status, body) = app.post("/api/v1/source-records", &app.admin, &body).await;
    assert_eq!(status, 200, "{body}");
    metrics.len() * 2 + 2
}

fn export_body(format: &str, attachments: bool) -> Value {
    json!({"org_id": ORG, "format": format, "period_from": "2025-01-01", "period_to": "2025-12-31",
           "activity_types": [], "include_attachments": attachments, "submit_to_bufdir_api": false})
}

async fn create(app: &TestApp, body: &Value) -> String {
    let (status, created) = app.post("/api/v1/bufdir-exports", &app.admin, body).await;
    assert_eq!(status, 202, "{created}");
    assert_eq!(created["status"], "queued");
    created["export_id"].as_str().unwrap().to_string()
}

async fn get(app: &TestApp, id: &str) -> Value {
    let (status, body) = app
        .get(&format!("/api/v1/bufdir-exports/{id}"), &app.admin)
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn download(app: &TestApp, url: &str) -> reqwest::Response {
    app.client.get(url).send().await.unwrap()
}

fn worker(app: &TestApp, files: Arc<dyn FileStore>) -> Arc<ExportWorker> {
    Arc::new(ExportWorker::new(
        app.state.db.clone(),
        app.state.projections.clone(),
        files,
        app.state.services.exports.clone(),
    ))
}

/// The figure the read model holds for a field in 2025, via the snapshot API.
async fn snapshot_value(app: &TestApp, key: &str) -> f64 {
    let body = json!({"organization_id": ORG, "period_id": "2025"});
    let (_, job) = app
        .post("/api/v1/aggregated-report-data", &app.admin, &body)
        .await;
    app.drain_workers().await;
    let id = job["snapshot_id"].as_str().unwrap();
    let (_, snapshot) = app
        .get(&format!("/api/v1/aggregated-report-data/{id}"), &app.admin)
        .await;
    for section in snapshot["sections"].as_array().unwrap() {
        for field in section["fields"].as_array().unwrap() {
            if field["field_key"] == key {
                return field["value"].as_f64().unwrap();
            }
        }
    }
    panic!("no field {key}");
}

#[tokio::test]
async fn an_excel_export_holds_the_aggregated_figures_and_downloads_by_signed_link() {
    excel_export(spawn_app().await).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run ci/test, or set TEST_DATABASE_URL and pass --run-ignored all"]
async fn an_excel_export_on_postgres() {
    let app = spawn_app_on_postgres().await;
    excel_export(app).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run ci/test, or set TEST_DATABASE_URL and pass --run-ignored all"]
async fn two_workers_on_postgres_never_render_the_same_job() {
    let app = spawn_app_on_postgres().await;
    two_workers(app).await;
}

async fn excel_export(app: TestApp) {
    let seeded_2025 = seed(&app).await;
    let id = create(&app, &export_body("xlsx", true)).await;
    let queued = get(&app, &id).await;
    assert_eq!(queued["format"], "excel");
    assert!(queued["file_url"].is_null());
    app.drain_workers().await;

    let done = get(&app, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert!(done["file_size_bytes"].as_u64().unwrap() > 0);
    assert_eq!(done["progress"]["done"], done["progress"]["total"]);
    assert!(done["progress"]["total"].as_u64().unwrap() > 0, "{done}");
    let url = done["file_url"].as_str().unwrap();
    assert!(url.contains("expires=") && url.contains("signature="));
    let response = download(&app, url).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(".xlsx")
    );
    let bytes = response.bytes().await.unwrap();

    let mut book = calamine::Xlsx::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let names = book.sheet_names();
    let schema = schema::bufdir_2025_v2();
    let (section, field) = schema.fields().next().unwrap();
    let sheet = names
        .iter()
        .find(|n| section.labels.nb.starts_with(n.as_str()))
        .expect("a sheet per section")
        .clone();
    let range = book.worksheet_range(&sheet).unwrap();
    let row = range
        .rows()
        .find(|r| r.iter().any(|c| c == &Data::String(field.key.clone())))
        .expect("the field's row");
    let numbers: Vec<f64> = row
        .iter()
        .filter_map(|c| match c {
            Data::Float(f) => Some(*f),
            Data::Int(i) => Some(*i as f64),
            _ => None,
        })
        .collect();
    let expected = snapshot_value(&app, &field.key).await;
    assert_eq!(numbers[0], expected, "value as aggregated");
    assert_eq!(numbers[1], 7.0, "prior period (2024)");
    assert!(names.iter().any(|n| n == "Aktiviteter"));
    let annex = names
        .iter()
        .find(|n| n.starts_with("Vedlegg"))
        .expect("annex sheet")
        .clone();
    let annex_rows = book.worksheet_range(&annex).unwrap().rows().count();
    assert_eq!(annex_rows - 1, seeded_2025, "header plus every 2025 record");

    // A tampered link and an expired one are refused with a problem.
    let tampered = url.replace("signature=", "signature=00");
    let r = download(&app, &tampered).await;
    assert_eq!(r.status(), 403);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let path = api::http::routes::downloads::path(&id);
    let expired = format!(
        "http://{}{path}?{}",
        app.addr,
        app.state
            .links
            .sign(&path, Utc::now() - chrono::Duration::seconds(1))
    );
    assert_eq!(download(&app, &expired).await.status(), 403);

    // Estimates come from measured durations once one export has completed.
    let (_, second) = app
        .post(
            "/api/v1/bufdir-exports",
            &app.admin,
            &export_body("json", false),
        )
        .await;
    assert!(second["estimated_duration_seconds"].as_u64().unwrap() >= 1);
}

#[tokio::test]
async fn csv_json_and_pdf_exports_carry_the_same_figures() {
    let app = spawn_app().await;
    seed(&app).await;
    let csv = create(&app, &export_body("csv", false)).await;
    let json_export = create(&app, &export_body("json", false)).await;
    let pdf = create(&app, &export_body("pdf", false)).await;
    app.drain_workers().await;

    let schema = schema::bufdir_2025_v2();
    let (_, field) = schema.fields().next().unwrap();
    let expected = snapshot_value(&app, &field.key).await;

    let body = get(&app, &json_export).await;
    let payload: Value = download(&app, body["file_url"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(payload["felter"][&field.key], expected);
    assert_eq!(payload["rapporteringsperiode"], "2025");
    assert_eq!(payload["organisasjonsnummer"], "986128433");

    let body = get(&app, &csv).await;
    let text = download(&app, body["file_url"].as_str().unwrap())
        .await
        .text()
        .await
        .unwrap();
    let line = text
        .lines()
        .find(|l| l.contains(&field.key))
        .expect("the field's line");
    let cells: Vec<&str> = line.split(';').collect();
    assert!(
        cells.contains(&expected.to_string().replace('.', ",").as_str()),
        "{line}"
    );

    let body = get(&app, &pdf).await;
    let response = download(&app, body["file_url"].as_str().unwrap()).await;
    assert_eq!(response.headers()["content-type"], "application/pdf");
    assert!(response.bytes().await.unwrap().starts_with(b"%PDF"));
}

#[tokio::test]
async fn bad_export_requests_are_refused_before_anything_is_queued() {
    let app = spawn_app().await;
    assert_eq!(app.create_org(ORG, "986128433").await.0, 201);
    let cases = [
        (json!({"format": "docx"}), "unknown_format"),
        (
            json!({"period_from": "2025-12-31", "period_to": "2025-01-01"}),
            "period_order",
        ),
        (
            json!({"period_from": "2019-01-01", "period_to": "2025-12-31"}),
            "range_too_long",
        ),
        (
            json!({"activity_types": ["group_session", "chess"]}),
            "unknown_activity_type",
        ),
    ];
    for (change, code) in cases {
        let mut body = export_body("excel", false);
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, problem) = app.post("/api/v1/bufdir-exports", &app.admin, &body).await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["errors"][0]["code"], code);
    }
    let mut other = export_body("excel", false);
    other["org_id"] = json!("org-unknown");
    assert_eq!(
        app.post("/api/v1/bufdir-exports", &app.admin, &other)
            .await
            .0,
        404
    );
    let viewer = app.token(&[ORG], &[Role::Viewer]);
    assert_eq!(
        app.post(
            "/api/v1/bufdir-exports",
            &viewer,
            &export_body("excel", false)
        )
        .await
        .0,
        403
    );
    let (_, list) = app.get("/api/v1/bufdir-exports", &app.admin).await;
    assert_eq!(list["pagination"]["total"], 0);
}

/// A queued CSV export of 2025 in a new app with seeded records: the app, the export's id and
/// its path.
async fn a_queued_export() -> (TestApp, String, String) {
    let app = spawn_app().await;
    seed(&app).await;
    let id = create(&app, &export_body("csv", false)).await;
    let path = format!("/api/v1/bufdir-exports/{id}");
    (app, id, path)
}

/// Cancels the export at `path` as the admin.
async fn cancel(app: &TestApp, path: &str) -> reqwest::Response {
    let cancel = json!({"reason": "Incorrect date range selected"});
    app.client
        .put(app.url(&format!("{path}/cancel")))
        .bearer_auth(&app.admin)
        .json(&cancel)
        .send()
        .await
        .unwrap()
}

/// Cancels the export, retries it and lets the workers complete it; returns it completed.
async fn completed_after_a_retry(app: &TestApp, id: &str, path: &str) -> Value {
    assert_eq!(cancel(app, path).await.status(), 200);
    let (status, retried) = app
        .post(&format!("{path}/retry"), &app.admin, &json!({}))
        .await;
    assert_eq!(status, 202, "{retried}");
    app.drain_workers().await;
    get(app, id).await
}

#[tokio::test]
async fn a_queued_export_can_be_cancelled() {
    let (app, _, path) = a_queued_export().await;
    let r = cancel(&app, &path).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "cancelled");
}

#[tokio::test]
async fn a_cancelled_export_cannot_be_cancelled_again() {
    let (app, _, path) = a_queued_export().await;
    assert_eq!(cancel(&app, &path).await.status(), 200);
    let again = cancel(&app, &path).await;
    assert_eq!(again.status(), 409);
}

#[tokio::test]
async fn a_retried_export_is_queued_again_counts_the_retry_and_completes() {
    let (app, id, path) = a_queued_export().await;
    assert_eq!(cancel(&app, &path).await.status(), 200);
    let (status, retried) = app
        .post(&format!("{path}/retry"), &app.admin, &json!({}))
        .await;
    assert_eq!(status, 202, "{retried}");
    assert_eq!(retried["retry_count"], 1);
    assert_eq!(retried["status"], "queued");
    app.drain_workers().await;
    let done = get(&app, &id).await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["retry_count"], 1);
}

#[tokio::test]
async fn a_completed_export_cannot_be_retried() {
    let (app, id, path) = a_queued_export().await;
    completed_after_a_retry(&app, &id, &path).await;
    assert_eq!(
        app.post(&format!("{path}/retry"), &app.admin, &json!({}))
            .await
            .0,
        409
    );
}

#[tokio::test]
async fn exports_are_listed_by_status() {
    let (app, id, path) = a_queued_export().await;
    completed_after_a_retry(&app, &id, &path).await;
    let (_, list) = app
        .get(
            &format!("/api/v1/bufdir-exports?org_id={ORG}&status=completed"),
            &app.admin,
        )
        .await;
    assert_eq!(list["data"][0]["export_id"], id.as_str());
}

#[tokio::test]
async fn a_deleted_export_is_gone_with_its_file_while_its_events_stay() {
    let (app, id, path) = a_queued_export().await;
    let done = completed_after_a_retry(&app, &id, &path).await;
    let url = done["file_url"].as_str().unwrap().to_string();
    let r = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body, json!({"deleted": true, "export_id": id}));
    assert_eq!(app.get(&path, &app.admin).await.0, 404);
    assert_eq!(download(&app, &url).await.status(), 404);
    // The events stay for audit.
    let events = app
        .state
        .db
        .events
        .read_stream(&Export::stream(&id), 0)
        .await
        .unwrap();
    assert!(events.iter().any(|e| e.event_type == "ExportDeleted"));
    assert!(events.iter().any(|e| e.event_type == "ExportCompleted"));
}

#[tokio::test]
async fn two_workers_never_render_the_same_job() {
    two_workers(spawn_app().await).await;
}

async fn two_workers(app: TestApp) {
    seed(&app).await;
    let id = create(&app, &export_body("excel", false)).await;
    let files: Arc<dyn FileStore> = app.state.services.files.clone();
    let (a, b) = (worker(&app, files.clone()), worker(&app, files));
    let _ = tokio::join!(a.step(), b.step());
    let events = app
        .state
        .db
        .events
        .read_stream(&Export::stream(&id), 0)
        .await
        .unwrap();
    let claims = events
        .iter()
        .filter(|e| e.event_type == "ExportClaimed")
        .count();
    let completions = events
        .iter()
        .filter(|e| e.event_type == "ExportCompleted")
        .count();
    assert_eq!((claims, completions), (1, 1));
}

#[tokio::test]
async fn a_job_whose_worker_died_is_taken_over_after_its_lease() {
    let app = spawn_app().await;
    seed(&app).await;
    let id = create(&app, &export_body("json", false)).await;
    // A worker claimed it and died: its lease has run out.
    let now = Utc::now();
    commands::exports::record(
        &app.state.commands,
        &store::Metadata::default(),
        &id,
        ExportCommand::Claim {
            worker: "dead".into(),
            lease_until: now - chrono::Duration::seconds(1),
            now: now - chrono::Duration::seconds(31),
        },
    )
    .await
    .unwrap();
    app.drain_workers().await;
    let done = get(&app, &id).await;
    assert_eq!(done["status"], "completed");
    let events = app
        .state
        .db
        .events
        .read_stream(&Export::stream(&id), 0)
        .await
        .unwrap();
    let takeover = events
        .iter()
        .find(|e| e.event_type == "ExportClaimed" && e.payload["taken_over"] == true)
        .expect("a takeover");
    assert_eq!(takeover.payload["attempt"], 2);
    // The dead attempt can no longer record a result.
    let late = commands::exports::record(
        &app.state.commands,
        &store::Metadata::default(),
        &id,
        ExportCommand::Fail {
            attempt: 1,
            error: "late".into(),
            now: Utc::now(),
        },
    )
    .await;
    assert!(late.is_err());
}

/// A file store that holds every `put_file` until released, so a test can act while a render is
/// being stored.
struct Gated {
    inner: LocalFileStore,
    entered: Notify,
    release: Notify,
}

#[async_trait::async_trait]
impl FileStore for Gated {
    async fn put_file(&self, key: &str, source: &Path) -> anyhow::Result<u64> {
        self.entered.notify_one();
        self.release.notified().await;
        self.inner.put_file(key, source).await
    }
    async fn get(
        &self,
        key: &str,
    ) -> anyhow::Result<
        Option<(
            u64,
            futures::stream::BoxStream<'static, std::io::Result<bytes::Bytes>>,
        )>,
    > {
        self.inner.get(key).await
    }
    async fn size(&self, key: &str) -> anyhow::Result<Option<u64>> {
        self.inner.size(key).await
    }
    async fn delete(&self, key: &str) -> anyhow::Result<()> {
        self.inner.delete(key).await
    }
    fn backend(&self) -> &'static str {
        "gated"
    }
}

fn files_under(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() { files_under(&p) } else { 1 }
        })
        .sum()
}

#[tokio::test]
async fn cancelling_a_running_export_leaves_no_file() {
    let app = spawn_app().await;
    seed(&app).await;
    let id = create(&app, &export_body("excel", true)).await;
    let root = app
        .state
        .services
        .exports
        .work_dir
        .parent()
        .unwrap()
        .join("gated");
    let gated = Arc::new(Gated {
        inner: LocalFileStore::new(root.clone()).unwrap(),
        entered: Notify::new(),
        release: Notify::new(),
    });
    let w = worker(&app, gated.clone());
    let step = tokio::spawn(async move { w.step().await });
    gated.entered.notified().await;
    assert_eq!(get(&app, &id).await["status"], "running");
    let r = app
        .client
        .put(app.url(&format!("/api/v1/bufdir-exports/{id}/cancel")))
        .bearer_auth(&app.admin)
        .json(&json!({"reason": "not needed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    gated.release.notify_one();
    step.await.unwrap().unwrap();
    let body = get(&app, &id).await;
    assert_eq!(body["status"], "cancelled");
    assert!(body["file_url"].is_null());
    assert_eq!(files_under(&root), 0, "the stored file was removed");
    assert_eq!(
        files_under(&app.state.services.exports.work_dir),
        0,
        "no temporary file left"
    );
}

#[tokio::test]
async fn expired_files_are_removed_by_the_expiry_worker() {
    let app = spawn_app_with(Options {
        file_ttl: chrono::Duration::zero(),
        ..Options::default()
    })
    .await;
    seed(&app).await;
    let id = create(&app, &export_body("json", false)).await;
    app.drain_workers().await;
    let body = get(&app, &id).await;
    assert_eq!(body["status"], "completed");
    assert!(body["file_url"].is_null(), "an expired file has no link");
    let files = app
        .state
        .services
        .exports
        .work_dir
        .parent()
        .unwrap()
        .join("files");
    assert_eq!(files_under(&files), 0);
    let events = app
        .state
        .db
        .events
        .read_stream(&Export::stream(&id), 0)
        .await
        .unwrap();
    assert!(events.iter().any(|e| e.event_type == "ExportFileExpired"));
}

#[tokio::test]
async fn an_export_with_submission_shows_the_validation_errors_when_the_payload_is_invalid() {
    let app = spawn_app().await;
    assert_eq!(app.create_org(ORG, "986128433").await.0, 201);
    let body = json!({"organization_id": ORG, "data_source": "x",
        "records": [record("g1", "2025-02-01", "group_session", 3.0, Some(6.0))]});
    assert_eq!(
        app.post("/api/v1/source-records", &app.admin, &body)
            .await
            .0,
        200
    );
    let mut request = export_body("json", false);
    request["submit_to_bufdir_api"] = json!(true);
    let id = create(&app, &request).await;
    app.drain_workers().await;
    let done = get(&app, &id).await;
    assert_eq!(done["status"], "completed");
    assert!(done["submission_id"].is_null());
    let errors = done["submission_errors"].as_array().unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e.as_str().unwrap().contains("required_field_missing"))
    );
}

#[tokio::test]
async fn an_export_with_a_valid_payload_is_submitted_to_bufdir() {
    let stop = tokio_util::sync::CancellationToken::new();
    let sandbox = bufdir_sandbox::Sandbox::start(
        "127.0.0.1:0".parse().unwrap(),
        bufdir_sandbox::SandboxConfig::default(),
        stop.clone(),
    )
    .await
    .unwrap();
    let mut options = Options::default();
    options.bufdir.url = sandbox.url();
    let app = spawn_app_with(options).await;
    seed(&app).await;
    let auth = json!({"client_id": "demo-client", "client_secret": "demo-secret", "org_id": ORG});
    assert_eq!(
        app.post("/api/v1/bufdir-api/authenticate", &app.admin, &auth)
            .await
            .0,
        200
    );
    let mut request = export_body("excel", false);
    request["submit_to_bufdir_api"] = json!(true);
    let id = create(&app, &request).await;
    app.drain_workers().await;
    let done = get(&app, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["submission_errors"], json!([]));
    let reference = done["submission_reference_id"].as_str().expect("delivered");
    assert_eq!(sandbox.state.filed().len(), 1);
    assert_eq!(sandbox.state.filed()[0].reference_id, reference);
    stop.cancel();
}
