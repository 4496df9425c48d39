use api::http::auth::Role;
use domain::{Aggregate, schema};
use serde_json::json;

use crate::helpers::{TestApp, spawn_app};
use crate::report_data::import;
use crate::sse::SseClient;

fn metric() -> String {
    let s = schema::bufdir_2025_v2();
    s.fields()
        .find(|(_, f)| f.measure == schema::Measure::Value)
        .unwrap()
        .1
        .metric
        .clone()
}

async fn watch(
    app: &TestApp,
    org: &str,
    period: &str,
    token: &str,
    last: Option<&str>,
) -> (u16, Option<SseClient>) {
    let url = app.url(&format!(
        "/api/v1/aggregated-report-data/watch?organization_id={org}&period_id={period}"
    ));
    SseClient::connect(&app.client, &url, token, last).await
}

async fn current_snapshot(app: &TestApp, org: &str, period: &str) {
    let body = json!({"organization_id": org, "period_id": period});
    app.post("/api/v1/aggregated-report-data", &app.admin, &body)
        .await;
    app.drain_workers().await;
}

async fn change(app: &TestApp, org: &str, record_id: &str, value: f64) {
    import(app, org, vec![json!({"record_id": record_id, "occurred_on": "2024-04-02", "metric": metric(), "value": value})]).await;
    app.drain_workers().await;
}

#[tokio::test]
async fn a_subscriber_receives_data_updated_after_an_import() {
    let app = spawn_app().await;
    app.create_org("org-1", "986128433").await;
    current_snapshot(&app, "org-1", "2024").await;
    let (status, sub) = watch(&app, "org-1", "2024", &app.admin, None).await;
    assert_eq!(status, 200);
    let mut sub = sub.unwrap();
    change(&app, "org-1", "r1", 4.0).await;
    let event = sub.next().await;
    assert_eq!(event.event.as_deref(), Some("data_updated"));
    assert_eq!(event.data["event"], "data_updated");
    assert_eq!(event.data["organization_id"], "org-1");
    assert_eq!(event.data["period_id"], "2024");
    assert!(
        !event.data["changed_field_keys"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        !event.data["changed_sections"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(event.id.is_some());
    assert_eq!(sub.retry, Some(3000));
}

#[tokio::test]
async fn a_client_that_reconnects_with_last_event_id_gets_exactly_what_it_missed() {
    let app = spawn_app().await;
    app.create_org("org-1", "986128433").await;
    current_snapshot(&app, "org-1", "2024").await;
    let (_, sub) = watch(&app, "org-1", "2024", &app.admin, None).await;
    let mut sub = sub.unwrap();
    change(&app, "org-1", "r1", 1.0).await;
    let seen = sub.next().await;
    drop(sub); // disconnect
    change(&app, "org-1", "r1", 2.0).await;
    change(&app, "org-1", "r1", 3.0).await;
    let (_, resumed) = watch(&app, "org-1", "2024", &app.admin, seen.id.as_deref()).await;
    let mut resumed = resumed.unwrap();
    let first = resumed.next().await;
    let second = resumed.next().await;

    assert_eq!(
        (first.event.as_deref(), second.event.as_deref()),
        (Some("data_updated"), Some("data_updated"))
    );
    let (a, b, s): (u64, u64, u64) = (
        first.id.unwrap().parse().unwrap(),
        second.id.unwrap().parse().unwrap(),
        seen.id.unwrap().parse().unwrap(),
    );
    assert!(s < a && a < b);
    // And then live again, with nothing repeated.
    change(&app, "org-1", "r1", 4.0).await;
    let third = resumed.next().await;
    assert!(third.id.unwrap().parse::<u64>().unwrap() > b);
}

#[tokio::test]
async fn a_subscriber_of_another_organisation_receives_nothing_of_it() {
    let app = spawn_app().await;
    app.create_org("org-1", "986128433").await;
    app.create_org("org-2", "991825827").await;
    current_snapshot(&app, "org-1", "2024").await;
    current_snapshot(&app, "org-2", "2024").await;
    let (_, other) = watch(&app, "org-2", "2024", &app.admin, None).await;
    let mut other = other.unwrap();
    change(&app, "org-1", "r1", 1.0).await;
    change(&app, "org-1", "r1", 2.0).await;
    change(&app, "org-2", "r9", 5.0).await;
    // The first thing org-2's subscriber sees is org-2's own update.
    let first = other.next().await;
    assert_eq!(first.data["organization_id"], "org-2");
}

#[tokio::test]
async fn a_caller_without_access_gets_404_and_a_browser_token_in_the_query_works() {
    let app = spawn_app().await;
    app.create_org("org-1", "986128433").await;
    let outsider = app.token(&["org-2"], &[Role::Viewer]);
    assert_eq!(watch(&app, "org-1", "2024", &outsider, None).await.0, 404);
    let member = app.token(&["org-1"], &[Role::Viewer]);
    let url = app.url(&format!("/api/v1/aggregated-report-data/watch?organization_id=org-1&period_id=2024&access_token={member}"));
    let r = app.client.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .client
        .get(app.url("/api/v1/aggregated-report-data/watch?organization_id=org-1&period_id=2024"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

/// Whether the watch's first subscription has failed yet.
static FAILED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A log whose first subscription to snapshot events alone (the watch's) fails at once, as when
/// the database goes away; every other subscription, and every later one, is the real log's.
fn watch_subscription_fails_once(
    inner: std::sync::Arc<dyn store::EventStore>,
) -> std::sync::Arc<dyn store::EventStore> {
    std::sync::Arc::new(crate::helpers::FaultyLog {
        fail_subscription: |filter| {
            filter.categories == [domain::report_data::ReportData::CATEGORY]
                && !FAILED.swap(true, std::sync::atomic::Ordering::SeqCst)
        },
        ..crate::helpers::FaultyLog::over(inner)
    })
}

#[tokio::test]
async fn the_watch_follows_the_log_again_after_its_subscription_failed() {
    let app = crate::helpers::spawn_app_with(crate::helpers::Options {
        wrap_events: Some(watch_subscription_fails_once),
        ..Default::default()
    })
    .await;
    app.create_org("org-1", "986128433").await;
    current_snapshot(&app, "org-1", "2024").await;
    let (status, sub) = watch(&app, "org-1", "2024", &app.admin, None).await;
    assert_eq!(status, 200);
    let mut sub = sub.unwrap();
    assert!(FAILED.load(std::sync::atomic::Ordering::SeqCst));
    change(&app, "org-1", "r1", 4.0).await;
    let event = tokio::time::timeout(std::time::Duration::from_secs(30), sub.next())
        .await
        .expect("the change reaches the subscriber");
    assert_eq!(event.event.as_deref(), Some("data_updated"));
    assert_eq!(event.data["organization_id"], "org-1");
}
