//! Who may do what: the role sets of the operations, and the one rule for every object an
//! operation names: it must exist and belong to one of the caller's organisations, else it is
//! "not found" (another organisation's object is indistinguishable from a missing one).

use domain::OrgId;
use projections::ProjectionError;
use projections::exports::{self, ExportRow};
use projections::organizations::{self, OrganizationRow};
use projections::report_queries::{self, SnapshotRow};
use projections::reports::{self, ReportRow};

use crate::http::auth::{Caller, Role};
use crate::http::problem::ApiError;
use crate::http::state::AppState;

/// Those who may change an organisation's data (source records, snapshots, exports, reports,
/// re-exports) and talk to Bufdir for it.
pub const WRITERS: &[Role] = &[Role::Reporter, Role::Admin, Role::Service];
/// Operations for the service's administrators only.
pub(crate) const ADMINS: &[Role] = &[Role::Admin];
/// External renderers of re-exports.
pub(crate) const RENDERERS: &[Role] = &[Role::Service];

/// The organisation, if it is registered and the caller's.
pub async fn org(state: &AppState, caller: &Caller, org_id: &str) -> Result<OrgId, ApiError> {
    let found = organization(state, org_id).await?;
    Ok(caller.scope(org_id, found, "organisation")?.org_id)
}

/// A live (not deleted) snapshot of the caller's.
pub async fn snapshot(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<SnapshotRow, ApiError> {
    let found = state
        .projections
        .cache()
        .read(
            |c| &c.snapshots,
            id,
            report_queries::snapshot(&state.db.read, id),
        )
        .await?;
    let owner = found
        .as_ref()
        .map(|s| s.org_id.to_string())
        .unwrap_or_default();
    caller.scope(&owner, found, "snapshot")
}

/// A live (not deleted) export of the caller's; re-exports are not exports here.
pub async fn export(state: &AppState, caller: &Caller, id: &str) -> Result<ExportRow, ApiError> {
    let found = export_row(state, id).await?.filter(|e| !e.deleted);
    let owner = found
        .as_ref()
        .map(|e| e.org_id.to_string())
        .unwrap_or_default();
    caller.scope(&owner, found, "export")
}

/// A live re-export of the caller's.
pub async fn reexport(state: &AppState, caller: &Caller, id: &str) -> Result<ExportRow, ApiError> {
    let found = export_row(state, id)
        .await?
        .filter(|e| !e.deleted && e.reexport_of.is_some());
    let owner = found
        .as_ref()
        .map(|e| e.org_id.to_string())
        .unwrap_or_default();
    caller.scope(&owner, found, "re-export")
}

/// A live (not deleted) report of the caller's.
pub async fn report(state: &AppState, caller: &Caller, id: &str) -> Result<ReportRow, ApiError> {
    let found = state
        .projections
        .cache()
        .read(|c| &c.reports, id, reports::get(&state.db.read, id))
        .await?
        .filter(|r| !r.deleted);
    let owner = found
        .as_ref()
        .map(|r| r.org_id.to_string())
        .unwrap_or_default();
    caller.scope(&owner, found, "report")
}

/// An organisation's row by id, from memory when it is there (see `projections::cache`).
pub async fn organization(
    state: &AppState,
    org_id: &str,
) -> Result<Option<OrganizationRow>, ProjectionError> {
    state
        .projections
        .cache()
        .read(
            |c| &c.organizations,
            org_id,
            organizations::get(&state.db.read, org_id),
        )
        .await
}

/// An export's or re-export's row by id, deleted ones included, from memory when it is there.
pub(crate) async fn export_row(
    state: &AppState,
    id: &str,
) -> Result<Option<ExportRow>, ProjectionError> {
    state
        .projections
        .cache()
        .read(|c| &c.exports, id, exports::get(&state.db.read, id))
        .await
}
