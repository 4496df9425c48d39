//! What the export operations take and answer.

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object};
use projections::exports::ExportRow;

use crate::http::routes::Pagination;
use crate::http::text::{CategoryText, ExportFormatText, LocaleText, OrgIdText, UpTo1000};
use crate::http::wire::{Date, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ExportStatus {
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl From<domain::export::ExportStatus> for ExportStatus {
    fn from(status: domain::export::ExportStatus) -> Self {
        use domain::export::ExportStatus as Job;
        match status {
            Job::Queued => ExportStatus::Queued,
            Job::Running => ExportStatus::Running,
            Job::Completed => ExportStatus::Completed,
            Job::Failed => ExportStatus::Failed,
            Job::Cancelled => ExportStatus::Cancelled,
        }
    }
}

impl From<ExportStatus> for domain::export::ExportStatus {
    fn from(status: ExportStatus) -> Self {
        use domain::export::ExportStatus as Job;
        match status {
            ExportStatus::Queued => Job::Queued,
            ExportStatus::Running => Job::Running,
            ExportStatus::Completed => Job::Completed,
            ExportStatus::Failed => Job::Failed,
            ExportStatus::Cancelled => Job::Cancelled,
        }
    }
}

#[derive(Debug, Object)]
pub(crate) struct CreateExport {
    pub org_id: OrgIdText,
    /// `excel` (or `xlsx`), `csv`, `pdf` or `json` (the Bufdir payload).
    pub format: ExportFormatText,
    /// First day of the range.
    pub period_from: Date,
    /// Last day of the range, at most 5 years after `period_from`.
    pub period_to: Date,
    /// Activity categories to include; empty or left out: all.
    #[oai(default)]
    pub activity_types: Vec<CategoryText>,
    /// Annex sheets with the source records and the validation result (Excel and CSV).
    #[oai(default)]
    pub include_attachments: bool,
    /// Submit the payload to Bufdir when the export completes.
    #[oai(default)]
    pub submit_to_bufdir_api: bool,
    /// `nb-NO` (default), `nn-NO` or `en-GB`: labels, numbers and dates in the file. The JSON
    /// payload is the same in every locale.
    #[oai(nullable)]
    pub locale: Option<LocaleText>,
}

#[derive(Debug, Object)]
pub struct ExportQueued {
    pub export_id: String,
    pub status: ExportStatus,
    /// From the durations of recent exports; null until one has completed.
    #[oai(nullable)]
    pub estimated_duration_seconds: Option<u64>,
    pub created_at: Timestamp,
}

#[derive(ApiResponse)]
pub(crate) enum CreateResponse {
    /// Queued; follow `Location`.
    #[oai(status = 202)]
    Queued(Json<ExportQueued>, #[oai(header = "Location")] String),
}

#[derive(Debug, Object)]
pub(crate) struct ExportSummary {
    pub export_id: String,
    pub org_id: String,
    pub status: ExportStatus,
    pub format: String,
    pub period_from: Date,
    pub period_to: Date,
    pub created_at: Timestamp,
    #[oai(nullable)]
    pub completed_at: Option<Timestamp>,
}

impl From<ExportRow> for ExportSummary {
    fn from(r: ExportRow) -> Self {
        ExportSummary {
            export_id: r.export_id,
            org_id: r.org_id.into(),
            status: r.status.into(),
            format: r.format.as_str().into(),
            period_from: r.period_from.into(),
            period_to: r.period_to.into(),
            created_at: r.created_at.into(),
            completed_at: r.completed_at.map(Into::into),
        }
    }
}

#[derive(Debug, Object)]
pub(crate) struct ExportList {
    pub data: Vec<ExportSummary>,
    pub pagination: Pagination,
}

#[derive(Debug, Object)]
pub struct Progress {
    pub done: u32,
    pub total: u32,
}

#[derive(Debug, Object)]
pub(crate) struct ExportDetail {
    pub export_id: String,
    pub org_id: String,
    pub status: ExportStatus,
    pub format: String,
    pub period_from: Date,
    pub period_to: Date,
    pub activity_types: Vec<String>,
    pub locale: String,
    /// A signed link to the file, valid until `file_expires_at`; null until completed and after
    /// the file expired.
    #[oai(nullable)]
    pub file_url: Option<String>,
    #[oai(nullable)]
    pub file_expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
    #[oai(nullable)]
    pub completed_at: Option<Timestamp>,
    #[oai(nullable)]
    pub error_message: Option<String>,
    /// Steps of the current render.
    pub progress: Progress,
    pub retry_count: u32,
    #[oai(nullable)]
    pub file_size_bytes: Option<u64>,
    #[oai(nullable)]
    pub file_name: Option<String>,
    pub include_attachments: bool,
    pub submit_to_bufdir_api: bool,
    /// Bufdir's reference once the submission was delivered.
    #[oai(nullable)]
    pub submission_reference_id: Option<String>,
    /// Our submission id (`submission-status` takes it) and its status.
    #[oai(nullable)]
    pub submission_id: Option<String>,
    #[oai(nullable)]
    pub submission_status: Option<String>,
    /// Why the payload was not submitted: the validator's errors.
    pub submission_errors: Vec<String>,
    #[oai(nullable)]
    pub cancelled_at: Option<Timestamp>,
    #[oai(nullable)]
    pub cancel_reason: Option<String>,
    /// The event-log position the figures were read at.
    #[oai(nullable)]
    pub source_position: Option<String>,
}

#[derive(Debug, Object)]
pub struct CancelExport {
    pub reason: UpTo1000,
}

#[derive(Debug, Object)]
pub struct ExportCancelled {
    pub export_id: String,
    pub status: ExportStatus,
    pub cancelled_at: Timestamp,
}

#[derive(Debug, Object)]
pub(crate) struct ExportRequeued {
    pub export_id: String,
    pub status: ExportStatus,
    pub retry_count: u32,
    pub queued_at: Timestamp,
}

#[derive(ApiResponse)]
pub(crate) enum RetryResponse {
    /// Queued again; follow `Location`.
    #[oai(status = 202)]
    Queued(Json<ExportRequeued>, #[oai(header = "Location")] String),
}

#[derive(Debug, Object)]
pub struct ExportDeleted {
    pub deleted: bool,
    pub export_id: String,
}
