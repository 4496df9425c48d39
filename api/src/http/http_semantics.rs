//! A 405 names the methods the path does take in `Allow` (RFC 9110 §15.5.6), as does an answer
//! to `OPTIONS`; they are read from the OpenAPI spec (and the few plain routes beside it), so
//! they can never disagree with it.

use std::sync::Arc;

use poem::http::{HeaderValue, Method, StatusCode};
use poem::{Endpoint, IntoResponse, Request, Response};

use crate::http::path_template::{PathTemplate, best_match};
use crate::http::problem::catch_all;

/// One path template (`/api/v1/report-history/{report_id}`) and the methods it takes.
struct Template {
    path: PathTemplate,
    allow: HeaderValue,
}

/// The methods of every path the service answers.
pub struct AllowedMethods(Vec<Template>);

impl AllowedMethods {
    /// From the spec's `paths` (JSON), plus plain routes as `(template, methods)`.
    pub(crate) fn from_spec(spec_json: &str, plain: &[(&str, &[&str])]) -> Self {
        let spec: serde_json::Value = serde_json::from_str(spec_json).unwrap_or_default();
        let mut routes: Vec<(String, Vec<String>)> = spec["paths"]
            .as_object()
            .map(|paths| {
                paths
                    .iter()
                    .map(|(path, ops)| {
                        let methods = ops
                            .as_object()
                            .map(|o| o.keys().map(|m| m.to_ascii_uppercase()).collect())
                            .unwrap_or_default();
                        (path.clone(), methods)
                    })
                    .collect()
            })
            .unwrap_or_default();
        routes.extend(
            plain
                .iter()
                .map(|(p, m)| (p.to_string(), m.iter().map(|m| m.to_string()).collect())),
        );
        let templates = routes
            .into_iter()
            .map(|(path, mut methods)| {
                // poem answers HEAD for every GET route.
                if methods.iter().any(|m| m == "GET") {
                    methods.push("HEAD".into());
                }
                methods.sort();
                methods.dedup();
                Template {
                    path: PathTemplate::parse(&path),
                    allow: HeaderValue::from_str(&methods.join(", "))
                        .unwrap_or(HeaderValue::from_static("GET")),
                }
            })
            .collect();
        AllowedMethods(templates)
    }

    /// The `Allow` value of `path`; a literal segment beats a variable one, as in the router.
    pub(crate) fn allow(&self, path: &str) -> Option<&HeaderValue> {
        best_match(self.0.iter().map(|t| (&t.path, &t.allow)), path)
    }
}

pub async fn around<E: Endpoint>(
    ep: Arc<E>,
    allowed: Arc<AllowedMethods>,
    req: Request,
) -> poem::Result<Response> {
    let path = req.uri().path().to_string();
    let method_is_options = req.method() == Method::OPTIONS;
    let mut response = match ep.call(req).await {
        Ok(r) => r.into_response(),
        Err(e) => catch_all(e).await,
    };
    if (response.status() == StatusCode::METHOD_NOT_ALLOWED || method_is_options)
        && let Some(allow) = allowed.allow(&path)
    {
        response.headers_mut().insert("Allow", allow.clone());
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> AllowedMethods {
        let spec = r#"{"paths": {
            "/api/v1/report-history": {"get": {}, "post": {}},
            "/api/v1/report-history/{report_id}": {"get": {}, "put": {}, "delete": {}},
            "/api/v1/report-history/{report_id}/upload": {"put": {}},
            "/api/v1/aggregated-report-data/watch": {"get": {}},
            "/api/v1/aggregated-report-data/{id}": {"get": {}, "put": {}, "delete": {}}
        }}"#;
        AllowedMethods::from_spec(spec, &[("/metrics", &["GET"])])
    }

    #[test]
    fn allow_names_the_methods_of_the_matching_template() {
        let t = table();
        assert_eq!(
            t.allow("/api/v1/report-history").unwrap(),
            "GET, HEAD, POST"
        );
        assert_eq!(
            t.allow("/api/v1/report-history/rpt_1").unwrap(),
            "DELETE, GET, HEAD, PUT"
        );
        assert_eq!(
            t.allow("/api/v1/report-history/rpt_1/upload").unwrap(),
            "PUT"
        );
        assert_eq!(t.allow("/metrics").unwrap(), "GET, HEAD");
        // The literal segment wins over the variable one.
        assert_eq!(
            t.allow("/api/v1/aggregated-report-data/watch").unwrap(),
            "GET, HEAD"
        );
        assert!(t.allow("/api/v1/nothing").is_none());
        assert!(t.allow("/api/v1/report-history/").is_none());
    }
}
