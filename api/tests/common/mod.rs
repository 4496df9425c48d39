//! What the tests of the real binary share: starting `serve` and knowing where it listens,
//! stopping it as an orchestrator would, and waiting until its read models have caught up.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_bufdir-reporting");

/// A started server: the process, its base URL, and its log lines up to "listening on".
pub struct Listening {
    pub child: Child,
    pub base: String,
    pub startup_log: Vec<String>,
}

/// Runs a prepared `serve` command (JSON logs at `info`) and waits for its "listening on" line.
pub fn listening(mut cmd: Command) -> Listening {
    cmd.env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start the binary");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut startup_log = vec![];
    let base = loop {
        let line = lines
            .next()
            .expect("the server exited before listening")
            .unwrap();
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break format!("http://{}", rest.split(';').next().unwrap());
        }
        startup_log.push(line);
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Listening {
        child,
        base,
        startup_log,
    }
}

/// SIGTERM, as an orchestrator stops a process: a graceful stop exits 0.
pub fn stop(mut child: Child) {
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
}

/// Waits until the read models have caught up with the log, as a client would: by asking
/// (another process's progress has nothing to await). Answers `/readyz`.
pub async fn wait_ready(client: &reqwest::Client, base: &str) -> Value {
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            let body: Value = r.json().await.unwrap();
            if body["status"] == "ready"
                && body["projections"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|p| p["lag"] == 0)
            {
                return body;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server did not become ready");
}

/// A `bufdir-reporting` command on `data_dir`, and on `database_url` when given (else the
/// embedded default in `data_dir`), with nothing taken from the environment.
pub fn command(data_dir: &Path, database_url: Option<&str>, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("DATABASE_URL")
        .env_remove("BUFDIR_API_URL")
        .env("RUST_LOG", "warn");
    if let Some(url) = database_url {
        cmd.env("DATABASE_URL", url);
    }
    cmd
}

/// A token minted by the binary for that configuration (`token` arguments after `token`).
pub fn token(data_dir: &Path, database_url: Option<&str>, args: &[&str]) -> String {
    let mut all = vec!["token"];
    all.extend_from_slice(args);
    let out = command(data_dir, database_url, &all).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The JSON answer to a GET, with `token` as the bearer when given.
pub async fn get_json(client: &reqwest::Client, url: &str, token: Option<&str>) -> Value {
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().json().await.unwrap()
}
