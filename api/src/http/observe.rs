//! The outermost middleware: gives every request an id (the client's `X-Request-Id` if sane,
//! else a new UUIDv7), puts it in the request's tracing span, in problem documents and in the
//! response's `X-Request-Id`, turns errors into problem+json, and counts the request by route
//! template.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use poem::PathPattern;
use poem::http::{HeaderValue, Method, StatusCode};
use poem::{Endpoint, IntoResponse, Request, Response};
use tracing::Instrument;

use crate::http::problem::catch_all;
use crate::http::request_id::{self, REQUEST_ID};

const MAX_REQUEST_ID: usize = 128;

/// What a client may choose: it goes into logs, events and headers, so nothing that could forge
/// a log line or bloat them.
fn is_sane(id: &str) -> bool {
    (1..=MAX_REQUEST_ID).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

pub async fn around<E: Endpoint>(
    ep: Arc<E>,
    routes: Arc<RouteLabels>,
    mut req: Request,
) -> poem::Result<Response> {
    let id = req
        .header(REQUEST_ID)
        .filter(|id| is_sane(id))
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_string);
    let header = HeaderValue::from_str(&id).expect("a sane or generated id is a header value");
    // Handlers copy this header into the metadata of the events they cause: they see the id we
    // answer with, also when we made it up.
    req.headers_mut().insert(REQUEST_ID, header.clone());
    let method = method_label(req.method());
    let path = req.uri().path().to_string();
    let started = Instant::now();
    // The span carries the request into every line a handler logs; the request itself is logged
    // at debug, because at info one line per request costs a quarter of a cheap read's time.
    let span = tracing::info_span!("request", request_id = %id, method, path = %path);
    let mut response = request_id::scope(id, async move {
        let response = match ep.call(req).await {
            Ok(r) => r.into_response(),
            Err(e) => catch_all(e).await,
        };
        // Inside the span, which names the request.
        tracing::debug!(
            status = response.status().as_u16(),
            duration_ms = started.elapsed().as_secs_f64() * 1000.0,
            "answered"
        );
        response
    })
    .instrument(span)
    .await;
    let route = routes.label(&response, &path);
    let elapsed = started.elapsed();
    crate::http::metrics::record_request(method, &route, response.status(), elapsed);
    response.headers_mut().insert(REQUEST_ID, header);
    Ok(response)
}

/// Clients may send any token as a method; only the standard ones get a series of their own.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The route labels of the API's operations: poem-openapi routes `/exports/{export_id}` as
/// `/exports/:param0`; labels read like the spec, `/exports/:export_id`.
pub(crate) struct RouteLabels(HashMap<String, String>);

impl RouteLabels {
    pub fn of(apis: Vec<poem_openapi::registry::MetaApi>) -> Self {
        let labels = apis
            .into_iter()
            .flat_map(|api| api.paths)
            .map(|path| {
                let (mut routed, mut readable) = (String::new(), String::new());
                let mut params = 0;
                for segment in path.path.split('/').filter(|s| !s.is_empty()) {
                    match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                        Some(name) => {
                            routed.push_str(&format!("/:param{params}"));
                            readable.push_str(&format!("/:{name}"));
                            params += 1;
                        }
                        None => {
                            routed.push_str(&format!("/{segment}"));
                            readable.push_str(&format!("/{segment}"));
                        }
                    }
                }
                (routed, readable)
            })
            .collect();
        RouteLabels(labels)
    }

    /// The route template the router matched. Without one, the request was answered before
    /// routing: an idempotent replay (or the idempotency layer's own 409/422) for an
    /// authenticated caller is labelled by its path with ids taken out; the rest (unknown paths,
    /// refusals before routing) share one label, so that requests for made-up paths cannot mint
    /// a series each.
    fn label(&self, response: &Response, path: &str) -> String {
        // The catch-all nest (`/`) leaves an empty pattern on what no route inside it matched.
        if let Some(PathPattern(pattern)) =
            response.data::<PathPattern>().filter(|p| !p.0.is_empty())
        {
            return self
                .0
                .get(&**pattern)
                .cloned()
                .unwrap_or_else(|| pattern.to_string());
        }
        match response.status() {
            StatusCode::NOT_FOUND
            | StatusCode::BAD_REQUEST
            | StatusCode::PAYLOAD_TOO_LARGE
            | StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "unmatched".into(),
            _ => normalise(path),
        }
    }
}

/// `/api/v1/bufdir-exports/exp_01j.../retry` -> `/api/v1/bufdir-exports/:id/retry`.
fn normalise(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if looks_like_id(segment) {
                ":id"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Our ids (`prefix_` + ULID), numbers and UUIDs.
fn looks_like_id(segment: &str) -> bool {
    let ulid = |s: &str| s.len() == 26 && s.bytes().all(|b| b.is_ascii_alphanumeric());
    let uuid = |s: &str| s.len() == 36 && uuid::Uuid::try_parse(s).is_ok();
    (!segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()))
        || segment.rsplit_once('_').is_some_and(|(_, rest)| ulid(rest))
        || uuid(segment)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_in_paths_are_replaced() {
        assert_eq!(
            normalise("/api/v1/bufdir-exports/exp_01jabcdefghjkmnpqrstvwxyz0/retry"),
            "/api/v1/bufdir-exports/:id/retry"
        );
        assert_eq!(
            normalise("/api/v1/x/42/y/0190a6e2-7b3c-7d4e-8f00-123456789abc"),
            "/api/v1/x/:id/y/:id"
        );
        assert_eq!(
            normalise("/api/v1/organizations/org-demo/webhook"),
            "/api/v1/organizations/org-demo/webhook"
        );
    }

    #[test]
    fn only_sane_request_ids_are_taken() {
        assert!(is_sane("req-42.a_B"));
        assert!(is_sane(&"a".repeat(128)));
        assert!(!is_sane(&"a".repeat(129)));
        assert!(!is_sane(""));
        assert!(!is_sane("a b"));
        assert!(!is_sane("a\nb"));
        assert!(!is_sane("æøå"));
    }
}
