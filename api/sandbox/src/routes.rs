//! The sandbox's HTTP surface: Bufdir's endpoints behind the fault injector, and control
//! endpoints under `/sandbox` for tests and for people trying their integration.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use poem::http::StatusCode;
use poem::web::{Data, Json, Path};
use poem::{
    Body, Endpoint, EndpointExt, IntoResponse, Request, Response, Route, get, handler, post, put,
};
use serde_json::json;
use workers::bufdir::wire::{self, Credentials, ErrorResponse, SubmitRequest, TokenResponse};

use super::state::{Fate, Faults, SandboxState, TokenProblem};

pub fn endpoint() -> impl Endpoint {
    let bufdir = Route::new()
        .at(wire::AUTHENTICATE, post(authenticate))
        .at(wire::SUBMISSIONS, post(submit))
        .at(
            format!("{}/:reference_id", wire::SUBMISSIONS),
            get(submission_status),
        )
        .at(wire::VALIDATE, post(validate))
        .around(inject_faults);
    Route::new()
        .at("/sandbox/faults", put(put_faults).get(get_faults))
        .at("/sandbox/state", get(sandbox_state))
        .at("/sandbox/tokens/expire", post(expire_tokens))
        .nest("/", bufdir)
}

/// A refusal on its way to becoming a response (kept small: `Response` is large).
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl From<Refusal> for Response {
    fn from(r: Refusal) -> Response {
        error(r.status, r.code, r.message)
    }
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = ErrorResponse {
        error: code.into(),
        message: message.into(),
        errors: vec![],
    };
    Json(body).with_status(status).into_response()
}

fn unavailable() -> Response {
    let mut r = error(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "Tjenesten er midlertidig utilgjengelig. / The service is temporarily unavailable.",
    );
    r.headers_mut()
        .insert("Retry-After", poem::http::HeaderValue::from_static("1"));
    r
}

async fn inject_faults<E: Endpoint>(ep: Arc<E>, req: Request) -> poem::Result<Response> {
    let sandbox = req
        .data::<Arc<SandboxState>>()
        .expect("sandbox state is in the app data")
        .clone();
    let faults = sandbox.faults();
    if faults.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
    }
    match sandbox.fate() {
        Fate::Fail => Ok(unavailable()),
        Fate::Serve => Ok(ep.call(req).await?.into_response()),
        Fate::Drop => {
            // Handled, then cut off: the status line goes out, the body breaks, and the client
            // never learns the answer. This is the case idempotency keys exist for.
            let handled = ep.call(req).await?.into_response();
            let broken = futures::stream::once(async {
                Err::<Bytes, _>(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "sandbox dropped the connection",
                ))
            });
            Ok(Response::builder()
                .status(handled.status())
                .content_type("application/json")
                .body(Body::from_bytes_stream(broken)))
        }
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Refusal> {
    serde_json::from_slice(body).map_err(|e| Refusal {
        status: StatusCode::BAD_REQUEST,
        code: "malformed_request",
        message: e.to_string(),
    })
}

/// The client behind the request's bearer token.
fn caller(req: &Request, sandbox: &SandboxState) -> Result<String, Refusal> {
    let unauthorized = |message: &str| Refusal {
        status: StatusCode::UNAUTHORIZED,
        code: "invalid_token",
        message: message.into(),
    };
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| unauthorized("a bearer token is required"))?;
    sandbox.client_of(token).map_err(|problem| match problem {
        TokenProblem::Unknown => unauthorized("the token is not known"),
        TokenProblem::Expired => unauthorized("the token has expired"),
    })
}

#[handler]
async fn authenticate(body: Bytes, sandbox: Data<&Arc<SandboxState>>) -> Response {
    let credentials: Credentials = match parse(&body) {
        Ok(c) => c,
        Err(r) => return r.into(),
    };
    match sandbox.authenticate(&credentials.client_id, credentials.client_secret.expose()) {
        Some(access_token) => Json(TokenResponse {
            access_token: access_token.into(),
            token_type: "Bearer".into(),
            expires_in: sandbox.config.token_ttl,
            issued_at: Utc::now(),
        })
        .into_response(),
        None => error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Ukjent klient eller feil hemmelighet. / Unknown client or wrong secret.",
        ),
    }
}

#[handler]
async fn submit(req: &Request, body: Bytes, sandbox: Data<&Arc<SandboxState>>) -> Response {
    let client = match caller(req, &sandbox) {
        Ok(c) => c,
        Err(r) => return r.into(),
    };
    let Some(key) = req
        .headers()
        .get(wire::IDEMPOTENCY_KEY)
        .and_then(|v| v.to_str().ok())
        .filter(|k| (1..=255).contains(&k.len()))
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "idempotency_key_required",
            "every submission needs an Idempotency-Key header",
        );
    };
    let request: SubmitRequest = match parse(&body) {
        Ok(r) => r,
        Err(r) => return r.into(),
    };
    let v = domain::bufdir_payload::validate(
        &request.payload_version,
        &request.payload,
        Utc::now().date_naive(),
    );
    if !v.is_valid() {
        let body = ErrorResponse {
            error: "invalid_payload".into(),
            message: "Rapporten er ikke gyldig. / The report is not valid.".into(),
            errors: v
                .errors
                .iter()
                .map(|i| serde_json::to_value(i).unwrap_or_default())
                .collect(),
        };
        return Json(body)
            .with_status(StatusCode::UNPROCESSABLE_ENTITY)
            .into_response();
    }
    let (receipt, new) = sandbox.file(&client, key, request.payload_version, request.payload);
    let status = if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Json(receipt).with_status(status).into_response()
}

#[handler]
async fn submission_status(
    req: &Request,
    Path(reference_id): Path<String>,
    sandbox: Data<&Arc<SandboxState>>,
) -> Response {
    let client = match caller(req, &sandbox) {
        Ok(c) => c,
        Err(r) => return r.into(),
    };
    match sandbox.status(&client, &reference_id) {
        Some(s) => Json(s).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no submission {reference_id}"),
        ),
    }
}

#[handler]
async fn validate(req: &Request, body: Bytes, sandbox: Data<&Arc<SandboxState>>) -> Response {
    if let Err(r) = caller(req, &sandbox) {
        return r.into();
    }
    let request: SubmitRequest = match parse(&body) {
        Ok(r) => r,
        Err(r) => return r.into(),
    };
    let v = domain::bufdir_payload::validate(
        &request.payload_version,
        &request.payload,
        Utc::now().date_naive(),
    );
    Json(json!({
        "is_valid": v.is_valid(),
        "payload_version": request.payload_version,
        "errors": v.errors,
        "warnings": v.warnings.iter().map(|w| w.message_en.clone()).collect::<Vec<_>>(),
    }))
    .into_response()
}

#[handler]
async fn get_faults(sandbox: Data<&Arc<SandboxState>>) -> Json<Faults> {
    Json(sandbox.faults())
}

#[handler]
async fn put_faults(body: Bytes, sandbox: Data<&Arc<SandboxState>>) -> Response {
    match parse::<Faults>(&body) {
        Ok(faults) => {
            sandbox.set_faults(faults.clone());
            Json(faults).into_response()
        }
        Err(r) => r.into(),
    }
}

#[handler]
async fn sandbox_state(sandbox: Data<&Arc<SandboxState>>) -> Response {
    Json(json!({
        "counters": sandbox.counters(),
        "submissions": sandbox.filed(),
    }))
    .into_response()
}

#[handler]
async fn expire_tokens(sandbox: Data<&Arc<SandboxState>>) -> StatusCode {
    sandbox.expire_tokens();
    StatusCode::NO_CONTENT
}
