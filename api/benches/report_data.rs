//! Report-data figures against the real binary on the embedded store:
//! import throughput over HTTP, aggregation of one organisation-year with 1 000 000 records,
//! a diff of two versions of it with lineage (100 import batches), and the SSE fan-out to 10 000 subscribers (latency from an import to each subscriber's event,
//! and the server's memory per subscriber).
//!
//! `cargo bench -p api --bench report_data`. `BENCH_RECORDS` (default 1 000 000) and
//! `BENCH_SUBSCRIBERS` (default 10 000; 0 skips the fan-out) scale it down for a quick look. `BENCH_BIN=path` runs
//! another build of the server (the previous release, for a before/after in one run);
//! `BENCH_DATABASE_URL=postgres://...` (an existing, empty database) runs it on PostgreSQL;
//! `BENCH_CONSISTENCY=commit` imports with `?consistency=commit` (answered at commit).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use api::http::auth::{Keys, Role};
use futures::StreamExt;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_bufdir-reporting");
const SECRET: &str = "bench-secret-bench-secret-bench-secret";
const BATCH: usize = 10_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn start(dir: &std::path::Path) -> (Child, String) {
    let bin = std::env::var("BENCH_BIN").unwrap_or_else(|_| BIN.to_string());
    let mut command = Command::new(bin);
    match std::env::var("BENCH_DATABASE_URL") {
        Ok(url) => command.env("DATABASE_URL", url),
        Err(_) => command.env_remove("DATABASE_URL"),
    };
    let mut child = command
        .args(["serve", "--bind", "127.0.0.1:0", "--no-demo", "--data-dir"])
        .arg(dir)
        .env("JWT_SECRET", SECRET)
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "warn,api=info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().unwrap().unwrap();
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break format!("http://{}", rest.split(';').next().unwrap());
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, base)
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn records(from: usize, count: usize, year: i32) -> Vec<Value> {
    let metrics = [
        "children_in_care",
        "emergency_placements",
        "investigations_started",
        "volunteers",
        "group_session",
        "participants_under_18",
    ];
    (from..from + count)
        .map(|i| {
            let m = metrics[i % metrics.len()];
            let day = 1 + (i % 28);
            let month = 1 + (i / 28) % 12;
            let mut r = json!({"record_id": format!("r{i}"), "occurred_on": format!("{year}-{month:02}-{day:02}"), "metric": m, "value": (i % 7) as f64});
            if m == "group_session" {
                r["hours"] = json!(1.5);
            }
            r
        })
        .collect()
}

