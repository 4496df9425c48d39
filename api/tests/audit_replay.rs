//! `bufdir-reporting audit replay` through the real binary: identical read models pass (also
//! while a running service keeps writing), and a tampered row is named with its table, key and
//! column.

mod common;
#[path = "../../tests/tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Child, Output};

use serde_json::json;
use sqlx::Connection;

use common::{command, stop};

/// `serve` with the demo data (organisations, source records, snapshots aggregated by its
/// workers); answers the process and its base URL once it listens.
fn serve(data_dir: &Path, database_url: Option<&str>) -> (Child, String) {
    let cmd = command(
        data_dir,
        database_url,
        &["serve", "--bind", "127.0.0.1:0", "--demo"],
    );
    let server = common::listening(cmd);
    (server.child, server.base)
}

fn audit_replay(data_dir: &Path, database_url: Option<&str>) -> (i32, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = command(data_dir, database_url, &["audit", "replay"])
        .output()
        .unwrap();
    let report = String::from_utf8(stdout).unwrap();
    let code = status.code().expect("exited");
    assert!(
        code != 2,
        "the audit failed to run: {}",
        String::from_utf8_lossy(&stderr)
    );
    (code, report)
}

/// Registers organisations one after another until `stop` is set, counting them in `count`.
async fn keep_registering(
    base: String,
    token: String,
    stop: tokio_util::sync::CancellationToken,
    count: tokio::sync::watch::Sender<usize>,
) {
    let client = reqwest::Client::new();
    let numbers = ["986128433", "991825827", "123456785"];
    let mut registered = 0;
    while !stop.is_cancelled() {
        let body = json!({"org_id": format!("org-busy-{registered}"), "name": "Busy", "organisasjonsnummer": numbers[registered % 3]});
        let r = client
            .post(format!("{base}/api/v1/organizations"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        registered += 1;
        count.send_replace(registered);
    }
}

/// Runs `sql` against the database at `url` (the read models, behind the service's back).
async fn tamper(url: &str, sql: &[&str]) {
    for statement in sql {
        let affected = if url.starts_with("postgres") {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(*statement))
                .execute(&mut conn)
                .await
                .unwrap()
                .rows_affected()
        } else {
            let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(*statement))
                .execute(&mut conn)
                .await
                .unwrap()
                .rows_affected()
        };
        assert_eq!(affected, 1, "{statement}");
    }
}

/// The whole check on one database (at `url`; `database_url` is what the binary is given, unset
/// for the embedded default): identical while writes go on, then a changed and a deleted row
/// found, and the scratch database gone after each run.
async fn replay_finds_exactly_what_was_tampered(
    data_dir: &Path,
    database_url: Option<&str>,
    url: &str,
) {
    let (server, base) = serve(data_dir, database_url);
    let token = common::token(data_dir, database_url, &["--role", "admin"]);
    let stop_writing = tokio_util::sync::CancellationToken::new();
    let (count, mut registered) = tokio::sync::watch::channel(0);
    let writer = tokio::spawn(keep_registering(
        base.clone(),
        token,
        stop_writing.clone(),
        count,
    ));
    // The audit starts while organisations are being registered, and they go on meanwhile.
    let before = *registered.wait_for(|n| *n >= 5).await.unwrap();
    let (code, report) = {
        let dir = data_dir.to_path_buf();
        let database_url = database_url.map(str::to_string);
        tokio::task::spawn_blocking(move || audit_replay(&dir, database_url.as_deref()))
            .await
            .unwrap()
    };
    let during = *registered.borrow() - before;
    stop_writing.cancel();
    writer.await.unwrap();
    assert!(during > 0, "no write happened during the audit");
    assert_eq!(code, 0, "{report}");
    assert!(report.contains("IDENTICAL"), "{report}");
    for table in projections::all().iter().flat_map(|p| p.tables()) {
        assert!(
            report.contains(&format!("  table {table}: ")),
            "{table} compared: {report}"
        );
    }
    stop(server);
    assert_scratch_removed(&report, url).await;

    tamper(
        url,
        &[
            "UPDATE organizations SET name = 'x' WHERE org_id = 'org-demo'",
            "DELETE FROM source_changes WHERE org_id = 'org-demo-ungdom' AND year = 2024",
        ],
    )
    .await;
    let (code, report) = audit_replay(data_dir, database_url);
    assert_eq!(code, 1, "{report}");
    assert!(report.contains("DIFFERENT"), "{report}");
    assert!(
        report.contains(
            "row org_id=\"org-demo\": column name is \"x\" live, \"Demo barnevern og fritid\" replayed"
        ),
        "{report}"
    );
    assert!(
        report.contains(
            "row org_id=\"org-demo-ungdom\", year=\"2024\": in the replay, missing from the live read model"
        ),
        "{report}"
    );
    let differing: Vec<&str> = report
        .lines()
        .filter(|l| l.starts_with("  table ") && !l.ends_with(": identical"))
        .collect();
    assert_eq!(differing.len(), 2, "only the tampered tables: {report}");
    assert!(
        differing[0].starts_with("  table organizations: "),
        "{report}"
    );
    assert!(differing[0].ends_with(": 1 difference"), "{report}");
    assert!(
        differing[1].starts_with("  table source_changes: "),
        "{report}"
    );
    assert_scratch_removed(&report, url).await;
}

/// The report's first line says where the replay went; it must be gone again.
async fn assert_scratch_removed(report: &str, url: &str) {
    let first = report.lines().next().unwrap();
    if let Some(dir) = first.split("fresh SQLite database in ").nth(1) {
        let dir = dir.trim_end_matches('.');
        assert!(!Path::new(dir).exists(), "{dir} was left behind");
    } else {
        let schema = first
            .split("fresh PostgreSQL schema ")
            .nth(1)
            .expect("the report names its scratch database")
            .trim_end_matches('.');
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        let left: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name::text = $1",
        )
        .bind(schema)
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert_eq!(left, 0, "schema {schema} was left behind");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_replay_passes_untouched_read_models_and_names_tampered_rows_on_sqlite() {
    // The embedded default: <data-dir>/bufdir.db, no DATABASE_URL.
    let db = support::TempSqlite::new();
    replay_finds_exactly_what_was_tampered(&db.dir, None, &db.url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run ci/test, or set TEST_DATABASE_URL and pass --run-ignored all"]
async fn audit_replay_passes_untouched_read_models_and_names_tampered_rows_on_postgres() {
    let url = support::fresh_postgres().await;
    let dir = support::TempSqlite::new();
    replay_finds_exactly_what_was_tampered(&dir.dir, Some(&url), &url).await;
}
