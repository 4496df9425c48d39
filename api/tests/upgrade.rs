//! The upgrade from the previous release, through the real binary: a database that release's
//! binary wrote (`tests/fixtures/upgrade/`, how it was made is in the README there) is migrated
//! by this one, audited (every read model equals a replay of the log), served, rebuilt from the
//! log and served again, with the same answers both times.

mod common;
#[path = "../../tests/tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Output};
use std::str::FromStr;

use serde_json::Value;
use sqlx::Connection;

use common::{BIN, stop, wait_ready as ready};

const SQLITE_FIXTURE: &str =
    include_str!("../../tests/fixtures/upgrade/previous-release-sqlite.sql");
const POSTGRES_FIXTURE: &str =
    include_str!("../../tests/fixtures/upgrade/previous-release-postgres.sql");

/// The secret the fixtures were written with (tokens, sealed Bufdir credentials and webhook
/// secrets, signed links): an upgrade keeps its secret.
const JWT_SECRET: &str = "upgrade-fixture-jwt-secret-not-for-production";
/// Download links name this host, so that both servers' answers can be compared.
const PUBLIC_BASE_URL: &str = "http://bufdir.test";
/// The token subject the fixtures' requests were made with (idempotency keys are per caller).
const SUBJECT: &str = "upgrade-fixture";

/// Every table of the fixtures and its rows, as the previous release left them.
const ROWS: [(&str, i64); 14] = [
    ("events", 59),
    ("streams", 27),
    ("projection_checkpoints", 5),
    ("organizations", 2),
    ("source_records", 273),
    ("source_changes", 4),
    ("snapshots", 5),
    ("bufdir_submissions", 2),
    ("bufdir_credentials", 2),
    ("exports", 7),
    ("reports", 7),
    ("webhook_endpoints", 1),
    ("idempotency_keys", 7),
    ("_sqlx_migrations", 7),
];

/// Where the fixture was loaded: the data directory, and the PostgreSQL URL when not SQLite.
struct Upgraded {
    dir: support::TempSqlite,
    postgres: Option<String>,
}

impl Upgraded {
    /// Loads the fixture into a fresh database: SQLite in `<data-dir>/bufdir.db`, where the
    /// service looks for it, or a fresh PostgreSQL database.
    async fn load(postgres: bool) -> Upgraded {
        let dir = support::TempSqlite::new();
        let postgres = if postgres {
            let url = support::fresh_postgres().await;
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::raw_sql(POSTGRES_FIXTURE)
                .execute(&mut conn)
                .await
                .expect("load the PostgreSQL fixture");
            Some(url)
        } else {
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(&dir.url)
                .unwrap()
                .create_if_missing(true);
            let mut conn = sqlx::SqliteConnection::connect_with(&options)
                .await
                .unwrap();
            sqlx::raw_sql(SQLITE_FIXTURE)
                .execute(&mut conn)
                .await
                .expect("load the SQLite fixture");
            conn.close().await.unwrap();
            None
        };
        Upgraded { dir, postgres }
    }

    /// A `bufdir-reporting` command on this database.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .arg("--data-dir")
            .arg(&self.dir.dir)
            .env_remove("DATABASE_URL")
            .env_remove("EVENTSTORE_URL")
            .env_remove("BUFDIR_API_URL")
            .env("JWT_SECRET", JWT_SECRET)
            .env("PUBLIC_BASE_URL", PUBLIC_BASE_URL)
            .env("RUST_LOG", "warn");
        if let Some(url) = &self.postgres {
            cmd.env("DATABASE_URL", url);
        }
        cmd
    }

    /// Runs a command to its end; answers its exit code and standard output.
    fn run(&self, args: &[&str]) -> (i32, String) {
        let Output {
            status,
            stdout,
            stderr,
        } = self.command(args).output().unwrap();
        let code = status.code().expect("exited");
        assert!(
            code != 2 && (code == 0 || args[0] == "audit"),
            "{args:?} exited {code}: {}",
            String::from_utf8_lossy(&stderr)
        );
        (code, String::from_utf8(stdout).unwrap())
    }

    fn token(&self) -> String {
        self.run(&["token", "--role", "admin", "--sub", SUBJECT])
            .1
            .trim()
            .to_string()
    }

    /// `serve` without demo data; answers the process and its base URL once it listens.
    fn serve(&self) -> (Child, String) {
        let server =
            common::listening(self.command(&["serve", "--bind", "127.0.0.1:0", "--no-demo"]));
        (server.child, server.base)
    }

    /// `SELECT count(*)` of `table`.
    async fn count(&self, table: &str) -> i64 {
        self.scalar(&format!("SELECT count(*) FROM {table}")).await
    }

    async fn scalar<T>(&self, sql: &str) -> T
    where
        T: Send + Unpin,
        T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
        T: for<'r> sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
    {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match &self.postgres {
            Some(url) => {
                let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
                sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
            }
            None => {
                let mut conn = sqlx::SqliteConnection::connect(&self.dir.url)
                    .await
                    .unwrap();
                sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
            }
        }
    }

    /// The submissions' ids (there is no list of them in the API).
    async fn submission_ids(&self) -> Vec<String> {
        let sql = "SELECT submission_id FROM bufdir_submissions ORDER BY submission_id";
        match &self.postgres {
            Some(url) => {
                let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
                sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap()
            }
            None => {
                let mut conn = sqlx::SqliteConnection::connect(&self.dir.url)
                    .await
                    .unwrap();
                sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap()
            }
        }
    }

    /// The type of a column PostgreSQL migration 0008 changes (text before it).
    async fn postgres_column_type(&self) -> String {
        self.scalar(
            "SELECT data_type::text FROM information_schema.columns \
             WHERE table_name = 'exports' AND column_name = 'created_at'",
        )
        .await
    }
}

