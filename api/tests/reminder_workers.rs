//! Deadline reminders from two real `worker` processes, one killed (SIGKILL) in the middle of
//! sending: every reminder reaches the receiver signed and is answered once, the log records
//! each sent once, and the reminder the dead worker held is sent again, under the same id, only
//! after its claim ran out.

mod common;
#[path = "../../tests/tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{Datelike, Days, NaiveDate, Utc};
use poem::http::StatusCode;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::Data;
use poem::{EndpointExt, Request, Route, handler, post};
use serde_json::{Value, json};
use tokio::sync::Notify;

use common::BIN;

const SECRET: &str = "reminder-test-secret";
const ORG: &str = "org-remind";
/// How long a worker's claim on a reminder holds.
const LEASE_SECONDS: i64 = 4;

/// What the receiver was sent: (webhook id, signature valid, answered, when).
#[derive(Default)]
struct Seen {
    deliveries: Mutex<Vec<(String, bool, bool, Instant)>>,
    held: Notify,
    answered: Notify,
}

/// Holds the first request it gets without ever answering (its sender is killed meanwhile);
/// answers every later one with 204.
#[handler]
async fn hook(req: &Request, body: poem::Body, seen: Data<&Arc<Seen>>) -> StatusCode {
    let id = req.header("Bufdir-Webhook-Id").unwrap_or("").to_string();
    let signature = req.header("Bufdir-Signature").unwrap_or("").to_string();
    let bytes = body.into_vec().await.unwrap();
    let valid = workers::webhooks::signature::verify(SECRET, &signature, &bytes).is_some();
    let first = {
        let mut deliveries = seen.deliveries.lock().unwrap();
        let first = deliveries.is_empty();
        deliveries.push((id, valid, !first, Instant::now()));
        first
    };
    if first {
        seen.held.notify_one();
        std::future::pending::<()>().await;
    }
    seen.answered.notify_one();
    StatusCode::NO_CONTENT
}

