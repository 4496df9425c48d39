use std::sync::Arc;

use api::http::auth::Role;
use domain::{schema, source_import};
use serde_json::json;

use crate::helpers::{FaultyLog, Options, spawn_app, spawn_app_with};
use crate::report_data::import;

fn metric() -> String {
    schema::bufdir_2025_v2().metrics[0].key.clone()
}

#[tokio::test]
async fn imported_records_are_listed_and_a_re_sent_record_replaces_the_first() {
    let app = spawn_app().await;
    app.create_org("org-1", "986128433").await;
    let m = metric();
    let (status, result) = import(&app, "org-1", vec![
        json!({"record_id": "a", "occurred_on": "2024-05-17", "metric": m, "value": 3, "hours": 1.5}),
        json!({"record_id": "b", "occurred_on": "2023-12-31", "metric": m, "value": 4}),
    ]).await;
    assert_eq!(status, 200);
    assert_eq!(
        result["periods"],
        json!(["2023", "2023-Q4", "2024", "2024-Q2"])
    );
    import(
        &app,
        "org-1",
        vec![json!({"record_id": "a", "occurred_on": "2024-05-18", "metric": m, "value": 9})],
    )
    .await;
    let (_, list) = app
        .get("/api/v1/source-records?organization_id=org-1", &app.admin)
        .await;
    assert_eq!(list["pagination"]["total"], 2);
    assert_eq!(list["data"][0]["record_id"], "a");
    assert_eq!(list["data"][0]["value"], 9.0);
    assert_eq!(list["data"][0]["hours"], serde_json::Value::Null);
    let (_, in_2023) = app
        .get(
            "/api/v1/source-records?organization_id=org-1&period_id=2023-Q4",
            &app.admin,
        )
        .await;
    assert_eq!(in_2023["pagination"]["total"], 1);
    assert_eq!(in_2023["data"][0]["record_id"], "b");
}

#[tokio::test]
async fn an_invalid_batch_is_a_422_naming_row_and_field_and_stores_nothing() {
    let app = spawn_app().await;
    app.create_org("org-1", "986128433").await;
    let head = app.state.db.events.head().await.unwrap();
    let m = metric();
    let (status, problem) = import(&app, "org-1", vec![
        json!({"record_id": "ok", "occurred_on": "2024-05-17", "metric": m, "value": 1}),
        json!({"record_id": "x", "occurred_on": "2024-02-30", "metric": m, "value": 1}),
        json!({"record_id": "y", "occurred_on": "2024-02-01", "metric": "no_such_metric", "value": -1}),
    ]).await;
    assert_eq!(status, 422, "{problem}");
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"records/1/occurred_on"), "{fields:?}");
    assert!(fields.contains(&"records/2/metric"), "{fields:?}");
    assert!(fields.contains(&"records/2/value"), "{fields:?}");
    assert_eq!(app.state.db.events.head().await.unwrap(), head);
}

#[tokio::test]
async fn a_csv_import_with_semicolons_and_decimal_commas_is_accepted() {
    let app = spawn_app().await;
    app.create_org("org-1", "986128433").await;
    let csv = format!(
        "record_id;occurred_on;metric;value;hours\r\nc1;2024-01-05;{m};2;1,5\r\nc2;2024-01-06;{m};3;\r\n",
        m = metric()
    );
    let r = app
        .client
        .post(app.url("/api/v1/source-records?organization_id=org-1&data_source=excel-import"))
        .bearer_auth(&app.admin)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    let (status, result) = crate::helpers::read(r).await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["records_imported"], 2);
    let (_, list) = app
        .get("/api/v1/source-records?organization_id=org-1", &app.admin)
        .await;
    let c1 = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["record_id"] == "c1")
        .unwrap();
    assert_eq!(
        (c1["hours"].as_f64(), c1["data_source"].as_str()),
        (Some(1.5), Some("excel-import"))
    );
}

#[tokio::test]
async fn only_members_with_a_writing_role_import() {
    let app = spawn_app().await;
    app.create_org("org-1", "986128433").await;
    let body = json!({"organization_id": "org-1", "data_source": "x", "records": [{"record_id": "a", "occurred_on": "2024-01-01", "metric": metric(), "value": 1}]});
    let viewer = app.token(&["org-1"], &[Role::Viewer]);
    assert_eq!(
        app.post("/api/v1/source-records", &viewer, &body).await.0,
        403
    );
    let other = app.token(&["org-2"], &[Role::Reporter]);
    assert_eq!(
        app.post("/api/v1/source-records", &other, &body).await.0,
        404
    );
    assert_eq!(
        app.get("/api/v1/source-records?organization_id=org-1", &other)
            .await
            .0,
        404
    );
    let reporter = app.token(&["org-1"], &[Role::Reporter]);
    assert_eq!(
        app.post("/api/v1/source-records", &reporter, &body).await.0,
        200
    );
}

/// A bulk loader that does not read its own writes can be answered at commit: with the report
/// data read model held back, `consistency=commit` answers at once, the import is in the log, and
/// the records show once the read model catches up.
#[tokio::test]
async fn an_import_can_be_answered_at_commit_before_reads_show_it() {
    let app = spawn_app_with(Options {
        wrap_events: Some(|log| {
            let mut log = FaultyLog::over(log);
            // The report-data runner cannot follow the log; only the step function applies it.
            log.fail_subscription = |filter| {
                filter
                    .categories
                    .iter()
                    .any(|c| c == source_import::CATEGORY)
            };
            Arc::new(log)
        }),
        ..Options::default()
    })
    .await;
    app.create_org("org-1", "986128433").await;
    let body = json!({"organization_id": "org-1", "data_source": "cis", "records": [
        {"record_id": "a", "occurred_on": "2024-05-17", "metric": metric(), "value": 3}
    ]});
    let started = std::time::Instant::now();
    let (status, result) = app
        .post(
            "/api/v1/source-records?consistency=commit",
            &app.admin,
            &body,
        )
        .await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["records_imported"], 1, "{result}");
    // Not the read-your-writes bound: nothing waited for the read model.
    assert!(started.elapsed() < api::http::state::READ_YOUR_WRITES);
    let listed = || async {
        let (_, list) = app
            .get("/api/v1/source-records?organization_id=org-1", &app.admin)
            .await;
        list["pagination"]["total"].clone()
    };
    assert_eq!(listed().await, 0);
    app.state.projections.catch_up().await.unwrap();
    assert_eq!(listed().await, 1);

    let (status, _) = app
        .post(
            "/api/v1/source-records?consistency=eventually",
            &app.admin,
            &body,
        )
        .await;
    assert_eq!(status, 400);
}
