//! Prometheus metrics, served as text at `GET /metrics`.
//!
//! The registry is the process-wide recorder of the `metrics` facade: the store, the workers and
//! the Bufdir client record into it without being handed anything, and only this crate decides
//! how it is exported. `/metrics` has no authentication, so it must be reachable only from the
//! scraper (keep it off the public ingress).
//!
//! Series (names are the contract dashboards and alerts are built on):
//!
//! | name | type | labels |
//! |---|---|---|
//! | `http_requests_total` | counter | `method`, `route` (the route template), `status` |
//! | `http_request_duration_seconds` | histogram | `method`, `route` |
//! | `eventstore_events_appended_total` | counter | `category` |
//! | `projection_lag_events` | gauge | `projection` |
//! | `worker_steps_total` | counter | `worker`, `outcome` (`worked`, `idle`, `error`) |
//! | `sse_subscribers` | gauge | |
//! | `bufdir_api_calls_total` | counter | `operation`, `outcome` (`ok`, `4xx`, `5xx`, `timeout`, `error`) |

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use poem::http::StatusCode;

pub const HTTP_REQUESTS: &str = "http_requests_total";
pub(crate) const HTTP_DURATION: &str = "http_request_duration_seconds";
pub(crate) const PROJECTION_LAG: &str = "projection_lag_events";
pub(crate) const SSE_SUBSCRIBERS: &str = "sse_subscribers";
// Recorded in other crates, which do not depend on this one; described here so the scrape
// explains them.
const EVENTS_APPENDED: &str = "eventstore_events_appended_total";
const WORKER_STEPS: &str = "worker_steps_total";
const BUFDIR_CALLS: &str = "bufdir_api_calls_total";

/// From 1 ms to 10 s: most answers take milliseconds, a write waits up to 2 s for its read
/// models and a submit up to `BUFDIR_SUBMIT_WAIT_MS` (10 s) for Bufdir.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Histogram samples pile up between scrapes until folded into buckets; without a scraper
/// nothing else would fold them.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The process's recorder, installed on first use. Several apps in one process (tests) share it.
pub fn install() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), LATENCY_BUCKETS)
            .expect("the latency buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if let Err(e) = metrics::set_global_recorder(recorder) {
            tracing::warn!(error = %store::causes(&e), "another metrics recorder is installed; /metrics stays empty");
        }
        describe();
        let upkeep = handle.clone();
        // A thread rather than a task: the first runtime to get here (a test's) may end first.
        std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP_EVERY);
                    upkeep.run_upkeep();
                }
            })
            .expect("spawn the metrics upkeep thread");
        handle
    })
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by route template, method and status"
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time to the response head (for SSE: until the stream opens)"
    );
    describe_counter!(
        EVENTS_APPENDED,
        "Events in successful appends to the event log, by stream category"
    );
    describe_gauge!(
        PROJECTION_LAG,
        "Events a projection has still to apply (counted up to 1000), as of the scrape"
    );
    describe_counter!(
        WORKER_STEPS,
        "Worker steps by worker and outcome (worked, idle, error)"
    );
    describe_gauge!(SSE_SUBSCRIBERS, "Open watch (SSE) streams");
    describe_counter!(
        BUFDIR_CALLS,
        "HTTP attempts to Bufdir's API (each retry counts) by operation and outcome"
    );
}

/// One answered request. `route` must be a template or another bounded label, never a raw path.
pub(crate) fn record_request(method: &str, route: &str, status: StatusCode, elapsed: Duration) {
    let (method, route) = (method.to_string(), route.to_string());
    metrics::counter!(
        HTTP_REQUESTS,
        "method" => method.clone(),
        "route" => route.clone(),
        "status" => status.as_u16().to_string()
    )
    .increment(1);
    metrics::histogram!(HTTP_DURATION, "method" => method, "route" => route)
        .record(elapsed.as_secs_f64());
}

/// Counts an SSE stream in `sse_subscribers` for as long as it lives, however it ends.
pub(crate) struct OpenStream(());

impl OpenStream {
    pub fn start() -> Self {
        metrics::gauge!(SSE_SUBSCRIBERS).increment(1.0);
        OpenStream(())
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        metrics::gauge!(SSE_SUBSCRIBERS).decrement(1.0);
    }
}
