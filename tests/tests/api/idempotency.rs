use serde_json::json;

use crate::helpers::{TestApp, read, spawn_app, spawn_app_on_postgres};

async fn post_with_key(
    app: &TestApp,
    key: &str,
    body: &serde_json::Value,
) -> (u16, serde_json::Value, Option<String>) {
    let r = app
        .client
        .post(app.url("/api/v1/organizations"))
        .bearer_auth(&app.admin)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap();
    let replayed = r
        .headers()
        .get("idempotent-replayed")
        .map(|v| v.to_str().unwrap().to_string());
    let (status, body) = read(r).await;
    (status, body, replayed)
}

#[tokio::test]
async fn a_retry_with_the_same_key_and_body_gets_the_first_answer_and_appends_nothing() {
    a_retry_gets_the_first_answer(spawn_app().await).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run ci/test, or set TEST_DATABASE_URL and pass --run-ignored all"]
async fn a_retry_with_the_same_key_and_body_gets_the_first_answer_on_postgres() {
    a_retry_gets_the_first_answer(spawn_app_on_postgres().await).await;
}

async fn a_retry_gets_the_first_answer(app: TestApp) {
    let body = json!({"org_id": "org-1", "name": "One", "organisasjonsnummer": "986128433"});
    let (s1, b1, r1) = post_with_key(&app, "key-1", &body).await;
    let head = app.state.db.events.head().await.unwrap();
    let (s2, b2, r2) = post_with_key(&app, "key-1", &body).await;
    assert_eq!((s1, s2), (201, 201));
    assert_eq!(b1, b2);
    assert_eq!((r1, r2.as_deref()), (None, Some("true")));
    assert_eq!(app.state.db.events.head().await.unwrap(), head);
}

#[tokio::test]
async fn the_same_key_with_another_body_is_a_422() {
    let app = spawn_app().await;
    post_with_key(
        &app,
        "key-1",
        &json!({"org_id": "org-1", "name": "One", "organisasjonsnummer": "986128433"}),
    )
    .await;
    let (status, problem, _) = post_with_key(
        &app,
        "key-1",
        &json!({"org_id": "org-2", "name": "Two", "organisasjonsnummer": "986128433"}),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(problem["errors"][0]["code"], "idempotency_key_reused");
    assert_eq!(
        app.get("/api/v1/organizations/org-2", &app.admin).await.0,
        404
    );
}

#[tokio::test]
async fn stored_answers_survive_a_restart() {
    let app = spawn_app().await;
    let body = json!({"org_id": "org-1", "name": "One", "organisasjonsnummer": "986128433"});
    let (_, first, _) = post_with_key(&app, "key-1", &body).await;
    // The key lives in the database, not in memory: a fresh client against the same store agrees.
    let row: (String, i64) = store::on_pool!(&app.state.db.read, c => sqlx::query_as(
        "SELECT idem_key, status FROM idempotency_keys",
    )
    .fetch_one(c)
    .await
    .unwrap());
    assert_eq!(row, ("key-1".to_string(), 201));
    let (_, again, replayed) = post_with_key(&app, "key-1", &body).await;
    assert_eq!((again, replayed.as_deref()), (first, Some("true")));
}

#[tokio::test]
async fn concurrent_requests_with_one_key_register_once() {
    register_once_under_a_race(spawn_app().await).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run ci/test, or set TEST_DATABASE_URL and pass --run-ignored all"]
async fn concurrent_requests_with_one_key_register_once_on_postgres() {
    register_once_under_a_race(spawn_app_on_postgres().await).await;
}

async fn register_once_under_a_race(app: TestApp) {
    let body = json!({"org_id": "org-1", "name": "One", "organisasjonsnummer": "986128433"});
    let tries = (0..8).map(|_| post_with_key(&app, "key-race", &body));
    let answers = futures::future::join_all(tries).await;
    // Each is the first answer, a replay of it, or "still in progress": never a second write.
    assert!(
        answers.iter().all(|(s, _, _)| *s == 201 || *s == 409),
        "{answers:?}"
    );
    assert_eq!(
        app.state
            .db
            .events
            .read_stream("organization-org-1", 0)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn post_keyed(
    app: &TestApp,
    path: &str,
    key: &str,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let r = app
        .client
        .post(app.url(path))
        .bearer_auth(&app.admin)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap();
    read(r).await
}

/// What the middleware does when a first attempt answers 5xx after its write (the database went
/// away before the read-back): the key is released, and the client's retry runs anew.
async fn lose_the_answer(app: &TestApp, key: &str) {
    store::on_pool!(&app.state.db.read, c => sqlx::query(
        "DELETE FROM idempotency_keys WHERE idem_key = $1",
    )
    .bind(key)
    .execute(c)
    .await
    .map(|_| ())
    .unwrap());
}

async fn events_of_type(app: &TestApp, event_type: &str) -> usize {
    let all = app
        .state
        .db
        .events
        .read_all(None, &store::Filter::all(), 100_000)
        .await
        .unwrap();
    all.iter().filter(|e| e.event_type == event_type).count()
}

#[tokio::test]
async fn a_retry_whose_first_attempt_was_recorded_but_not_answered_records_nothing_twice() {
    retried_after_a_lost_answer(spawn_app().await).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run ci/test, or set TEST_DATABASE_URL and pass --run-ignored all"]
async fn a_retry_whose_first_attempt_was_recorded_but_not_answered_records_nothing_twice_on_postgres()
 {
    retried_after_a_lost_answer(spawn_app_on_postgres().await).await;
}

async fn retried_after_a_lost_answer(app: TestApp) {
    assert_eq!(app.create_org("org-1", "986128433").await.0, 201);
    let metric = domain::schema::bufdir_2025_v2().metrics[0].key.clone();
    let cases = [
        (
            "/api/v1/source-records",
            json!({"organization_id": "org-1", "data_source": "fagsystem",
                   "records": [{"record_id": "r1", "occurred_on": "2025-03-01",
                                "metric": metric, "value": 3.0}]}),
            "SourceRecordsImported",
            "import_id",
        ),
        (
            "/api/v1/bufdir-exports",
            json!({"org_id": "org-1", "format": "csv", "period_from": "2025-01-01",
                   "period_to": "2025-12-31", "activity_types": [], "include_attachments": false,
                   "submit_to_bufdir_api": false}),
            "ExportRequested",
            "export_id",
        ),
        (
            "/api/v1/report-history",
            json!({"org_id": "org-1", "report_type": "annual_summary",
                   "period_from": "2025-01-01", "period_to": "2025-12-31"}),
            "ReportRecorded",
            "report_id",
        ),
    ];
    let mut report_id = serde_json::Value::Null;
    for (path, body, event_type, id_field) in cases {
        let key = format!("key-{path}");
        let (s1, first) = post_keyed(&app, path, &key, &body).await;
        assert!(s1 < 300, "{path}: {s1} {first}");
        assert_eq!(events_of_type(&app, event_type).await, 1, "{path}");
        lose_the_answer(&app, &key).await;
        let (s2, again) = post_keyed(&app, path, &key, &body).await;
        assert_eq!(s2, s1, "{path}: {again}");
        assert_eq!(again[id_field], first[id_field], "{path}");
        assert_eq!(
            events_of_type(&app, event_type).await,
            1,
            "{path}: recorded twice"
        );
        report_id = again[id_field].clone();
    }
    // Another key is another request.
    let body = json!({"org_id": "org-1", "report_type": "annual_summary",
                      "period_from": "2025-01-01", "period_to": "2025-12-31"});
    let (_, other) = post_keyed(&app, "/api/v1/report-history", "key-other", &body).await;
    assert_eq!(events_of_type(&app, "ReportRecorded").await, 2);
    assert_ne!(other["report_id"], report_id);
}
