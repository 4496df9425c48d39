//! CORS for browser front ends on another origin (`CORS_ALLOWED_ORIGINS`): preflights name the
//! methods the spec gives each path, answers and errors from an allowed origin are readable by
//! the front end, and everyone else sees the service as it was.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use api::http::app::{Application, Settings};
use api::http::auth::{Keys, Role};
use api::http::cors::Origin;
use clap::Parser;
use reqwest::header::HeaderMap;
use reqwest::{Method, Response};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::helpers::{TempSqlite, spawn_app};

const FRONT_END: &str = "http://127.0.0.1:5173";
const OTHER_FRONT_END: &str = "https://reports.example.no";
const EXPOSED: &str = "Location, Retry-After, X-Request-Id, Idempotent-Replayed";
const ALLOWED_HEADERS: &str =
    "Authorization, Content-Type, Idempotency-Key, Last-Event-ID, X-Request-Id";

/// The real application with `CORS_ALLOWED_ORIGINS` set, which the shared helpers do not set.
struct CorsApp {
    addr: SocketAddr,
    client: reqwest::Client,
    keys: Keys,
    admin: String,
    shutdown: CancellationToken,
    _db: TempSqlite,
}

impl Drop for CorsApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl CorsApp {
    async fn start(origins: &[&str]) -> CorsApp {
        let db = TempSqlite::new();
        let store = store::connect(&db.url).await.expect("database");
        let keys = Keys::from_secret(b"test-secret-test-secret-test-secret!");
        let mut settings = Settings::new(&db.dir, "http://127.0.0.1:9");
        settings.cors_allowed_origins = origins.iter().map(|o| o.parse().unwrap()).collect();
        let app = Application::build(
            store,
            keys.clone(),
            "127.0.0.1:0".parse().unwrap(),
            settings,
        )
        .await
        .expect("app")
        .without_workers();
        let addr = app.local_addr();
        let shutdown = CancellationToken::new();
        tokio::spawn(app.run_until_stopped(shutdown.clone()));
        let admin = keys.mint("test-admin", vec![], vec![Role::Admin], 3600);
        CorsApp {
            addr,
            client: reqwest::Client::new(),
            keys,
            admin,
            shutdown,
            _db: db,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn preflight(&self, path: &str, origin: &str, method: &str) -> Response {
        self.client
            .request(Method::OPTIONS, self.url(path))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", method)
            .header(
                "Access-Control-Request-Headers",
                "authorization, content-type",
            )
            .send()
            .await
            .unwrap()
    }

    async fn get_from(&self, path: &str, origin: &str, token: Option<&str>) -> Response {
        let mut request = self.client.get(self.url(path)).header("Origin", origin);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().unwrap())
}

/// Every `access-control-*` header of an answer.
fn cors_headers(headers: &HeaderMap) -> Vec<String> {
    headers
        .keys()
        .map(|k| k.as_str().to_string())
        .filter(|k| k.starts_with("access-control-"))
        .collect()
}

fn varies_on_origin(headers: &HeaderMap) -> bool {
    headers
        .get_all("vary")
        .iter()
        .flat_map(|v| v.to_str().unwrap().split(','))
        .any(|v| v.trim().eq_ignore_ascii_case("origin"))
}

/// What a front end needs on every answer to read it: its origin, and the headers it reads.
fn assert_readable_by(headers: &HeaderMap, origin: &str) {
    assert_eq!(header(headers, "access-control-allow-origin"), Some(origin));
    assert!(varies_on_origin(headers), "{headers:?}");
    assert_eq!(
        header(headers, "access-control-expose-headers"),
        Some(EXPOSED)
    );
    assert_eq!(header(headers, "access-control-allow-credentials"), None);
}

fn method_set(list: &str) -> BTreeSet<String> {
    list.split(',').map(|m| m.trim().to_string()).collect()
}

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_names_the_methods_the_spec_gives_its_path() {
    let app = CorsApp::start(&[FRONT_END, OTHER_FRONT_END]).await;
    let spec: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = spec["paths"].as_object().unwrap();
    assert!(paths.len() > 20, "the spec has its paths");
    for (template, operations) in paths {
        let path: String = template
            .split('/')
            .map(|s| if s.starts_with('{') { "x1" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        let mut expected: BTreeSet<String> = operations
            .as_object()
            .unwrap()
            .keys()
            .map(|m| m.to_uppercase())
            .collect();
        // poem answers HEAD wherever it answers GET.
        if expected.contains("GET") {
            expected.insert("HEAD".into());
        }
        for method in expected.iter().filter(|m| *m != "HEAD") {
            let r = app.preflight(&path, OTHER_FRONT_END, method).await;
            assert_eq!(r.status(), 204, "{method} {path}");
            let h = r.headers();
            assert_eq!(
                header(h, "access-control-allow-origin"),
                Some(OTHER_FRONT_END)
            );
            assert!(varies_on_origin(h), "{method} {path}: {h:?}");
            let allowed = method_set(header(h, "access-control-allow-methods").unwrap());
            assert_eq!(allowed, expected, "{method} {path}");
            assert_eq!(
                header(h, "access-control-allow-headers"),
                Some(ALLOWED_HEADERS)
            );
            assert_eq!(header(h, "access-control-max-age"), Some("600"));
            assert_eq!(header(h, "access-control-allow-credentials"), None);
            assert!(h.contains_key("x-request-id"), "{method} {path}");
        }
    }
}

#[tokio::test]
async fn a_preflight_for_a_method_or_path_the_service_does_not_take_is_not_allowed() {
    let app = CorsApp::start(&[FRONT_END]).await;
    for (path, method) in [
        ("/api/v1/organizations", "DELETE"),
        ("/api/v1/organizations/org-1", "PUT"),
        ("/api/v1/report-history/rpt_1/upload", "POST"),
        ("/api/v1/nothing-here", "GET"),
        ("/api/v1/organizations", "get"),
    ] {
        let r = app.preflight(path, FRONT_END, method).await;
        assert!(!r.status().is_success(), "{method} {path}: {}", r.status());
        assert_eq!(
            cors_headers(r.headers()),
            Vec::<String>::new(),
            "{method} {path}"
        );
    }
    // Such a preflight is still an OPTIONS, answered with what the path does take.
    let r = app
        .preflight("/api/v1/organizations", FRONT_END, "DELETE")
        .await;
    assert_eq!(r.status(), 405);
    assert_eq!(header(r.headers(), "allow"), Some("GET, HEAD, POST"));
}

#[tokio::test]
async fn an_allowed_origin_can_read_answers_and_problem_documents() {
    let app = CorsApp::start(&[FRONT_END]).await;

    let r = app
        .get_from("/api/v1/organizations", FRONT_END, Some(&app.admin))
        .await;
    assert_eq!(r.status(), 200);
    assert_readable_by(r.headers(), FRONT_END);

    // A write: the front end reads `Location` and, on a retry, `Idempotent-Replayed`.
    let body = json!({"org_id": "org-cors", "name": "Cors", "organisasjonsnummer": "986128433"});
    for replayed in [None, Some("true")] {
        let r = app
            .client
            .post(app.url("/api/v1/organizations"))
            .header("Origin", FRONT_END)
            .header("Idempotency-Key", "cors-1")
            .bearer_auth(&app.admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        assert_readable_by(r.headers(), FRONT_END);
        assert!(r.headers().contains_key("location"));
        assert_eq!(header(r.headers(), "idempotent-replayed"), replayed);
    }

    let token = "not-a-token";
    for (status, r) in [
        (
            401,
            app.get_from("/api/v1/organizations", FRONT_END, None).await,
        ),
        (
            401,
            app.get_from("/api/v1/organizations", FRONT_END, Some(token))
                .await,
        ),
        (
            404,
            app.get_from("/api/v1/nothing-here", FRONT_END, Some(&app.admin))
                .await,
        ),
        (
            405,
            app.client
                .delete(app.url("/api/v1/organizations"))
                .header("Origin", FRONT_END)
                .bearer_auth(&app.admin)
                .send()
                .await
                .unwrap(),
        ),
    ] {
        assert_eq!(r.status(), status);
        assert_readable_by(r.headers(), FRONT_END);
        assert_eq!(
            header(r.headers(), "content-type"),
            Some("application/problem+json")
        );
    }
}

#[tokio::test]
async fn the_watch_stream_answers_an_allowed_origin_with_the_token_in_the_query() {
    let app = CorsApp::start(&[FRONT_END]).await;
    let body = json!({"org_id": "org-1", "name": "Org 1", "organisasjonsnummer": "986128433"});
    let r = app
        .client
        .post(app.url("/api/v1/organizations"))
        .bearer_auth(&app.admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let viewer = app
        .keys
        .mint("browser", vec!["org-1".into()], vec![Role::Viewer], 600);
    // What an EventSource sends: a plain GET, no preflight, the token in the query.
    let watch = format!(
        "/api/v1/aggregated-report-data/watch?organization_id=org-1&period_id=2024&access_token={viewer}"
    );
    let r = app.get_from(&watch, FRONT_END, None).await;
    assert_eq!(r.status(), 200);
    assert!(
        header(r.headers(), "content-type")
            .unwrap()
            .starts_with("text/event-stream")
    );
    assert_readable_by(r.headers(), FRONT_END);
    // A resuming EventSource sends `Last-Event-ID`, which needs a preflight.
    let r = app
        .preflight("/api/v1/aggregated-report-data/watch", FRONT_END, "GET")
        .await;
    assert_eq!(r.status(), 204);
    assert!(
        header(r.headers(), "access-control-allow-headers")
            .unwrap()
            .contains("Last-Event-ID")
    );
}

#[tokio::test]
async fn other_origins_and_requests_without_an_origin_get_no_cors_headers() {
    let app = CorsApp::start(&[FRONT_END]).await;
    for other in [
        "http://127.0.0.1:5174",
        "https://127.0.0.1:5173",
        "http://evil.example",
        "null",
    ] {
        let r = app
            .get_from("/api/v1/organizations", other, Some(&app.admin))
            .await;
        assert_eq!(r.status(), 200);
        assert_eq!(cors_headers(r.headers()), Vec::<String>::new(), "{other}");
        assert!(!varies_on_origin(r.headers()), "{other}");
        let r = app.preflight("/api/v1/organizations", other, "POST").await;
        assert!(!r.status().is_success(), "{other}: {}", r.status());
        assert_eq!(cors_headers(r.headers()), Vec::<String>::new(), "{other}");
    }

    let r = app
        .client
        .get(app.url("/api/v1/organizations"))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(cors_headers(r.headers()), Vec::<String>::new());
    // An OPTIONS without an Origin is answered as before: `Allow` names the methods.
    let r = app
        .client
        .request(Method::OPTIONS, app.url("/api/v1/organizations"))
        .send()
        .await
        .unwrap();
    assert_eq!(header(r.headers(), "allow"), Some("GET, HEAD, POST"));
    assert_eq!(cors_headers(r.headers()), Vec::<String>::new());
}

#[tokio::test]
async fn without_allowed_origins_no_answer_carries_cors_headers() {
    let app = spawn_app().await;
    let r = app
        .client
        .get(app.url("/api/v1/organizations"))
        .header("Origin", FRONT_END)
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(cors_headers(r.headers()), Vec::<String>::new());
    let r = app
        .client
        .request(Method::OPTIONS, app.url("/api/v1/organizations"))
        .header("Origin", FRONT_END)
        .header("Access-Control-Request-Method", "GET")
        .send()
        .await
        .unwrap();
    assert!(!r.status().is_success(), "{}", r.status());
    assert_eq!(cors_headers(r.headers()), Vec::<String>::new());
    let r = app
        .client
        .get(app.url("/api/v1/organizations"))
        .header("Origin", FRONT_END)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(cors_headers(r.headers()), Vec::<String>::new());
}

/// `serve`'s configuration as the binary parses it.
fn parse(args: &[&str]) -> Result<Vec<Origin>, String> {
    let mut argv = vec!["bufdir-reporting"];
    argv.extend_from_slice(args);
    argv.push("serve");
    api::cli::config::Cli::try_parse_from(argv)
        .map(|cli| {
            api::cli::compose::Root::new(&cli.common)
                .settings("http://127.0.0.1:9".into())
                .cors_allowed_origins
        })
        .map_err(|e| e.to_string())
}

#[test]
fn allowed_origins_are_checked_when_the_configuration_is_read() {
    assert_eq!(parse(&[]).unwrap(), vec![]);
    let listed = parse(&[
        "--cors-allowed-origins",
        "http://127.0.0.1:5173, https://Reports.Example.no/",
    ])
    .unwrap();
    let shown: Vec<String> = listed.iter().map(Origin::to_string).collect();
    assert_eq!(
        shown,
        ["http://127.0.0.1:5173", "https://reports.example.no"]
    );

    for (given, reason) in [
        ("http://127.0.0.1:5173/app", "it has a path (/app)"),
        ("http://127.0.0.1:5173,*", "must be named"),
        ("127.0.0.1:5173", "not an origin"),
        ("http://127.0.0.1:5173,", "it is empty"),
    ] {
        let err = parse(&["--cors-allowed-origins", given]).unwrap_err();
        assert!(err.contains("--cors-allowed-origins"), "{given}: {err}");
        assert!(err.contains(reason), "{given}: {err}");
        assert!(err.contains("scheme://host[:port]"), "{given}: {err}");
    }
}
