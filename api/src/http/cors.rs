//! CORS for browser front ends served from another origin (`CORS_ALLOWED_ORIGINS`).
//!
//! Written here rather than taken from poem: a preflight must name the methods of the path it
//! asks about, and those come from the same table as `Allow` ([`AllowedMethods`]), so what a
//! browser is told may be sent never disagrees with the spec. Tokens are bearer tokens, not
//! cookies, so credentials mode is never allowed. An origin that is not listed gets nothing: no
//! CORS header on its answers, and its preflights are answered as any `OPTIONS` is.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use poem::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN,
    VARY,
};
use poem::http::{HeaderValue, Method, StatusCode};
use poem::{Endpoint, IntoResponse, PathPattern, Request, Response};

use crate::http::http_semantics::AllowedMethods;
use crate::http::problem::catch_all;

/// The request headers a front end sends beyond the safelisted ones: the token, JSON bodies,
/// retries, SSE resumption and its own request id.
const ALLOW_HEADERS: &str =
    "Authorization, Content-Type, Idempotency-Key, Last-Event-ID, X-Request-Id";
/// The answer headers a front end reads: where a created resource or a job is, when to come
/// back, the id to quote in a support request, and whether an answer was a replay.
const EXPOSE_HEADERS: &str = "Location, Retry-After, X-Request-Id, Idempotent-Replayed";
/// How long a browser may reuse a preflight, in seconds: long enough to spare a round trip per
/// request, short enough that a changed configuration is seen within minutes.
const MAX_AGE: &str = "600";
/// The route label of preflights in the request metrics: one series for all of them, so that
/// preflights for made-up ids (they need no token) cannot mint a series each.
const PREFLIGHT_ROUTE: &str = "CORS preflight";

/// An origin as a browser sends it in `Origin`: `scheme://host[:port]`, lowercase, without the
/// scheme's default port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin(String);

#[derive(Debug, thiserror::Error)]
#[error(
    "{given:?} is not an origin: {reason}; an origin is scheme://host[:port], as browsers send it \
     in the Origin header (for example http://127.0.0.1:5173)"
)]
pub struct InvalidOrigin {
    given: String,
    reason: String,
}

impl FromStr for Origin {
    type Err = InvalidOrigin;

    fn from_str(given: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: &str| InvalidOrigin {
            given: given.to_string(),
            reason: reason.to_string(),
        };
        let trimmed = given.trim();
        if trimmed.is_empty() {
            return Err(invalid("it is empty (a stray comma?)"));
        }
        if trimmed == "*" || trimmed == "null" {
            return Err(invalid("each allowed origin must be named"));
        }
        let url = url::Url::parse(trimmed).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be http or https"));
        }
        if url.host().is_none() {
            return Err(invalid("it has no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("it has a user name or password"));
        }
        // The parser gives every http URL the path `/`; a lone trailing slash is what people
        // copy from the address bar, and it names the same origin.
        if url.path() != "/" {
            return Err(invalid(&format!("it has a path ({})", url.path())));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("it has a query or fragment"));
        }
        Ok(Origin(url.origin().ascii_serialization()))
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The allowed origins and the methods of every path.
pub struct Cors {
    origins: Vec<Origin>,
    methods: Arc<AllowedMethods>,
}

impl Cors {
    pub fn new(origins: Vec<Origin>, methods: Arc<AllowedMethods>) -> Self {
        Cors { origins, methods }
    }

    /// The request's `Origin`, when it is one of ours.
    fn allowed_origin(&self, req: &Request) -> Option<HeaderValue> {
        let origin = req.headers().get(ORIGIN)?;
        self.origins
            .iter()
            .any(|o| o.0.as_bytes() == origin.as_bytes())
            .then(|| origin.clone())
    }

    /// The preflight's answer, when the path takes the method asked about.
    fn preflight(&self, req: &Request, origin: HeaderValue) -> Option<Response> {
        let asked = req
            .headers()
            .get(ACCESS_CONTROL_REQUEST_METHOD)?
            .to_str()
            .ok()?;
        let methods = self.methods.allow(req.uri().path())?;
        let takes = methods.to_str().ok()?.split(',').any(|m| m.trim() == asked);
        if !takes {
            return None;
        }
        let mut response = Response::builder()
            .status(StatusCode::NO_CONTENT)
            .header(ACCESS_CONTROL_ALLOW_ORIGIN, origin)
            .header(VARY, "Origin")
            .header(ACCESS_CONTROL_ALLOW_METHODS, methods.clone())
            .header(ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS)
            .header(ACCESS_CONTROL_MAX_AGE, MAX_AGE)
            .finish();
        response.set_data(PathPattern(Arc::from(PREFLIGHT_ROUTE)));
        Some(response)
    }
}

pub async fn around<E: Endpoint>(
    ep: Arc<E>,
    cors: Arc<Cors>,
    req: Request,
) -> poem::Result<Response> {
    let origin = cors.allowed_origin(&req);
    if let Some(origin) = &origin
        && req.method() == Method::OPTIONS
        && let Some(answer) = cors.preflight(&req, origin.clone())
    {
        return Ok(answer);
    }
    // A preflight the path does not allow goes on as a plain OPTIONS (405 or 404, with `Allow`
    // where the path exists) and gets no CORS header below, so the browser refuses the request.
    let is_preflight = req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD)
        && req.method() == Method::OPTIONS;
    let mut response = match ep.call(req).await {
        Ok(r) => r.into_response(),
        Err(e) => catch_all(e).await,
    };
    if let Some(origin) = origin
        && !is_preflight
    {
        let headers = response.headers_mut();
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        // Appended: an answer may vary on other request headers already.
        headers.append(VARY, HeaderValue::from_static("Origin"));
        headers.insert(
            ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE_HEADERS),
        );
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(s: &str) -> Result<String, String> {
        s.parse::<Origin>()
            .map(|o| o.to_string())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn origins_are_kept_as_browsers_send_them() {
        assert_eq!(
            origin("http://127.0.0.1:5173").unwrap(),
            "http://127.0.0.1:5173"
        );
        assert_eq!(
            origin(" https://App.Example.no ").unwrap(),
            "https://app.example.no"
        );
        assert_eq!(
            origin("https://app.example.no:443").unwrap(),
            "https://app.example.no"
        );
        assert_eq!(origin("http://[::1]:3000/").unwrap(), "http://[::1]:3000");
    }

    #[test]
    fn what_is_not_an_origin_is_refused_with_the_reason() {
        for (given, reason) in [
            ("http://127.0.0.1:5173/app", "it has a path (/app)"),
            ("https://a.example?x=1", "query or fragment"),
            ("ftp://a.example", "http or https"),
            ("*", "must be named"),
            ("null", "must be named"),
            ("", "empty"),
            ("a.example:5173", "http or https"),
            ("127.0.0.1:5173", "relative URL without a base"),
            ("https://user:pw@a.example", "user name or password"),
        ] {
            let err = origin(given).unwrap_err();
            assert!(err.contains(reason), "{given:?}: {err}");
            assert!(err.contains("scheme://host[:port]"), "{given:?}: {err}");
        }
    }
}
