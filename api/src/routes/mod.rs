//! The HTTP operations, one file per resource.

pub mod audit;
pub mod bufdir_api;
pub mod downloads;
pub mod exports;
pub mod health;
pub mod organizations;
pub mod reexports;
pub mod report_data;
pub mod report_history;
pub mod source_records;
pub mod watch;
pub mod webhooks;

pub use crate::pagination::{PageParams, Pagination};

use poem_openapi::Tags;

#[derive(Tags)]
pub enum ApiTags {
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
pub fn metadata(caller: &crate::auth::Caller, req: &poem::Request) -> store::Metadata {
    // Set by `observe::around` for every request (the client's if sane, else generated), so the
    // events carry the id the response and the logs carry.
    let request_id = req.header(crate::observe::REQUEST_ID).map(str::to_string);
    store::Metadata {
        correlation_id: Some(uuid::Uuid::now_v7()),
        causation_id: None,
        actor: Some(caller.actor()),
        request_id,
        recorded_at: None,
        idempotency: req
            .extensions()
            .get::<crate::idempotency::RequestSeed>()
            .map(|s| s.0.clone()),
        issuer: caller.issuer.clone(),
        person: caller.person.clone(),
    }
}

/// The base of links handed out (download links): `PUBLIC_BASE_URL`, else the request's host.
pub fn base_url(state: &crate::state::AppState, req: &poem::Request) -> String {
    if let Some(url) = &state.public_url {
        return url.trim_end_matches('/').to_string();
    }
    let host = req.header("host").unwrap_or("localhost");
    format!("http://{host}")
}

/// Runs `command` on an aggregate's stream as the caller, maps a refusal with `rejected` (the
/// rest of a command's failures map the same for every command, [`command_failed`]), and waits
/// until `projection` shows the result, so the caller reads its own write.
pub async fn execute<A>(
    state: &crate::state::AppState,
    caller: &crate::auth::Caller,
    req: &poem::Request,
    stream: &str,
    projection: &str,
    command: A::Command,
    rejected: fn(A::Error) -> crate::problem::ApiError,
) -> Result<Vec<A::Event>, crate::problem::ApiError>
where
    A: domain::Aggregate,
    A::Command: Clone,
{
    let executed = commands::execute::<A>(
        state.db.events.as_ref(),
        stream,
        &metadata(caller, req),
        move || command.clone(),
    )
    .await
    .map_err(|e| crate::rejections::command_failed(e, rejected))?;
    if let Some(outcome) = &executed.outcome {
        state.wait_for(projection, &outcome.position).await?;
    }
    Ok(executed.events)
}