async fn get(client: &reqwest::Client, base: &str, token: &str, path: &str) -> Value {
    let r = client
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body = r.text().await.unwrap();
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn ids(list: &Value, field: &str) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item[field].as_str().unwrap().to_string())
        .collect()
}

/// The answers of the main list endpoints and of every item they list, by path; and the log's
/// head, which must not move (the upgraded service has nothing left to do).
async fn answers(
    base: &str,
    token: &str,
    submissions: &[String],
) -> (BTreeMap<String, Value>, Value) {
    let client = reqwest::Client::new();
    let head = ready(&client, base).await["store"]["head"].clone();
    let mut seen = BTreeMap::new();
    let mut record = async |path: String| {
        let body = get(&client, base, token, &path).await;
        seen.insert(path, body.clone());
        body
    };
    record("/api/v1/organizations?limit=100".into()).await;
    record("/api/v1/organizations/org-demo/webhook".into()).await;
    // Every source record, a page of 100 at a time.
    for org in ["org-demo", "org-demo-ungdom"] {
        for page in 1.. {
            let list = record(format!(
                "/api/v1/source-records?organization_id={org}&limit=100&page={page}"
            ))
            .await;
            if page * 100 >= list["pagination"]["total"].as_u64().unwrap() {
                break;
            }
        }
    }
    let snapshots = record("/api/v1/aggregated-report-data?limit=100".into()).await;
    for id in ids(&snapshots, "snapshot_id") {
        record(format!("/api/v1/aggregated-report-data/{id}")).await;
    }
    let exports = record("/api/v1/bufdir-exports?limit=100".into()).await;
    for id in ids(&exports, "export_id") {
        record(format!("/api/v1/bufdir-exports/{id}")).await;
    }
    let reports = record("/api/v1/report-history?limit=100".into()).await;
    for id in ids(&reports, "report_id") {
        record(format!("/api/v1/report-history/{id}")).await;
    }
    let reexports = record("/api/v1/report-reexports?limit=100".into()).await;
    for id in ids(&reexports, "reexport_id") {
        record(format!("/api/v1/report-reexports/{id}")).await;
    }
    // Submissions are not listed: the one an export made, and the one a client made.
    for id in submissions {
        record(format!("/api/v1/bufdir-api/submission-status/{id}")).await;
    }
    let after = ready(&client, base).await["store"]["head"].clone();
    assert_eq!(head, after, "serving the upgraded database appended events");
    (seen, head)
}

