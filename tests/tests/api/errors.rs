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
    let huge = vec![b' '; api::app::MAX_BODY_BYTES + 1];
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
