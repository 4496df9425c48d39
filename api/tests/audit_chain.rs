//! The tamper-evident log through the real binary and HTTP: every event carries its chain hash,
//! seals are made and listed, `audit verify` passes an intact log (and an export of it, without
//! a database) and names each kind of tampering (an edited payload, two events swapped, an
//! event deleted), and a log written before chains is upgraded once, recording that it was.

mod common;
#[path = "../../tests/tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Output;

use serde_json::Value;
use sqlx::Connection;

use common::{command, stop};

/// Runs an `audit` command: (exit code, stdout).
fn audit(data_dir: &Path, database_url: Option<&str>, args: &[&str]) -> (i32, String) {
    let mut all = vec!["audit"];
    all.extend_from_slice(args);
    let Output {
        status,
        stdout,
        stderr,
    } = command(data_dir, database_url, &all).output().unwrap();
    let out = String::from_utf8(stdout).unwrap();
    let code = status.code().expect("exited");
    assert!(
        code != 2,
        "audit {args:?} could not run: {}",
        String::from_utf8_lossy(&stderr)
    );
    (code, out)
}

async fn execute(url: &str, statement: &str) -> u64 {
    if url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&mut conn)
            .await
            .unwrap()
            .rows_affected()
    } else {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&mut conn)
            .await
            .unwrap()
            .rows_affected()
    }
}

async fn number(url: &str, query: &str) -> i64 {
    if url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_scalar(sqlx::AssertSqlSafe(query))
            .fetch_one(&mut conn)
            .await
            .unwrap()
    } else {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query_scalar(sqlx::AssertSqlSafe(query))
            .fetch_one(&mut conn)
            .await
            .unwrap()
    }
}

/// Swaps the positions of the events at `a` and `b`.
async fn swap(url: &str, a: i64, b: i64) {
    for statement in [
        format!("UPDATE events SET position = -1 WHERE position = {a}"),
        format!("UPDATE events SET position = {a} WHERE position = {b}"),
        format!("UPDATE events SET position = {b} WHERE position = -1"),
    ] {
        assert_eq!(execute(url, &statement).await, 1, "{statement}");
    }
}

