//! File references and uploads: a report or re-export takes only a file of its own
//! organisation (under `reports/{org}/`, present, of the stated size), so no organisation can
//! point one of its records at another's file and have us serve it. External renderers may
//! upload the bytes instead and never name a key.

use api::http::auth::Role;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_on_postgres};
use crate::report_history::{count_field, export_2025, import, report_of};

const A: &str = "org-a";
const B: &str = "org-b";

/// Organisation B's report of an export, with its file in the store; returns (key, size).
async fn b_report_file(app: &TestApp) -> (String, u64) {
    let (_, metric) = count_field();
    import(app, B, &metric, &[("b-1", "2025-02-01", 42.0)]).await;
    let export = export_2025(app, B, "csv").await;
    let report = report_of(app, B, export["export_id"].as_str().unwrap()).await;
    let key = report["file_ref"].as_str().unwrap().to_string();
    assert!(key.starts_with("reports/org-b/"), "{key}");
    (key, report["file_size_bytes"].as_u64().unwrap())
}

async fn a_pending_report(app: &TestApp, token: &str) -> String {
    let body = json!({"org_id": A, "report_type": "annual_summary",
                      "period_from": "2025-01-01", "period_to": "2025-12-31"});
    let (status, created) = app.post("/api/v1/report-history", token, &body).await;
    assert_eq!(status, 201, "{created}");
    created["report_id"].as_str().unwrap().to_string()
}

fn refused_field(problem: &Value, field: &str, code: &str) {
    assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    assert_eq!(problem["errors"][0]["code"], code, "{problem}");
}

#[tokio::test]
async fn another_organisations_file_is_never_attached_or_served_on_sqlite() {
    another_organisations_file_is_refused(spawn_app().await).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run ci/test, or set TEST_DATABASE_URL and pass --run-ignored all"]
async fn another_organisations_file_is_never_attached_or_served_on_postgres() {
    let app = spawn_app_on_postgres().await;
    another_organisations_file_is_refused(app).await;
}

async fn another_organisations_file_is_refused(app: TestApp) {
    assert_eq!(app.create_org(A, "986128433").await.0, 201);
    assert_eq!(app.create_org(B, "991825827").await.0, 201);
    let (b_key, b_size) = b_report_file(&app).await;
    let reporter_a = app.token(&[A], &[Role::Reporter]);
    let report = a_pending_report(&app, &reporter_a).await;
    let path = format!("/api/v1/report-history/{report}");
    let head = app.state.db.events.head().await.unwrap();

    // The exact attack: A names B's file, with its true size.
    let attach = json!({"status": "completed", "file_ref": b_key, "file_size_bytes": b_size});
    let (status, problem) = app.put(&path, &reporter_a, &attach).await;
    assert_eq!(status, 422, "{problem}");
    refused_field(&problem, "file_ref", "foreign_file_ref");
    // Recording a new report with it is refused the same way.
    let create = json!({"org_id": A, "report_type": "annual_summary", "period_from": "2024-01-01",
                        "period_to": "2024-12-31", "status": "completed",
                        "file_ref": b_key, "file_size_bytes": b_size});
    let (status, problem) = app
        .post("/api/v1/report-history", &reporter_a, &create)
        .await;
    assert_eq!(status, 422, "{problem}");
    refused_field(&problem, "file_ref", "foreign_file_ref");
    // Even an admin of every organisation cannot cross them: the key must be the report's own.
    let (status, problem) = app.put(&path, &app.admin, &attach).await;
    assert_eq!(status, 422, "{problem}");
    // A's own prefix, but no file there, or not of that size.
    let missing = json!({"file_ref": format!("reports/{A}/none.csv"), "file_size_bytes": 3});
    let (status, problem) = app.put(&path, &reporter_a, &missing).await;
    assert_eq!(status, 422, "{problem}");
    refused_field(&problem, "file_ref", "file_not_found");
    let own = format!("reports/{A}/2025/report.csv");
    app.put_file(&own, b"a;b;c\n").await;
    let wrong_size = json!({"file_ref": own, "file_size_bytes": 999});
    let (status, problem) = app.put(&path, &reporter_a, &wrong_size).await;
    assert_eq!(status, 422, "{problem}");
    refused_field(&problem, "file_ref", "file_size_mismatch");
    assert_eq!(
        app.state.db.events.head().await.unwrap(),
        head,
        "nothing was recorded"
    );

    // So there is nothing to download, and B's file is never served to A.
    let (status, problem) = app.get(&format!("{path}/download-url"), &reporter_a).await;
    assert_eq!(status, 409, "{problem}");
    let (status, record) = app.get(&path, &reporter_a).await;
    assert_eq!(status, 200);
    assert_eq!(record["file_ref"], Value::Null);
    assert_eq!(record["status"], "pending");

    // A's own file, named correctly, is taken.
    let good = json!({"status": "completed", "file_ref": own, "file_size_bytes": 6});
    let (status, record) = app.put(&path, &reporter_a, &good).await;
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["file_ref"], own);
}

