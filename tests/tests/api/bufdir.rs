//! The Bufdir API over real HTTP, against the Bufdir sandbox on its own port.

use std::time::Duration;

use api::http::app::BufdirTarget;
use api::http::auth::Role;
use bufdir_sandbox::{Faults, Sandbox, SandboxConfig};
use domain::schema::{self, Requirement};
use projections::submissions;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use workers::bufdir::{Backoff, BufdirSettings, ClientSettings};

use crate::helpers::{
    Options, TestApp, spawn_app, spawn_app_on_postgres_with, spawn_app_with, spawn_on,
};

const ORG: &str = "org_482";
const NUMBER: &str = "986128433";

/// A payload that passes the validator, for `ORG`.
pub fn payload() -> Value {
    let felter: serde_json::Map<String, Value> = schema::bufdir_2025_v2()
        .fields()
        .filter(|(_, f)| f.requirement != Requirement::Optional)
        .map(|(_, f)| (f.key.clone(), json!(7)))
        .collect();
    json!({
        "organisasjonsnummer": NUMBER,
        "rapporteringsperiode": "2025",
        "aktiviteter": [{"kategori": "individual_mentoring", "antall": 842, "timer": 6740}],
        "kontaktperson": {"navn": "Kari Nordmann", "epost": "kari@example.no"},
        "felter": felter,
    })
}

fn submit_body(report_id: &str, payload: Value) -> Value {
    json!({"report_id": report_id, "org_id": ORG, "payload_version": "bufdir_2025_v2", "payload": payload})
}

/// Fast retries, so outages in tests last milliseconds.
fn settings(submit_wait: Duration) -> BufdirSettings {
    BufdirSettings {
        client: ClientSettings {
            connect_timeout: Duration::from_secs(2),
            timeout: Duration::from_secs(5),
            retries: 3,
            backoff: Backoff {
                base: Duration::from_millis(1),
                cap: Duration::from_millis(5),
            },
        },
        outbox: Backoff {
            base: Duration::from_millis(5),
            cap: Duration::from_millis(20),
        },
        submit_wait,
        status_poll_interval: Duration::ZERO,
    }
}

struct World {
    sandbox: Sandbox,
    app: TestApp,
    _stop: CancellationToken,
}

pub async fn sandbox(processing_delay: Duration) -> (Sandbox, CancellationToken) {
    let stop = CancellationToken::new();
    let config = SandboxConfig {
        processing_delay,
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::start("127.0.0.1:0".parse().unwrap(), config, stop.clone())
        .await
        .expect("sandbox");
    (sandbox, stop)
}

pub fn options(sandbox: &Sandbox, submit_wait: Duration, workers: bool) -> Options {
    Options {
        bufdir: BufdirTarget {
            url: sandbox.url(),
            settings: settings(submit_wait),
        },
        workers,
        ..Options::default()
    }
}

/// A sandbox, an app with its workers running, and `ORG` registered and authenticated.
async fn world(submit_wait: Duration) -> World {
    let (sandbox, stop) = sandbox(Duration::from_secs(3600)).await;
    let app = spawn_app_with(options(&sandbox, submit_wait, true)).await;
    ready(&app).await;
    World {
        sandbox,
        app,
        _stop: stop,
    }
}

async fn ready(app: &TestApp) {
    assert_eq!(app.create_org(ORG, NUMBER).await.0, 201);
    let (status, body) = authenticate(app, "s3cr3t_token_here").await;
    assert_eq!(status, 200, "{body}");
}

async fn authenticate(app: &TestApp, secret: &str) -> (u16, Value) {
    let reporter = app.token(&[ORG], &[Role::Reporter]);
    let body = json!({"client_id": "eircodex_org_482", "client_secret": secret});
    app.post("/api/v1/bufdir-api/authenticate", &reporter, &body)
        .await
}

async fn submit(app: &TestApp, report_id: &str, payload: Value) -> (u16, Value) {
    let reporter = app.token(&[ORG], &[Role::Reporter]);
    app.post(
        "/api/v1/bufdir-api/submit",
        &reporter,
        &submit_body(report_id, payload),
    )
    .await
}

async fn row(app: &TestApp, submission_id: &str) -> submissions::SubmissionRow {
    submissions::by_id(&app.state.db.read, submission_id)
        .await
        .unwrap()
        .expect("submission row")
}

const VALIDATE: &str = "/api/v1/bufdir-api/validate-payload";

/// An app and a viewer of `ORG`: validating needs no more than that.
async fn validator() -> (TestApp, String) {
    let app = spawn_app().await;
    let viewer = app.token(&[ORG], &[Role::Viewer]);
    (app, viewer)
}

#[tokio::test]
async fn a_valid_payload_validates_without_errors_or_warnings() {
    let (app, viewer) = validator().await;
    let ok = json!({"payload_version": "bufdir_2025_v2", "payload": payload()});
    let (status, body) = app.post(VALIDATE, &viewer, &ok).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["is_valid"], true);
    assert_eq!(body["errors"], json!([]));
    assert_eq!(body["warnings"], json!([]));
}

