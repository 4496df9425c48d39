//! The rows the API reads by id come from memory (`projections::cache`); a read right after a
//! write, through the same process or another one, still sees the write.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::helpers::{
    FaultyLog, Options, TempSqlite, TestApp, fresh_postgres, spawn_app, spawn_app_on_postgres,
    spawn_on,
};

const ORG: &str = "org-cache";

async fn queued_export(app: &TestApp) -> String {
    let body = json!({"org_id": ORG, "format": "xlsx", "period_from": "2025-01-01",
        "period_to": "2025-12-31", "activity_types": [], "include_attachments": false,
        "submit_to_bufdir_api": false});
    let (status, created) = app.post("/api/v1/bufdir-exports", &app.admin, &body).await;
    assert_eq!(status, 202, "{created}");
    created["export_id"].as_str().unwrap().to_string()
}

async fn status_of(app: &TestApp, id: &str) -> Value {
    let (status, body) = app
        .get(&format!("/api/v1/bufdir-exports/{id}"), &app.admin)
        .await;
    assert_eq!(status, 200, "{body}");
    body["status"].clone()
}

async fn cancel(app: &TestApp, id: &str) {
    let (status, body) = app
        .put(
            &format!("/api/v1/bufdir-exports/{id}/cancel"),
            &app.admin,
            &json!({"reason": "wrong period"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// Reads `id` until it is served from memory (the first read after a change loads it).
async fn cached(app: &TestApp, id: &str) -> Value {
    let status = status_of(app, id).await;
    assert_eq!(status_of(app, id).await, status);
    status
}

async fn reads_see_the_writes_of_their_own_process(app: TestApp) {
    assert_eq!(app.create_org(ORG, "986128433").await.0, 201);
    let id = queued_export(&app).await;
    assert_eq!(cached(&app, &id).await, "queued");
    assert_eq!(
        app.state.projections.cache().exports.len(),
        1,
        "the export was read from memory"
    );

    cancel(&app, &id).await;
    assert_eq!(status_of(&app, &id).await, "cancelled");

    // A worker's write (it claims and renders the export) is seen the same way.
    let id = queued_export(&app).await;
    assert_eq!(cached(&app, &id).await, "queued");
    app.drain_workers().await;
    assert_eq!(status_of(&app, &id).await, "completed");
}

#[tokio::test]
async fn a_read_right_after_a_write_sees_it() {
    reads_see_the_writes_of_their_own_process(spawn_app().await).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run ci/test, or set TEST_DATABASE_URL and pass --run-ignored all"]
async fn a_read_right_after_a_write_sees_it_on_postgres() {
    reads_see_the_writes_of_their_own_process(spawn_app_on_postgres().await).await;
}

/// Two processes on one database (two `serve` replicas behind a load balancer on PostgreSQL;
/// `serve` and a `worker` on one SQLite file): a client writes through one and reads through the
/// other at once.
async fn reads_through_another_process_see_the_write(url: &str) {
    let writer = spawn_on(url, None, Options::default()).await;
    // The reader's own projection runners never follow the log, so only its read barrier can
    // tell it that a row it keeps has changed. They are held still: a runner whose subscription
    // fails restarts from the database's checkpoint and rightly drops what memory holds, which
    // would empty the cache between a read and the check that it was kept.
    let reader_options = Options {
        wrap_events: Some(|log| {
            let mut log = FaultyLog::over(log);
            log.stall_subscription = |_| true;
            Arc::new(log)
        }),
        ..Options::default()
    };
    let reader = spawn_on(url, None, reader_options).await;
    assert_eq!(writer.create_org(ORG, "986128433").await.0, 201);
    for _ in 0..10 {
        let id = queued_export(&writer).await;
        assert_eq!(cached(&reader, &id).await, "queued");
        assert!(!reader.state.projections.cache().exports.is_empty());
        cancel(&writer, &id).await;
        assert_eq!(status_of(&reader, &id).await, "cancelled");
    }
}

#[tokio::test]
async fn a_read_through_another_process_right_after_a_write_sees_it() {
    let db = TempSqlite::new();
    reads_through_another_process_see_the_write(&db.url).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run ci/test, or set TEST_DATABASE_URL and pass --run-ignored all"]
async fn a_read_through_another_process_right_after_a_write_sees_it_on_postgres() {
    reads_through_another_process_see_the_write(&fresh_postgres().await).await;
}

/// Rows dropped from memory are loaded again from the read models: a rebuild (which empties and
/// refills them) changes nothing a reader sees.
#[tokio::test]
async fn a_rebuild_leaves_reads_unchanged() {
    let app = spawn_app().await;
    assert_eq!(app.create_org(ORG, "986128433").await.0, 201);
    let id = queued_export(&app).await;
    let (_, before) = app
        .get(&format!("/api/v1/bufdir-exports/{id}"), &app.admin)
        .await;
    app.state.projections.rebuild("exports").await.unwrap();
    assert!(app.state.projections.cache().exports.is_empty());
    let (status, after) = app
        .get(&format!("/api/v1/bufdir-exports/{id}"), &app.admin)
        .await;
    assert_eq!(status, 200);
    assert_eq!(before, after);
}

/// A runner commits a batch and only then drops what memory holds from before it; a
/// read-your-writes wait that learns from the database that the batch is in (the runner's
/// process may be another one, or this one between its commit and its drop) must not let the
/// read that follows answer from memory. Here the batch is written straight into the read model
/// and no runner drops anything: only the wait can.
#[tokio::test]
async fn a_wait_that_learns_of_a_batch_from_the_database_leaves_no_stale_row_in_memory() {
    let db = TempSqlite::new();
    let writer = spawn_on(&db.url, None, Options::default()).await;
    let reader = spawn_on(
        &db.url,
        None,
        Options {
            wrap_events: Some(|log| {
                let mut log = FaultyLog::over(log);
                log.fail_subscription = |_| true;
                Arc::new(log)
            }),
            ..Options::default()
        },
    )
    .await;
    assert_eq!(writer.create_org(ORG, "986128433").await.0, 201);
    let id = queued_export(&writer).await;
    assert_eq!(cached(&reader, &id).await, "queued");

    let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
    sqlx::query("UPDATE exports SET status = 'cancelled' WHERE export_id = $1")
        .bind(&id)
        .execute(&pool)
        .await
        .unwrap();
    // The batch moves the checkpoint, as every batch does: the reader's own runner may have
    // published the checkpoint before it (it reloads it while its subscription keeps failing),
    // and a wait for that one would be over before it began.
    let before: String =
        sqlx::query_scalar("SELECT position FROM projection_checkpoints WHERE name = 'exports'")
            .fetch_one(&pool)
            .await
            .unwrap();
    let checkpoint = (before.parse::<i64>().unwrap() + 1).to_string();
    sqlx::query("UPDATE projection_checkpoints SET position = $1 WHERE name = 'exports'")
        .bind(&checkpoint)
        .execute(&pool)
        .await
        .unwrap();
    let reached = reader
        .state
        .projections
        .wait_for(
            projections::ProjectionName::Exports,
            &checkpoint.parse().unwrap(),
            std::time::Duration::from_secs(2),
        )
        .await
        .unwrap();
    assert!(reached);
    assert_eq!(status_of(&reader, &id).await, "cancelled");
}
