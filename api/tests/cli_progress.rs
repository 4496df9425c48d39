//! Long CLI work through the real binary, with stderr not a terminal (as in a pod or CI): it
//! still succeeds, and says in the log how far through the log it is and how fast it goes.

mod common;
#[path = "../../tests/tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use common::BIN;

/// The demo data's events in a fresh data directory, without starting a server.
async fn data_dir_with_demo_events() -> support::TempSqlite {
    let dir = support::TempSqlite::new();
    let db = store::connect(&dir.url).await.expect("database");
    assert!(api::cli::demo::load(&db).await.unwrap());
    db.read.close().await;
    dir
}

/// Runs the binary on `data_dir` with JSON logs at `info` and answers its output.
fn run(data_dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("DATABASE_URL")
        .env_remove("EVENTSTORE_URL")
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The `fields` of the log lines of `task` whose message is `message`.
fn log_lines(stderr: &[u8], task: &str, message: &str) -> Vec<Value> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .map(|line| line["fields"].clone())
        .filter(|fields| fields["task"] == task && fields["message"] == message)
        .collect()
}

#[tokio::test]
async fn rebuild_and_audit_replay_log_their_progress_when_stderr_is_not_a_terminal() {
    let dir = data_dir_with_demo_events().await;

    let out = run(&dir.dir, &["projections", "rebuild"]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let applied: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("rebuilt report_data: "))
        .and_then(|l| l.strip_suffix(" events applied"))
        .unwrap_or_else(|| panic!("no report_data line in {stdout}"))
        .parse()
        .unwrap();
    assert!(applied > 0, "the demo's source records are replayed");
    let started = log_lines(&out.stderr, "rebuild report_data", "started");
    assert_eq!(started.len(), 1, "{}", String::from_utf8_lossy(&out.stderr));
    let total = started[0]["total"].as_u64().unwrap();
    assert!(total > 0);
    let finished = log_lines(&out.stderr, "rebuild report_data", "finished");
    assert_eq!(finished.len(), 1);
    let finished = &finished[0];
    assert_eq!(finished["events"].as_u64(), Some(applied));
    assert_eq!(finished["position"].as_u64(), Some(total));
    assert_eq!(finished["total"].as_u64(), Some(total));
    assert_eq!(finished["percent"].as_u64(), Some(100));
    assert!(finished["events_per_second"].as_u64().is_some());

    let out = run(&dir.dir, &["audit", "replay"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("IDENTICAL"));
    let finished = log_lines(&out.stderr, "audit replay report_data", "finished");
    assert_eq!(
        finished.len(),
        1,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(finished[0]["events"].as_u64(), Some(applied));
    assert_eq!(finished[0]["percent"].as_u64(), Some(100));
}