#[tokio::test]
async fn validate_payload_points_at_each_problem_in_both_languages() {
    let (app, viewer) = validator().await;
    let mut p = payload();
    p.as_object_mut().unwrap().remove("kontaktperson");
    p["aktiviteter"] = json!([
        {"kategori": "group_session", "antall": 3, "timer": 5},
        {"kategori": "group_session", "antall": 2, "timer": 500}
    ]);
    p["organisasjonsnummer"] = json!("988077918");
    let (status, body) = app
        .post(
            VALIDATE,
            &viewer,
            &json!({"payload_version": "bufdir_2025_v2", "payload": p}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["is_valid"], false);
    let found: Vec<(&str, &str)> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        found,
        [
            (
                "/payload/organisasjonsnummer",
                "invalid_organisasjonsnummer"
            ),
            ("/payload/aktiviteter/1/kategori", "duplicate_category"),
            ("/payload/aktiviteter/1/timer", "implausible_hours"),
        ]
    );
    assert!(
        body["errors"][0]["message_nb"]
            .as_str()
            .unwrap()
            .contains("organisasjonsnummer")
    );
    assert_eq!(
        body["warnings"],
        json!(["Field 'kontaktperson' is recommended but not present."])
    );
    assert_eq!(
        body["warning_details"][0]["field"],
        "/payload/kontaktperson"
    );
}

#[tokio::test]
async fn an_unknown_payload_version_is_an_error_that_names_the_known_one() {
    let (app, viewer) = validator().await;
    let (_, body) = app
        .post(
            VALIDATE,
            &viewer,
            &json!({"payload_version": "bufdir_2019", "payload": payload()}),
        )
        .await;
    assert_eq!(body["errors"][0]["code"], "unknown_payload_version");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("bufdir_2025_v2")
    );
}

#[tokio::test]
async fn the_whole_submit_body_validates_too() {
    let (app, viewer) = validator().await;
    // Fields other than the payload's are ignored.
    let (status, body) = app
        .post(VALIDATE, &viewer, &submit_body("rpt_1", payload()))
        .await;
    assert_eq!((status, &body["is_valid"]), (200, &json!(true)));
}

