//! A submission as it stood at a point of the log: the fold of its events up to there, the same
//! steps the submissions read model takes, so its status then is answered from the log.

use chrono::{DateTime, Utc};

use crate::submission::{SubmissionEvent, SubmissionStatus};

/// What a submission's status showed at a position.
#[derive(Debug, Clone, PartialEq)]
pub struct SubmissionAt {
    pub status: SubmissionStatus,
    pub reference_id: Option<String>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub confirmation: Option<String>,
    pub processed_at: Option<DateTime<Utc>>,
    pub notes: Option<String>,
    pub attempts: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// Submission `id` after `events` (its report's stream, in log order); `None` before it was
/// requested.
pub fn submission_at<'a>(
    events: impl IntoIterator<Item = &'a SubmissionEvent>,
    id: &str,
) -> Option<SubmissionAt> {
    use SubmissionEvent as E;
    let mut at: Option<SubmissionAt> = None;
    for event in events {
        match event {
            E::SubmissionRequested {
                submission_id,
                requested_at,
                ..
            } if submission_id == id && at.is_none() => {
                at = Some(SubmissionAt {
                    status: SubmissionStatus::Pending,
                    reference_id: None,
                    submitted_at: None,
                    confirmation: None,
                    processed_at: None,
                    notes: None,
                    attempts: 0,
                    next_attempt_at: Some(*requested_at),
                    last_error: None,
                });
            }
            E::SubmissionDeliveryFailed {
                submission_id,
                attempt,
                error,
                retry_at,
                ..
            } if submission_id == id => {
                if let Some(s) = at.as_mut() {
                    s.attempts = *attempt;
                    s.last_error = Some(error.clone());
                    s.next_attempt_at = Some(*retry_at);
                }
            }
            E::SubmissionDelivered {
                submission_id,
                reference_id,
                status,
                submitted_at,
                confirmation,
                attempt,
                ..
            } if submission_id == id => {
                if let Some(s) = at.as_mut() {
                    s.status = *status;
                    s.reference_id = Some(reference_id.clone());
                    s.submitted_at = Some(*submitted_at);
                    s.confirmation = confirmation.clone();
                    s.attempts = *attempt;
                    s.next_attempt_at = None;
                    s.last_error = None;
                }
            }
            E::SubmissionRefused {
                submission_id,
                http_status,
                reason,
                ..
            } if submission_id == id => {
                if let Some(s) = at.as_mut() {
                    s.status = SubmissionStatus::Failed;
                    s.next_attempt_at = None;
                    s.last_error = Some(format!("Bufdir answered {http_status}: {reason}"));
                    s.attempts += 1;
                }
            }
            E::SubmissionStatusChanged {
                submission_id,
                status,
                processed_at,
                notes,
                ..
            } if submission_id == id => {
                if let Some(s) = at.as_mut() {
                    s.status = *status;
                    s.processed_at = *processed_at;
                    s.notes = notes.clone();
                }
            }
            _ => {}
        }
    }
    at
}
