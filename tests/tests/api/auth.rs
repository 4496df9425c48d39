use api::http::auth::{Keys, Role};
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn requests_without_a_valid_token_are_401_problems() {
    let app = spawn_app().await;
    let r = app
        .client
        .get(app.url("/api/v1/organizations"))
        .send()
        .await
        .unwrap();
    let (status, problem) = crate::helpers::read(r).await;
    assert_eq!((status, problem["status"].as_i64()), (401, Some(401)));
    let expired = app.keys.mint("u", vec![], vec![Role::Admin], -3600);
    let other_secret = Keys::from_secret(b"another-secret-another-secret-!!!").mint(
        "u",
        vec![],
        vec![Role::Admin],
        3600,
    );
    let mut tampered = app.admin.clone();
    tampered.replace_range(tampered.len() - 4.., "AAAA");
    for token in [
        expired.as_str(),
        other_secret.as_str(),
        tampered.as_str(),
        "not-a-jwt",
    ] {
        assert_eq!(
            app.get("/api/v1/organizations", token).await.0,
            401,
            "{token}"
        );
    }
}

#[tokio::test]
async fn only_admins_register_organisations() {
    let app = spawn_app().await;
    let body = json!({"org_id": "org-1", "name": "One", "organisasjonsnummer": "986128433"});
    for role in [Role::Viewer, Role::Reporter, Role::Service] {
        let token = app.token(&["org-1"], &[role]);
        assert_eq!(
            app.post("/api/v1/organizations", &token, &body).await.0,
            403,
            "{role:?}"
        );
    }
    assert_eq!(app.state.db.events.head().await.unwrap(), None);
}