async fn import(client: &reqwest::Client, base: &str, token: &str, org: &str, records: Vec<Value>) {
    let body = json!({"organization_id": org, "data_source": "bench", "records": records});
    let r = client
        .post(format!("{base}/api/v1/source-records"))
        .query(&[(
            "consistency",
            std::env::var("BENCH_CONSISTENCY").unwrap_or_else(|_| "read_your_writes".into()),
        )])
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

async fn current_snapshot(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    org: &str,
    period: &str,
) -> Duration {
    let started = Instant::now();
    let r = client
        .post(format!("{base}/api/v1/aggregated-report-data"))
        .bearer_auth(token)
        .json(&json!({"organization_id": org, "period_id": period, "force_reaggregate": true}))
        .send()
        .await
        .unwrap();
    let job: Value = r.json().await.unwrap();
    let url = format!(
        "{base}/api/v1/aggregated-report-data/{}",
        job["snapshot_id"].as_str().unwrap()
    );
    // The client's view: how long until the snapshot it asked for is current.
    loop {
        let snap: Value = client
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if snap["snapshot_status"] == "current" {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn next_data_event(
    stream: &mut (impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    buffer: &mut String,
) {
    loop {
        if let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            if frame.contains("event: data_updated") || frame.contains("event:data_updated") {
                return;
            }
            continue;
        }
        let chunk = stream.next().await.unwrap().unwrap();
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

#[tokio::main]
async fn main() {
    let total = env_usize("BENCH_RECORDS", 1_000_000);
    let subscribers = env_usize("BENCH_SUBSCRIBERS", 10_000);
    let dir = std::env::temp_dir().join(format!("bufdir-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let (mut server, base) = start(&dir);
    let token = Keys::from_secret(SECRET.as_bytes()).mint("bench", vec![], vec![Role::Admin], 3600);
    let client = reqwest::Client::new();
    for (org, number) in [("org-big", "986128433"), ("org-live", "991825827")] {
        let r = client
            .post(format!("{base}/api/v1/organizations"))
            .bearer_auth(&token)
            .json(&json!({"org_id": org, "name": org, "organisasjonsnummer": number}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }

    // Import: sequential 10 000-record batches over HTTP, each answered after the read model has it.
    let started = Instant::now();
    let mut halfway = None;
    for from in (0..total).step_by(BATCH) {
        if halfway.is_none() && from >= total / 2 {
            // A version to diff against: the figures after half of the batches.
            tokio::time::sleep(Duration::from_millis(5)).await;
            halfway = Some(chrono::Utc::now());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        import(
            &client,
            &base,
            &token,
            "org-big",
            records(from, BATCH.min(total - from), 2025),
        )
        .await;
    }
    let import_secs = started.elapsed().as_secs_f64();
    println!(
        "| import over HTTP, {BATCH}-record batches | {:.0} records/s ({total} records in {import_secs:.1} s) | ≥ 50 000 records/s |",
        total as f64 / import_secs
    );

    // Aggregation: from the request to a current snapshot, 1 000 000 records in the year.
    let mut runs: Vec<Duration> = Vec::new();
    for _ in 0..3 {
        runs.push(current_snapshot(&client, &base, &token, "org-big", "2025").await);
    }
    runs.sort();
    println!(
        "| aggregation of one organisation-year ({total} records), request to current snapshot | median {:.0} ms (runs {:?}) | < 1 s |",
        runs[1].as_secs_f64() * 1000.0,
        runs.iter().map(|d| d.as_millis()).collect::<Vec<_>>()
    );

    // Diff: the figures after half the batches against now, with each changed field's
    // lineage (every import since, with who and when), from the figure_changes read model.
    let halfway = halfway
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let diff_url = format!("{base}/api/v1/organizations/org-big/report-diffs/2025");
    let mut runs: Vec<Duration> = Vec::new();
    let mut shape = (0, 0);
    for _ in 0..5 {
        let started = Instant::now();
        let r = client
            .get(&diff_url)
            .query(&[
                ("from_version", halfway.as_str()),
                ("to_version", "current"),
            ])
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let diff: Value = r.json().await.unwrap();
        runs.push(started.elapsed());
        let fields = diff["fields"].as_array().unwrap();
        shape = (
            fields.len(),
            fields
                .iter()
                .map(|f| f["lineage"].as_array().unwrap().len())
                .sum::<usize>(),
        );
    }
    runs.sort();
    println!(
        "| diff of two versions with lineage ({total} records, {} batches; {} fields changed, {} lineage entries) | median {:.0} ms (runs {:?}) | < 300 ms |",
        total.div_ceil(BATCH),
        shape.0,
        shape.1,
        runs[2].as_secs_f64() * 1000.0,
        runs.iter().map(|d| d.as_millis()).collect::<Vec<_>>()
    );
    // As of: the organisation-year's snapshot as it stood at the log's head, from its events.
    let ready: Value = client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let head = ready["store"]["head"].as_str().unwrap().to_string();
    let list: Value = client
        .get(format!(
            "{base}/api/v1/aggregated-report-data?organization_id=org-big&period_id=2025&snapshot_status=current"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let snapshot_url = format!(
        "{base}/api/v1/aggregated-report-data/{}?as_of=position:{head}",
        list["data"][0]["snapshot_id"].as_str().unwrap()
    );
    let mut runs: Vec<Duration> = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let r = client
            .get(&snapshot_url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let _: Value = r.json().await.unwrap();
        runs.push(started.elapsed());
    }
    runs.sort();
    println!(
        "| snapshot read as of a log position ({total} records) | median {:.0} ms (runs {:?}) | < 1 s |",
        runs[2].as_secs_f64() * 1000.0,
        runs.iter().map(|d| d.as_millis()).collect::<Vec<_>>()
    );
    if subscribers == 0 {
        server.kill().unwrap();
        server.wait().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }

    // Fan-out: many subscribers on one organisation and period.
    import(&client, &base, &token, "org-live", records(0, 10, 2025)).await;
    current_snapshot(&client, &base, &token, "org-live", "2025").await;
    let rss_before = rss_kib(server.id());
    let url = format!(
        "{base}/api/v1/aggregated-report-data/watch?organization_id=org-live&period_id=2025"
    );
    let mut streams = Vec::with_capacity(subscribers);
    let sse_client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    for wave in 0..subscribers.div_ceil(500) {
        let n = 500.min(subscribers - wave * 500);
        let opened = futures::future::join_all(
            (0..n).map(|_| sse_client.get(&url).bearer_auth(&token).send()),
        )
        .await;
        for r in opened {
            let r = r.unwrap();
            assert_eq!(r.status(), 200);
            streams.push(r.bytes_stream().boxed());
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = rss_kib(server.id());
    println!(
        "| server memory per SSE subscriber ({subscribers} subscribers) | {:.1} KiB (RSS {rss_before} → {rss_after} KiB) | < 16 KB |",
        (rss_after - rss_before) as f64 / subscribers as f64
    );

    let mut all_latencies = Vec::new();
    for round in 0..3 {
        let started = Arc::new(Instant::now());
        let waiting: Vec<_> = streams
            .drain(..)
            .map(|mut s| {
                let started = started.clone();
                tokio::spawn(async move {
                    let mut buffer = String::new();
                    next_data_event(&mut s, &mut buffer).await;
                    (started.elapsed(), s)
                })
            })
            .collect();
        import(&client, &base, &token, "org-live", vec![json!({"record_id": "live", "occurred_on": "2025-06-01", "metric": "volunteers", "value": round as f64 + 1.0})]).await;
        let mut latencies = Vec::new();
        for w in waiting {
            let (latency, s) = w.await.unwrap();
            latencies.push(latency);
            streams.push(s);
        }
        latencies.sort();
        all_latencies.extend(latencies);
    }
    all_latencies.sort();
    let pct = |p: f64| {
        all_latencies[((all_latencies.len() - 1) as f64 * p) as usize].as_secs_f64() * 1000.0
    };
    println!(
        "| import to each subscriber's data_updated, {subscribers} subscribers, 3 rounds | p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms | p99 < 100 ms |",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    drop(streams);
    server.kill().unwrap();
    server.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
