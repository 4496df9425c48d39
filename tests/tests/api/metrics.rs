//! `/metrics` and request ids, through HTTP. The metrics registry is per process, and `cargo
//! test` runs the other tests in this one, so counters are checked for what this test at least
//! added to them.

use std::collections::BTreeMap;

use serde_json::json;

use crate::helpers::{Options, TestApp, read, spawn_app, spawn_app_with};
use crate::sse::SseClient;

/// One sample of the text format: `name{label="value",...} number`.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            // Our label values hold no `,` or `"`, so splitting is enough here.
            let labels = labels
                .split(',')
                .filter(|l| !l.is_empty())
                .map(|l| {
                    let (k, v) = l.split_once('=').expect("label=value");
                    (k.to_string(), v.trim_matches('"').to_string())
                })
                .collect();
            Sample {
                name: name.to_string(),
                labels,
                value: value.parse().expect("a number"),
            }
        })
        .collect()
}

struct Scrape {
    text: String,
    samples: Vec<Sample>,
}

impl Scrape {
    /// The sum over the series of `name` that carry all of `labels`.
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).map(|s| s.value).sum()
    }

    fn has(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        self.matching(name, labels).next().is_some()
    }

    fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
    }
}

async fn scrape(app: &TestApp) -> Scrape {
    // No token: the scraper has none.
    let r = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = r.text().await.unwrap();
    Scrape {
        samples: parse(&text),
        text,
    }
}

const EXPORT: &str = "/api/v1/bufdir-exports/:export_id";
const MISSING_EXPORT: &str = "exp_01jzzzzzzzzzzzzzzzzzzzzzzz";

