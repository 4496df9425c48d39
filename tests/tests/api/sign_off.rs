//! Sign-off before submission over real HTTP: the policy, four eyes, approvals voided by a
//! change, submission holding to the approvals, and tenancy; on SQLite and PostgreSQL.

use std::time::Duration;

use api::http::auth::Role;
use domain::schema;
use serde_json::{Value, json};

use crate::bufdir::{options, sandbox};
use crate::helpers::{TestApp, spawn_app_on_postgres_with, spawn_app_with};
use crate::reexports::receiver;

const ORG: &str = "org_482";
const NUMBER: &str = "986128433";
const OTHER: &str = "org-other";
const SIGN_OFF: &str = "/api/v1/organizations/org_482/sign-offs/2025";
const APPROVALS: &str = "/api/v1/organizations/org_482/sign-offs/2025/approvals";

fn token(app: &TestApp, sub: &str, orgs: &[&str], roles: &[Role]) -> String {
    app.keys.mint(
        sub,
        orgs.iter().map(|s| s.to_string()).collect(),
        roles.to_vec(),
        3600,
    )
}

/// Records for 2025 that give every metric of the schema a value (and hours), so the payload
/// the figures make validates; `id` names the batch, `value` is each record's value.
async fn import(app: &TestApp, by: &str, id: &str, value: f64) {
    let mut metrics: Vec<String> = schema::bufdir_2025_v2()
        .fields()
        .map(|(_, f)| f.metric.clone())
        .collect();
    metrics.sort();
    metrics.dedup();
    let records: Vec<Value> = metrics
        .iter()
        .map(|m| json!({"record_id": format!("{id}-{m}"), "occurred_on": "2025-03-01", "metric": m, "value": value, "hours": 2.0}))
        .collect();
    let body = json!({"organization_id": ORG, "data_source": "fagsystem-cis", "records": records});
    let (status, answer) = app.post("/api/v1/source-records", by, &body).await;
    assert_eq!(status, 200, "{answer}");
}

async fn approve(app: &TestApp, by: &str, role: &str, digest: &str) -> (u16, Value) {
    app.post(
        APPROVALS,
        by,
        &json!({"role": role, "payload_digest": digest, "comment": "Sett og godkjent"}),
    )
    .await
}

async fn submit(app: &TestApp, payload: &Value) -> (u16, Value) {
    let reporter = token(app, "rita", &[ORG], &[Role::Reporter]);
    let body = json!({"report_id": "rpt_2025", "org_id": ORG, "payload_version": "bufdir_2025_v2", "payload": payload});
    app.post("/api/v1/bufdir-api/submit", &reporter, &body)
        .await
}

/// Whether a submission of the report was recorded.
async fn submitted(app: &TestApp) -> bool {
    projections::submissions::latest_for_report(&app.state.db.read, ORG, "rpt_2025")
        .await
        .unwrap()
        .is_some()
}

