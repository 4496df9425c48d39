//! `EVENTSTORE_URL` through the real binary. No EventStoreDB server runs on our machines, so
//! these check what a server is not needed for: a bad address stops the start with a message
//! that names the setting, instead of a service that fails its first write.

#[path = "../../tests/tests/support/mod.rs"]
mod support;

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_bufdir-reporting");

fn serve_with_eventstore(url: &str) -> Output {
    let dir = support::TempSqlite::new();
    Command::new(BIN)
        .args(["serve", "--bind", "127.0.0.1:0", "--no-demo", "--data-dir"])
        .arg(&dir.dir)
        .env_remove("DATABASE_URL")
        .env_remove("BUFDIR_API_URL")
        .env("EVENTSTORE_URL", url)
        .env("RUST_LOG", "warn")
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap()
}

#[test]
fn an_eventstoredb_that_does_not_answer_stops_the_start() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = serve_with_eventstore(&format!("esdb://127.0.0.1:{port}?tls=false"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("EventStoreDB at EVENTSTORE_URL is not answering"),
        "{stderr}"
    );
    assert!(!stderr.contains("listening on"), "{stderr}");
}

#[test]
fn a_connection_string_that_is_not_esdb_is_refused() {
    let out = serve_with_eventstore("http://127.0.0.1:2113");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("EventStoreDB connection string"),
        "{stderr}"
    );
}
