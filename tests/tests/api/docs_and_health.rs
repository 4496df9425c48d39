use crate::helpers::spawn_app;

#[tokio::test]
async fn health_readiness_docs_and_spec_are_served() {
    let app = spawn_app().await;
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    app.create_org("org-1", "986128433").await;
    let r = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let ready: serde_json::Value = r.json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["store"]["backend"], "sqlite");
    assert_eq!(ready["projections"][0]["name"], "organizations");
    assert_eq!(ready["projections"][0]["lag"], 0);
    let r = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("swagger"));
    let spec: serde_json::Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(spec["paths"]["/api/v1/organizations"]["post"].is_object());
    let yaml = app
        .client
        .get(app.url("/openapi.yaml"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(yaml, api::http::spec::yaml());
}

/// The committed spec is what clients generate from; it must equal the generated one.
/// Regenerate with `cargo run -p api -- openapi`.
#[test]
fn the_committed_openapi_spec_equals_the_generated_one() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi/openapi.yaml");
    let committed = std::fs::read_to_string(&path).expect("openapi/openapi.yaml");
    assert!(
        committed == api::http::spec::yaml(),
        "openapi/openapi.yaml is stale: run `cargo run -p api -- openapi` and commit it"
    );
}
