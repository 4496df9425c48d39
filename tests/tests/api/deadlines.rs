//! Reporting deadlines over real HTTP, with the clock moved instead of waited for: each status,
//! the reasons a deadline is at risk, the due moment in Norwegian winter and summer time; on
//! SQLite and PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

use api::http::auth::Role;
use chrono::{DateTime, Utc};
use commands::clock::ManualClock;
use domain::schema;
use serde_json::{Value, json};

use crate::bufdir::{options, sandbox};
use crate::helpers::{TestApp, spawn_app_on_postgres_with, spawn_app_with};

const ORG: &str = "org_482";
const NUMBER: &str = "986128433";

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// Records on `date` giving every metric of the schema a value, so the period's payload
/// validates.
async fn import(app: &TestApp, date: &str) {
    let mut metrics: Vec<String> = schema::bufdir_2025_v2()
        .fields()
        .map(|(_, f)| f.metric.clone())
        .collect();
    metrics.sort();
    metrics.dedup();
    let records: Vec<Value> = metrics
        .iter()
        .map(|m| json!({"record_id": format!("{date}-{m}"), "occurred_on": date, "metric": m, "value": 5, "hours": 1}))
        .collect();
    let body = json!({"organization_id": ORG, "data_source": "fagsystem", "records": records});
    let (status, answer) = app.post("/api/v1/source-records", &app.admin, &body).await;
    assert_eq!(status, 200, "{answer}");
}

async fn deadlines(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let (status, body) = app
        .get(
            &format!("/api/v1/organizations/{ORG}/deadlines?{query}"),
            token,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"].as_array().unwrap().clone()
}

fn of<'a>(list: &'a [Value], period: &str) -> &'a Value {
    list.iter()
        .find(|d| d["period_id"] == period)
        .unwrap_or_else(|| panic!("no deadline for {period}: {list:?}"))
}

/// Submits the period's current payload and lets the workers deliver it to the sandbox.
async fn submit(app: &TestApp, period: &str) {
    let reporter = app.token(&[ORG], &[Role::Reporter]);
    let sign_off = format!("/api/v1/organizations/{ORG}/sign-offs/{period}");
    let (_, shown) = app.get(&sign_off, &reporter).await;
    let body = json!({"report_id": format!("rpt-{period}"), "org_id": ORG,
                      "payload_version": "bufdir_2025_v2", "payload": shown["payload"]});
    let (status, answer) = app
        .post("/api/v1/bufdir-api/submit", &reporter, &body)
        .await;
    assert!(status == 200 || status == 202, "{status} {answer}");
    app.drain_workers().await;
}

