//! The export job's state machine: a request queues it, a claim runs it (a lease, renewed by
//! progress, taken over once it runs out), a result of the current attempt ends it, a cancel
//! stops it, a retry queues it again, a delete ends its life, and its file expires.

use chrono::{DateTime, Utc};

use super::{
    ExportError, ExportEvent, ExportFile, ExportRequest, ExportState, ExportStatus as S,
    ExportSubmission, live,
};
use crate::FileKey;

/// What `Complete` brings: the attempt's result.
pub(super) struct Completion {
    pub attempt: u32,
    pub file: ExportFile,
    pub source_position: String,
    pub submission: Option<ExportSubmission>,
    pub duration_ms: u64,
    pub steps: u32,
    pub now: DateTime<Utc>,
}

pub(super) fn request(
    state: &ExportState,
    export_id: String,
    request: ExportRequest,
    now: DateTime<Utc>,
) -> Result<Vec<ExportEvent>, ExportError> {
    if state.request.is_some() {
        return Err(ExportError::AlreadyExists);
    }
    Ok(vec![ExportEvent::ExportRequested {
        export_id,
        request,
        requested_at: now,
    }])
}

/// A queued job is taken as the next attempt; a running one only once its lease ran out.
pub(super) fn claim(
    state: &ExportState,
    worker: String,
    lease_until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<ExportEvent>, ExportError> {
    live(state)?;
    let expired = state.lease_until.is_some_and(|l| l <= now);
    let taken_over = match state.status {
        S::Queued => false,
        S::Running if expired => true,
        _ => return Err(ExportError::NotClaimable),
    };
    Ok(vec![ExportEvent::ExportClaimed {
        attempt: state.attempt + 1,
        worker,
        lease_until,
        taken_over,
        claimed_at: now,
    }])
}

pub(super) fn progress(
    state: &ExportState,
    attempt: u32,
    done: u32,
    total: u32,
    lease_until: DateTime<Utc>,
) -> Result<Vec<ExportEvent>, ExportError> {
    holds(state, attempt)?;
    Ok(vec![ExportEvent::ExportProgressed {
        attempt,
        done,
        total,
        lease_until,
    }])
}

pub(super) fn complete(
    state: &ExportState,
    completion: Completion,
) -> Result<Vec<ExportEvent>, ExportError> {
    let Completion {
        attempt,
        file,
        source_position,
        submission,
        duration_ms,
        steps,
        now,
    } = completion;
    holds(state, attempt)?;
    owns(state, &file.key)?;
    Ok(vec![ExportEvent::ExportCompleted {
        attempt,
        file,
        source_position,
        submission,
        duration_ms,
        steps,
        completed_at: now,
    }])
}

pub(super) fn fail(
    state: &ExportState,
    attempt: u32,
    error: String,
    now: DateTime<Utc>,
) -> Result<Vec<ExportEvent>, ExportError> {
    holds(state, attempt)?;
    Ok(vec![ExportEvent::ExportFailed {
        attempt,
        error,
        failed_at: now,
    }])
}

pub(super) fn cancel(
    state: &ExportState,
    reason: String,
    now: DateTime<Utc>,
) -> Result<Vec<ExportEvent>, ExportError> {
    live(state)?;
    if !matches!(state.status, S::Queued | S::Running) {
        return Err(ExportError::NotCancellable(state.status.as_str()));
    }
    Ok(vec![ExportEvent::ExportCancelled {
        reason,
        cancelled_at: now,
    }])
}

pub(super) fn retry(
    state: &ExportState,
    now: DateTime<Utc>,
) -> Result<Vec<ExportEvent>, ExportError> {
    live(state)?;
    if !matches!(state.status, S::Failed | S::Cancelled) {
        return Err(ExportError::NotRetryable(state.status.as_str()));
    }
    Ok(vec![ExportEvent::ExportRetried {
        retry_count: state.retry_count + 1,
        queued_at: now,
    }])
}

/// A queued or running job is cancelled first.
pub(super) fn delete(
    state: &ExportState,
    now: DateTime<Utc>,
) -> Result<Vec<ExportEvent>, ExportError> {
    live(state)?;
    let mut events = vec![];
    if matches!(state.status, S::Queued | S::Running) {
        events.push(ExportEvent::ExportCancelled {
            reason: "deleted".into(),
            cancelled_at: now,
        });
    }
    events.push(ExportEvent::ExportDeleted { deleted_at: now });
    Ok(events)
}

/// The file goes once, deleted export or not.
pub(super) fn expire_file(
    state: &ExportState,
    now: DateTime<Utc>,
) -> Result<Vec<ExportEvent>, ExportError> {
    let file = state
        .file
        .as_ref()
        .filter(|_| !state.file_removed)
        .ok_or(ExportError::NoFile)?;
    Ok(vec![ExportEvent::ExportFileExpired {
        key: file.key.clone(),
        expired_at: now,
    }])
}

/// A completed export's file lies where its own worker writes (`exports/{id}/…`) or under its
/// organisation's prefix (an external renderer's upload): never another organisation's file.
fn owns(state: &ExportState, key: &str) -> Result<(), ExportError> {
    let owned = FileKey::parse(key).is_ok_and(|key| {
        state
            .export_id
            .as_deref()
            .is_some_and(|id| key.is_of_export(id))
            || state
                .request
                .as_ref()
                .is_some_and(|r| key.is_owned_by(&r.org_id))
    });
    if owned {
        Ok(())
    } else {
        Err(ExportError::ForeignFile(key.to_string()))
    }
}

/// Only the current attempt of a running job records progress or a result.
fn holds(state: &ExportState, attempt: u32) -> Result<(), ExportError> {
    live(state)?;
    if state.status == S::Running && state.attempt == attempt {
        Ok(())
    } else {
        Err(ExportError::LostClaim(attempt))
    }
}
