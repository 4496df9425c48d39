//! `Idempotency-Key` on POST: a retry with the same key and body gets the first answer, stored
//! durably; the same key with another body is a 422. Keys are scoped to the caller (token
//! subject and issuer, organisations and roles), so two callers cannot collide. A key whose
//! first request is still running answers 409; one whose first request died without an answer
//! is taken over after a while.

use std::sync::Arc;

use chrono::{Duration, Utc};
use poem::http::{HeaderValue, Method, StatusCode};
use poem::{Body, Endpoint, IntoResponse, Request, Response};
use sha2::{Digest, Sha256};
use store::tables::idempotency_keys::{Answer, IdempotencyKeys};

use crate::http::auth::Keys;
use crate::http::problem::{ApiError, catch_all};
use crate::http::text::MAX_KEY_LEN;

pub const HEADER: &str = "Idempotency-Key";

fn is_valid_key(key: &str) -> bool {
    (1..=MAX_KEY_LEN).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

/// After this long without an answer, a pending key is considered abandoned (its request died).
const ABANDONED_AFTER: Duration = Duration::minutes(2);

pub async fn around<E: Endpoint>(ep: Arc<E>, mut req: Request) -> poem::Result<Response> {
    let key = match req.headers().get(HEADER) {
        Some(key) if req.method() == Method::POST => key.clone(),
        _ => return call(&ep, req).await,
    };
    let tokens = req
        .data::<Keys>()
        .expect("Keys are in the app data")
        .clone();
    let keys = req
        .data::<IdempotencyKeys>()
        .expect("the idempotency keys are in the app data")
        .clone();
    // Authentication comes before any other check: without a valid token the handler answers
    // 401, whatever the key looks like, and nothing is stored.
    let caller = match bearer(&req) {
        Some(token) => tokens.verify_request(token).await.ok(),
        None => None,
    };
    let Some(scope) = caller.map(|c| scope_of(&c)) else {
        return call(&ep, req).await;
    };
    let key = match key.to_str() {
        Ok(k) if is_valid_key(k) => k.to_string(),
        _ => {
            return Err(ApiError::BadRequest(format!(
                "{HEADER} must be 1 to {MAX_KEY_LEN} visible ASCII characters"
            ))
            .into());
        }
    };
    let body = req.take_body().into_bytes().await?;
    let hash = request_hash(&req, &body);
    req.set_body(body);
    req.extensions_mut().insert(seed_of(&scope, &key, &hash));

    for _ in 0..2 {
        let now = Utc::now();
        if keys
            .claim(&scope, &key, &hash, now)
            .await
            .map_err(crate::http::rejections::database_failed)?
        {
            return answer_and_store(&ep, req, &keys, &scope, &key).await;
        }
        let found = keys
            .find(&scope, &key)
            .await
            .map_err(crate::http::rejections::database_failed)?;
        let Some(stored) = found else { continue };
        if stored.request_hash != hash {
            return Err(ApiError::Unprocessable {
                detail: format!("{HEADER} {key:?} was already used for a different request"),
                errors: vec![crate::http::problem::FieldError::new(
                    HEADER,
                    "idempotency_key_reused",
                    "this key belongs to another request body",
                )],
            }
            .into());
        }
        let Some(status) = stored.status else {
            if now - stored.created_at > ABANDONED_AFTER {
                keys.release_unanswered(&scope, &key)
                    .await
                    .map_err(crate::http::rejections::database_failed)?;
                continue;
            }
            return Err(ApiError::Contended(format!(
                "a request with {HEADER} {key:?} is still being handled; retry shortly"
            ))
            .into());
        };
        let mut response = Response::builder()
            .status(StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK))
            .header("Idempotent-Replayed", "true");
        if let Some(ct) = stored.content_type {
            response = response.content_type(ct);
        }
        if let Some(location) = stored.location {
            response = response.header("Location", location);
        }
        return Ok(response.body(stored.body.unwrap_or_default()));
    }
    Err(ApiError::Conflict(format!("{HEADER} {key:?} is contended; retry")).into())
}

async fn call<E: Endpoint>(ep: &Arc<E>, req: Request) -> poem::Result<Response> {
    ep.call(req).await.map(IntoResponse::into_response)
}

/// Runs the request and keeps its answer, unless the answer says nothing about the request itself
/// (server errors, auth failures, rate limits): then the key is released so a retry runs anew.
async fn answer_and_store<E: Endpoint>(
    ep: &Arc<E>,
    req: Request,
    keys: &IdempotencyKeys,
    scope: &str,
    key: &str,
) -> poem::Result<Response> {
    let response = match ep.call(req).await {
        Ok(r) => r.into_response(),
        Err(e) => catch_all(e).await,
    };
    let status = response.status();
    // An answer no one may store (a token) is not kept either: a retry asks anew.
    let no_store = response
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("no-store"));
    let discard = no_store
        || status.is_server_error()
        || matches!(
            status,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS
        );
    let keep = !discard;
    let (parts, body) = response.into_parts();
    let bytes = body.into_bytes().await?;
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .map(str::to_string)
    };
    let stored = if keep {
        let answer = Answer {
            status: status.as_u16(),
            content_type: header("content-type"),
            location: header("location"),
            body: String::from_utf8_lossy(&bytes).into_owned(),
        };
        keys.store_answer(scope, key, answer).await
    } else {
        keys.release(scope, key).await
    };
    if let Err(e) = stored {
        // The request itself succeeded; losing its stored answer only weakens a later retry.
        tracing::error!(error = %store::causes(&e), "could not store the answer for an idempotency key");
    }
    Ok(Response::from_parts(parts, Body::from(bytes)))
}

/// A keyed request's identity (its caller's scope, key and body, hashed), for the events it
/// records (`Metadata::idempotency`): a retry whose first attempt was recorded but not answered
/// (the answer was lost, or was a 5xx after the write, which releases the key) lands on the same
/// resource ids and finds those events instead of recording the request twice.
#[derive(Clone, Debug)]
pub(crate) struct RequestSeed(pub String);

fn seed_of(scope: &str, key: &str, request_hash: &str) -> RequestSeed {
    let mut hasher = Sha256::new();
    for part in [scope, key, request_hash] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    RequestSeed(hex::encode(hasher.finalize()))
}

/// Whose keys these are: the caller's identity (the subject, with its issuer for a provider's
/// token) together with its organisations and roles. The subject alone is not enough: two
/// identity providers may both have a `kari`, and a replayed answer must never cross from one
/// person, organisation or role to another.
fn scope_of(caller: &crate::http::auth::Caller) -> String {
    let mut orgs = caller.claims.orgs.clone();
    orgs.sort();
    let mut roles: Vec<String> = caller
        .claims
        .roles
        .iter()
        .map(|r| format!("{r:?}"))
        .collect();
    roles.sort();
    let mut hasher = Sha256::new();
    for part in [orgs.join("\n"), roles.join("\n")] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let digest = hex::encode(hasher.finalize());
    format!("{}#{}", caller.identity(), &digest[..16])
}

fn bearer(req: &Request) -> Option<&str> {
    req.headers()
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

fn request_hash(req: &Request, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(req.method().as_str());
    hasher.update(b"\n");
    hasher.update(req.uri().path_and_query().map_or("", |p| p.as_str()));
    hasher.update(b"\n");
    hasher.update(body);
    hex::encode(hasher.finalize())
}
