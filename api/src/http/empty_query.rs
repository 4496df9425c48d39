//! An optional query parameter sent empty (`?period_from=&org_id=`, as an HTML form or a client
//! that fills every parameter sends it) means "not given", for every type: dates and enums as
//! much as text. poem-openapi would parse the empty text as the type and answer 400 for a date;
//! taking such pairs out of the query before routing makes every operation read them as absent.
//! A required parameter keeps its empty value: the operation judges it, as the spec says.

use std::sync::Arc;

use poem::http::uri::PathAndQuery;
use poem::http::{Method, Uri};
use poem::{Endpoint, IntoResponse, Request, Response};

/// The required query parameters of each operation, read from the spec.
pub struct RequiredQuery(Vec<Operation>);

struct Operation {
    method: Method,
    /// The path template's segments; `None` stands for a `{parameter}`.
    segments: Vec<Option<String>>,
    names: Vec<String>,
}

impl RequiredQuery {
    pub fn from_spec(spec_json: &str) -> Self {
        let spec: serde_json::Value = serde_json::from_str(spec_json).unwrap_or_default();
        let mut operations = Vec::new();
        for (path, item) in spec["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                let names: Vec<String> = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["in"] == "query" && p["required"] == true)
                    .filter_map(|p| p["name"].as_str().map(str::to_string))
                    .collect();
                let Ok(method) = Method::from_bytes(method.to_uppercase().as_bytes()) else {
                    continue;
                };
                if names.is_empty() {
                    continue;
                }
                let segments = path
                    .split('/')
                    .map(|s| (!s.starts_with('{')).then(|| s.to_string()))
                    .collect();
                operations.push(Operation {
                    method,
                    segments,
                    names,
                });
            }
        }
        RequiredQuery(operations)
    }

    fn of(&self, method: &Method, path: &str) -> &[String] {
        let segments: Vec<&str> = path.split('/').collect();
        self.0
            .iter()
            .find(|op| {
                op.method == method
                    && op.segments.len() == segments.len()
                    && op
                        .segments
                        .iter()
                        .zip(&segments)
                        .all(|(t, s)| t.as_deref().is_none_or(|t| t == *s))
            })
            .map_or(&[], |op| &op.names)
    }
}

/// The query without its empty pairs (`a=`, a bare `a`) but for those named in `required`;
/// `None` when nothing is taken out.
fn without_empty_pairs(query: &str, required: &[String]) -> Option<String> {
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            !pair.is_empty() && (!value.is_empty() || required.iter().any(|r| r == name))
        })
        .collect();
    let unchanged = kept.len() == query.split('&').count();
    (!unchanged).then(|| kept.join("&"))
}

pub async fn around<E: Endpoint>(
    ep: Arc<E>,
    required: Arc<RequiredQuery>,
    mut req: Request,
) -> poem::Result<Response> {
    let uri = req.uri();
    let keep = required.of(req.method(), uri.path());
    if let Some(query) = uri.query().and_then(|q| without_empty_pairs(q, keep)) {
        let path = uri.path();
        let path_and_query = if query.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{query}")
        };
        if let Ok(path_and_query) = PathAndQuery::try_from(path_and_query) {
            let mut parts = uri.clone().into_parts();
            parts.path_and_query = Some(path_and_query);
            if let Ok(uri) = Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    ep.call(req).await.map(IntoResponse::into_response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_pairs_are_taken_out_and_the_rest_kept_in_order() {
        assert_eq!(without_empty_pairs("org_id=a&status=queued", &[]), None);
        assert_eq!(
            without_empty_pairs("period_from=&org_id=a&status", &[]).as_deref(),
            Some("org_id=a")
        );
        assert_eq!(
            without_empty_pairs("period_from=&org_id=", &[]).as_deref(),
            Some("")
        );
        assert_eq!(
            without_empty_pairs("a=1&&b=2", &[]).as_deref(),
            Some("a=1&b=2")
        );
        // A value that is only an encoded space is a value, for the operation to judge.
        assert_eq!(without_empty_pairs("metric=%20", &[]), None);
    }

    #[test]
    fn a_required_parameter_keeps_its_empty_value() {
        let required = ["organization_id".to_string()];
        assert_eq!(
            without_empty_pairs("organization_id=&period_id=", &required).as_deref(),
            Some("organization_id=")
        );
    }

    #[test]
    fn the_required_parameters_are_read_from_the_spec_per_operation() {
        let spec = r#"{"paths": {
            "/api/v1/watch": {"get": {"parameters": [
                {"name": "organization_id", "in": "query", "required": true},
                {"name": "lang", "in": "query", "required": false}]}},
            "/api/v1/things/{id}": {"get": {"parameters": [
                {"name": "id", "in": "path", "required": true},
                {"name": "as_of", "in": "query", "required": true}]}}
        }}"#;
        let required = RequiredQuery::from_spec(spec);
        assert_eq!(
            required.of(&Method::GET, "/api/v1/watch"),
            ["organization_id"]
        );
        assert!(required.of(&Method::POST, "/api/v1/watch").is_empty());
        assert_eq!(required.of(&Method::GET, "/api/v1/things/t_1"), ["as_of"]);
        assert!(required.of(&Method::GET, "/api/v1/things").is_empty());
    }
}
