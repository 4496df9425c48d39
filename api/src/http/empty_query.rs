//! An optional query parameter sent empty (`?period_from=&org_id=`, as an HTML form or a client
//! that fills every parameter sends it) means "not given", for every type: dates and enums as
//! much as text. poem-openapi would parse the empty text as the type and answer 400 for a date;
//! taking such pairs out of the query before routing makes every operation read them as absent.

use std::sync::Arc;

use poem::http::Uri;
use poem::http::uri::PathAndQuery;
use poem::{Endpoint, IntoResponse, Request, Response};

/// The query without its empty pairs (`a=`, a bare `a`); `None` when it has none.
fn without_empty_pairs(query: &str) -> Option<String> {
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.is_empty() && pair.split_once('=').is_some_and(|(_, v)| !v.is_empty()))
        .collect();
    let unchanged = kept.len() == query.split('&').count();
    (!unchanged).then(|| kept.join("&"))
}

pub async fn around<E: Endpoint>(ep: Arc<E>, mut req: Request) -> poem::Result<Response> {
    if let Some(query) = req.uri().query().and_then(without_empty_pairs) {
        let path = req.uri().path();
        let path_and_query = if query.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{query}")
        };
        if let Ok(path_and_query) = PathAndQuery::try_from(path_and_query) {
            let mut parts = req.uri().clone().into_parts();
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
    use super::without_empty_pairs;

    #[test]
    fn empty_pairs_are_taken_out_and_the_rest_kept_in_order() {
        assert_eq!(without_empty_pairs("org_id=a&status=queued"), None);
        assert_eq!(
            without_empty_pairs("period_from=&org_id=a&status").as_deref(),
            Some("org_id=a")
        );
        assert_eq!(
            without_empty_pairs("period_from=&org_id=").as_deref(),
            Some("")
        );
        assert_eq!(without_empty_pairs("a=1&&b=2").as_deref(), Some("a=1&b=2"));
        // A value that is only an encoded space is a value, for the operation to judge.
        assert_eq!(without_empty_pairs("metric=%20"), None);
    }
}