async fn chain_holds_and_tampering_is_named(
    data_dir: &Path,
    database_url: Option<&str>,
    url: &str,
) {
    let mut cmd = command(
        data_dir,
        database_url,
        &["serve", "--bind", "127.0.0.1:0", "--demo"],
    );
    cmd.env("SEAL_EVERY_EVENTS", "5");
    let server = common::listening(cmd);
    let base = server.base.clone();
    let client = reqwest::Client::new();
    common::wait_ready(&client, &base).await;
    let token = common::token(data_dir, database_url, &["--role", "admin"]);

    // Every event shows its hash.
    let page: Value = client
        .get(format!("{base}/api/v1/audit/events?limit=1000"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let events = page["data"].as_array().unwrap();
    assert!(events.len() > 5, "{page}");
    for e in events {
        let hash = e["hash"].as_str().unwrap_or_default();
        assert!(
            hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
            "{e}"
        );
    }

    // The seal worker seals every 5 events here; `audit seal` seals at once, from another
    // process, and the API lists both kinds.
    let (code, printed) = audit(data_dir, database_url, &["seal"]);
    assert_eq!(code, 0, "{printed}");
    let expect = printed
        .split("audit verify --expect ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("the seal is printed to be kept: {printed}"))
        .to_string();
    let (code, again) = audit(data_dir, database_url, &["seal", "--print"]);
    assert_eq!(code, 0);
    assert!(again.contains(&expect), "{again} / {expect}");
    let seals: Value = client
        .get(format!("{base}/api/v1/audit/seals"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed = seals["data"].as_array().unwrap();
    // The workers may still be busy with the demo data, so the worker may have sealed since.
    assert!(
        listed.iter().any(|s| format!(
            "{}:{}",
            s["up_to"].as_str().unwrap(),
            s["digest"].as_str().unwrap()
        ) == expect),
        "{expect} not in {seals}"
    );
    for pair in listed.windows(2) {
        assert_eq!(pair[1]["previous_seal"], pair[0]["hash"], "{seals}");
    }
    let viewer = common::token(
        data_dir,
        database_url,
        &["--role", "viewer", "--org", "org-demo"],
    );
    let status = client
        .get(format!("{base}/api/v1/audit/seals"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 403);
    stop(server.child);

    // Intact: the database, with the kept digest, and an export checked without a database.
    let (code, report) = audit(data_dir, database_url, &["verify", "--expect", &expect]);
    assert_eq!(code, 0, "{report}");
    assert!(report.contains("INTACT"), "{report}");
    let export = data_dir.join("log.jsonl");
    let (code, _) = audit(
        data_dir,
        database_url,
        &["export", "--to", export.to_str().unwrap()],
    );
    assert_eq!(code, 0);
    let nowhere = support::TempSqlite::new();
    let (code, report) = audit(
        &nowhere.dir,
        None,
        &[
            "verify",
            "--from",
            export.to_str().unwrap(),
            "--expect",
            &expect,
        ],
    );
    assert_eq!(code, 0, "{report}");
    assert!(
        std::fs::read_dir(&nowhere.dir).unwrap().next().is_none(),
        "verifying a file opens no database"
    );
    // An edited line of the export is found.
    let text = std::fs::read_to_string(&export).unwrap();
    let edited = text.replacen("Demo barnevern", "Demo barnevørn", 1);
    assert_ne!(edited, text);
    std::fs::write(&export, edited).unwrap();
    let (code, report) = audit(
        &nowhere.dir,
        None,
        &["verify", "--from", export.to_str().unwrap()],
    );
    assert_eq!(code, 1, "{report}");
    assert!(
        report.contains("stream organization-org-demo version 0"),
        "{report}"
    );

    // An edited payload.
    let first = number(
        url,
        "SELECT position FROM events WHERE stream = 'organization-org-demo' AND version = 0",
    )
    .await;
    let cast = if url.starts_with("postgres") {
        "::text"
    } else {
        ""
    };
    let back = if url.starts_with("postgres") {
        "::json"
    } else {
        ""
    };
    let edit = |from: &str, to: &str| {
        format!(
            "UPDATE events SET payload = replace(payload{cast}, '{from}', '{to}'){back} \
             WHERE position = {first}"
        )
    };
    assert_eq!(
        execute(url, &edit("Demo barnevern", "Demo barnevørn")).await,
        1
    );
    let (code, report) = audit(data_dir, database_url, &["verify"]);
    assert_eq!(code, 1, "{report}");
    assert!(
        report.contains(&format!(
            "TAMPERED: stream organization-org-demo version 0 at position {first}: its content \
             does not match its hash"
        )),
        "{report}"
    );
    assert_eq!(
        execute(url, &edit("Demo barnevørn", "Demo barnevern")).await,
        1
    );
    assert_eq!(audit(data_dir, database_url, &["verify"]).0, 0);

    // Two events of one stream swapped: the stream's order is broken where it shows.
    let stream = "SELECT stream FROM events WHERE version = 1 ORDER BY position LIMIT 1";
    let (v0, v1) = (
        number(
            url,
            &format!("SELECT position FROM events WHERE version = 0 AND stream = ({stream})"),
        )
        .await,
        number(
            url,
            &format!("SELECT position FROM events WHERE version = 1 AND stream = ({stream})"),
        )
        .await,
    );
    swap(url, v0, v1).await;
    let (code, report) = audit(data_dir, database_url, &["verify"]);
    assert_eq!(code, 1, "{report}");
    assert!(
        report.contains(&format!(
            "version 1 at position {v0}: version 0 of the stream is missing"
        )),
        "{report}"
    );
    swap(url, v0, v1).await;
    // Two neighbouring events of different streams swapped (each the first of its stream):
    // each stream is still in order, but the seal's digest over the whole log is not.
    let other = number(
        url,
        "SELECT a.position FROM events a JOIN events b ON b.position = a.position + 1 \
         WHERE a.version = 0 AND b.version = 0 AND a.stream <> b.stream \
         ORDER BY a.position LIMIT 1",
    )
    .await;
    let v0 = other + 1;
    swap(url, v0, other).await;
    let (code, report) = audit(data_dir, database_url, &["verify"]);
    assert_eq!(code, 1, "{report}");
    assert!(report.contains("does not match this seal"), "{report}");
    swap(url, v0, other).await;
    assert_eq!(audit(data_dir, database_url, &["verify"]).0, 0);

    // A log written before chains: its events are chained at the next start and the upgrade
    // is recorded; the seals made before still hold.
    let events_before = number(url, "SELECT count(*) FROM events").await;
    execute(url, "UPDATE events SET hash = NULL").await;
    execute(url, "UPDATE streams SET hash = NULL").await;
    let (code, report) = audit(data_dir, database_url, &["verify", "--expect", &expect]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(
        number(
            url,
            "SELECT count(*) FROM events WHERE event_type = 'LogChainUpgraded'"
        )
        .await,
        1
    );
    assert_eq!(
        number(url, "SELECT count(*) FROM events").await,
        events_before + 1
    );

    // One event deleted from a stream (one whose next event follows before any seal).
    let pair = "FROM events a JOIN events b ON b.stream = a.stream AND b.version = a.version + 1 \
                WHERE NOT EXISTS (SELECT 1 FROM events s WHERE s.event_type = 'LogSealed' \
                    AND s.position > a.position AND s.position < b.position) \
                ORDER BY a.position LIMIT 1";
    let gone = number(url, &format!("SELECT a.position {pair}")).await;
    let version = number(url, &format!("SELECT a.version {pair}")).await;
    let next = number(url, &format!("SELECT b.position {pair}")).await;
    assert_eq!(
        execute(url, &format!("DELETE FROM events WHERE position = {gone}")).await,
        1
    );
    let (code, report) = audit(data_dir, database_url, &["verify"]);
    assert_eq!(code, 1, "{report}");
    assert!(
        report.contains(&format!(
            "version {} at position {next}: version {version} of the stream is missing",
            version + 1
        )),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_is_chained_sealed_and_tampering_is_named_on_sqlite() {
    let db = support::TempSqlite::new();
    chain_holds_and_tampering_is_named(&db.dir, None, &db.url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run ci/test, or set TEST_DATABASE_URL and pass --run-ignored all"]
async fn the_log_is_chained_sealed_and_tampering_is_named_on_postgres() {
    let url = support::fresh_postgres().await;
    let dir = support::TempSqlite::new();
    chain_holds_and_tampering_is_named(&dir.dir, Some(&url), &url).await;
}

async fn get_json(client: &reqwest::Client, url: &str, token: &str) -> (u16, Value) {
    let r = client.get(url).bearer_auth(token).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Polls a separate process's answer until `done` holds (there is nothing in this process to
/// await for another process's worker).
async fn until(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..400 {
        let (status, body) = get_json(client, url, token).await;
        if status == 200 && done(&body) {
            return body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{url} did not get there");
}

/// An auditor with only the export reproduces a report: its figures replayed as of the
/// report's position are the figures of the report's file.
async fn an_export_reproduces_a_report(data_dir: &Path, database_url: Option<&str>, url: &str) {
    let cmd = command(
        data_dir,
        database_url,
        &["serve", "--bind", "127.0.0.1:0", "--demo"],
    );
    let server = common::listening(cmd);
    let base = server.base.clone();
    let client = reqwest::Client::new();
    common::wait_ready(&client, &base).await;
    let token = common::token(data_dir, database_url, &["--role", "admin"]);
    // The report's period is approved before it is made: its replay shows who approved what.
    let approver = common::token(
        data_dir,
        database_url,
        &["--role", "approver", "--org", "org-demo", "--sub", "kari"],
    );
    let sign_off = format!("{base}/api/v1/organizations/org-demo/sign-offs/2025");
    let (status, shown) = get_json(&client, &sign_off, &approver).await;
    assert_eq!(status, 200, "{shown}");
    let approved: Value = client
        .post(format!("{sign_off}/approvals"))
        .bearer_auth(&approver)
        .json(&serde_json::json!({"role": "approver", "payload_digest": shown["payload_digest"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(approved["status"], "standing", "{approved}");
    let created: Value = client
        .post(format!("{base}/api/v1/bufdir-exports"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"org_id": "org-demo", "format": "json",
            "period_from": "2025-01-01", "period_to": "2025-12-31", "activity_types": [],
            "include_attachments": false, "submit_to_bufdir_api": false}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let export_id = created["export_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"));
    let report_id = format!("rpt_{}", export_id.split_once('_').unwrap().1);
    until(
        &client,
        &format!("{base}/api/v1/report-history/{report_id}"),
        &token,
        |r| r["status"] == "completed",
    )
    .await;
    let (_, link) = get_json(
        &client,
        &format!("{base}/api/v1/report-history/{report_id}/download-url"),
        &token,
    )
    .await;
    let file: Value = client
        .get(
            link["download_url"]
                .as_str()
                .unwrap_or_else(|| panic!("{link}")),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    stop(server.child);

    let export = data_dir.join("log.jsonl");
    let (code, _) = audit(
        data_dir,
        database_url,
        &["export", "--to", export.to_str().unwrap()],
    );
    assert_eq!(code, 0);
    let recorded = number(
        url,
        "SELECT max(position) FROM events WHERE event_type = 'ReportRecorded'",
    )
    .await;
    let nowhere = support::TempSqlite::new();
    let (code, shown) = audit(
        &nowhere.dir,
        None,
        &[
            "replay",
            "--from",
            export.to_str().unwrap(),
            "--as-of",
            &recorded.to_string(),
            "--report",
            &report_id,
        ],
    );
    assert_eq!(code, 0, "{shown}");
    let shown: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(
        shown["payload"], file,
        "the replay gives the file's figures"
    );
    assert_eq!(shown["report_id"], report_id.as_str());
    assert!(
        shown["sections"].as_array().is_some_and(|s| !s.is_empty()),
        "{shown}"
    );
    assert_eq!(
        shown["approvals"][0]["approval_id"],
        approved["approval_id"]
    );
    assert_eq!(shown["approvals"][0]["subject"], "kari");
    assert_eq!(shown["approvals"][0]["status"], "standing");
    // Before the report was recorded, there is none to show.
    let before = command(
        &nowhere.dir,
        None,
        &[
            "audit",
            "replay",
            "--from",
            export.to_str().unwrap(),
            "--as-of",
            &(recorded - 1).to_string(),
            "--report",
            &report_id,
        ],
    )
    .output()
    .unwrap();
    assert_eq!(before.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&before.stderr).contains(&format!("no report {report_id}")),
        "{}",
        String::from_utf8_lossy(&before.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_alone_reproduces_a_reports_figures_on_sqlite() {
    let db = support::TempSqlite::new();
    an_export_reproduces_a_report(&db.dir, None, &db.url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run ci/test, or set TEST_DATABASE_URL and pass --run-ignored all"]
async fn an_export_alone_reproduces_a_reports_figures_on_postgres() {
    let url = support::fresh_postgres().await;
    let dir = support::TempSqlite::new();
    an_export_reproduces_a_report(&dir.dir, Some(&url), &url).await;
}

/// `privacy erase` through the real binary: refused while the report is retained, done when
/// forced with a reason; the log still verifies and the audit trail shows the data as erased.
async fn erasure_through_the_binary(data_dir: &Path, database_url: Option<&str>) {
    let serve = || {
        common::listening(command(
            data_dir,
            database_url,
            &["serve", "--bind", "127.0.0.1:0", "--demo"],
        ))
    };
    let server = serve();
    let base = server.base.clone();
    let client = reqwest::Client::new();
    common::wait_ready(&client, &base).await;
    let token = common::token(data_dir, database_url, &["--role", "admin"]);
    let post = |path: &str, body: Value| {
        client
            .post(format!("{base}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let r = post(
        "/api/v1/bufdir-api/authenticate",
        serde_json::json!({"client_id": "eircodex_org_482", "client_secret": "s3cr3t_token_here",
                           "org_id": "org-demo"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let (_, payload) = get_json(
        &client,
        &format!("{base}/api/v1/aggregated-report-data?organization_id=org-demo&period_id=2025"),
        &token,
    )
    .await;
    let snapshot = payload["data"][0]["snapshot_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{payload}"))
        .to_string();
    let (_, mut bufdir) = get_json(
        &client,
        &format!("{base}/api/v1/aggregated-report-data/{snapshot}/bufdir-payload"),
        &token,
    )
    .await;
    bufdir["kontaktperson"] =
        serde_json::json!({"navn": "Ola Nordmann", "epost": "ola@example.no"});
    let r = post(
        "/api/v1/bufdir-api/submit",
        serde_json::json!({"report_id": "rpt_cli", "org_id": "org-demo",
                           "payload_version": "bufdir_2025_v2", "payload": bufdir}),
    )
    .await
    .unwrap();
    let status = r.status().as_u16();
    assert!(
        status == 200 || status == 202,
        "{}",
        r.text().await.unwrap()
    );
    stop(server.child);

    let erase = |extra: &[&str]| {
        let mut args = vec!["privacy", "erase", "--subject", "ola@example.no"];
        args.extend_from_slice(extra);
        let out = command(data_dir, database_url, &args).output().unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, said) = erase(&[]);
    assert_eq!(code, 1, "{said}");
    assert!(
        said.contains("REFUSED") && said.contains("retained"),
        "{said}"
    );
    let (code, said) = erase(&["--force", "--reason", "the data subject asked (ticket 42)"]);
    assert_eq!(code, 0, "{said}");
    let (code, report) = audit(data_dir, database_url, &["verify"]);
    assert_eq!(code, 0, "{report}");

    let server = serve();
    let base = server.base.clone();
    let (_, page) = get_json(
        &client,
        &format!("{base}/api/v1/audit/events?category=submission&limit=1000"),
        &token,
    )
    .await;
    let text = page.to_string();
    assert!(!text.contains("Ola Nordmann"), "{text}");
    assert!(text.contains("\"erased\":true"), "{text}");
    stop(server.child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_data_is_erased_through_the_binary_on_sqlite() {
    let db = support::TempSqlite::new();
    erasure_through_the_binary(&db.dir, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run ci/test, or set TEST_DATABASE_URL and pass --run-ignored all"]
async fn personal_data_is_erased_through_the_binary_on_postgres() {
    let url = support::fresh_postgres().await;
    let dir = support::TempSqlite::new();
    erasure_through_the_binary(&dir.dir, Some(&url)).await;
}
