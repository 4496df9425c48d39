use crate::helpers::{read, spawn_app};

#[tokio::test]
async fn malformed_json_is_a_400_problem() {
    let app = spawn_app().await;
    for body in ["{\"org_id\":", "[]", "{\"org_id\": 5}", ""] {
        let r = app
            .client
            .post(app.url("/api/v1/organizations"))
            .bearer_auth(&app.admin)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let (status, problem) = read(r).await;
        assert_eq!(status, 400, "{body:?}: {problem}");
        assert_eq!(problem["title"], "Bad Request");
    }
    assert_eq!(app.state.db.events.head().await.unwrap(), None);
}

#[tokio::test]
async fn unknown_routes_are_404_problems() {
    let app = spawn_app().await;
    let r = app
        .client
        .get(app.url("/api/v1/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(read(r).await.0, 404);
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413_problem() {
    let app = spawn_app().await;
    let huge = vec![b' '; api::http::body_limit::MAX_BODY_BYTES + 1];
    let r = app
        .client
        .post(app.url("/api/v1/organizations"))
        .bearer_auth(&app.admin)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(read(r).await.0, 413);
}

/// A log where another writer always gets to a report's stream first.
fn always_raced(
    inner: std::sync::Arc<dyn store::EventStore>,
) -> std::sync::Arc<dyn store::EventStore> {
    std::sync::Arc::new(crate::helpers::FaultyLog {
        refuse_append: |stream, expected| {
            stream
                .starts_with("report-")
                .then(|| store::StoreError::Conflict {
                    stream: stream.into(),
                    expected,
                    actual: Some(0),
                })
        },
        ..crate::helpers::FaultyLog::over(inner)
    })
}

#[tokio::test]
async fn a_command_that_keeps_losing_the_race_is_a_409_with_retry_after_not_a_500() {
    let options = crate::helpers::Options {
        wrap_events: Some(always_raced),
        ..Default::default()
    };
    let app = crate::helpers::spawn_app_with(options).await;
    assert_eq!(app.create_org("org-a", "986128433").await.0, 201);
    let head = app.state.db.events.head().await.unwrap();
    let body = serde_json::json!({"org_id": "org-a", "report_type": "annual_summary",
                                  "period_from": "2024-01-01", "period_to": "2024-12-31"});
    let r = app
        .client
        .post(app.url("/api/v1/report-history"))
        .bearer_auth(&app.admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers().get("Retry-After").unwrap(), "1");
    let (status, problem) = read(r).await;
    assert_eq!(status, 409, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("try again"));
    assert_eq!(app.state.db.events.head().await.unwrap(), head);
}

#[tokio::test]
async fn http_semantics_are_kept_allow_on_405_authentication_first_required_members_required() {
    let app = spawn_app().await;
    let r = app
        .client
        .request(
            reqwest::Method::from_bytes(b"TRACE").unwrap(),
            app.url("/api/v1/report-history"),
        )
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["Allow"], "GET, HEAD, POST");
    let r = app
        .client
        .delete(app.url("/api/v1/report-history/rpt_x/download-url"))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["Allow"], "GET, HEAD");

    // No token: 401, whatever the Idempotency-Key is.
    let r = app
        .client
        .post(app.url("/api/v1/organizations"))
        .header("Idempotency-Key", "")
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let (status, _) = read(
        app.client
            .post(app.url("/api/v1/organizations"))
            .bearer_auth(&app.admin)
            .header("Idempotency-Key", "has space")
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400, "a key outside the spec's pattern");

    // A required member is required, even one that may hold any JSON.
    let (status, problem) = app
        .post(
            "/api/v1/bufdir-api/validate-payload",
            &app.admin,
            &serde_json::json!({"payload_version": "bufdir_2025_v2"}),
        )
        .await;
    assert_eq!(status, 400, "{problem}");

    // Times in UTC with Z.
    let (status, org) = app.create_org("org-z", "986128433").await;
    assert_eq!(status, 201);
    let created = org["created_at"].as_str().unwrap();
    assert!(
        created.ends_with('Z') && !created.contains("+00:00"),
        "{created}"
    );
}