#[tokio::test]
async fn validate_payload_refuses_a_caller_without_a_token_and_a_body_without_a_version() {
    let (app, viewer) = validator().await;
    let ok = json!({"payload_version": "bufdir_2025_v2", "payload": payload()});
    let (status, _) = app.post(VALIDATE, "not-a-token", &ok).await;
    assert_eq!(status, 401);
    let (status, _) = app.post(VALIDATE, &viewer, &json!({"payload": {}})).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn authentication_caches_the_token_and_keeps_it_out_of_the_log() {
    let (sandbox, _stop) = sandbox(Duration::from_secs(3600)).await;
    let app = spawn_app_with(options(&sandbox, Duration::from_secs(5), false)).await;
    assert_eq!(app.create_org(ORG, NUMBER).await.0, 201);

    let (status, body) = authenticate(&app, "wrong").await;
    assert_eq!(status, 401, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("Bufdir"));

    let reporter = app.token(&[ORG], &[Role::Reporter]);
    let response = app
        .client
        .post(app.url("/api/v1/bufdir-api/authenticate"))
        .bearer_auth(&reporter)
        .json(&json!({"client_id": "eircodex_org_482", "client_secret": "s3cr3t_token_here"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let token: Value = response.json().await.unwrap();
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["expires_in"], 3600);
    assert_eq!(token["org_id"], ORG);
    let access_token = token["access_token"].as_str().unwrap().to_string();
    assert!(token["issued_at"].is_string());

    let events = app
        .state
        .db
        .events
        .read_all(None, &store::Filter::all(), 1000)
        .await
        .unwrap();
    let recorded: Vec<&store::RecordedEvent> = events
        .iter()
        .filter(|e| e.event_type == "BufdirAuthenticated")
        .collect();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].payload["client_id"], "eircodex_org_482");
    let log =
        serde_json::to_string(&events.iter().map(|e| &e.payload).collect::<Vec<_>>()).unwrap();
    assert!(!log.contains(&access_token) && !log.contains("s3cr3t_token_here"));

    let sealed: String = store::on_pool!(&app.state.db.read, c => sqlx::query_scalar(
        "SELECT encrypted_secret FROM bufdir_credentials",
    )
    .fetch_one(c)
    .await
    .unwrap());
    assert!(!sealed.contains("s3cr3t"));

    // Another organisation's caller cannot act for this one; a viewer may not at all.
    let other = app.token(&["org_other"], &[Role::Reporter]);
    let body = json!({"client_id": "eircodex_org_482", "client_secret": "s3cr3t_token_here", "org_id": ORG});
    assert_eq!(
        app.post("/api/v1/bufdir-api/authenticate", &other, &body)
            .await
            .0,
        404
    );
    let viewer = app.token(&[ORG], &[Role::Viewer]);
    assert_eq!(
        app.post("/api/v1/bufdir-api/authenticate", &viewer, &body)
            .await
            .0,
        403
    );
    assert_eq!(sandbox.state.counters().authentications, 1);
}

#[tokio::test]
async fn a_submission_is_delivered_once_and_its_status_followed_to_the_verdict() {
    let (sandbox, _stop) = sandbox(Duration::ZERO).await;
    let app = spawn_app_with(options(&sandbox, Duration::from_secs(10), true)).await;
    ready(&app).await;

    let (status, first) = submit(&app, "rpt_2025_a", payload()).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["status"], "received");
    assert_eq!(
        first["bufdir_confirmation"],
        "Rapport mottatt og registrert."
    );
    let reference = first["submission_reference_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reference.starts_with("bufdir_ref_"));
    assert!(first["submitted_at"].is_string());

    // The same report and payload again (keys reordered): the first answer, nothing new sent.
    let mut reordered = serde_json::Map::new();
    for (k, v) in payload().as_object().unwrap().iter().rev() {
        reordered.insert(k.clone(), v.clone());
    }
    let (status, again) = submit(&app, "rpt_2025_a", Value::Object(reordered)).await;
    assert_eq!(status, 200);
    assert_eq!(again["submission_reference_id"], reference.as_str());
    // Another payload for a submitted report is a conflict.
    let mut other = payload();
    other["aktiviteter"][0]["antall"] = json!(843);
    let (status, body) = submit(&app, "rpt_2025_a", other).await;
    assert_eq!(status, 409, "{body}");
    // An invalid payload is refused before anything is sent.
    let mut invalid = payload();
    invalid["aktiviteter"][0]["antall"] = json!(-1);
    let (status, body) = submit(&app, "rpt_2025_b", invalid).await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["field"], "/payload/aktiviteter/0/antall");
    assert_eq!(body["errors"][0]["code"], "negative");
    assert!(body["errors"][0]["message_nb"].is_string());
    // A payload for another organisation's number.
    let mut foreign = payload();
    foreign["organisasjonsnummer"] = json!("991825827");
    let (status, body) = submit(&app, "rpt_2025_c", foreign).await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["code"], "organisasjonsnummer_mismatch");

    assert_eq!(sandbox.state.filed().len(), 1);
    assert_eq!(sandbox.state.counters().submit_calls, 1);

    // The status worker asks Bufdir until the verdict is in.
    let submission_id = first["submission_id"].as_str().unwrap().to_string();
    app.until("the verdict", || async {
        let r = row(&app, &submission_id).await;
        (r.status.as_str() == "accepted").then_some(())
    })
    .await;
    let reader = app.token(&[ORG], &[Role::Viewer]);
    let (status, body) = app
        .get(
            &format!("/api/v1/bufdir-api/submission-status/{reference}"),
            &reader,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["reference_id"], reference.as_str());
    assert_eq!(body["status"], "accepted");
    assert_eq!(body["notes"], "Rapporten er behandlet og godkjent.");
    assert!(body["processed_at"].is_string() && body["submitted_at"].is_string());
    let outsider = app.token(&["org_other"], &[Role::Viewer]);
    let (status, _) = app
        .get(
            &format!("/api/v1/bufdir-api/submission-status/{reference}"),
            &outsider,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn submitting_needs_credentials_a_submitter_role_and_the_organisation() {
    let (sandbox, _stop) = sandbox(Duration::from_secs(3600)).await;
    let app = spawn_app_with(options(&sandbox, Duration::from_secs(5), false)).await;
    assert_eq!(app.create_org(ORG, NUMBER).await.0, 201);
    let (status, body) = submit(&app, "rpt_1", payload()).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("authenticate"));
    let viewer = app.token(&[ORG], &[Role::Viewer]);
    let (status, _) = app
        .post(
            "/api/v1/bufdir-api/submit",
            &viewer,
            &submit_body("rpt_1", payload()),
        )
        .await;
    assert_eq!(status, 403);
    let other = app.token(&["org_other"], &[Role::Reporter]);
    let (status, _) = app
        .post(
            "/api/v1/bufdir-api/submit",
            &other,
            &submit_body("rpt_1", payload()),
        )
        .await;
    assert_eq!(status, 404);
    let (status, body) = submit(&app, "bad/id", payload()).await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["code"], "invalid_report_id");
    assert!(sandbox.state.filed().is_empty());
}

