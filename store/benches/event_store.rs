//! Throughput and latency of the event store, each figure beside a raw sqlx ceiling measured in
//! the same run (the machine is shared and noisy: ratios within one run are what count).
//!
//! `cargo bench -p store --bench event_store` (release). `BENCH_SECONDS` sets each phase's
//! length (default 5); PostgreSQL runs against a fresh database on `BENCH_DATABASE_URL`
//! (default `postgres://postgres@127.0.0.1:5432/test`), dropped afterwards.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::json;
use sqlx::Connection;
use store::{EventStore, ExpectedVersion, Filter, Metadata, NewEvent, PostgresStore, SqliteStore};

const WRITERS: usize = 32;
const BATCH_CALLERS: usize = 4;
const BATCH: usize = 100;

fn event(n: usize) -> NewEvent {
    NewEvent::new(
        "BenchEvent",
        json!({"n": n, "org_id": "org-bench", "value": 42}),
        Metadata::default(),
    )
}

fn seconds() -> Duration {
    Duration::from_secs(
        std::env::var("BENCH_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(5),
    )
}

/// Appends from `callers` tasks, `per_call` events each call, for `run` time: events/s.
async fn throughput(
    store: Arc<dyn EventStore>,
    callers: usize,
    per_call: usize,
    run: Duration,
    tag: &str,
) -> f64 {
    let start = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|c| {
            let store = store.clone();
            let stream = format!("bench{tag}-{c}");
            tokio::spawn(async move {
                let mut n = 0;
                while start.elapsed() < run {
                    let events = (0..per_call).map(event).collect();
                    store
                        .append(&stream, ExpectedVersion::Any, events)
                        .await
                        .unwrap();
                    n += per_call;
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    total as f64 / start.elapsed().as_secs_f64()
}

/// One-event appends offered at `rate` per second in total, spread over the writers, each
/// sent on schedule whether or not the previous one has answered (open loop).
async fn latency_at(store: Arc<dyn EventStore>, rate: f64, run: Duration) -> (f64, f64, f64) {
    let per_writer = Duration::from_secs_f64(WRITERS as f64 / rate);
    let start = Instant::now();
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut ticker = tokio::time::interval(per_writer);
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                let mut inflight = Vec::new();
                while start.elapsed() < run {
                    ticker.tick().await;
                    let store = store.clone();
                    inflight.push(tokio::spawn(async move {
                        let t = Instant::now();
                        store
                            .append(&format!("lat-{w}"), ExpectedVersion::Any, vec![event(0)])
                            .await
                            .unwrap();
                        t.elapsed()
                    }));
                }
                let mut out = Vec::new();
                for i in inflight {
                    out.push(i.await.unwrap());
                }
                out
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    let pct = |p: f64| all[((all.len() - 1) as f64 * p) as usize].as_secs_f64() * 1000.0;
    (
        all.len() as f64 / start.elapsed().as_secs_f64(),
        pct(0.50),
        pct(0.99),
    )
}

async fn catch_up(store: Arc<dyn EventStore>) -> (usize, f64) {
    let head = store
        .read_all(None, &Filter::all(), usize::MAX)
        .await
        .unwrap()
        .len();
    let start = Instant::now();
    let mut sub = store.subscribe(None, Filter::all());
    for _ in 0..head {
        sub.next().await.unwrap().unwrap();
    }
    (head, head as f64 / start.elapsed().as_secs_f64())
}

/// The ceiling: what plain sqlx inserts into a table of the same shape reach.
#[derive(Clone)]
enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

const RAW_TABLE: &str = "CREATE TABLE IF NOT EXISTS bench_raw (position BIGINT, stream TEXT, category TEXT, \
    version BIGINT, event_id TEXT, event_type TEXT, schema_version INT, payload TEXT, metadata TEXT, recorded_at TEXT)";

fn raw_insert(rows: usize, numbered: bool) -> String {
    let mut sql = String::from("INSERT INTO bench_raw VALUES ");
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        if numbered {
            let b = r * 10;
            sql.push_str(&format!(
                "(${},${},${},${},${},${},${},${},${},${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6,
                b + 7,
                b + 8,
                b + 9,
                b + 10
            ));
        } else {
            sql.push_str("(?,?,?,?,?,?,?,?,?,?)");
        }
    }
    sql
}

async fn raw_throughput(raw: Raw, callers: usize, rows: usize, run: Duration) -> f64 {
    let start = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|c| {
            let raw = raw.clone();
            tokio::spawn(async move {
                let mut n = 0usize;
                while start.elapsed() < run {
                    let payload = json!({"n": n, "org_id": "org-bench", "value": 42}).to_string();
                    macro_rules! run {
                        ($pool:expr, $numbered:expr) => {{
                            let sql = raw_insert(rows, $numbered);
                            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                            for r in 0..rows {
                                q = q
                                    .bind((n + r) as i64)
                                    .bind(format!("raw-{c}"))
                                    .bind("raw")
                                    .bind((n + r) as i64)
                                    .bind(uuid::Uuid::now_v7().to_string())
                                    .bind("BenchEvent")
                                    .bind(1i32)
                                    .bind(payload.clone())
                                    .bind("{}")
                                    .bind("2026-01-01T00:00:00Z");
                            }
                            q.execute($pool).await.unwrap();
                        }};
                    }
                    match &raw {
                        Raw::Sqlite(pool) => run!(pool, false),
                        Raw::Postgres(pool) => run!(pool, true),
                    }
                    n += rows;
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    total as f64 / start.elapsed().as_secs_f64()
}

struct Row {
    what: &'static str,
    store: f64,
    ceiling: Option<f64>,
    target: &'static str,
}

async fn bench(name: &str, store: Arc<dyn EventStore>, raw: Raw) -> Vec<Row> {
    let run = seconds();
    eprintln!("{name}: one-event appends, {WRITERS} writers");
    let single = throughput(store.clone(), WRITERS, 1, run, "s").await;
    eprintln!("{name}: {BATCH}-event appends, {BATCH_CALLERS} callers");
    let batched = throughput(store.clone(), BATCH_CALLERS, BATCH, run, "b").await;
    eprintln!("{name}: latency at half of {single:.0}/s");
    let (offered, p50, p99) = latency_at(store.clone(), single / 2.0, run).await;
    eprintln!("{name}: catch-up");
    let (events, read) = catch_up(store.clone()).await;
    eprintln!("{name}: raw ceilings");
    let raw_single = raw_throughput(raw.clone(), WRITERS, 1, run).await;
    let raw_batched = raw_throughput(raw, BATCH_CALLERS, BATCH, run).await;
    let (t_single, t_batch, t_p99) = if name == "PostgreSQL" {
        ("≥ 30 000/s", "≥ 150 000/s", "< 5 ms")
    } else {
        ("≥ 50 000/s", "(none)", "< 2 ms")
    };
    vec![
        Row {
            what: "one-event appends, 32 writers (events/s)",
            store: single,
            ceiling: Some(raw_single),
            target: t_single,
        },
        Row {
            what: "100-event appends, 4 callers (events/s)",
            store: batched,
            ceiling: Some(raw_batched),
            target: t_batch,
        },
        Row {
            what: "latency p50 at half load (ms)",
            store: p50,
            ceiling: None,
            target: "",
        },
        Row {
            what: "latency p99 at half load (ms)",
            store: p99,
            ceiling: None,
            target: t_p99,
        },
        Row {
            what: "  (half load achieved, appends/s)",
            store: offered,
            ceiling: None,
            target: "",
        },
        Row {
            what: "subscription catch-up (events/s)",
            store: read,
            ceiling: None,
            target: "≥ 500 000/s",
        },
        Row {
            what: "  (events in the log at catch-up)",
            store: events as f64,
            ceiling: None,
            target: "",
        },
    ]
}

fn print(name: &str, rows: &[Row]) {
    println!("\n### {name}\n");
    println!("| figure | store | raw sqlx ceiling | store / ceiling | target |");
    println!("|---|---:|---:|---:|---|");
    for r in rows {
        let (ceiling, ratio) = match r.ceiling {
            Some(c) => (format!("{c:.0}"), format!("{:.2}", r.store / c)),
            None => (String::new(), String::new()),
        };
        let value = if r.store < 100.0 {
            format!("{:.2}", r.store)
        } else {
            format!("{:.0}", r.store)
        };
        println!(
            "| {} | {value} | {ceiling} | {ratio} | {} |",
            r.what, r.target
        );
    }
}

#[tokio::main]
async fn main() {
    let dir = std::env::temp_dir().join(format!("bufdir-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/bench.db", dir.display());
    let raw_url = format!("sqlite://{}/raw.db", dir.display());
    let raw_pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(WRITERS as u32)
        .connect_with(
            raw_url
                .parse::<sqlx::sqlite::SqliteConnectOptions>()
                .unwrap()
                .create_if_missing(true)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(30)),
        )
        .await
        .unwrap();
    sqlx::query(RAW_TABLE).execute(&raw_pool).await.unwrap();
    let store: Arc<dyn EventStore> = Arc::new(SqliteStore::open(&url).await.unwrap());
    let sqlite = bench("SQLite", store, Raw::Sqlite(raw_pool)).await;
    let _ = std::fs::remove_dir_all(&dir);
    print("SQLite", &sqlite);

    let admin = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let name = format!("bufdir_bench_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("BENCH_DATABASE_URL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let base = admin.rsplit_once('/').unwrap().0.to_string();
    let pg_url = format!("{base}/{name}");
    let raw_pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(WRITERS as u32)
        .connect(&pg_url)
        .await
        .unwrap();
    sqlx::query(RAW_TABLE).execute(&raw_pool).await.unwrap();
    let store: Arc<dyn EventStore> = Arc::new(PostgresStore::open(&pg_url).await.unwrap());
    let postgres = bench("PostgreSQL", store, Raw::Postgres(raw_pool.clone())).await;
    raw_pool.close().await;
    print("PostgreSQL", &postgres);
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await;
}
