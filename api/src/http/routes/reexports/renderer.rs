//! How an external renderer's report on its job is recorded. What a re-export may ask, and how
//! its refusals read, is `domain::reexport`'s.

use commands::reexports::{self as command, RendererUpdate};
use projections::exports::ExportRow;
use store::Metadata;

use crate::http::auth::Caller;
use crate::http::problem::ApiError;
use crate::http::state::AppState;

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
    .map_err(Into::into)
}