/// What the fixture is known to hold, in the upgraded service's answers.
fn assert_fixture_content(seen: &BTreeMap<String, Value>) {
    let at = |path: &str| seen.get(path).unwrap_or_else(|| panic!("{path} not read"));

    let orgs = at("/api/v1/organizations?limit=100");
    assert_eq!(orgs["pagination"]["total"], 2, "{orgs}");
    let mut org_ids = ids(orgs, "org_id");
    org_ids.sort();
    assert_eq!(org_ids, ["org-demo", "org-demo-ungdom"]);
    assert_eq!(
        at("/api/v1/organizations/org-demo/webhook")["url"],
        "https://195.88.54.16/bufdir/webhook"
    );

    let demo_records = at("/api/v1/source-records?organization_id=org-demo&limit=100&page=1");
    assert_eq!(demo_records["pagination"]["total"], 264, "{demo_records}");
    let all_demo_records: Vec<&Value> = (1..=3)
        .flat_map(|page| {
            at(&format!(
                "/api/v1/source-records?organization_id=org-demo&limit=100&page={page}"
            ))["data"]
                .as_array()
                .unwrap()
        })
        .collect();
    assert_eq!(all_demo_records.len(), 264);
    let corrected = all_demo_records
        .iter()
        .find(|r| r["record_id"] == "emergency_placements-202505")
        .expect("the corrected record");
    assert_eq!(
        (
            corrected["occurred_on"].as_str(),
            corrected["value"].as_f64()
        ),
        (Some("2025-05-13"), Some(4.0)),
        "the correction replaced the record: {corrected}"
    );
    let csv_records = at("/api/v1/source-records?organization_id=org-demo-ungdom&limit=100&page=1");
    assert_eq!(csv_records["pagination"]["total"], 9, "{csv_records}");
    let decimal_comma = csv_records["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["record_id"] == "u-4")
        .expect("record u-4");
    assert_eq!(decimal_comma["occurred_on"], "2025-03-20");
    assert_eq!(decimal_comma["hours"], 36.5);

    let snapshots = at("/api/v1/aggregated-report-data?limit=100");
    assert_eq!(snapshots["pagination"]["total"], 5, "{snapshots}");
    let statuses: Vec<&str> = snapshots["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["snapshot_status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == "historical").count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == "current").count(),
        4,
        "{statuses:?}"
    );
    for id in ids(snapshots, "snapshot_id") {
        let snapshot = at(&format!("/api/v1/aggregated-report-data/{id}"));
        assert!(
            !snapshot["sections"].as_array().unwrap().is_empty(),
            "{snapshot}"
        );
    }

    let exports = at("/api/v1/bufdir-exports?limit=100");
    let mut export_states: Vec<(String, String)> = exports["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["format"].as_str().unwrap().to_string(),
                e["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    export_states.sort();
    assert_eq!(
        export_states,
        [
            ("csv".to_string(), "cancelled".to_string()),
            ("excel".into(), "completed".into()),
            ("json".into(), "completed".into()),
            ("pdf".into(), "completed".into()),
        ],
        "the deleted export is not listed"
    );
    for id in ids(exports, "export_id") {
        let export = at(&format!("/api/v1/bufdir-exports/{id}"));
        match export["format"].as_str().unwrap() {
            "csv" => assert_eq!(export["cancel_reason"], "Incorrect date range selected"),
            "excel" => {
                let url = export["file_url"].as_str().expect("a file link");
                assert!(url.starts_with(PUBLIC_BASE_URL), "{url}");
            }
            "json" => assert_eq!(export["submission_status"], "accepted", "{export}"),
            "pdf" => assert!(
                !export["submission_errors"].as_array().unwrap().is_empty(),
                "{export}"
            ),
            other => panic!("an export in {other}"),
        }
    }

    let reports = at("/api/v1/report-history?limit=100");
    assert_eq!(reports["pagination"]["total"], 7, "{reports}");
    let report_states: Vec<(&str, &str)> = reports["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["report_type"].as_str().unwrap(),
                r["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        report_states.contains(&("custom_period", "pending")),
        "{report_states:?}"
    );
    assert_eq!(
        report_states
            .iter()
            .filter(|(_, status)| *status == "completed")
            .count(),
        6,
        "{report_states:?}"
    );

    let reexports = at("/api/v1/report-reexports?limit=100");
    assert_eq!(reexports["pagination"]["total"], 2, "{reexports}");
    for reexport in reexports["data"].as_array().unwrap() {
        assert_eq!(reexport["status"], "completed", "{reexport}");
    }

    let statuses: Vec<&Value> = seen
        .iter()
        .filter(|(path, _)| path.contains("/submission-status/"))
        .map(|(_, v)| v)
        .collect();
    assert_eq!(statuses.len(), 2, "the JSON export's and the client's");
    for status in statuses {
        assert_eq!(status["status"], "accepted", "{status}");
        assert!(status["reference_id"].is_string(), "{status}");
    }
}

async fn upgrade(postgres: bool) {
    let db = Upgraded::load(postgres).await;
    for (table, rows) in ROWS {
        assert_eq!(db.count(table).await, rows, "{table} in the fixture");
    }
    if postgres {
        assert_eq!(
            db.postgres_column_type().await,
            "text",
            "the fixture is old"
        );
    }

    let (_, out) = db.run(&["migrate"]);
    assert_eq!(out.trim(), "database is up to date");
    if postgres {
        assert_eq!(
            db.postgres_column_type().await,
            "timestamp with time zone",
            "migration 0008 ran"
        );
    }
    for (table, rows) in ROWS {
        // Every migration of this release is applied, each once; the log, written before
        // events were chained, is chained and the upgrade records itself (one event, in a
        // stream of its own).
        let rows = match table {
            "_sqlx_migrations" => migrations_of_this_release(postgres),
            "events" | "streams" => rows + 1,
            _ => rows,
        };
        assert_eq!(db.count(table).await, rows, "{table} after the migration");
    }
    let (code, verified) = db.run(&["audit", "verify"]);
    assert_eq!(code, 0, "{verified}");
    assert!(
        verified.contains(&format!("INTACT: {} events", ROWS[0].1 + 1)),
        "{verified}"
    );

    let (code, report) = db.run(&["audit", "replay"]);
    assert_eq!(code, 0, "{report}");
    assert!(report.contains("IDENTICAL"), "{report}");
    for (table, rows) in ROWS {
        let line = format!("  table {table}: {rows} rows live, {rows} rows replayed: identical");
        let owned = projections::all()
            .iter()
            .any(|p| p.tables().contains(&table));
        assert_eq!(report.contains(&line), owned, "{line}: {report}");
    }

    // Sealed now: the fixture's events are older than any sealing interval, so the seal worker
    // of the server below would seal them at some moment of its own otherwise.
    let (code, sealed) = db.run(&["audit", "seal"]);
    assert_eq!(code, 0, "{sealed}");
    assert!(
        sealed.contains("the log up to position 60 (60 events)"),
        "{sealed}"
    );
    let token = db.token();
    let submissions = db.submission_ids().await;
    let (server, base) = db.serve();
    let (before, head) = answers(&base, &token, &submissions).await;
    stop(server);
    // The fixture's 59 events, the chain upgrade's record and the seal.
    assert_eq!(head, "61");
    // 2 organisation reads, 4 pages of source records, 6 reads of snapshots, 5 of exports, 8 of
    // reports, 3 of re-exports, 2 submissions.
    assert_eq!(before.len(), 30, "{:?}", before.keys());
    assert_fixture_content(&before);

    let (_, rebuilt) = db.run(&["projections", "rebuild"]);
    assert_eq!(
        rebuilt.trim(),
        "rebuilt organizations: 2 events applied\nrebuilt report_data: 21 events applied\n\
         rebuilt submissions: 6 events applied\nrebuilt exports: 20 events applied\n\
         rebuilt reports: 8 events applied\nrebuilt signoffs: 0 events applied\n\
         rebuilt figure_changes: 4 events applied"
    );
    let (server, base) = db.serve();
    let (after, head_after) = answers(&base, &token, &submissions).await;
    stop(server);
    assert_eq!(head_after, head);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    for (path, answer) in &before {
        assert_eq!(
            answer, &after[path],
            "GET {path} answers differently after the rebuild"
        );
    }

    let (code, report) = db.run(&["audit", "replay"]);
    assert_eq!(code, 0, "after the rebuild: {report}");
}

/// A request the previous release answered with an `Idempotency-Key` is answered the same when
/// retried after the upgrade (the key's row is read with this release's types).
async fn idempotent_retry_across_the_upgrade(postgres: bool) {
    let db = Upgraded::load(postgres).await;
    db.run(&["migrate"]);
    let token = db.token();
    let (server, base) = db.serve();
    // Byte for byte the body the fixture's first request sent with this key.
    let body = r#"{"org_id":"org-demo","name":"Demo barnevern og fritid","organisasjonsnummer":"986128433"}"#;
    let r = reqwest::Client::new()
        .post(format!("{base}/api/v1/organizations"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .header("Idempotency-Key", "upgrade-fixture-org-demo")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let replayed = r.headers().get("idempotent-replayed").cloned();
    let answer = r.text().await.unwrap();
    stop(server);
    assert_eq!(
        status, 201,
        "the retry of a request the previous release answered: {answer}"
    );
    assert_eq!(replayed.expect("Idempotent-Replayed"), "true");
    let stored: String = db
        .scalar("SELECT body FROM idempotency_keys WHERE idem_key = 'upgrade-fixture-org-demo'")
        .await;
    assert_eq!(answer, stored);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_the_previous_release_upgrades_intact_on_sqlite() {
    upgrade(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (ci/test runs it)"]
async fn a_database_of_the_previous_release_upgrades_intact_on_postgres() {
    upgrade(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_answered_by_the_previous_release_replays_on_sqlite() {
    idempotent_retry_across_the_upgrade(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (ci/test runs it)"]
async fn an_idempotency_key_answered_by_the_previous_release_replays_on_postgres() {
    idempotent_retry_across_the_upgrade(true).await;
}

/// How many migrations this release has for the backend (files in `migrations/`).
fn migrations_of_this_release(postgres: bool) -> i64 {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../migrations")
        .join(if postgres { "postgres" } else { "sqlite" });
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|entry| {
            entry
                .as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
        })
        .count() as i64
}
