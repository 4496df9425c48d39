//! `GET /metrics`: the process's Prometheus registry as text (`crate::http::metrics` says what
//! is in it), outside the OpenAPI spec.

use poem::web::Data;
use poem::{Response, handler};

use crate::http::metrics::{PROJECTION_LAG, install};
use crate::http::state::AppState;

/// `GET /metrics`. The projections' lag is read now: it is the log's state, not this process's.
#[handler]
pub async fn scrape(state: Data<&AppState>) -> Response {
    let handle = install();
    match state.projections.lag().await {
        Ok(lags) => {
            for lag in lags {
                metrics::gauge!(PROJECTION_LAG, "projection" => lag.name.as_str())
                    .set(lag.behind as f64);
            }
        }
        // The rest of the scrape is still worth having; the stale gauges say the last known lag.
        Err(e) => {
            tracing::warn!(error = %store::causes(&e), "could not read projection lag for /metrics")
        }
    }
    Response::builder()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(handle.render())
}
