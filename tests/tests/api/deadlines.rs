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

/// Parses a calendar with `ical`, a parser that is not the one that wrote it: each event's UID,
/// start, summary and number of alarms.
fn parse_ics(text: &str) -> Vec<(String, String, String, usize)> {
    let mut calendars = ical::IcalParser::new(std::io::BufReader::new(text.as_bytes()));
    let calendar = calendars
        .next()
        .expect("one calendar")
        .expect("RFC 5545 that parses");
    assert!(calendars.next().is_none(), "one calendar only");
    calendar
        .events
        .iter()
        .map(|e| {
            let prop = |name: &str| {
                e.properties
                    .iter()
                    .find(|p| p.name == name)
                    .and_then(|p| p.value.clone())
                    .unwrap_or_else(|| panic!("{name} missing: {e:?}"))
            };
            for alarm in &e.alarms {
                let action = alarm.properties.iter().find(|p| p.name == "ACTION");
                assert_eq!(action.and_then(|p| p.value.as_deref()), Some("DISPLAY"));
                assert!(alarm.properties.iter().any(|p| p.name == "TRIGGER"));
            }
            (
                prop("UID"),
                prop("DTSTART"),
                prop("SUMMARY"),
                e.alarms.len(),
            )
        })
        .collect()
}

async fn ics(app: &TestApp, url: &str, token: Option<&str>) -> (u16, String) {
    let mut request = app.client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let answer = request.send().await.unwrap();
    let status = answer.status().as_u16();
    if status == 200 {
        let kind = answer.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(kind.starts_with("text/calendar"), "{kind}");
    }
    (status, answer.text().await.unwrap())
}

/// The webhooks the receiver was sent, as (webhook id, body), checking each signature.
fn delivered(hook: &crate::reexports::Receiver, secret: &str) -> Vec<(String, Value)> {
    hook.seen
        .lock()
        .unwrap()
        .iter()
        .map(|(signature, id, body)| {
            assert!(
                workers::webhooks::signature::verify(secret, signature, body).is_some(),
                "signed with the organisation's secret"
            );
            (id.clone(), serde_json::from_slice(body).unwrap())
        })
        .collect()
}

