//! Export jobs: `queued -> running -> completed | failed`, and `cancelled` from queued or running.
//! One stream per export. Workers take a job by appending a claim with the stream's expected
//! version, so two workers never both hold it; a claim is a lease, renewed by progress events,
//! and a job whose lease ran out is taken over by the next worker (a new attempt). Results carry
//! the attempt they belong to, so a worker that lost its lease cannot record one.
//!
//! This file holds the types and hands each command to the one function that decides it, by
//! concern: `jobs` the job's state machine (request, claim, progress, result, cancel, retry,
//! delete, file expiry), `renderer` the protocol of a renderer outside this service,
//! `notifications` the delivery of the completion webhook.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::{Aggregate, Locale, OrgId};

mod jobs;
mod notifications;
mod renderer;
#[cfg(test)]
mod tests;

pub struct Export;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    Excel,
    Csv,
    Pdf,
    Json,
}

impl ExportFormat {
    /// `xlsx` is accepted as `excel`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "excel" | "xlsx" => Self::Excel,
            "csv" => Self::Csv,
            "pdf" => Self::Pdf,
            "json" => Self::Json,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Excel => "excel",
            Self::Csv => "csv",
            Self::Pdf => "pdf",
            Self::Json => "json",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportStatus {
    #[default]
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl ExportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Queued,
            Self::Running,
            Self::Completed,
            Self::Failed,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|status| status.as_str() == s)
    }
}

/// The longest range one export may cover.
pub(crate) const MAX_RANGE_YEARS: i32 = 5;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportRequest {
    pub org_id: OrgId,
    pub format: ExportFormat,
    pub period_from: NaiveDate,
    pub period_to: NaiveDate,
    /// Activity categories to include; empty means all.
    pub activity_types: Vec<String>,
    pub include_attachments: bool,
    pub submit_to_bufdir_api: bool,
    /// The language of labels, numbers and dates in the file.
    #[serde(default)]
    pub locale: Locale,
    /// Set for a re-export: the file is regenerated from the log as it stood then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reexport: Option<ReexportOf>,
}

/// What a re-export regenerates, and from which point of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReexportOf {
    pub report_id: String,
    /// The original report's store position: only events up to it are read.
    pub as_of_position: String,
    pub notify_on_completion: bool,
}

/// The file a completed export produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportFile {
    pub key: String,
    pub name: String,
    pub content_type: String,
    pub size_bytes: u64,
    pub expires_at: DateTime<Utc>,
}

