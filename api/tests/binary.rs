//! The real `bufdir-reporting` binary: start it, use it over HTTP, kill it, restart it.

mod common;
#[path = "../../tests/tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use common::{BIN, Listening as Server, wait_ready};

/// Starts `serve` on a free port and waits for its "listening on" log line.
fn start(data_dir: &Path, database_url: Option<&str>) -> Server {
    start_with(data_dir, database_url, &[])
}

fn start_with(data_dir: &Path, database_url: Option<&str>, env: &[(&str, &str)]) -> Server {
    let mut cmd = Command::new(BIN);
    cmd.env_remove("BUFDIR_API_URL").envs(env.iter().copied());
    cmd.args(["serve", "--bind", "127.0.0.1:0", "--no-demo", "--data-dir"])
        .arg(data_dir)
        .env_remove("DATABASE_URL");
    if let Some(url) = database_url {
        cmd.env("DATABASE_URL", url);
    }
    start_with_command(cmd)
}

/// Runs a prepared `serve` command and waits for its "listening on" log line.
fn start_with_command(cmd: Command) -> Server {
    common::listening(cmd)
}

fn cli(data_dir: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn admin_token(data_dir: &Path) -> String {
    cli(data_dir, &["token", "--role", "admin"])
}

/// The valid organisation numbers used below; any will do for any org.
const NUMBERS: [&str; 3] = ["986128433", "991825827", "123456785"];

async fn kill_during_writes_loses_no_acknowledged_write(database_url: Option<&str>) {
    let dir = support::TempSqlite::new();
    let token = admin_token(&dir.dir);
    let server = start(&dir.dir, database_url);
    let client = reqwest::Client::new();
    let mut server = server;
    // Writers keep registering organisations; the server is killed while they are mid-flight.
    let (tx, mut acknowledged) = tokio::sync::mpsc::unbounded_channel::<String>();
    let mut writers = Vec::new();
    for w in 0..8 {
        let (client, base, token, tx) = (
            client.clone(),
            server.base.clone(),
            token.clone(),
            tx.clone(),
        );
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let org_id = format!("org-{w}-{i}");
                let body = json!({"org_id": org_id, "name": "Kill test", "organisasjonsnummer": NUMBERS[i % 3]});
                match client.post(format!("{base}/api/v1/organizations")).bearer_auth(&token).json(&body).send().await {
                    Ok(r) if r.status() == 201 => tx.send(org_id).unwrap(),
                    Ok(r) => panic!("unexpected {}", r.status()),
                    Err(_) => return, // the server is gone
                }
            }
        }));
    }
    drop(tx);
    let mut acked = Vec::new();
    while acked.len() < 200 {
        acked.push(acknowledged.recv().await.unwrap());
    }
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    for w in writers {
        w.await.unwrap();
    }
    while let Ok(id) = acknowledged.try_recv() {
        acked.push(id);
    }

    let server = start(&dir.dir, database_url);
    wait_ready(&client, &server.base).await;
    for org_id in &acked {
        let r = client
            .get(format!("{}/api/v1/organizations/{org_id}", server.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "acknowledged {org_id} was lost");
    }
    // Anything committed but not acknowledged (killed before the answer) is there too, once.
    let list: Value = client
        .get(format!("{}/api/v1/organizations?limit=1", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let total = list["pagination"]["total"].as_u64().unwrap();
    let ready = wait_ready(&client, &server.base).await;
    let head: u64 = ready["store"]["head"].as_str().unwrap().parse().unwrap();
    assert!(total >= acked.len() as u64);
    assert_eq!(
        total, head,
        "one organisation per event in the log: none lost, none doubled"
    );
    stop(server);
}

fn stop(server: Server) {
    common::stop(server.child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_writes_on_sqlite_loses_no_committed_event() {
    kill_during_writes_loses_no_acknowledged_write(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run ci/test, or set TEST_DATABASE_URL and pass --run-ignored all"]
async fn sigkill_during_writes_on_postgres_loses_no_committed_event() {
    let url = support::fresh_postgres().await;
    kill_during_writes_loses_no_acknowledged_write(Some(&url)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_flow_works_with_a_minted_token_and_sigterm_exits_cleanly() {
    let dir = support::TempSqlite::new();
    let server = start(&dir.dir, None);
    assert!(
        server
            .startup_log
            .iter()
            .any(|l| l.contains("in-process Bufdir sandbox")),
        "serve says it uses the sandbox: {:?}",
        server.startup_log
    );
    let client = reqwest::Client::new();
    let token = admin_token(&dir.dir);
    let created = client
        .post(format!("{}/api/v1/organizations", server.base))
        .bearer_auth(&token)
        .json(&json!({"org_id": "org-bufdir-042", "name": "Redd Barna", "organisasjonsnummer": "991825827"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let list: Value = client
        .get(format!("{}/api/v1/organizations", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"][0]["org_id"], "org-bufdir-042");
    assert_eq!(
        client
            .get(format!("{}/docs", server.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // A viewer token for one organisation sees only it.
    let viewer = cli(
        &dir.dir,
        &["token", "--org", "org-other", "--role", "viewer"],
    );
    let r = client
        .get(format!(
            "{}/api/v1/organizations/org-bufdir-042",
            server.base
        ))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    stop(server);
    // Offline tools work on the same data directory.
    assert_eq!(
        cli(&dir.dir, &["projections", "rebuild"]),
        "rebuilt organizations: 1 events applied\nrebuilt report_data: 0 events applied\nrebuilt submissions: 0 events applied\nrebuilt exports: 0 events applied\nrebuilt reports: 0 events applied\nrebuilt signoffs: 0 events applied\nrebuilt figure_changes: 0 events applied"
    );
    assert_eq!(cli(&dir.dir, &["migrate"]), "database is up to date");
}

#[test]
fn the_embedded_default_seeds_a_demo_organisation_and_logs_a_token() {
    let dir = support::TempSqlite::new();
    let mut child = Command::new(BIN)
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(&dir.dir)
        .env_remove("DATABASE_URL")
        .env("LOG_FORMAT", "pretty")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    while let Some(Ok(line)) = lines.next() {
        let done = line.contains("admin token");
        seen.push(line);
        if done {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let log = seen.join("\n");
    assert!(log.contains("embedded event store"), "{log}");
    assert!(log.contains("demo data loaded"), "{log}");
    assert!(log.contains("/docs"), "{log}");
    assert!(log.contains("admin token for local use"), "{log}");
}

#[test]
fn a_token_without_an_org_is_refused_unless_admin() {
    let dir = support::TempSqlite::new();
    let out = Command::new(BIN)
        .args(["token", "--role", "viewer", "--data-dir"])
        .arg(&dir.dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn the_openapi_command_writes_the_committed_spec() {
    let dir = support::TempSqlite::new();
    let out = dir.dir.join("spec.yaml");
    let status = Command::new(BIN)
        .args(["openapi", "--output"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let committed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi/openapi.yaml"),
    )
    .unwrap();
    assert_eq!(std::fs::read_to_string(out).unwrap(), committed);
}

#[test]
fn the_worker_process_runs_projections_and_stops_cleanly_on_sigterm() {
    let dir = support::TempSqlite::new();
    let mut child = Command::new(BIN)
        .args(["worker", "--own-sandbox", "--data-dir"])
        .arg(&dir.dir)
        .env_remove("DATABASE_URL")
        .env("LOG_FORMAT", "json")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let started = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains("worker running projections"));
    let started = started.expect("the worker logs that it runs");
    assert!(started.contains("report_data"), "{started}");
    std::thread::spawn(move || for _ in lines {});
    common::stop(child);
}

/// `bufdir-sandbox` on its own, and `serve` sent to it by `BUFDIR_API_URL`: authenticate with a
/// sandbox test client and submit, through both real binaries.
#[test]
fn a_worker_without_bufdir_api_url_refuses_to_start_a_sandbox_of_its_own() {
    let dir = support::TempSqlite::new();
    let out = Command::new(BIN)
        .args(["worker", "--data-dir"])
        .arg(&dir.dir)
        .env_remove("DATABASE_URL")
        .env_remove("BUFDIR_API_URL")
        .env_remove("BUFDIR_WORKER_OWN_SANDBOX")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("BUFDIR_API_URL is not set"), "{stderr}");
    assert!(stderr.contains("--own-sandbox"), "{stderr}");
}

#[tokio::test]
async fn serve_submits_to_a_standalone_sandbox_named_by_bufdir_api_url() {
    let mut sandbox = Command::new(BIN)
        .args(["bufdir-sandbox", "--bind", "127.0.0.1:0"])
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(sandbox.stderr.take().unwrap()).lines();
    let sandbox_url = loop {
        let line = lines.next().expect("the sandbox exited").unwrap();
        if line.contains("Bufdir sandbox listening") {
            let log: Value = serde_json::from_str(&line).unwrap();
            break log["fields"]["url"].as_str().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});

    let dir = support::TempSqlite::new();
    let token = admin_token(&dir.dir);
    let mut server = start_with(&dir.dir, None, &[("BUFDIR_API_URL", sandbox_url.as_str())]);
    assert!(
        server
            .startup_log
            .iter()
            .any(|l| l.contains("using Bufdir's API at BUFDIR_API_URL") && l.contains(&sandbox_url)),
        "{:?}",
        server.startup_log
    );
    let client = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        client
            .post(format!("{}{path}", server.base))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let created = post(
        "/api/v1/organizations",
        json!({"org_id": "org-demo", "name": "Demo", "organisasjonsnummer": "986128433"}),
    )
    .await
    .unwrap();
    assert_eq!(created.status(), 201);
    let authenticated = post(
        "/api/v1/bufdir-api/authenticate",
        json!({"client_id": "demo-client", "client_secret": "demo-secret", "org_id": "org-demo"}),
    )
    .await
    .unwrap();
    assert_eq!(authenticated.status(), 200);
    let felter: serde_json::Map<String, Value> = domain::schema::bufdir_2025_v2()
        .fields()
        .map(|(_, f)| (f.key.clone(), json!(1)))
        .collect();
    let payload = json!({
        "organisasjonsnummer": "986128433",
        "rapporteringsperiode": "2025",
        "aktiviteter": [{"kategori": "group_session", "antall": 4, "timer": 8}],
        "felter": felter,
    });
    let submitted = post(
        "/api/v1/bufdir-api/submit",
        json!({"report_id": "rpt_demo_2025", "org_id": "org-demo", "payload_version": "bufdir_2025_v2", "payload": payload}),
    )
    .await
    .unwrap();
    assert_eq!(submitted.status(), 200);
    let receipt: Value = submitted.json().await.unwrap();
    assert_eq!(receipt["status"], "received");
    assert_eq!(
        receipt["warnings"],
        json!(["Field 'kontaktperson' is recommended but not present."])
    );
    let state: Value = client
        .get(format!("{sandbox_url}/sandbox/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["submissions"].as_array().unwrap().len(), 1);
    assert_eq!(
        state["submissions"][0]["reference_id"],
        receipt["submission_reference_id"]
    );
    server.child.kill().unwrap();
    sandbox.kill().unwrap();
    let _ = server.child.wait();
    let _ = sandbox.wait();
}

fn spawn_worker(data_dir: &Path) -> Child {
    let mut child = Command::new(BIN)
        .args(["worker", "--own-sandbox", "--data-dir"])
        .arg(data_dir)
        .env_remove("DATABASE_URL")
        .env_remove("BUFDIR_API_URL")
        .env("EXPORT_LEASE_SECONDS", "3")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || for _ in BufReader::new(stderr).lines() {});
    child
}

/// A `worker` process killed (SIGKILL) in the middle of rendering an export: after its lease runs
/// out, another worker process takes the job over and completes it; the dead attempt records
/// nothing.
#[tokio::test]
async fn a_killed_worker_process_leaves_its_export_to_another_worker() {
    let dir = support::TempSqlite::new();
    let token = admin_token(&dir.dir);
    let mut server = Command::new(BIN);
    server
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--no-demo",
            "--no-workers",
            "--data-dir",
        ])
        .arg(&dir.dir)
        .env_remove("DATABASE_URL")
        .env_remove("BUFDIR_API_URL");
    let mut server = start_with_command(server);
    let client = reqwest::Client::new();
    let api = |path: &str| format!("{}{path}", server.base);
    let created = client
        .post(api("/api/v1/organizations"))
        .bearer_auth(&token)
        .json(&json!({"org_id": "org-kill", "name": "Kill", "organisasjonsnummer": "986128433"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    // Enough source records that rendering the annex takes a while.
    for batch in 0..2 {
        let records: Vec<Value> = (0..10_000)
            .map(|i| json!({"record_id": format!("r{batch}-{i}"), "occurred_on": "2025-05-01", "metric": "children_in_care", "value": 1}))
            .collect();
        let imported = client
            .post(api("/api/v1/source-records"))
            .bearer_auth(&token)
            .json(&json!({"organization_id": "org-kill", "data_source": "cis", "records": records}))
            .send()
            .await
            .unwrap();
        assert_eq!(imported.status(), 200);
    }
    let export: Value = client
        .post(api("/api/v1/bufdir-exports"))
        .bearer_auth(&token)
        .json(&json!({"org_id": "org-kill", "format": "excel", "period_from": "2025-01-01", "period_to": "2025-12-31", "include_attachments": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = export["export_id"].as_str().unwrap().to_string();
    let status = || async {
        let body: Value = client
            .get(api(&format!("/api/v1/bufdir-exports/{id}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["status"].as_str().unwrap().to_string()
    };

    let mut first = spawn_worker(&dir.dir);
    let mut seen = String::new();
    for _ in 0..3000 {
        seen = status().await;
        if seen != "queued" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(seen, "running", "the first worker took the job");
    first.kill().unwrap();
    first.wait().unwrap();

    let mut second = spawn_worker(&dir.dir);
    for _ in 0..600 {
        seen = status().await;
        if seen == "completed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen, "completed");
    second.kill().unwrap();
    let _ = second.wait();
    server.child.kill().unwrap();
    let _ = server.child.wait();

    let db = store::connect(&dir.url).await.unwrap();
    let events = db
        .events
        .read_stream(&format!("export-{id}"), 0)
        .await
        .unwrap();
    let claims: Vec<&Value> = events
        .iter()
        .filter(|e| e.event_type == "ExportClaimed")
        .map(|e| &e.payload)
        .collect();
    assert_eq!(claims.len(), 2, "one claim each");
    assert_eq!(claims[1]["taken_over"], true);
    let completions: Vec<&Value> = events
        .iter()
        .filter(|e| e.event_type == "ExportCompleted")
        .map(|e| &e.payload)
        .collect();
    assert_eq!(completions.len(), 1);
    assert_eq!(completions[0]["attempt"], 2);
}
