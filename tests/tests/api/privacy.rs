//! Erasable personal data: the contact person of a submission is kept in the log only encrypted
//! under a key of their own; Bufdir and the audit trail get it in the clear while the key
//! exists; erasing (refused while the report is retained, unless forced with a reason) destroys
//! the key, after which every read shows it as erased, nothing else changes, and the log still
//! verifies.

use std::time::Duration;

use api::http::auth::Role;
use commands::Error;
use serde_json::{Value, json};

use crate::bufdir::{options, payload, sandbox};
use crate::helpers::{TestApp, spawn_app_on_postgres_with, spawn_app_with};

const ORG: &str = "org_482";

async fn submission_events(app: &TestApp) -> Vec<Value> {
    let (status, page) = app
        .get(
            "/api/v1/audit/events?category=submission&limit=1000",
            &app.admin,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    page["data"].as_array().unwrap().clone()
}

async fn erased_unless_retained(app: TestApp, sandbox: bufdir_sandbox::Sandbox) {
    assert_eq!(app.create_org(ORG, "986128433").await.0, 201);
    let reporter = app.token(&[ORG], &[Role::Reporter]);
    let (status, body) = app
        .post(
            "/api/v1/bufdir-api/authenticate",
            &reporter,
            &json!({"client_id": "eircodex_org_482", "client_secret": "s3cr3t_token_here"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let sent = payload();
    let (status, body) = app
        .post(
            "/api/v1/bufdir-api/submit",
            &reporter,
            &json!({"report_id": "rpt_private", "org_id": ORG,
                    "payload_version": "bufdir_2025_v2", "payload": sent}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // Its verdict too, so that nothing but the erasure changes the log from here on.
    let submission_id = body["submission_id"].as_str().unwrap().to_string();
    app.until("the verdict", || async {
        let row = projections::submissions::by_id(&app.state.db.read, &submission_id)
            .await
            .unwrap()?;
        (row.status.as_str() == "accepted").then_some(())
    })
    .await;

    // Bufdir got the contact person in the clear.
    let filed = sandbox.state.filed();
    assert_eq!(filed.len(), 1);
    assert_eq!(filed[0].payload["kontaktperson"], sent["kontaktperson"]);
    // The log and the read model keep it only encrypted.
    let all = app
        .state
        .db
        .events
        .read_all(None, &store::Filter::all(), 10_000)
        .await
        .unwrap();
    let stored =
        serde_json::to_string(&all.iter().map(|e| &e.payload).collect::<Vec<_>>()).unwrap();
    assert!(!stored.to_lowercase().contains("kari"), "{stored}");
    assert!(stored.contains("\"encrypted\""), "{stored}");
    // The audit trail shows it opened.
    let before = submission_events(&app).await;
    let requested = before
        .iter()
        .find(|e| e["payload"]["payload"]["kontaktperson"].is_object())
        .expect("the submission event carries the payload");
    assert_eq!(
        requested["payload"]["payload"]["kontaktperson"],
        sent["kontaktperson"]
    );

    // The 2025 report is kept until 2030: not without force and a reason.
    let ctx = &app.state.commands;
    let who = workers::acting("test");
    let refused = commands::privacy::erase(ctx, &who, "Kari@Example.no", None).await;
    assert!(matches!(refused, Err(Error::Rejected(_))), "{refused:?}");
    let (_, recorded) = app
        .get("/api/v1/audit/events?category=privacy", &app.admin)
        .await;
    assert_eq!(recorded["data"], json!([]), "nothing recorded");
    assert_eq!(submission_events(&app).await, before, "nothing erased");

    let erased =
        commands::privacy::erase(ctx, &who, "kari@example.no", Some("court order 12/2026"))
            .await
            .unwrap();
    assert!(erased.subject_id.starts_with("subj_"));
    let after = submission_events(&app).await;
    assert_eq!(after.len(), before.len());
    for (b, a) in before.iter().zip(&after) {
        let mut b = b.clone();
        if b["payload"]["payload"]["kontaktperson"].is_object() {
            b["payload"]["payload"]["kontaktperson"] =
                json!({"erased": true, "subject": erased.subject_id});
        }
        assert_eq!(&b, a, "only the personal data changed, hashes included");
    }
    let (_, page) = app
        .get("/api/v1/audit/events?category=privacy", &app.admin)
        .await;
    let recorded = &page["data"][0];
    assert_eq!(recorded["event_type"], "PersonalDataErased");
    assert_eq!(recorded["payload"]["forced"], true);
    assert_eq!(recorded["payload"]["reason"], "court order 12/2026");
    assert!(!page.to_string().to_lowercase().contains("kari"), "{page}");

    match store::chain::verify_log(&app.state.db, &[]).await.unwrap() {
        store::chain::Verdict::Intact(_) => {}
        store::chain::Verdict::Tampered(what) => panic!("{what}"),
    }
    let again = commands::privacy::erase(ctx, &who, "kari@example.no", Some("again")).await;
    assert!(matches!(again, Err(Error::NotFound(_))), "{again:?}");
}

#[tokio::test]
async fn a_contact_person_is_encrypted_in_the_log_and_erasable() {
    let (sandbox, _stop) = sandbox(Duration::ZERO).await;
    let app = spawn_app_with(options(&sandbox, Duration::from_secs(10), true)).await;
    erased_unless_retained(app, sandbox).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run ci/test, or set TEST_DATABASE_URL and pass --run-ignored all"]
async fn a_contact_person_is_encrypted_in_the_log_and_erasable_on_postgres() {
    let (sandbox, _stop) = sandbox(Duration::ZERO).await;
    let app = spawn_app_on_postgres_with(options(&sandbox, Duration::from_secs(10), true)).await;
    erased_unless_retained(app, sandbox).await;
}
