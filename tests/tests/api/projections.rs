use projections::Projections;
use sqlx::Row;
use store::{ReadPool, on_pool};

use crate::helpers::spawn_app;

async fn organisation_rows(pool: &ReadPool) -> Vec<Vec<Option<String>>> {
    on_pool!(pool, c => sqlx::query(
        "SELECT org_id, name, organisasjonsnummer, CAST(created_at AS TEXT), created_by, position \
         FROM organizations ORDER BY org_id",
    )
    .fetch_all(c)
    .await
    .unwrap()
    .iter()
    .map(|r| (0..6).map(|i| r.try_get::<Option<String>, _>(i).unwrap()).collect())
    .collect())
}

#[tokio::test]
async fn a_rebuild_replays_the_log_into_identical_rows() {
    let app = spawn_app().await;
    for (id, n) in [
        ("org-a", "986128433"),
        ("org-b", "991825827"),
        ("org-c", "123456785"),
    ] {
        assert_eq!(app.create_org(id, n).await.0, 201);
    }
    let before = organisation_rows(&app.state.db.read).await;
    assert_eq!(before.len(), 3);
    let applied = app
        .state
        .projections
        .rebuild("organizations")
        .await
        .unwrap();
    assert_eq!(applied, 3);
    assert_eq!(organisation_rows(&app.state.db.read).await, before);
}

#[tokio::test]
async fn a_projection_resumes_from_its_checkpoint_and_never_applies_an_event_twice() {
    let app = spawn_app().await;
    app.create_org("org-a", "986128433").await;
    app.create_org("org-b", "991825827").await;
    let db = app.state.db.clone();
    let _kept = app.stop().await;
    // Written while no runner is running.
    let (event_type, payload) = domain::encode_event(
        &domain::organization::OrganizationEvent::OrganizationRegistered {
            org_id: domain::OrgId::parse("org-c").unwrap(),
            name: "C".into(),
            organisasjonsnummer: domain::OrgNumber::parse("123456785").unwrap(),
            registered_at: "2026-01-01T00:00:00Z".parse().unwrap(),
        },
    );
    db.events
        .append(
            "organization-org-c",
            store::ExpectedVersion::NoStream,
            vec![store::NewEvent::new(
                event_type,
                payload,
                Default::default(),
            )],
        )
        .await
        .unwrap();
    let restarted = Projections::new(db.clone(), projections::all());
    assert_eq!(
        restarted.catch_up().await.unwrap(),
        1,
        "only the event after the checkpoint"
    );
    assert_eq!(restarted.catch_up().await.unwrap(), 0);
    let ids: Vec<String> = on_pool!(&db.read, c => sqlx::query_scalar(
        "SELECT org_id FROM organizations ORDER BY org_id",
    )
    .fetch_all(c)
    .await
    .unwrap());
    assert_eq!(ids, ["org-a", "org-b", "org-c"]);
}

#[tokio::test]
async fn an_unknown_projection_name_is_an_error() {
    let app = spawn_app().await;
    assert!(app.state.projections.rebuild("nope").await.is_err());
}

/// Two runners of the same projection over one database (as two processes would be) apply each
/// event once: the checkpoint update serialises them.
#[tokio::test]
async fn two_runners_of_one_projection_apply_each_event_once() {
    let app = spawn_app().await;
    let other = Projections::new(app.state.db.clone(), projections::all());
    for i in 0..20 {
        let n = ["986128433", "991825827", "123456785"][i % 3];
        app.create_org(&format!("org-{i}"), n).await;
        other.run_once("organizations").await.unwrap();
    }
    other.catch_up().await.unwrap();
    let count: i64 = on_pool!(&app.state.db.read, c => sqlx::query_scalar(
        "SELECT count(*) FROM organizations",
    )
    .fetch_one(c)
    .await
    .unwrap());
    assert_eq!(count, 20);
    assert_eq!(
        app.state
            .projections
            .run_once("organizations")
            .await
            .unwrap(),
        0
    );
}
