//! The HTTP operations, one file per resource.

pub mod audit;
pub(crate) mod bufdir_api;
pub mod deadlines;
pub mod downloads;
pub mod exports;
pub(crate) mod health;
pub mod metrics;
pub mod organizations;
pub mod reexports;
pub mod report_data;
pub mod report_diffs;
pub mod report_history;
pub mod sign_offs;
pub mod source_records;
pub mod watch;
pub mod webhooks;

pub use crate::http::pagination::{PageParams, Pagination};

use poem_openapi::Tags;

use crate::http::problem::{ApiError, FieldError};

#[derive(Tags)]
pub(crate) enum ApiTags {
    /// The organisations that report to Bufdir.
    Organizations,
    /// Source records: the organisations' own activity and case data.
    SourceRecords,
    /// Aggregated report data: snapshots per organisation and period, and the live watch.
    AggregatedReportData,
    /// Validation, authentication and submission to Bufdir's external API.
    #[oai(rename = "Bufdir")]
    BufdirApi,
    /// Export jobs: reports rendered to Excel, CSV, PDF or the Bufdir JSON payload.
    BufdirExports,
    /// Every report made, with its file, kept for the retention period.
    ReportHistory,
    /// Re-exports: a report regenerated from the log as it stood when it was made.
    ReportReexports,
    /// Liveness and readiness.
    Health,
    /// The event log, for auditors.
    Audit,
}

/// Request metadata that goes into every event a request causes.
pub fn metadata(caller: &crate::http::auth::Caller, req: &poem::Request) -> store::Metadata {
    // Set by `observe::around` for every request (the client's if sane, else generated), so the
    // events carry the id the response and the logs carry.
    let request_id = req
        .header(crate::http::request_id::REQUEST_ID)
        .map(str::to_string);
    store::Metadata {
        correlation_id: Some(uuid::Uuid::now_v7()),
        causation_id: None,
        actor: Some(caller.actor()),
        request_id,
        recorded_at: None,
        idempotency: req
            .extensions()
            .get::<crate::http::idempotency::RequestSeed>()
            .map(|s| s.0.clone()),
        issuer: caller.issuer.clone(),
        person: caller.person.clone(),
    }
}

/// The base of links handed out (download links): `PUBLIC_BASE_URL`, else the request's host.
pub fn base_url(state: &crate::http::state::AppState, req: &poem::Request) -> String {
    if let Some(url) = &state.public_url {
        return url.trim_end_matches('/').to_string();
    }
    let host = req.header("host").unwrap_or("localhost");
    format!("http://{host}")
}

/// An `as_of` query value: `position:N` (a log position, as `audit replay --as-of` takes it) or
/// an RFC 3339 time.
pub(crate) fn parse_as_of(text: &str) -> Result<commands::as_of::AsOf, ApiError> {
    let bad = || {
        ApiError::invalid(vec![FieldError::new(
            "as_of",
            "invalid_as_of",
            "as_of is position:N (a log position) or an RFC 3339 time",
        )])
    };
    match text.strip_prefix("position:") {
        Some(n) => Ok(commands::as_of::AsOf::Position(
            n.parse().map_err(|_| bad())?,
        )),
        None => Ok(commands::as_of::AsOf::Time(
            chrono::DateTime::parse_from_rfc3339(text)
                .map_err(|_| bad())?
                .with_timezone(&chrono::Utc),
        )),
    }
}