/// What became of `submit_to_bufdir_api`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ExportSubmission {
    /// Handed to the Bufdir submission path.
    Submitted { submission_id: String },
    /// The payload did not validate; nothing was sent.
    Invalid { errors: Vec<String> },
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExportState {
    pub export_id: Option<String>,
    /// Who holds the current attempt (a worker, or `external:{caller}`).
    pub worker: Option<String>,
    /// The current attempt's steps: done, total.
    pub progress: (u32, u32),
    pub request: Option<ExportRequest>,
    pub status: ExportStatus,
    pub attempt: u32,
    pub lease_until: Option<DateTime<Utc>>,
    pub retry_count: u32,
    pub file: Option<ExportFile>,
    pub file_removed: bool,
    pub deleted: bool,
    pub notified: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExportCommand {
    Request {
        export_id: String,
        request: ExportRequest,
        now: DateTime<Utc>,
    },
    Claim {
        worker: String,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    },
    Progress {
        attempt: u32,
        done: u32,
        total: u32,
        lease_until: DateTime<Utc>,
    },
    Complete {
        attempt: u32,
        file: ExportFile,
        source_position: String,
        submission: Option<ExportSubmission>,
        duration_ms: u64,
        /// The render's steps, all done.
        steps: u32,
        now: DateTime<Utc>,
    },
    Fail {
        attempt: u32,
        error: String,
        now: DateTime<Utc>,
    },
    Cancel {
        reason: String,
        now: DateTime<Utc>,
    },
    Retry {
        now: DateTime<Utc>,
    },
    Delete {
        now: DateTime<Utc>,
    },
    ExpireFile {
        now: DateTime<Utc>,
    },
    /// The completion webhook was delivered (or, from an external renderer, sent by it).
    MarkNotified {
        attempts: u32,
        now: DateTime<Utc>,
    },
    /// A renderer outside this service (an API caller with the `service` role) takes a queued
    /// job, or keeps the one it holds (renewing its lease).
    ExternalHold {
        renderer: String,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    },
    /// An external renderer's result; a queued job is taken first.
    ExternalFinish {
        renderer: String,
        result: ExternalResult,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    },
    /// An external renderer says the job is still pending: true only while it is queued.
    ExternalPending,
    /// A webhook attempt failed; the next one is due at `retry_at`.
    NotificationFailed {
        attempt: u32,
        error: String,
        retry_at: DateTime<Utc>,
        now: DateTime<Utc>,
    },
}

/// What an external renderer made of a job.
#[derive(Debug, Clone, PartialEq)]
pub enum ExternalResult {
    Completed {
        file: ExportFile,
        source_position: String,
        duration_ms: u64,
        completed_at: DateTime<Utc>,
    },
    Failed {
        error: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event_type", content = "payload")]
pub enum ExportEvent {
    ExportRequested {
        export_id: String,
        #[serde(flatten)]
        request: ExportRequest,
        requested_at: DateTime<Utc>,
    },
    ExportClaimed {
        attempt: u32,
        worker: String,
        lease_until: DateTime<Utc>,
        /// The previous attempt's lease had run out: its worker is presumed dead.
        taken_over: bool,
        claimed_at: DateTime<Utc>,
    },
    ExportProgressed {
        attempt: u32,
        done: u32,
        total: u32,
        lease_until: DateTime<Utc>,
    },
    ExportCompleted {
        attempt: u32,
        file: ExportFile,
        source_position: String,
        submission: Option<ExportSubmission>,
        duration_ms: u64,
        #[serde(default)]
        steps: u32,
        completed_at: DateTime<Utc>,
    },
    ExportFailed {
        attempt: u32,
        error: String,
        failed_at: DateTime<Utc>,
    },
    ExportCancelled {
        reason: String,
        cancelled_at: DateTime<Utc>,
    },
    ExportRetried {
        retry_count: u32,
        queued_at: DateTime<Utc>,
    },
    ExportDeleted {
        deleted_at: DateTime<Utc>,
    },
    ExportFileExpired {
        key: String,
        expired_at: DateTime<Utc>,
    },
    ExportNotified {
        attempts: u32,
        notified_at: DateTime<Utc>,
    },
    ExportNotificationFailed {
        attempt: u32,
        error: String,
        retry_at: DateTime<Utc>,
        failed_at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    #[error("export not found")]
    Unknown,
    #[error("export already exists")]
    AlreadyExists,
    #[error("the export is {0}; only a queued or running export can be cancelled")]
    NotCancellable(&'static str),
    #[error("the export is {0}; only a failed or cancelled export can be retried")]
    NotRetryable(&'static str),
    #[error("the export is not waiting for a worker")]
    NotClaimable,
    #[error("attempt {0} no longer holds the export")]
    LostClaim(u32),
    #[error("the export has no file to expire")]
    NoFile,
    #[error("the export is {0}; a notification is sent once it is completed or failed")]
    NotFinished(&'static str),
    #[error("the notification was already sent")]
    AlreadyNotified,
    #[error("another renderer holds the export")]
    HeldByAnother,
    #[error("the export is {0}; it cannot run again")]
    NotRunnable(&'static str),
    #[error("the export is {0}; only a queued or running export can finish")]
    NotFinishable(&'static str),
    #[error("the export is {0}; it cannot become queued again")]
    NotPending(&'static str),
    /// A file neither the export's own worker wrote nor under its organisation's prefix.
    #[error("the file {0} belongs neither to this export nor to its organisation")]
    ForeignFile(String),
}

impl Export {
    pub fn stream(export_id: &str) -> String {
        format!("{}-{}", Self::CATEGORY, export_id)
    }
}

/// Whether the export exists: requested and not deleted.
fn live(state: &ExportState) -> Result<(), ExportError> {
    if state.request.is_none() || state.deleted {
        Err(ExportError::Unknown)
    } else {
        Ok(())
    }
}

impl Aggregate for Export {
    type State = ExportState;
    type Command = ExportCommand;
    type Event = ExportEvent;
    type Error = ExportError;

    const CATEGORY: &'static str = "export";

    fn decide(
        state: &ExportState,
        command: ExportCommand,
    ) -> Result<Vec<ExportEvent>, ExportError> {
        match command {
            ExportCommand::Request {
                export_id,
                request,
                now,
            } => jobs::request(state, export_id, request, now),
            ExportCommand::Claim {
                worker,
                lease_until,
                now,
            } => jobs::claim(state, worker, lease_until, now),
            ExportCommand::Progress {
                attempt,
                done,
                total,
                lease_until,
            } => jobs::progress(state, attempt, done, total, lease_until),
            ExportCommand::Complete {
                attempt,
                file,
                source_position,
                submission,
                duration_ms,
                steps,
                now,
            } => jobs::complete(
                state,
                jobs::Completion {
                    attempt,
                    file,
                    source_position,
                    submission,
                    duration_ms,
                    steps,
                    now,
                },
            ),
            ExportCommand::Fail {
                attempt,
                error,
                now,
            } => jobs::fail(state, attempt, error, now),
            ExportCommand::Cancel { reason, now } => jobs::cancel(state, reason, now),
            ExportCommand::Retry { now } => jobs::retry(state, now),
            ExportCommand::Delete { now } => jobs::delete(state, now),
            ExportCommand::ExpireFile { now } => jobs::expire_file(state, now),
            ExportCommand::MarkNotified { attempts, now } => {
                notifications::mark_notified(state, attempts, now)
            }
            ExportCommand::NotificationFailed {
                attempt,
                error,
                retry_at,
                now,
            } => notifications::notification_failed(state, attempt, error, retry_at, now),
            ExportCommand::ExternalHold {
                renderer,
                lease_until,
                now,
            } => renderer::hold(state, renderer, lease_until, now),
            ExportCommand::ExternalFinish {
                renderer,
                result,
                lease_until,
                now,
            } => renderer::finish(state, renderer, result, lease_until, now),
            ExportCommand::ExternalPending => renderer::pending(state),
        }
    }

    fn evolve(mut state: ExportState, event: &ExportEvent) -> ExportState {
        match event {
            ExportEvent::ExportRequested {
                export_id, request, ..
            } => {
                state.export_id = Some(export_id.clone());
                state.request = Some(request.clone());
                state.status = ExportStatus::Queued;
            }
            ExportEvent::ExportClaimed {
                attempt,
                worker,
                lease_until,
                ..
            } => {
                state.status = ExportStatus::Running;
                state.attempt = *attempt;
                state.worker = Some(worker.clone());
                state.progress = (0, 0);
                state.lease_until = Some(*lease_until);
            }
            ExportEvent::ExportProgressed {
                done,
                total,
                lease_until,
                ..
            } => {
                state.progress = (*done, *total);
                state.lease_until = Some(*lease_until);
            }
            ExportEvent::ExportCompleted { file, .. } => {
                state.status = ExportStatus::Completed;
                state.file = Some(file.clone());
                state.lease_until = None;
            }
            ExportEvent::ExportFailed { .. } => {
                state.status = ExportStatus::Failed;
                state.lease_until = None;
            }
            ExportEvent::ExportCancelled { .. } => {
                state.status = ExportStatus::Cancelled;
                state.lease_until = None;
            }
            ExportEvent::ExportRetried { retry_count, .. } => {
                state.status = ExportStatus::Queued;
                state.retry_count = *retry_count;
            }
            ExportEvent::ExportDeleted { .. } => state.deleted = true,
            ExportEvent::ExportFileExpired { .. } => state.file_removed = true,
            ExportEvent::ExportNotified { .. } => state.notified = true,
            ExportEvent::ExportNotificationFailed { .. } => {}
        }
        state
    }
}