#[tokio::test]
async fn an_expired_token_is_refreshed_and_a_cached_one_reused() {
    let w = world(Duration::from_secs(10)).await;
    assert_eq!(submit(&w.app, "rpt_1", payload()).await.0, 200);
    assert_eq!(submit(&w.app, "rpt_2", payload()).await.0, 200);
    // One authentication (the explicit one): the token was cached for both deliveries.
    assert_eq!(w.sandbox.state.counters().authentications, 1);
    w.sandbox.state.expire_tokens();
    let (status, body) = submit(&w.app, "rpt_3", payload()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "received");
    assert_eq!(w.sandbox.state.counters().authentications, 2);
    assert_eq!(w.sandbox.state.filed().len(), 3);
}

#[tokio::test]
async fn three_503s_then_success_files_one_submission() {
    let w = world(Duration::from_secs(10)).await;
    w.sandbox.state.set_faults(Faults {
        fail_next: 3,
        ..Faults::default()
    });
    let (status, body) = submit(&w.app, "rpt_1", payload()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "received");
    assert_eq!(w.sandbox.state.counters().faults_injected, 3);
    assert_eq!(w.sandbox.state.filed().len(), 1);
}

#[tokio::test]
async fn a_lost_answer_is_retried_with_the_same_key_and_filed_once() {
    let w = world(Duration::from_secs(10)).await;
    w.sandbox.state.set_faults(Faults {
        drop_next: 1,
        ..Faults::default()
    });
    let (status, body) = submit(&w.app, "rpt_1", payload()).await;
    assert_eq!(status, 200, "{body}");
    let counters = w.sandbox.state.counters();
    assert_eq!(counters.submit_calls, 2, "the dropped call and its retry");
    assert_eq!(w.sandbox.state.filed().len(), 1);
    assert_eq!(
        w.sandbox.state.filed()[0].reference_id,
        body["submission_reference_id"].as_str().unwrap()
    );
}

