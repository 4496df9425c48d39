//! Export jobs: `queued -> running -> completed | failed`, and `cancelled` from queued or running.
//! One stream per export. Workers take a job by appending a claim with the stream's expected
//! version, so two workers never both hold it; a claim is a lease, renewed by progress events,
//! and a job whose lease ran out is taken over by the next worker (a new attempt). Results carry
//! the attempt they belong to, so a worker that lost its lease cannot record one.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::{Aggregate, FileKey, Locale, OrgId};

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

fn live(state: &ExportState) -> Result<(), ExportError> {
    if state.request.is_none() || state.deleted {
        Err(ExportError::Unknown)
    } else {
        Ok(())
    }
}

/// Takes a queued job for `renderer`, or renews the attempt it holds.
fn external_hold(
    state: &ExportState,
    renderer: String,
    lease_until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<ExportEvent>, ExportError> {
    live(state)?;
    match state.status {
        ExportStatus::Running if state.worker.as_deref() == Some(renderer.as_str()) => {
            Export::decide(
                state,
                ExportCommand::Progress {
                    attempt: state.attempt,
                    done: state.progress.0,
                    total: state.progress.1,
                    lease_until,
                },
            )
        }
        ExportStatus::Queued | ExportStatus::Running => Export::decide(
            state,
            ExportCommand::Claim {
                worker: renderer,
                lease_until,
                now,
            },
        )
        .map_err(|e| match e {
            ExportError::NotClaimable => ExportError::HeldByAnother,
            other => other,
        }),
        other => Err(ExportError::NotRunnable(other.as_str())),
    }
}

/// Records `renderer`'s result, taking a queued job first.
fn external_finish(
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
        events = external_hold(state, renderer, lease_until, now)?;
        held = events.iter().fold(held, Export::evolve);
    }
    let finish = match result {
        ExternalResult::Completed {
            file,
            source_position,
            duration_ms,
            completed_at,
        } => ExportCommand::Complete {
            attempt: held.attempt,
            file,
            source_position,
            submission: None,
            duration_ms,
            steps: 0,
            now: completed_at,
        },
        ExternalResult::Failed { error } => ExportCommand::Fail {
            attempt: held.attempt,
            error,
            now,
        },
    };
    events.extend(Export::decide(&held, finish)?);
    Ok(events)
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

fn holds(state: &ExportState, attempt: u32) -> Result<(), ExportError> {
    live(state)?;
    if state.status == ExportStatus::Running && state.attempt == attempt {
        Ok(())
    } else {
        Err(ExportError::LostClaim(attempt))
    }
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
        use ExportStatus as S;
        let command = match command {
            ExportCommand::ExternalHold {
                renderer,
                lease_until,
                now,
            } => return external_hold(state, renderer, lease_until, now),
            ExportCommand::ExternalFinish {
                renderer,
                result,
                lease_until,
                now,
            } => return external_finish(state, renderer, result, lease_until, now),
            ExportCommand::ExternalPending => {
                live(state)?;
                return match state.status {
                    S::Queued => Ok(vec![]),
                    other => Err(ExportError::NotPending(other.as_str())),
                };
            }
            other => other,
        };
        let event = match command {
            ExportCommand::Request {
                export_id,
                request,
                now,
            } => {
                if state.request.is_some() {
                    return Err(ExportError::AlreadyExists);
                }
                ExportEvent::ExportRequested {
                    export_id,
                    request,
                    requested_at: now,
                }
            }
            ExportCommand::Claim {
                worker,
                lease_until,
                now,
            } => {
                live(state)?;
                let expired = state.lease_until.is_some_and(|l| l <= now);
                let taken_over = match state.status {
                    S::Queued => false,
                    S::Running if expired => true,
                    _ => return Err(ExportError::NotClaimable),
                };
                ExportEvent::ExportClaimed {
                    attempt: state.attempt + 1,
                    worker,
                    lease_until,
                    taken_over,
                    claimed_at: now,
                }
            }
            ExportCommand::ExternalHold { .. }
            | ExportCommand::ExternalFinish { .. }
            | ExportCommand::ExternalPending => unreachable!("decided above"),
            ExportCommand::Progress {
                attempt,
                done,
                total,
                lease_until,
            } => {
                holds(state, attempt)?;
                ExportEvent::ExportProgressed {
                    attempt,
                    done,
                    total,
                    lease_until,
                }
            }
            ExportCommand::Complete {
                attempt,
                file,
                source_position,
                submission,
                duration_ms,
                steps,
                now,
            } => {
                holds(state, attempt)?;
                owns(state, &file.key)?;
                ExportEvent::ExportCompleted {
                    attempt,
                    file,
                    source_position,
                    submission,
                    duration_ms,
                    steps,
                    completed_at: now,
                }
            }
            ExportCommand::Fail {
                attempt,
                error,
                now,
            } => {
                holds(state, attempt)?;
                ExportEvent::ExportFailed {
                    attempt,
                    error,
                    failed_at: now,
                }
            }
            ExportCommand::Cancel { reason, now } => {
                live(state)?;
                if !matches!(state.status, S::Queued | S::Running) {
                    return Err(ExportError::NotCancellable(state.status.as_str()));
                }
                ExportEvent::ExportCancelled {
                    reason,
                    cancelled_at: now,
                }
            }
            ExportCommand::Retry { now } => {
                live(state)?;
                if !matches!(state.status, S::Failed | S::Cancelled) {
                    return Err(ExportError::NotRetryable(state.status.as_str()));
                }
                ExportEvent::ExportRetried {
                    retry_count: state.retry_count + 1,
                    queued_at: now,
                }
            }
            ExportCommand::Delete { now } => {
                live(state)?;
                let mut events = vec![];
                if matches!(state.status, S::Queued | S::Running) {
                    events.push(ExportEvent::ExportCancelled {
                        reason: "deleted".into(),
                        cancelled_at: now,
                    });
                }
                events.push(ExportEvent::ExportDeleted { deleted_at: now });
                return Ok(events);
            }
            ExportCommand::ExpireFile { now } => {
                let file = state
                    .file
                    .as_ref()
                    .filter(|_| !state.file_removed)
                    .ok_or(ExportError::NoFile)?;
                ExportEvent::ExportFileExpired {
                    key: file.key.clone(),
                    expired_at: now,
                }
            }
            ExportCommand::MarkNotified { attempts, now } => {
                finished(state)?;
                ExportEvent::ExportNotified {
                    attempts,
                    notified_at: now,
                }
            }
            ExportCommand::NotificationFailed {
                attempt,
                error,
                retry_at,
                now,
            } => {
                finished(state)?;
                ExportEvent::ExportNotificationFailed {
                    attempt,
                    error,
                    retry_at,
                    failed_at: now,
                }
            }
        };
        Ok(vec![event])
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

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::testing::{given, state_after};

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn requested() -> Vec<ExportEvent> {
        let request = ExportRequest {
            org_id: OrgId::parse("org_1").unwrap(),
            format: ExportFormat::Excel,
            period_from: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
            period_to: NaiveDate::from_ymd_opt(2025, 12, 31).unwrap(),
            activity_types: vec![],
            include_attachments: false,
            submit_to_bufdir_api: false,
            locale: Locale::default(),
            reexport: None,
        };
        given::<Export>(&[])
            .when(ExportCommand::Request {
                export_id: "exp_1".into(),
                request,
                now: t(0),
            })
            .events()
    }

    fn claim(at: i64) -> ExportCommand {
        ExportCommand::Claim {
            worker: "w".into(),
            lease_until: t(at) + Duration::seconds(30),
            now: t(at),
        }
    }

    #[test]
    fn a_claimed_job_is_not_claimed_again_until_its_lease_runs_out() {
        let mut events = requested();
        events.extend(given::<Export>(&events).when(claim(1)).events());
        given::<Export>(&events)
            .when(claim(10))
            .then_error(ExportError::NotClaimable);
        let takeover = given::<Export>(&events).when(claim(40)).events();
        assert!(matches!(
            takeover[0],
            ExportEvent::ExportClaimed {
                attempt: 2,
                taken_over: true,
                ..
            }
        ));
        events.extend(takeover);
        // The first worker's result no longer counts.
        let late = ExportCommand::Fail {
            attempt: 1,
            error: "x".into(),
            now: t(41),
        };
        given::<Export>(&events)
            .when(late)
            .then_error(ExportError::LostClaim(1));
    }

    #[test]
    fn cancel_retry_and_delete_follow_the_state_machine() {
        let mut events = requested();
        let cancel = || ExportCommand::Cancel {
            reason: "wrong range".into(),
            now: t(2),
        };
        events.extend(given::<Export>(&events).when(cancel()).events());
        given::<Export>(&events)
            .when(cancel())
            .then_error(ExportError::NotCancellable("cancelled"));
        events.extend(
            given::<Export>(&events)
                .when(ExportCommand::Retry { now: t(3) })
                .events(),
        );
        assert_eq!(state_after::<Export>(&events).retry_count, 1);
        assert_eq!(state_after::<Export>(&events).status, ExportStatus::Queued);
        let deleted = given::<Export>(&events)
            .when(ExportCommand::Delete { now: t(4) })
            .events();
        assert_eq!(
            deleted.len(),
            2,
            "a queued export is cancelled, then deleted"
        );
        events.extend(deleted);
        given::<Export>(&events)
            .when(ExportCommand::Retry { now: t(5) })
            .then_error(ExportError::Unknown);
    }

    #[test]
    fn a_notification_follows_a_result_and_is_recorded_once() {
        let mut events = requested();
        let notified = |at| ExportCommand::MarkNotified {
            attempts: 1,
            now: t(at),
        };
        given::<Export>(&events)
            .when(notified(1))
            .then_error(ExportError::NotFinished("queued"));
        events.extend(given::<Export>(&events).when(claim(1)).events());
        let fail = ExportCommand::Fail {
            attempt: 1,
            error: "disk full".into(),
            now: t(2),
        };
        events.extend(given::<Export>(&events).when(fail).events());
        let refused = ExportCommand::NotificationFailed {
            attempt: 1,
            error: "503".into(),
            retry_at: t(10),
            now: t(3),
        };
        events.extend(given::<Export>(&events).when(refused).events());
        assert!(
            !state_after::<Export>(&events).notified,
            "a failed attempt notifies nobody"
        );
        events.extend(given::<Export>(&events).when(notified(11)).events());
        assert!(state_after::<Export>(&events).notified);
        given::<Export>(&events)
            .when(notified(12))
            .then_error(ExportError::AlreadyNotified);
    }

    #[test]
    fn requests_written_before_locales_and_reexports_still_read() {
        let old = serde_json::json!({"export_id": "exp_1", "org_id": "org_1", "format": "csv",
            "period_from": "2025-01-01", "period_to": "2025-12-31", "activity_types": [],
            "include_attachments": false, "submit_to_bufdir_api": false,
            "requested_at": "2026-01-01T00:00:00Z"});
        let event: ExportEvent = crate::decode_event("ExportRequested", &old).unwrap();
        let ExportEvent::ExportRequested { request, .. } = event else {
            panic!("{event:?}")
        };
        assert_eq!(request.locale, Locale::NbNo);
        assert_eq!(request.reexport, None);
    }

    #[test]
    fn formats_accept_xlsx_as_excel() {
        assert_eq!(ExportFormat::parse("xlsx"), Some(ExportFormat::Excel));
        assert_eq!(ExportFormat::parse("EXCEL"), Some(ExportFormat::Excel));
        assert_eq!(ExportFormat::parse("docx"), None);
    }

    #[test]
    fn an_export_completes_only_with_its_own_or_its_organisations_file() {
        let mut events = requested();
        events.extend(given::<Export>(&events).when(claim(1)).events());
        let complete = |key: &str| ExportCommand::Complete {
            attempt: 1,
            file: ExportFile {
                key: key.into(),
                name: "report.xlsx".into(),
                content_type: "application/octet-stream".into(),
                size_bytes: 10,
                expires_at: t(100),
            },
            source_position: "1".into(),
            submission: None,
            duration_ms: 1,
            steps: 1,
            now: t(2),
        };
        for foreign in [
            "exports/exp_2/1/report.xlsx",
            "reports/org_2/rpt_1/report.xlsx",
            "reports/org_1",
            "elsewhere/report.xlsx",
        ] {
            assert_eq!(
                given::<Export>(&events).when(complete(foreign)).result(),
                Err(ExportError::ForeignFile(foreign.into())),
                "{foreign}"
            );
        }
        for own in [
            "exports/exp_1/1/report.xlsx",
            "reports/org_1/reexports/exp_1/report.xlsx",
        ] {
            assert!(
                given::<Export>(&events)
                    .when(complete(own))
                    .result()
                    .is_ok(),
                "{own}"
            );
        }
    }
}