async fn every_status_by_moving_the_clock(app: TestApp, clock: Arc<ManualClock>) {
    assert_eq!(app.create_org(ORG, NUMBER).await.0, 201);
    let reporter = app.token(&[ORG], &[Role::Reporter]);
    let (status, body) = app
        .post(
            "/api/v1/bufdir-api/authenticate",
            &reporter,
            &json!({"client_id": "eircodex_org_482", "client_secret": "s3cr3t_token_here"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let viewer = app.token(&[ORG], &[Role::Viewer]);

    // 1 February 2026: 2025's quarters are past due and missed; the annual report is upcoming.
    let year = "period_from=2025-01-01&period_to=2025-12-31";
    let list = deadlines(&app, &viewer, year).await;
    let periods: Vec<&str> = list
        .iter()
        .map(|d| d["period_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        periods,
        ["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4", "2025"]
    );
    for q in ["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4"] {
        assert_eq!(of(&list, q)["status"], "missed", "{q}");
    }
    let annual = of(&list, "2025");
    assert_eq!(annual["status"], "upcoming");
    assert_eq!(annual["due_on"], "2026-03-01");
    // The end of 1 March in Norway is 22:59:59 UTC (winter time); of 30 July, 21:59:59 (summer).
    assert_eq!(annual["due_at"], "2026-03-01T22:59:59Z");
    assert_eq!(of(&list, "2025-Q2")["due_at"], "2025-07-30T21:59:59Z");
    assert_eq!(annual["milestones"][0]["name"], "draft_ready");

    // Inside the window without data: at risk, and why, in the validator's words.
    clock.set(at("2026-02-20T09:00:00Z"));
    let annual = of(&deadlines(&app, &viewer, year).await, "2025").clone();
    assert_eq!(annual["status"], "at_risk", "{annual}");
    let codes: Vec<&str> = annual["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"no_data"), "{codes:?}");
    assert!(codes.contains(&"empty"), "{codes:?}");
    assert!(annual["reasons"][0]["message_nn"].is_string());

    // The data arrives: ready, so upcoming again; a policy makes the missing approval the reason.
    import(&app, "2025-05-01").await;
    assert_eq!(
        of(&deadlines(&app, &viewer, year).await, "2025")["status"],
        "upcoming"
    );
    let admin = app.token(&[ORG], &[Role::Admin]);
    let path = format!("/api/v1/organizations/{ORG}/approval-policy");
    let policy = json!({"requirements": [{"role": "approver", "count": 1}]});
    assert_eq!(app.put(&path, &admin, &policy).await.0, 200);
    let annual = of(&deadlines(&app, &viewer, year).await, "2025").clone();
    assert_eq!(annual["status"], "at_risk");
    assert_eq!(
        annual["reasons"][0]["code"], "approvals_missing",
        "{annual}"
    );
    assert_eq!(
        app.put(&path, &admin, &json!({"requirements": []})).await.0,
        200
    );

    // One second after the due day ended in Norway: missed.
    clock.set(at("2026-03-01T23:00:00Z"));
    let list = deadlines(&app, &viewer, &format!("{year}&status=missed")).await;
    assert_eq!(list.len(), 5, "{list:?}");

    // Received now (December 2026): late for 2025; on time for 2026, due 1 March 2027.
    submit(&app, "2025").await;
    let annual = of(&deadlines(&app, &viewer, year).await, "2025").clone();
    assert_eq!(annual["status"], "submitted_late", "{annual}");
    assert!(annual["received_at"].is_string());
    import(&app, "2026-05-01").await;
    submit(&app, "2026").await;
    clock.set(at("2027-03-05T12:00:00Z"));
    let next = deadlines(&app, &viewer, "period_from=2026-12-31&period_to=2026-12-31").await;
    assert_eq!(of(&next, "2026")["status"], "submitted_on_time", "{next:?}");
    assert_eq!(of(&next, "2026-Q4")["status"], "missed");

    // A bad date is a 422; another organisation finds nothing.
    let (status, _) = app
        .get(
            &format!("/api/v1/organizations/{ORG}/deadlines?period_from=2025-13-01"),
            &viewer,
        )
        .await;
    assert_eq!(status, 422);
    let stranger = app.token(&["org-other"], &[Role::Reporter, Role::Approver]);
    let (status, _) = app
        .get(&format!("/api/v1/organizations/{ORG}/deadlines"), &stranger)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn every_deadline_status_is_reached_by_moving_the_clock_on_sqlite() {
    let (bufdir, _stop) = sandbox(Duration::ZERO).await;
    let clock = Arc::new(ManualClock::at(at("2026-02-01T12:00:00Z")));
    let mut settings = options(&bufdir, Duration::ZERO, false);
    settings.clock = Some(clock.clone());
    let app = spawn_app_with(settings).await;
    every_status_by_moving_the_clock(app, clock).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run ci/test, or set TEST_DATABASE_URL and pass --run-ignored all"]
async fn every_deadline_status_is_reached_by_moving_the_clock_on_postgres() {
    let (bufdir, _stop) = sandbox(Duration::ZERO).await;
    let clock = Arc::new(ManualClock::at(at("2026-02-01T12:00:00Z")));
    let mut settings = options(&bufdir, Duration::ZERO, false);
    settings.clock = Some(clock.clone());
    let app = spawn_app_on_postgres_with(settings).await;
    every_status_by_moving_the_clock(app, clock).await;
}
