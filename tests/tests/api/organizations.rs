use api::http::auth::Role;
use serde_json::json;

use crate::helpers::{TestApp, spawn_app, spawn_app_on_postgres};

async fn an_admin_creates_lists_and_reads_organisations(app: TestApp) {
    let (status, created) = app.create_org("org-bufdir-042", "986128433").await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["org_id"], "org-bufdir-042");
    assert_eq!(created["organisasjonsnummer"], "986128433");
    // Read-your-writes: the GET right after the POST sees it, identical to the answer.
    let (status, got) = app
        .get("/api/v1/organizations/org-bufdir-042", &app.admin)
        .await;
    assert_eq!(status, 200);
    assert_eq!(got, created);
    app.create_org("org-b", "991825827").await;
    let (status, list) = app.get("/api/v1/organizations", &app.admin).await;
    assert_eq!(status, 200);
    assert_eq!(
        list["pagination"],
        json!({"page": 1, "limit": 20, "total": 2})
    );
    // Newest first.
    assert_eq!(list["data"][0]["org_id"], "org-b");
    assert_eq!(list["data"][1]["org_id"], "org-bufdir-042");
    app.stop().await;
}

#[tokio::test]
async fn organisations_round_trip_on_sqlite() {
    an_admin_creates_lists_and_reads_organisations(spawn_app().await).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run ci/test, or set TEST_DATABASE_URL and pass --run-ignored all"]
async fn organisations_round_trip_on_postgres() {
    let app = spawn_app_on_postgres().await;
    an_admin_creates_lists_and_reads_organisations(app).await;
}

#[tokio::test]
async fn the_post_answers_201_with_a_location_that_resolves() {
    let app = spawn_app().await;
    let r = app
        .client
        .post(app.url("/api/v1/organizations"))
        .bearer_auth(&app.admin)
        .json(&json!({"org_id": "org-loc", "name": "Loc", "organisasjonsnummer": "123456785"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(location, "/api/v1/organizations/org-loc");
    assert_eq!(app.get(&location, &app.admin).await.0, 200);
}

#[tokio::test]
async fn registering_an_organisation_twice_is_a_conflict_and_changes_nothing() {
    let app = spawn_app().await;
    assert_eq!(app.create_org("org-1", "986128433").await.0, 201);
    let (status, problem) = app.create_org("org-1", "991825827").await;
    assert_eq!(status, 409);
    assert_eq!(problem["status"], 409);
    let (_, got) = app.get("/api/v1/organizations/org-1", &app.admin).await;
    assert_eq!(got["organisasjonsnummer"], "986128433");
}

#[tokio::test]
async fn an_invalid_organisation_is_a_422_naming_each_field_and_stores_nothing() {
    let app = spawn_app().await;
    let body = json!({"org_id": "Bad Id", "name": " ", "organisasjonsnummer": "988077918"});
    let (status, problem) = app.post("/api/v1/organizations", &app.admin, &body).await;
    assert_eq!(status, 422);
    let fields: Vec<_> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["org_id", "name", "organisasjonsnummer"]);
    assert_eq!(problem["errors"][2]["code"], "invalid_check_digit");
    assert_eq!(app.state.db.events.head().await.unwrap(), None);
}

#[tokio::test]
async fn members_see_only_their_own_organisations() {
    let app = spawn_app().await;
    app.create_org("org-a", "986128433").await;
    app.create_org("org-b", "991825827").await;
    let member = app.token(&["org-a"], &[Role::Viewer]);
    let (_, list) = app.get("/api/v1/organizations", &member).await;
    assert_eq!(list["pagination"]["total"], 1);
    assert_eq!(list["data"][0]["org_id"], "org-a");
    assert_eq!(app.get("/api/v1/organizations/org-a", &member).await.0, 200);
    // Another organisation's resource is indistinguishable from a missing one.
    let (status, mut other) = app.get("/api/v1/organizations/org-b", &member).await;
    let (_, mut missing) = app.get("/api/v1/organizations/org-zzz", &member).await;
    assert_eq!(status, 404);
    // Each answer names its own request.
    for problem in [&mut other, &mut missing] {
        problem.as_object_mut().unwrap().remove("request_id");
    }
    assert_eq!(other, missing);
}

#[tokio::test]
async fn lists_page_with_page_and_limit() {
    let app = spawn_app().await;
    let numbers = ["986128433", "991825827", "123456785"];
    for (i, n) in numbers.iter().enumerate() {
        app.create_org(&format!("org-{i}"), n).await;
    }
    let (_, page) = app
        .get("/api/v1/organizations?page=2&limit=2", &app.admin)
        .await;
    assert_eq!(
        page["pagination"],
        json!({"page": 2, "limit": 2, "total": 3})
    );
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(page["data"][0]["org_id"], "org-0");
    for bad in ["limit=0", "limit=101", "page=0", "limit=abc"] {
        let (status, _) = app
            .get(&format!("/api/v1/organizations?{bad}"), &app.admin)
            .await;
        assert_eq!(status, 400, "{bad}");
    }
}

#[tokio::test]
async fn the_actor_from_the_token_is_recorded_in_the_event() {
    let app = spawn_app().await;
    let r = app
        .client
        .post(app.url("/api/v1/organizations"))
        .bearer_auth(&app.admin)
        .header("x-request-id", "req-42")
        .json(&json!({"org_id": "org-1", "name": "One", "organisasjonsnummer": "986128433"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let events = app
        .state
        .db
        .events
        .read_stream("organization-org-1", 0)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, "OrganizationRegistered");
    assert_eq!(events[0].metadata.actor.as_deref(), Some("test-admin"));
    assert_eq!(events[0].metadata.request_id.as_deref(), Some("req-42"));
    assert!(events[0].metadata.correlation_id.is_some());
}