async fn own_calendar_reminders_and_feed(app: TestApp, clock: Arc<ManualClock>) {
    assert_eq!(app.create_org(ORG, NUMBER).await.0, 201);
    let viewer = app.token(&[ORG], &[Role::Viewer]);
    let admin = app.token(&[ORG], &[Role::Admin]);
    let calendar = format!("/api/v1/organizations/{ORG}/calendar");
    let (status, shown) = app.get(&calendar, &viewer).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["source"], "service");
    assert_eq!(shown["rules"].as_array().unwrap().len(), 2);

    // Refused: a viewer; a due that is both kinds; two rules for one cadence. Nothing changes.
    let head = app.state.db.events.head().await.unwrap();
    let own = json!({"rules": [{"cadence": "annual", "due": {"month": 4, "day": 15},
        "milestones": [{"name": "draft_ready", "days_before": 10}],
        "at_risk_days": 14, "reminders_days_before": [7, 2]}]});
    assert_eq!(app.put(&calendar, &viewer, &own).await.0, 403);
    let both = json!({"rules": [{"cadence": "annual", "due": {"month": 4, "day": 15, "days_after_end": 3}}]});
    let (status, problem) = app.put(&calendar, &admin, &both).await;
    assert_eq!(status, 422, "{problem}");
    let twice = json!({"rules": [{"cadence": "annual", "due": {"days_after_end": 3}},
                                 {"cadence": "annual", "due": {"days_after_end": 4}}]});
    assert_eq!(app.put(&calendar, &admin, &twice).await.0, 422);
    let feb30 = json!({"rules": [{"cadence": "annual", "due": {"month": 2, "day": 30}}]});
    assert_eq!(app.put(&calendar, &admin, &feb30).await.0, 422);
    assert_eq!(app.state.db.events.head().await.unwrap(), head);

    // The organisation's own: annual only, due 15 April.
    let (status, set) = app.put(&calendar, &admin, &own).await;
    assert_eq!(status, 200, "{set}");
    assert_eq!(set["source"], "organization");
    let list = deadlines(&app, &viewer, "period_from=2025-01-01&period_to=2025-12-31").await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["period_id"], "2025");
    assert_eq!(list[0]["due_on"], "2026-04-15");

    // Reminders to the organisation's endpoint, signed, once each.
    let hook = crate::reexports::receiver(0).await;
    let (status, endpoint) = app
        .put(
            &format!("/api/v1/organizations/{ORG}/webhook"),
            &admin,
            &json!({"url": hook.url}),
        )
        .await;
    assert_eq!(status, 200, "{endpoint}");
    let secret = endpoint["secret"].as_str().unwrap().to_string();
    // 8 April, 09:00 in Oslo (summer time): the 7-day reminder has come, and with no data the
    // report is at risk.
    clock.set(at("2026-04-08T07:00:00Z"));
    app.drain_workers().await;
    let sent = delivered(&hook, &secret);
    let events: Vec<&str> = sent
        .iter()
        .map(|(_, b)| b["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        ["deadline.approaching", "deadline.at_risk"],
        "{sent:?}"
    );
    assert_eq!(sent[0].0, format!("deadline:{ORG}:2025:approaching-7"));
    assert_eq!(sent[0].1["days_before"], 7);
    assert_eq!(sent[0].1["due_at"], "2026-04-15T21:59:59Z");
    assert_eq!(sent[1].1["reasons"][0]["code"], "no_data");
    // Looking again, later the same day, sends nothing new.
    clock.set(at("2026-04-08T15:00:00Z"));
    app.drain_workers().await;
    assert_eq!(delivered(&hook, &secret).len(), 2);
    // Two days before: the 2-day reminder.
    clock.set(at("2026-04-13T06:30:00Z"));
    app.drain_workers().await;
    let sent = delivered(&hook, &secret);
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert_eq!(sent[2].1["event"], "deadline.approaching");
    assert_eq!(sent[2].1["days_before"], 2);
    // A day after the due day: missed, told once.
    clock.set(at("2026-04-16T07:00:00Z"));
    app.drain_workers().await;
    clock.set(at("2026-04-17T07:00:00Z"));
    app.drain_workers().await;
    let sent = delivered(&hook, &secret);
    assert_eq!(sent.len(), 4, "{sent:?}");
    assert_eq!(sent[3].1["event"], "deadline.missed");
    // Each recorded sent once, as events of the deadline's log.
    let log = app
        .state
        .db
        .events
        .read_stream(&format!("reminders-{ORG}:2025"), 0)
        .await
        .unwrap();
    let sent_events: Vec<String> = log
        .iter()
        .filter(|e| e.event_type == "ReminderSent")
        .map(|e| e.payload["webhook_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        sent_events,
        sent.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>()
    );

    // The calendar file: an event on each due day and milestone, with alarms, in Nynorsk.
    let ics_path = app.url(&format!(
        "/api/v1/organizations/{ORG}/deadlines.ics?locale=nn"
    ));
    let (status, first) = ics(&app, &ics_path, Some(&viewer)).await;
    assert_eq!(status, 200, "{first}");
    let events = parse_ics(&first);
    // Periods from 2025 to 2027: three annual reports, each with its milestone.
    assert_eq!(events.len(), 6, "{first}");
    let due_2025 = events
        .iter()
        .find(|e| e.0 == format!("deadline-{ORG}-2025@bufdir-reporting"))
        .unwrap_or_else(|| panic!("{events:?}"));
    assert_eq!(due_2025.1, "20260415");
    assert_eq!(due_2025.2, "Frist: årsrapport 2025 til Bufdir");
    assert_eq!(due_2025.3, 2, "an alarm per reminder");
    let milestone = events
        .iter()
        .find(|e| e.0 == format!("milestone-{ORG}-2025-draft_ready@bufdir-reporting"))
        .unwrap();
    assert_eq!(milestone.1, "20260405");
    assert_eq!(milestone.3, 1);
    // Generated again later: the same UIDs, so a calendar program replaces, never doubles.
    clock.set(at("2026-05-02T10:00:00Z"));
    let (_, again) = ics(&app, &ics_path, Some(&viewer)).await;
    let uids = |events: &[(String, String, String, usize)]| {
        let mut uids: Vec<String> = events.iter().map(|e| e.0.clone()).collect();
        uids.sort();
        uids
    };
    assert_eq!(uids(&parse_ics(&again)), uids(&events));
    assert_ne!(again, first, "stamped anew");
    let (status, _) = ics(
        &app,
        &app.url(&format!(
            "/api/v1/organizations/{ORG}/deadlines.ics?locale=xx"
        )),
        Some(&viewer),
    )
    .await;
    assert_eq!(status, 422);

    // A feed link: for calendar programs, without a token; refused once revoked.
    let feeds = format!("/api/v1/organizations/{ORG}/calendar-feeds");
    assert_eq!(app.post(&feeds, &viewer, &json!({})).await.0, 403);
    let (status, link) = app.post(&feeds, &admin, &json!({})).await;
    assert_eq!(status, 201, "{link}");
    let url = link["url"].as_str().unwrap().to_string();
    assert!(!url.contains(ORG), "the link names no organisation: {url}");
    let (status, by_link) = ics(&app, &url, None).await;
    assert_eq!(status, 200, "{by_link}");
    assert_eq!(uids(&parse_ics(&by_link)), uids(&events));
    let (signed, signature) = url.rsplit_once("signature=").unwrap();
    let flipped = if signature.starts_with('0') { "1" } else { "0" };
    let tampered = format!("{signed}signature={flipped}{}", &signature[1..]);
    assert_eq!(ics(&app, &tampered, None).await.0, 403);
    assert_eq!(ics(&app, signed.trim_end_matches('?'), None).await.0, 403);
    let feed_id = link["feed_id"].as_str().unwrap();
    let revoke = format!("{feeds}/{feed_id}");
    assert_eq!(app.delete(&revoke, &viewer).await.0, 403);
    assert_eq!(app.delete(&revoke, &admin).await.0, 204);
    let (status, refused) = ics(&app, &url, None).await;
    assert_eq!(status, 403, "{refused}");
    assert!(refused.contains("revoked"), "{refused}");
    assert_eq!(app.delete(&revoke, &admin).await.0, 404);
    let (_, listed) = app.get(&feeds, &admin).await;
    assert!(listed["data"][0]["revoked_at"].is_string(), "{listed}");
    assert!(listed["data"][0]["url"].is_null());

    // Back to the service's calendar: the quarterly reports return.
    let (status, reset) = app.delete(&calendar, &admin).await;
    assert_eq!(status, 200, "{reset}");
    assert_eq!(reset["source"], "service");
    let list = deadlines(&app, &viewer, "period_from=2025-01-01&period_to=2025-12-31").await;
    assert_eq!(list.len(), 5);
}

#[tokio::test]
async fn an_own_calendar_sends_each_reminder_once_and_feeds_calendar_programs_on_sqlite() {
    let clock = Arc::new(ManualClock::at(at("2026-02-01T12:00:00Z")));
    let settings = crate::helpers::Options {
        clock: Some(clock.clone()),
        ..Default::default()
    };
    own_calendar_reminders_and_feed(spawn_app_with(settings).await, clock).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run ci/test, or set TEST_DATABASE_URL and pass --run-ignored all"]
async fn an_own_calendar_sends_each_reminder_once_and_feeds_calendar_programs_on_postgres() {
    let clock = Arc::new(ManualClock::at(at("2026-02-01T12:00:00Z")));
    let settings = crate::helpers::Options {
        clock: Some(clock.clone()),
        ..Default::default()
    };
    own_calendar_reminders_and_feed(spawn_app_on_postgres_with(settings).await, clock).await;
}
