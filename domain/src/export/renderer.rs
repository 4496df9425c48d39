//! The protocol of a renderer outside this service (an API caller with the `service` role): it
//! holds a job, finishes it with its result, or says it is still pending. Holding and finishing
//! are the job's own claim, progress and result, decided by the state machine (`super::jobs`).

use chrono::{DateTime, Utc};

use super::jobs::{self, Completion};
use super::{Export, ExportError, ExportEvent, ExportState, ExportStatus, ExternalResult, live};
use crate::Aggregate;

/// Takes a queued job for `renderer`, or renews the attempt it holds.
pub(super) fn hold(
    state: &ExportState,
    renderer: String,
    lease_until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<ExportEvent>, ExportError> {
    live(state)?;
    match state.status {
        ExportStatus::Running if state.worker.as_deref() == Some(renderer.as_str()) => {
            jobs::progress(
                state,
                state.attempt,
                state.progress.0,
                state.progress.1,
                lease_until,
            )
        }
        ExportStatus::Queued | ExportStatus::Running => {
            jobs::claim(state, renderer, lease_until, now).map_err(|e| match e {
                ExportError::NotClaimable => ExportError::HeldByAnother,
                other => other,
            })
        }
        other => Err(ExportError::NotRunnable(other.as_str())),
    }
}

/// Records `renderer`'s result, taking a queued job first.
pub(super) fn finish(
    state: &ExportState,
    renderer: String,
    result: ExternalResult,
    lease_until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<ExportEvent>, ExportError> {
    live(state)?;
    if !matches!(state.status, ExportStatus::Queued | ExportStatus::Running) {
        return Err(ExportError::NotFinishable(state.status.as_str()));
    }
    let mut events = vec![];
    let mut held = state.clone();
    if held.worker.as_deref() != Some(renderer.as_str()) || held.status == ExportStatus::Queued {
        events = hold(state, renderer, lease_until, now)?;
        held = events.iter().fold(held, Export::evolve);
    }
    let finished = match result {
        ExternalResult::Completed {
            file,
            source_position,
            duration_ms,
            completed_at,
        } => jobs::complete(
            &held,
            Completion {
                attempt: held.attempt,
                file,
                source_position,
                submission: None,
                duration_ms,
                steps: 0,
                now: completed_at,
            },
        ),
        ExternalResult::Failed { error } => jobs::fail(&held, held.attempt, error, now),
    };
    events.extend(finished?);
    Ok(events)
}

/// Still pending: true only while the job is queued.
pub(super) fn pending(state: &ExportState) -> Result<Vec<ExportEvent>, ExportError> {
    live(state)?;
    match state.status {
        ExportStatus::Queued => Ok(vec![]),
        other => Err(ExportError::NotPending(other.as_str())),
    }
}