#[tokio::test]
async fn an_outage_longer_than_the_wait_answers_202_and_delivers_later_exactly_once() {
    let w = world(Duration::from_millis(300)).await;
    w.sandbox.state.set_faults(Faults {
        down: true,
        ..Faults::default()
    });
    let reporter = w.app.token(&[ORG], &[Role::Reporter]);
    let response = w
        .app
        .client
        .post(w.app.url("/api/v1/bufdir-api/submit"))
        .bearer_auth(&reporter)
        .json(&submit_body("rpt_1", payload()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "pending");
    assert!(body["submission_reference_id"].is_null());
    let submission_id = body["submission_id"].as_str().unwrap().to_string();
    assert!(location.ends_with(&submission_id));

    // Wait for at least one failed attempt to be on record, then bring Bufdir back.
    w.app
        .until("a failed attempt", || async {
            let r = row(&w.app, &submission_id).await;
            (r.attempts >= 1 && r.last_error.is_some()).then_some(())
        })
        .await;
    let (status, pending) = w.app.get(&location, &reporter).await;
    assert_eq!(status, 200);
    assert_eq!(pending["status"], "pending");
    assert!(
        pending["last_error"]
            .as_str()
            .unwrap()
            .contains("unavailable")
    );
    assert!(w.sandbox.state.filed().is_empty());

    w.sandbox.state.set_faults(Faults::default());
    let delivered = w
        .app
        .until("the delivery", || async {
            let r = row(&w.app, &submission_id).await;
            (r.status.as_str() == "received").then_some(r)
        })
        .await;
    assert_eq!(w.sandbox.state.filed().len(), 1);
    assert_eq!(
        delivered.reference_id.as_deref(),
        Some(w.sandbox.state.filed()[0].reference_id.as_str())
    );
    // The same submit again now answers with the delivery.
    let (status, again) = submit(&w.app, "rpt_1", payload()).await;
    assert_eq!(status, 200);
    assert_eq!(again["submission_id"], submission_id.as_str());
    assert_eq!(w.sandbox.state.filed().len(), 1);
}

#[tokio::test]
async fn a_restart_between_accepting_and_delivering_still_delivers() {
    let (sandbox, _stop) = sandbox(Duration::from_secs(3600)).await;
    // The first server accepts but has no workers: nothing is delivered before it stops.
    let first = spawn_app_with(options(&sandbox, Duration::from_millis(50), false)).await;
    ready(&first).await;
    let (status, body) = submit(&first, "rpt_1", payload()).await;
    assert_eq!(status, 202, "{body}");
    let submission_id = body["submission_id"].as_str().unwrap().to_string();
    let sqlite = first.stop().await.expect("a SQLite database");
    let url = sqlite.url.clone();
    assert!(sandbox.state.filed().is_empty());

    let second = spawn_on(
        &url,
        Some(sqlite),
        options(&sandbox, Duration::from_secs(5), true),
    )
    .await;
    let delivered = second
        .until("the delivery after the restart", || async {
            let r = row(&second, &submission_id).await;
            (r.status.as_str() == "received").then_some(r)
        })
        .await;
    assert_eq!(sandbox.state.filed().len(), 1);
    assert_eq!(
        delivered.reference_id.as_deref(),
        Some(sandbox.state.filed()[0].reference_id.as_str())
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run ci/test, or set TEST_DATABASE_URL and pass --run-ignored all"]
async fn submission_works_on_postgres() {
    let (sandbox, _stop) = sandbox(Duration::ZERO).await;
    let app = spawn_app_on_postgres_with(options(&sandbox, Duration::from_secs(10), true)).await;
    ready(&app).await;
    let (status, body) = submit(&app, "rpt_pg", payload()).await;
    assert_eq!(status, 200, "{body}");
    let submission_id = body["submission_id"].as_str().unwrap().to_string();
    app.until("the verdict", || async {
        (row(&app, &submission_id).await.status.as_str() == "accepted").then_some(())
    })
    .await;
    assert_eq!(sandbox.state.filed().len(), 1);
}

#[tokio::test]
async fn bufdir_down_during_authenticate_is_a_503_with_retry_after() {
    let (sandbox, _stop) = sandbox(Duration::from_secs(3600)).await;
    let app = spawn_app_with(options(&sandbox, Duration::from_secs(5), false)).await;
    assert_eq!(app.create_org(ORG, NUMBER).await.0, 201);
    sandbox.state.set_faults(Faults {
        down: true,
        ..Faults::default()
    });
    let reporter = app.token(&[ORG], &[Role::Reporter]);
    let response = app
        .client
        .post(app.url("/api/v1/bufdir-api/authenticate"))
        .bearer_auth(&reporter)
        .json(&json!({"client_id": "eircodex_org_482", "client_secret": "s3cr3t_token_here"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "5");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    // Nothing was recorded: no credentials kept, no event.
    let (status, _) = submit(&app, "rpt_1", payload()).await;
    assert_eq!(status, 409);
}

/// Runs `worker` until it has nothing left to do.
async fn drain(worker: &dyn workers::Worker) {
    while worker.run_once().await.expect("worker step") == workers::Outcome::Worked {}
}

#[tokio::test]
async fn two_worker_processes_call_bufdir_once_per_submission() {
    use workers::bufdir_delivery::DeliveryWorker;

    let (sandbox, _stop) = sandbox(Duration::from_secs(3600)).await;
    let app = spawn_app_with(options(&sandbox, Duration::from_millis(20), false)).await;
    ready(&app).await;
    for report in ["rpt_1", "rpt_2", "rpt_3", "rpt_4"] {
        let (status, body) = submit(&app, report, payload()).await;
        assert_eq!(status, 202, "{body}");
    }
    // Slow answers: each worker's call is in flight while the other looks for due work.
    sandbox.state.set_faults(Faults {
        latency_ms: 150,
        ..Faults::default()
    });
    let worker = || {
        DeliveryWorker::new(
            app.state.db.clone(),
            app.state.projections.clone(),
            app.state.services.bufdir.clone(),
        )
    };
    let (a, b) = (worker(), worker());
    tokio::join!(drain(&a), drain(&b));
    assert_eq!(sandbox.state.filed().len(), 4);
    assert_eq!(sandbox.state.counters().submit_calls, 4, "one call each");
}

#[tokio::test]
async fn the_status_poll_schedule_outlives_the_worker_process() {
    use workers::bufdir_delivery::DeliveryWorker;
    use workers::bufdir_status::StatusWorker;

    let (sandbox, _stop) = sandbox(Duration::from_secs(3600)).await;
    let mut options = options(&sandbox, Duration::from_millis(20), false);
    options.bufdir.settings.status_poll_interval = Duration::from_secs(3600);
    let app = spawn_app_with(options).await;
    ready(&app).await;
    let (status, body) = submit(&app, "rpt_1", payload()).await;
    assert_eq!(status, 202, "{body}");
    let (db, projections, bufdir) = (
        app.state.db.clone(),
        app.state.projections.clone(),
        app.state.services.bufdir.clone(),
    );
    drain(&DeliveryWorker::new(
        db.clone(),
        projections.clone(),
        bufdir.clone(),
    ))
    .await;
    let first = StatusWorker::new(db.clone(), projections.clone(), bufdir.clone());
    drain(&first).await;
    assert_eq!(sandbox.state.counters().status_calls, 1);
    // A worker started after it (a restart, or a second process) knows the next poll is an
    // hour away, as does the first.
    let restarted = StatusWorker::new(db, projections, bufdir);
    drain(&restarted).await;
    drain(&first).await;
    assert_eq!(sandbox.state.counters().status_calls, 1);
}