async fn sign_off_holds_until_approved_and_a_change_voids_it(app: TestApp) {
    assert_eq!(app.create_org(ORG, NUMBER).await.0, 201);
    assert_eq!(app.create_org(OTHER, "974760673").await.0, 201);
    let reporter = token(&app, "rita", &[ORG], &[Role::Reporter]);
    let (status, body) = app
        .post(
            "/api/v1/bufdir-api/authenticate",
            &reporter,
            &json!({"client_id": "eircodex_org_482", "client_secret": "s3cr3t_token_here"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // Ola imports the figures; he also holds the approver role.
    let ola = token(&app, "ola", &[ORG], &[Role::Reporter, Role::Approver]);
    import(&app, &ola, "r1", 40.0).await;

    // An admin asks for one approver and one auditor.
    let admin = token(&app, "admin", &[ORG], &[Role::Admin]);
    let policy = json!({"requirements": [
        {"role": "approver", "count": 1}, {"role": "auditor", "count": 1}
    ]});
    let path = format!("/api/v1/organizations/{ORG}/approval-policy");
    let (status, bad) = app
        .put(
            &path,
            &admin,
            &json!({"requirements": [{"role": "approver", "count": 1}, {"role": "approver", "count": 2}]}),
        )
        .await;
    assert_eq!(status, 422, "{bad}");
    let (status, org) = app.put(&path, &admin, &policy).await;
    assert_eq!(status, 200, "{org}");
    assert_eq!(org["approval_policy"], policy);
    let (_, shown) = app
        .get(&format!("/api/v1/organizations/{ORG}"), &reporter)
        .await;
    assert_eq!(shown["approval_policy"], policy);

    let (status, sign_off) = app.get(SIGN_OFF, &reporter).await;
    assert_eq!(status, 200, "{sign_off}");
    assert_eq!(sign_off["ready"], false);
    assert_eq!(
        sign_off["missing"],
        json!([{"role": "approver", "count": 1}, {"role": "auditor", "count": 1}])
    );
    let payload = sign_off["payload"].clone();
    let digest = sign_off["payload_digest"].as_str().unwrap().to_string();
    assert_eq!(payload["organisasjonsnummer"], NUMBER);

    // Without approvals: 409 naming who is missing, and nothing recorded.
    let (status, problem) = submit(&app, &payload).await;
    assert_eq!(status, 409, "{problem}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("1 more approver and 1 more auditor"),
        "{detail}"
    );
    assert!(!submitted(&app).await);

    // Four eyes: Ola changed the figures, so he cannot approve them.
    let (status, problem) = approve(&app, &ola, "approver", &digest).await;
    assert_eq!(status, 409, "{problem}");
    // A viewer may not approve at all; a role not held is refused.
    let viewer = token(&app, "vera", &[ORG], &[Role::Viewer]);
    assert_eq!(approve(&app, &viewer, "approver", &digest).await.0, 403);
    let kari = token(&app, "kari", &[ORG], &[Role::Approver, Role::Auditor]);
    let (status, first) = approve(&app, &kari, "approver", &digest).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["status"], "standing");
    assert_eq!(first["payload_digest"], digest.as_str());
    // The same person again, in another role they hold: counts once.
    let (status, again) = approve(&app, &kari, "auditor", &digest).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["approval_id"], first["approval_id"]);
    let (status, problem) = submit(&app, &payload).await;
    assert_eq!(status, 409, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("1 more auditor"),
        "{problem}"
    );

    // A stale digest is refused.
    let per = token(&app, "per", &[ORG], &[Role::Auditor]);
    let (status, problem) = approve(&app, &per, "auditor", &"0".repeat(64)).await;
    assert_eq!(status, 409, "{problem}");
    let (status, audited) = approve(&app, &per, "auditor", &digest).await;
    assert_eq!(status, 201, "{audited}");
    let (_, sign_off) = app.get(SIGN_OFF, &reporter).await;
    assert_eq!(sign_off["ready"], true, "{sign_off}");

    // The figures change: the approvals are voided, with the reason, and the old payload no
    // longer goes.
    import(&app, &app.admin, "r2", 2.0).await;
    app.drain_workers().await;
    let (_, sign_off) = app.get(SIGN_OFF, &reporter).await;
    assert_eq!(sign_off["ready"], false);
    assert_ne!(sign_off["payload_digest"], digest.as_str());
    assert!(
        sign_off["voided_reason"]
            .as_str()
            .is_some_and(|r| r.contains("figures changed")),
        "{sign_off}"
    );
    let statuses: Vec<&str> = sign_off["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["voided", "voided"]);
    let (status, problem) = submit(&app, &payload).await;
    assert_eq!(status, 409, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("no longer count"),
        "{problem}"
    );
    assert!(!submitted(&app).await);

    // Approved again, the current payload is submitted, with the approvals it relied on.
    let payload = sign_off["payload"].clone();
    let digest = sign_off["payload_digest"].as_str().unwrap().to_string();
    assert_eq!(approve(&app, &kari, "approver", &digest).await.0, 201);
    let (status, audited) = approve(&app, &per, "auditor", &digest).await;
    assert_eq!(status, 201);
    // Withdrawn by someone else: 404; by its signer: gone, and submission refused again.
    let withdraw = format!("{APPROVALS}/{}", audited["approval_id"].as_str().unwrap());
    assert_eq!(app.delete(&withdraw, &kari).await.0, 404);
    assert_eq!(app.delete(&withdraw, &per).await.0, 204);
    assert_eq!(submit(&app, &payload).await.0, 409);
    assert_eq!(approve(&app, &per, "auditor", &digest).await.0, 201);
    let (status, receipt) = submit(&app, &payload).await;
    assert!(status == 200 || status == 202, "{status} {receipt}");
    let submission_id = receipt["submission_id"].as_str().unwrap();
    let stream = format!("submission-{ORG}:rpt_2025");
    let events = app.state.db.events.read_stream(&stream, 0).await.unwrap();
    let relied = &events[0].payload["approvals"];
    let mut signers: Vec<&str> = relied
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["signer"]["subject"].as_str().unwrap())
        .collect();
    signers.sort();
    assert_eq!(signers, ["kari", "per"], "{submission_id}");

    // Another organisation's approver sees nothing of this report.
    let stranger = token(&app, "kari", &[OTHER], &[Role::Approver]);
    assert_eq!(app.get(SIGN_OFF, &stranger).await.0, 404);
    assert_eq!(approve(&app, &stranger, "approver", &digest).await.0, 404);
}

#[tokio::test]
async fn sign_off_holds_until_approved_and_a_change_voids_it_on_sqlite() {
    let (bufdir, _stop) = sandbox(Duration::from_secs(3600)).await;
    let app = spawn_app_with(options(&bufdir, Duration::ZERO, false)).await;
    sign_off_holds_until_approved_and_a_change_voids_it(app).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run ci/test, or set TEST_DATABASE_URL and pass --run-ignored all"]
async fn sign_off_holds_until_approved_and_a_change_voids_it_on_postgres() {
    let (bufdir, _stop) = sandbox(Duration::from_secs(3600)).await;
    let app = spawn_app_on_postgres_with(options(&bufdir, Duration::ZERO, false)).await;
    sign_off_holds_until_approved_and_a_change_voids_it(app).await;
}

#[tokio::test]
async fn the_organisation_is_told_when_its_approvals_are_voided() {
    let (bufdir, _stop) = sandbox(Duration::from_secs(3600)).await;
    let mut settings = options(&bufdir, Duration::ZERO, false);
    settings.webhook_allow_private = true;
    let app = spawn_app_with(settings).await;
    assert_eq!(app.create_org(ORG, NUMBER).await.0, 201);
    let admin = token(&app, "admin", &[ORG], &[Role::Admin]);
    let hook = receiver(1).await;
    let (status, set) = app
        .put(
            &format!("/api/v1/organizations/{ORG}/webhook"),
            &admin,
            &json!({"url": hook.url}),
        )
        .await;
    assert_eq!(status, 200, "{set}");
    let policy = json!({"requirements": [{"role": "approver", "count": 1}]});
    let path = format!("/api/v1/organizations/{ORG}/approval-policy");
    assert_eq!(app.put(&path, &admin, &policy).await.0, 200);
    import(&app, &app.admin, "r1", 40.0).await;
    let kari = token(&app, "kari", &[ORG], &[Role::Approver]);
    let (_, sign_off) = app.get(SIGN_OFF, &kari).await;
    let digest = sign_off["payload_digest"].as_str().unwrap();
    let (status, approval) = approve(&app, &kari, "approver", digest).await;
    assert_eq!(status, 201, "{approval}");
    import(&app, &app.admin, "r1", 41.0).await;

    let all = workers::all(&app.state.db, &app.state.projections, &app.state.services);
    let worker = |name: &str| all.iter().find(|w| w.name() == name).unwrap().clone();
    let voiding = worker("signoff-voiding");
    let notify = worker("signoff-webhooks");
    assert_eq!(voiding.run_once().await.unwrap(), workers::Outcome::Worked);
    assert_eq!(voiding.run_once().await.unwrap(), workers::Outcome::Idle);
    // The receiver answers 503 once: nothing is recorded, and it is owed still.
    assert_eq!(notify.run_once().await.unwrap(), workers::Outcome::Idle);
    assert_eq!(hook.seen.lock().unwrap().len(), 1);
    let owed = projections::signoffs::voided_unnotified(&app.state.db.read, 10)
        .await
        .unwrap();
    assert_eq!(owed.len(), 1);
    // The tests' backoff is zero: the next attempt is delivered and recorded.
    assert_eq!(notify.run_once().await.unwrap(), workers::Outcome::Worked);
    assert_eq!(notify.run_once().await.unwrap(), workers::Outcome::Idle);
    assert!(
        projections::signoffs::voided_unnotified(&app.state.db.read, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let seen = hook.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    let (_, webhook_id, body) = &seen[1];
    assert_eq!(webhook_id, &seen[0].1, "the same id on every attempt");
    let body: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(body["event"], "signoff.approvals_voided");
    assert_eq!(body["period_id"], "2025");
    assert_eq!(body["approvals"][0]["approval_id"], approval["approval_id"]);
}