/// A calendar that owes three reminders today, whatever day the test runs: an annual report due
/// in five days (its 10-day reminder came five days ago, and with no data it is at risk) and a
/// quarterly report whose due day ended two days ago (missed).
fn calendar_for(today: NaiveDate) -> (String, Vec<String>) {
    let mut due = today + Days::new(5);
    if due.month() == 2 && due.day() == 29 {
        due = due + Days::new(1);
    }
    let annual_period = due.year() - 1;
    // The latest quarter that ended at least three days ago.
    let mut quarter_end = NaiveDate::from_ymd_opt(today.year(), 12, 31).unwrap();
    let mut quarter = (today.year(), 4);
    while (today - quarter_end).num_days() < 3 {
        quarter = if quarter.1 == 1 {
            (quarter.0 - 1, 4)
        } else {
            (quarter.0, quarter.1 - 1)
        };
        let next_start = if quarter.1 == 4 {
            NaiveDate::from_ymd_opt(quarter.0 + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(quarter.0, quarter.1 * 3 + 1, 1)
        };
        quarter_end = next_start.unwrap().pred_opt().unwrap();
    }
    let days_after_end = (today - quarter_end).num_days() - 2;
    let text = format!(
        "[[rule]]\ncadence = \"annual\"\ndue = {{ following_year = {{ month = {}, day = {} }} }}\n\
         at_risk_days = 14\nreminders_days_before = [10]\n\n\
         [[rule]]\ncadence = \"quarterly\"\ndue = {{ days_after_end = {days_after_end} }}\n\
         at_risk_days = 1\nreminders_days_before = []\n",
        due.month(),
        due.day()
    );
    let ids = vec![
        format!("deadline:{ORG}:{annual_period}:approaching-10"),
        format!("deadline:{ORG}:{annual_period}:at_risk"),
        format!("deadline:{ORG}:{}-Q{}:missed", quarter.0, quarter.1),
    ];
    (text, ids)
}

fn spawn_worker(dir: &Path, calendar: &Path, receiver: &str) -> Child {
    Command::new(BIN)
        .args(["worker", "--own-sandbox", "--data-dir"])
        .arg(dir)
        .env_remove("DATABASE_URL")
        .env_remove("BUFDIR_API_URL")
        .env("CALENDAR_FILE", calendar)
        .env("WEBHOOK_URL", receiver)
        .env("WEBHOOK_SECRET", SECRET)
        .env("WEBHOOK_ALLOW_PRIVATE", "true")
        .env("REMINDER_LEASE_SECONDS", LEASE_SECONDS.to_string())
        .env("REMINDER_SCAN_SECONDS", "1")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[tokio::test]
async fn a_worker_killed_mid_send_leaves_its_reminder_to_another_and_each_goes_once() {
    let dir = support::TempSqlite::new();
    let today = domain::calendar::in_norway(Utc::now()).date_naive();
    let (calendar, expected) = calendar_for(today);
    let calendar_file = dir.dir.join("calendar.toml");
    std::fs::write(&calendar_file, calendar).unwrap();

    // The organisation, registered through a server that runs no workers.
    let token = common::token(&dir.dir, None, &["--role", "admin"]);
    let mut serve = common::command(
        &dir.dir,
        None,
        &[
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--no-demo",
            "--no-workers",
        ],
    );
    serve.env("CALENDAR_FILE", &calendar_file);
    let mut server = common::listening(serve);
    let client = reqwest::Client::new();
    let created = client
        .post(format!("{}/api/v1/organizations", server.base))
        .bearer_auth(&token)
        .json(&json!({"org_id": ORG, "name": "Påminning", "organisasjonsnummer": "986128433"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let deadlines: Value = client
        .get(format!(
            "{}/api/v1/organizations/{ORG}/deadlines",
            server.base
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let statuses: Vec<&str> = deadlines["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["status"].as_str().unwrap())
        .collect();
    assert!(statuses.contains(&"at_risk"), "{deadlines}");

    let seen = Arc::new(Seen::default());
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    let app = Route::new().at("/hook", post(hook)).data(seen.clone());
    let receiver = tokio::spawn(async move {
        let _ = poem::Server::new_with_acceptor(acceptor).run(app).await;
    });
    let url = format!("http://{addr}/hook");

    // The first worker sends its first reminder and is killed while the receiver holds it; the
    // second, started meanwhile, sends the rest.
    let mut first = spawn_worker(&dir.dir, &calendar_file, &url);
    tokio::time::timeout(Duration::from_secs(60), seen.held.notified())
        .await
        .expect("the first worker sent a reminder");
    let second = spawn_worker(&dir.dir, &calendar_file, &url);
    first.kill().unwrap();
    first.wait().unwrap();
    let all_answered = || {
        let deliveries = seen.deliveries.lock().unwrap();
        expected.iter().all(|id| {
            deliveries
                .iter()
                .any(|(d, _, answered, _)| d == id && *answered)
        })
    };
    tokio::time::timeout(Duration::from_secs(60), async {
        while !all_answered() {
            seen.answered.notified().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("not all answered: {:?}", seen.deliveries.lock().unwrap()));
    // Stopped as an orchestrator stops it: the step under way (recording the last one sent)
    // is finished first.
    common::stop(second);
    server.child.kill().unwrap();
    let _ = server.child.wait();
    receiver.abort();

    let deliveries = seen.deliveries.lock().unwrap().clone();
    assert!(
        deliveries.iter().all(|(_, valid, _, _)| *valid),
        "signed: {deliveries:?}"
    );
    let mut answered: BTreeMap<&str, usize> = BTreeMap::new();
    for (id, _, ok, _) in &deliveries {
        *answered.entry(id.as_str()).or_default() += usize::from(*ok);
    }
    let mut want: Vec<&str> = expected.iter().map(String::as_str).collect();
    want.sort();
    assert_eq!(
        answered.keys().copied().collect::<Vec<_>>(),
        want,
        "{deliveries:?}"
    );
    assert!(
        answered.values().all(|n| *n == 1),
        "each answered once: {deliveries:?}"
    );
    let (held, _, _, held_at) = &deliveries[0];
    let again: Vec<&Instant> = deliveries
        .iter()
        .filter(|(id, ..)| id == held)
        .map(|(.., at)| at)
        .collect();
    assert_eq!(
        again.len(),
        2,
        "sent again, under the same id: {deliveries:?}"
    );
    // Not while the dead worker's claim held.
    assert!(
        again[1].duration_since(*held_at) >= Duration::from_secs(LEASE_SECONDS as u64 - 1),
        "{deliveries:?}"
    );

    // The log: each reminder recorded sent once.
    let db = store::connect(&dir.url).await.unwrap();
    let mut periods: Vec<&str> = expected
        .iter()
        .map(|id| id.split(':').nth(2).unwrap())
        .collect();
    periods.sort();
    periods.dedup();
    let mut sent: BTreeMap<String, usize> = BTreeMap::new();
    for period in periods {
        let events = db
            .events
            .read_stream(&format!("reminders-{ORG}:{period}"), 0)
            .await
            .unwrap();
        for e in &events {
            let id = e.payload["webhook_id"].as_str().unwrap().to_string();
            if e.event_type == "ReminderSent" {
                *sent.entry(id.clone()).or_default() += 1;
            }
        }
    }
    assert_eq!(
        sent.keys().map(String::as_str).collect::<Vec<_>>(),
        want,
        "{sent:?}"
    );
    assert!(
        sent.values().all(|n| *n == 1),
        "each recorded sent once: {sent:?}"
    );
}
