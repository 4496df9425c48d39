//! Webhooks cannot reach inside: a URL whose host is, or resolves to, a loopback, private,
//! link-local or metadata address is refused when it is set (422) and again when a webhook is
//! sent, where the name is resolved anew and the request is never made.

use api::http::auth::Role;
use serde_json::json;

use crate::helpers::{Options, TestApp, spawn_app_on_postgres_with, spawn_app_with};
use crate::reexports::{receiver, reexport, report_then_changes};
use crate::report_history::ORG;

/// As deployed: webhooks go to public addresses only.
fn strict() -> Options {
    Options {
        webhook_allow_private: false,
        ..Options::default()
    }
}

#[tokio::test]
async fn webhook_urls_to_internal_addresses_are_refused_when_set() {
    internal_urls_are_refused(spawn_app_with(strict()).await).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run ci/test, or set TEST_DATABASE_URL and pass --run-ignored all"]
async fn webhook_urls_to_internal_addresses_are_refused_when_set_on_postgres() {
    let app = spawn_app_on_postgres_with(strict()).await;
    internal_urls_are_refused(app).await;
}

async fn internal_urls_are_refused(app: TestApp) {
    assert_eq!(app.create_org(ORG, "986128433").await.0, 201);
    let admin = app.token(&[ORG], &[Role::Admin]);
    let path = format!("/api/v1/organizations/{ORG}/webhook");
    let head = app.state.db.events.head().await.unwrap();
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://127.1.2.3/hook",
        "http://10.0.0.5/hook",
        "https://172.16.0.1/hook",
        "http://172.31.255.1/hook",
        "http://192.168.1.10/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8080/hook",
        "http://[fc00::1]/hook",
        "http://[fd00:ec2::254]/hook",
        "http://[fe80::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://localhost:9/hook",
    ] {
        let (status, problem) = app.put(&path, &admin, &json!({"url": url})).await;
        assert_eq!(status, 422, "{url}: {problem}");
        assert_eq!(problem["errors"][0]["field"], "url", "{url}: {problem}");
        assert_eq!(
            problem["errors"][0]["code"], "internal_url",
            "{url}: {problem}"
        );
        let message = problem["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("public"), "{url}: says why: {message}");
    }
    let (status, _) = app.get(&path, &admin).await;
    assert_eq!(status, 404, "no webhook was stored");
    assert_eq!(app.state.db.events.head().await.unwrap(), head);
}

/// Runs the webhook worker's step `times` times (each attempt fails and is due again at once).
async fn attempt(app: &TestApp, times: usize) {
    let all = workers::all(&app.state.db, &app.state.projections, &app.state.services);
    let worker = all.iter().find(|w| w.name() == "webhooks").unwrap();
    for _ in 0..times {
        worker.run_once().await.unwrap();
    }
}

#[tokio::test]
async fn a_webhook_whose_target_resolves_inside_at_send_time_is_never_called() {
    let app = spawn_app_with(strict()).await;
    let report = report_then_changes(&app).await;
    let hook = receiver(0).await;
    let port = url::Url::parse(&hook.url).unwrap().port().unwrap();
    for (n, url) in [
        // A name that resolved to a public address when it was set, and to 127.0.0.1 now.
        format!("http://localhost:{port}/hooks/bufdir"),
        // An address written in the URL itself.
        format!("http://127.0.0.1:{port}/hooks/bufdir"),
    ]
    .into_iter()
    .enumerate()
    {
        // Stored past the set-time check, as if it had passed it.
        app.state
            .services
            .webhooks
            .endpoints
            .save(ORG, &url, "whsec_test")
            .await
            .unwrap();
        let body = json!({"report_id": report["report_id"], "notify_on_completion": true});
        let created = reexport(&app, &app.admin, &body).await;
        let id = created["reexport_id"].as_str().unwrap();
        app.drain_workers_except(&["webhooks"]).await;
        attempt(&app, 2).await;
        assert!(
            hook.seen.lock().unwrap().is_empty(),
            "{url}: the receiver was called"
        );
        let events = app
            .state
            .db
            .events
            .read_stream(&format!("export-{id}"), 0)
            .await
            .unwrap();
        let failed: Vec<String> = events
            .iter()
            .filter(|e| e.event_type == "ExportNotificationFailed")
            .map(|e| e.payload["error"].as_str().unwrap_or_default().to_string())
            .collect();
        // The worker takes the oldest due webhook first, so attempts alternate between cases.
        assert!(!failed.is_empty(), "case {n}: the attempt is recorded");
        assert!(
            failed.iter().all(|e| e.contains("public address")),
            "case {n}: the refusal says why: {failed:?}"
        );
        assert!(!events.iter().any(|e| e.event_type == "ExportNotified"));
    }
}

#[tokio::test]
async fn a_removed_webhook_setting_is_gone() {
    let app = spawn_app_with(Options::default()).await;
    assert_eq!(app.create_org(ORG, "986128433").await.0, 201);
    let admin = app.token(&[ORG], &[Role::Admin]);
    let path = format!("/api/v1/organizations/{ORG}/webhook");
    let hook = receiver(1).await;
    let (status, _) = app.put(&path, &admin, &json!({"url": hook.url})).await;
    assert_eq!(status, 200);
    let (status, _) = app.delete(&path, &admin).await;
    assert!(status == 200 || status == 204, "{status}");
    let (status, _) = app.get(&path, &admin).await;
    assert_eq!(status, 404, "a removed setting is not shown");
}
