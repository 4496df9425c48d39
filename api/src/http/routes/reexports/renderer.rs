//! How a re-export's refusals read (a queued job is `pending` to a renderer, so the export's
//! refusals are worded again here), and how an external renderer's report on its job is
//! recorded. What a re-export may ask is `domain::reexport`'s.

use domain::export::ExportError;

use commands::reexports::{self as command, RendererUpdate};
use projections::exports::ExportRow;
use store::Metadata;

use super::status_name;
use crate::http::auth::Caller;
use crate::http::problem::ApiError;
use crate::http::rejections::command_failed;
use crate::http::state::AppState;

/// A re-export's refusals, in its own words (a queued job is `pending` here).
pub(super) fn rejected(e: ExportError) -> ApiError {
    match e {
        ExportError::Unknown => ApiError::NotFound("re-export not found".into()),
        ExportError::NotCancellable(status) => ApiError::Conflict(format!(
            "the re-export is {}; only a pending or running re-export can be cancelled",
            status_name(status)
        )),
        ExportError::NotFinished(status) => ApiError::Conflict(format!(
            "the re-export is {}; a notification follows a completed or failed re-export",
            status_name(status)
        )),
        ExportError::NotRunnable(status) => ApiError::Conflict(format!(
            "the re-export is {}; it cannot run again",
            status_name(status)
        )),
        ExportError::NotFinishable(status) => ApiError::Conflict(format!(
            "the re-export is {}; only a pending or running one can complete or fail",
            status_name(status)
        )),
        ExportError::NotPending(status) => ApiError::Conflict(format!(
            "the re-export is {}; it cannot become pending again",
            status_name(status)
        )),
        ExportError::LostClaim(_) | ExportError::NotClaimable | ExportError::HeldByAnother => {
            ApiError::Conflict(
                "another renderer holds this re-export, or it is no longer running".into(),
            )
        }
        other => other.into(),
    }
}

/// Records what the external renderer (the caller) reports of `row`.
pub(super) async fn report_progress(
    state: &AppState,
    caller: &Caller,
    metadata: &Metadata,
    row: &ExportRow,
    update: RendererUpdate,
) -> Result<(), ApiError> {
    command::report_progress(
        &state.commands,
        metadata,
        row,
        // The lease is held by this caller: two providers' renderers with one `sub` are two.
        format!("external:{}", caller.identity()),
        update,
        state.services.exports.lease,
        state.services.exports.file_ttl,
    )
    .await
    .map_err(|e| command_failed(e, rejected))
}
