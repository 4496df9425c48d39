//! An optional query parameter sent empty (`?period_from=&org_id=`, as an HTML form or a client
//! that fills every parameter sends it) means "not given", for every type: dates and enums as
//! much as text. poem-openapi would parse the empty text as the type and answer 400 for a date;
//! taking such pairs out of the query before routing makes every operation read them as absent.
//! A required parameter keeps its empty value: the operation judges it, as the spec says.

use std::sync::Arc;

use poem::http::uri::PathAndQuery;
use poem::http::{Method, Uri};
use poem::{Endpoint, IntoResponse, Request, Response};

use crate::http::path_template::{PathTemplate, best_match};

/// The required query parameters of each operation, read from the spec.
pub struct RequiredQuery(Vec<Operation>);

struct Operation {
    method: Method,
    path: PathTemplate,
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
                operations.push(Operation {
                    method,
                    path: PathTemplate::parse(path),
                    names,
                });
            }
        }
        RequiredQuery(operations)
    }

    fn of(&self, method: &Method, path: &str) -> &[String] {
        let of_method = self.0.iter().filter(|op| op.method == method);
        best_match(of_method.map(|op| (&op.path, op.names.as_slice())), path).unwrap_or(&[])
    }
}

/// The query without its empty pairs (`a=`, a bare `a`) but for those named in `required`;
/// `None` when nothing is taken out.
fn without_empty_pairs(query: &str, required: &[String]) -> Option<String> {
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| match empty_value_of(pair) {
            Some(name) => !name.is_empty() && required.iter().any(|r| r == name),
            None => true,
        })
        .collect();
    let unchanged = kept.len() == query.split('&').count();
    (!unchanged).then(|| kept.join("&"))
}

/// The name of a pair without a value (`a=`, a bare `a`, or the nothing between `&&`).
fn empty_value_of(pair: &str) -> Option<&str> {
    match pair.split_once('=') {
        Some((name, "")) => Some(name),
        Some(_) => None,
        None => Some(pair),
    }
}

pub async fn around<E: Endpoint>(
    ep: Arc<E>,
    required: Arc<RequiredQuery>,
    mut req: Request,
) -> poem::Result<Response> {
    let uri = req.uri();
    // Most requests have no empty pair: only those look their operation up.
    let query = uri
        .query()
        .filter(|q| q.split('&').any(|pair| empty_value_of(pair).is_some()))
        .and_then(|q| without_empty_pairs(q, required.of(req.method(), uri.path())));
    if let Some(query) = query {
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
