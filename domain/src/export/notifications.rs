//! Delivery of the completion webhook: each failed attempt is recorded with when the next is due,
//! and the delivery once (by this service's webhook worker, or as sent by an external renderer).

use chrono::{DateTime, Utc};

use super::{ExportError, ExportEvent, ExportState, ExportStatus, live};

pub(super) fn mark_notified(
    state: &ExportState,
    attempts: u32,
    now: DateTime<Utc>,
) -> Result<Vec<ExportEvent>, ExportError> {
    finished(state)?;
    Ok(vec![ExportEvent::ExportNotified {
        attempts,
        notified_at: now,
    }])
}

pub(super) fn notification_failed(
    state: &ExportState,
    attempt: u32,
    error: String,
    retry_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<ExportEvent>, ExportError> {
    finished(state)?;
    Ok(vec![ExportEvent::ExportNotificationFailed {
        attempt,
        error,
        retry_at,
        failed_at: now,
    }])
}

/// Notifications tell of a result, so there must be one, and they are sent once.
fn finished(state: &ExportState) -> Result<(), ExportError> {
    live(state)?;
    if !matches!(state.status, ExportStatus::Completed | ExportStatus::Failed) {
        return Err(ExportError::NotFinished(state.status.as_str()));
    }
    if state.notified {
        return Err(ExportError::AlreadyNotified);
    }
    Ok(())
}