#[tokio::test]
async fn requests_are_counted_by_route_template_with_a_latency_histogram() {
    let app = spawn_app().await;
    let before = scrape(&app).await;
    let (status, _) = app.create_org("org-1", "986128433").await;
    assert_eq!(status, 201);
    let (status, _) = app
        .get(
            &format!("/api/v1/bufdir-exports/{MISSING_EXPORT}"),
            &app.admin,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app.create_org("org-2", "123").await;
    assert_eq!(status, 422);
    let (status, _) = app.get("/no/such/path/12345", &app.admin).await;
    assert_eq!(status, 404);

    let after = scrape(&app).await;
    let added = |route: &str, method: &str, status: &str| {
        let labels = [("route", route), ("method", method), ("status", status)];
        after.sum("http_requests_total", &labels) - before.sum("http_requests_total", &labels)
    };
    assert!(added(EXPORT, "GET", "404") >= 1.0, "{}", after.text);
    assert!(added("/api/v1/organizations", "POST", "201") >= 1.0);
    assert!(added("/api/v1/organizations", "POST", "422") >= 1.0);
    assert!(added("unmatched", "GET", "404") >= 1.0);
    assert!(
        !after.text.contains(MISSING_EXPORT) && !after.text.contains("12345"),
        "raw paths leak into labels: {}",
        after.text
    );

    let route = [("route", EXPORT), ("method", "GET")];
    assert!(after.has(
        "http_request_duration_seconds_bucket",
        &[route[0], route[1], ("le", "0.005")]
    ));
    assert!(after.has(
        "http_request_duration_seconds_bucket",
        &[route[0], route[1], ("le", "+Inf")]
    ));
    assert!(after.sum("http_request_duration_seconds_count", &route) >= 1.0);
    assert!(after.has("http_request_duration_seconds_sum", &route));
}

#[tokio::test]
async fn events_projection_lag_and_worker_steps_are_measured() {
    let app = spawn_app().await;
    let before = scrape(&app).await;
    app.create_org("org-1", "986128433").await;
    let (status, _) = app
        .post(
            "/api/v1/aggregated-report-data",
            &app.admin,
            &json!({"organization_id": "org-1", "period_id": "2024"}),
        )
        .await;
    assert_eq!(status, 202);
    app.drain_workers().await;

    let after = scrape(&app).await;
    let appended = |category: &str| {
        let labels = [("category", category)];
        after.sum("eventstore_events_appended_total", &labels)
            - before.sum("eventstore_events_appended_total", &labels)
    };
    assert!(appended("organization") >= 1.0, "{}", after.text);
    assert!(appended("snapshot") >= 2.0, "requested and aggregated");

    for projection in app.state.projections.names().iter().map(|p| p.as_str()) {
        let lag = after.sum("projection_lag_events", &[("projection", projection)]);
        assert!(
            after.has("projection_lag_events", &[("projection", projection)]),
            "no lag for {projection}: {}",
            after.text
        );
        // Writes wait for their read models, and draining the workers waits for theirs.
        assert!(lag < 1000.0, "{projection} is {lag} behind");
    }

    let steps = |outcome: &str| {
        let labels = [("worker", "aggregation"), ("outcome", outcome)];
        after.sum("worker_steps_total", &labels) - before.sum("worker_steps_total", &labels)
    };
    assert!(steps("worked") >= 1.0, "{}", after.text);
    assert!(steps("idle") >= 1.0, "drain_workers ends when all are idle");
}

#[tokio::test]
async fn sse_subscribers_count_open_watch_streams() {
    let app = spawn_app().await;
    app.create_org("org-1", "986128433").await;
    let url = app.url("/api/v1/aggregated-report-data/watch?organization_id=org-1&period_id=2024");
    let (status, watch) = SseClient::connect(&app.client, &url, &app.admin, None).await;
    assert_eq!(status, 200);
    let (_, second) = SseClient::connect(&app.client, &url, &app.admin, None).await;
    // Other tests' streams may be open in this process too.
    assert!(scrape(&app).await.sum("sse_subscribers", &[]) >= 2.0);
    drop((watch, second));
}

#[tokio::test]
async fn each_attempt_to_call_bufdir_is_counted_by_outcome() {
    // Bufdir is at an address nothing listens on; one retry keeps the test quick.
    let mut options = Options::default();
    options.bufdir.settings.client.retries = 1;
    let app = spawn_app_with(options).await;
    app.create_org("org-1", "986128433").await;
    let before = scrape(&app).await;
    let (status, _) = app
        .post(
            "/api/v1/bufdir-api/authenticate",
            &app.admin,
            &json!({"client_id": "c", "client_secret": "s", "org_id": "org-1"}),
        )
        .await;
    assert_eq!(status, 503);
    let after = scrape(&app).await;
    let labels = [("operation", "authenticate"), ("outcome", "error")];
    let attempts = after.sum("bufdir_api_calls_total", &labels)
        - before.sum("bufdir_api_calls_total", &labels);
    assert!(attempts >= 2.0, "the call and its retry: {}", after.text);
}

fn request_id(r: &reqwest::Response) -> String {
    r.headers()["x-request-id"].to_str().unwrap().to_string()
}

#[tokio::test]
async fn problems_carry_the_request_id_of_the_response() {
    let app = spawn_app().await;
    for path in [
        format!("/api/v1/bufdir-exports/{MISSING_EXPORT}"),
        "/no/such/path".to_string(),
    ] {
        let r = app
            .client
            .get(app.url(&path))
            .bearer_auth(&app.admin)
            .send()
            .await
            .unwrap();
        let id = request_id(&r);
        let (status, problem) = read(r).await;
        assert_eq!(status, 404);
        assert_eq!(problem["request_id"], id.as_str(), "{path}");
        assert!(uuid::Uuid::try_parse(&id).is_ok(), "a generated id: {id}");
    }

    let r = app
        .client
        .post(app.url("/api/v1/organizations"))
        .bearer_auth(&app.admin)
        .json(&json!({"org_id": "org-1", "name": "One", "organisasjonsnummer": "123"}))
        .send()
        .await
        .unwrap();
    let id = request_id(&r);
    let (status, problem) = read(r).await;
    assert_eq!(status, 422);
    assert_eq!(problem["request_id"], id.as_str());

    // Missing token: refused before any handler runs.
    let r = app
        .client
        .get(app.url("/api/v1/organizations"))
        .send()
        .await
        .unwrap();
    let id = request_id(&r);
    let (status, problem) = read(r).await;
    assert_eq!(status, 401);
    assert_eq!(problem["request_id"], id.as_str());
}

#[tokio::test]
async fn a_sane_client_request_id_is_echoed_and_an_insane_one_replaced() {
    let app = spawn_app().await;
    let get = |id: String| {
        app.client
            .get(app.url("/api/v1/organizations/org-none"))
            .bearer_auth(&app.admin)
            .header("x-request-id", id)
            .send()
    };

    let sane = format!("req-1.A_{}", "x".repeat(120));
    let r = get(sane.clone()).await.unwrap();
    assert_eq!(request_id(&r), sane);
    let (status, problem) = read(r).await;
    assert_eq!(status, 404);
    assert_eq!(problem["request_id"], sane.as_str());

    for insane in ["x".repeat(129), "a b".into(), "a/b".into(), "\"}".into()] {
        let r = get(insane.clone()).await.unwrap();
        let id = request_id(&r);
        assert_ne!(id, insane);
        assert!(uuid::Uuid::try_parse(&id).is_ok(), "{id}");
        let (_, problem) = read(r).await;
        assert_eq!(problem["request_id"], id.as_str());
    }
}

#[tokio::test]
async fn events_record_the_request_id_the_response_carries() {
    let app = spawn_app().await;
    let r = app
        .client
        .post(app.url("/api/v1/organizations"))
        .bearer_auth(&app.admin)
        .header("x-request-id", "not sane!")
        .json(&json!({"org_id": "org-1", "name": "One", "organisasjonsnummer": "986128433"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = request_id(&r);
    let events = app
        .state
        .db
        .events
        .read_stream("organization-org-1", 0)
        .await
        .unwrap();
    assert_eq!(events[0].metadata.request_id.as_deref(), Some(id.as_str()));
}