#[tokio::test]
async fn a_report_file_is_uploaded_kept_under_its_organisation_and_served_back() {
    let app = spawn_app().await;
    assert_eq!(app.create_org(A, "986128433").await.0, 201);
    let reporter = app.token(&[A], &[Role::Reporter]);
    let report = a_pending_report(&app, &reporter).await;
    let upload = |token: &str, name: Option<&str>, bytes: Vec<u8>| {
        let mut url = app.url(&format!("/api/v1/report-history/{report}/upload"));
        if let Some(name) = name {
            url.push_str(&format!("?file_name={name}"));
        }
        app.client
            .put(url)
            .bearer_auth(token)
            .header("content-type", "application/pdf")
            .body(bytes)
            .send()
    };
    let viewer = app.token(&[A], &[Role::Viewer]);
    let (status, _) =
        crate::helpers::read(upload(&viewer, None, b"x".to_vec()).await.unwrap()).await;
    assert_eq!(status, 403);
    let other = app.token(&[B], &[Role::Reporter]);
    let (status, _) =
        crate::helpers::read(upload(&other, None, b"x".to_vec()).await.unwrap()).await;
    assert_eq!(status, 404);
    let (status, problem) = crate::helpers::read(
        upload(&reporter, Some("..%2Fx"), b"x".to_vec())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    refused_field(&problem, "file_name", "invalid_file_name");
    let (status, problem) =
        crate::helpers::read(upload(&reporter, None, vec![]).await.unwrap()).await;
    assert_eq!(status, 422, "an empty file: {problem}");

    let content = b"%PDF-1.7 the report".to_vec();
    let (status, record) =
        crate::helpers::read(upload(&reporter, None, content.clone()).await.unwrap()).await;
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["status"], "completed");
    assert_eq!(record["file_size_bytes"], content.len());
    let key = record["file_ref"].as_str().unwrap();
    assert!(key.starts_with(&format!("reports/{A}/{report}/")), "{key}");
    assert!(
        key.ends_with("/report.pdf"),
        "named by its content type: {key}"
    );
    let (status, link) = app
        .get(
            &format!("/api/v1/report-history/{report}/download-url"),
            &reporter,
        )
        .await;
    assert_eq!(status, 200, "{link}");
    let served = app
        .client
        .get(link["download_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(served.bytes().await.unwrap().to_vec(), content);
    // A completed report's file is final.
    let (status, problem) =
        crate::helpers::read(upload(&reporter, None, b"again".to_vec()).await.unwrap()).await;
    assert_eq!(status, 409, "{problem}");
}

#[tokio::test]
async fn a_reexport_takes_only_its_organisations_file_or_an_upload() {
    let app = spawn_app().await;
    assert_eq!(app.create_org(A, "986128433").await.0, 201);
    assert_eq!(app.create_org(B, "991825827").await.0, 201);
    let (b_key, b_size) = b_report_file(&app).await;
    let (_, metric) = count_field();
    import(&app, A, &metric, &[("a-1", "2025-02-01", 7.0)]).await;
    let export = export_2025(&app, A, "csv").await;
    let report = report_of(&app, A, export["export_id"].as_str().unwrap()).await;
    let (status, created) = app
        .post(
            "/api/v1/report-reexports",
            &app.admin,
            &json!({"report_id": report["report_id"]}),
        )
        .await;
    assert_eq!(status, 202, "{created}");
    let id = created["reexport_id"].as_str().unwrap();
    let path = format!("/api/v1/report-reexports/{id}");
    let service = app.token(&[A], &[Role::Service]);
    let head = app.state.db.events.head().await.unwrap();
    let foreign = json!({"status": "completed", "output_file_ref": b_key,
                         "output_file_size_bytes": b_size});
    let (status, problem) = app.put(&path, &service, &foreign).await;
    assert_eq!(status, 422, "{problem}");
    refused_field(&problem, "output_file_ref", "foreign_file_ref");
    assert_eq!(app.state.db.events.head().await.unwrap(), head);

    let bytes = b"re-rendered elsewhere".to_vec();
    let r = app
        .client
        .put(app.url(&format!("{path}/upload?file_name=reexport.csv")))
        .bearer_auth(&service)
        .header("content-type", "text/csv")
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    let (status, done) = crate::helpers::read(r).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["status"], "completed");
    assert_eq!(done["output_file_size_bytes"], bytes.len());
    let key = done["output_file_ref"].as_str().unwrap();
    assert!(
        key.starts_with(&format!("reports/{A}/reexports/{id}/")),
        "{key}"
    );
    // Its report is recorded with a copy of exactly those bytes.
    app.drain_workers().await;
    let (_, list) = app
        .get(&format!("/api/v1/report-history?org_id={A}"), &app.admin)
        .await;
    let recorded = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["export_id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no report of {id}: {list}"));
    assert_eq!(recorded["file_size_bytes"], bytes.len());
    let (_, link) = app
        .get(
            &format!(
                "/api/v1/report-history/{}/download-url",
                recorded["report_id"].as_str().unwrap()
            ),
            &app.admin,
        )
        .await;
    let served = app
        .client
        .get(link["download_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(served.bytes().await.unwrap().to_vec(), bytes);
}
