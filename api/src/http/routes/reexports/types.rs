//! What the re-export operations take and answer.

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object};
use projections::exports::ExportRow;

use crate::http::routes::Pagination;
use crate::http::text::{AnyText, FileRefText, LocaleText, ReexportFormatText, UpTo1000};
use crate::http::wire::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum ReexportStatus {
    Pending,
    Running,
    Completed,
    Failed,
    Cancelled,
}

#[derive(Debug, Clone, Object)]
pub(crate) struct ExportParams {
    /// `xlsx`, `csv` or `pdf`. Default: the original report's format.
    #[oai(nullable)]
    pub format: Option<ReexportFormatText>,
    /// Add the source records behind the figures (an annex). Default false.
    #[oai(nullable)]
    pub include_annexes: Option<bool>,
    /// `nb-NO` (default), `nn-NO` or `en-GB`: labels, numbers and dates.
    #[oai(nullable)]
    pub locale: Option<LocaleText>,
}

#[derive(Debug, Object)]
pub(crate) struct CreateReexport {
    pub report_id: AnyText,
    pub export_params: Option<ExportParams>,
    /// POST a signed webhook with the result when it is done. Default false.
    #[oai(nullable)]
    pub notify_on_completion: Option<bool>,
}

#[derive(Debug, Clone, Object)]
pub(crate) struct ResolvedParams {
    pub format: String,
    pub include_annexes: bool,
    pub locale: String,
}

#[derive(Debug, Object)]
pub(crate) struct Reexport {
    pub reexport_id: String,
    pub report_id: String,
    pub org_id: String,
    /// `pending`, `running`, `completed`, `failed` or `cancelled`.
    pub status: ReexportStatus,
    pub export_params: ResolvedParams,
    #[oai(nullable)]
    pub output_file_ref: Option<String>,
    #[oai(nullable)]
    pub output_file_size_bytes: Option<u64>,
    #[oai(nullable)]
    pub requested_by: Option<String>,
    pub requested_at: Timestamp,
    #[oai(nullable)]
    pub completed_at: Option<Timestamp>,
    /// Whether the completion webhook was delivered (a 2xx answer).
    pub notified: bool,
    pub notify_on_completion: bool,
    #[oai(nullable)]
    pub error_message: Option<String>,
    /// The log position the figures are read up to: the original report's.
    #[oai(nullable)]
    pub as_of_position: Option<String>,
}

impl From<ExportRow> for Reexport {
    fn from(r: ExportRow) -> Self {
        Reexport {
            status: r.status.into(),
            export_params: ResolvedParams {
                format: format_name(r.format.as_str()),
                include_annexes: r.include_attachments,
                locale: r.locale.as_str().into(),
            },
            output_file_ref: r
                .file_key
                .filter(|_| r.status == domain::export::ExportStatus::Completed),
            output_file_size_bytes: r.file_size_bytes,
            requested_by: r.requested_by,
            requested_at: r.created_at.into(),
            completed_at: r.completed_at.map(Into::into),
            notified: r.notified,
            notify_on_completion: r.notify_on_completion,
            error_message: r.error_message,
            as_of_position: r.as_of_position.map(|p| p.to_string()),
            report_id: r.reexport_of.unwrap_or_default(),
            reexport_id: r.export_id,
            org_id: r.org_id.into(),
        }
    }
}

#[derive(Debug, Object)]
pub(crate) struct ReexportList {
    pub data: Vec<Reexport>,
    pub pagination: Pagination,
}

#[derive(Debug, Object)]
pub(crate) struct UpdateReexport {
    /// `running` (take or keep the job: it is held for the export lease, renewed by each such
    /// update), `completed` (with `output_file_ref` and `output_file_size_bytes`), `failed`
    /// (with `error_message`) or `cancelled`.
    pub status: Option<ReexportStatus>,
    /// A file store key under the organisation's own prefix (`reports/{org_id}/…`), with
    /// `output_file_size_bytes`: the file must be there, of that size (422 otherwise). Or
    /// upload the bytes with `PUT /{reexport_id}/upload`.
    #[oai(nullable)]
    pub output_file_ref: Option<FileRefText>,
    #[oai(
        nullable,
        validator(minimum(value = "0"), maximum(value = "9007199254740991"))
    )]
    pub output_file_size_bytes: Option<u64>,
    #[oai(nullable)]
    pub completed_at: Option<Timestamp>,
    /// `true`: the renderer sent the notification itself.
    #[oai(nullable)]
    pub notified: Option<bool>,
    #[oai(nullable)]
    pub error_message: Option<UpTo1000>,
}

#[derive(Debug, Object)]
pub(crate) struct ReexportCancelled {
    pub reexport_id: String,
    pub cancelled: bool,
    pub cancelled_at: Timestamp,
}

#[derive(ApiResponse)]
pub(crate) enum CreateResponse {
    /// Queued; follow `Location`.
    #[oai(status = 202)]
    Accepted(Json<Reexport>, #[oai(header = "Location")] String),
}

/// A re-export is an export job: the contract's `pending` is the job's `queued`.
impl From<domain::export::ExportStatus> for ReexportStatus {
    fn from(status: domain::export::ExportStatus) -> Self {
        use domain::export::ExportStatus as Job;
        match status {
            Job::Queued => ReexportStatus::Pending,
            Job::Running => ReexportStatus::Running,
            Job::Completed => ReexportStatus::Completed,
            Job::Failed => ReexportStatus::Failed,
            Job::Cancelled => ReexportStatus::Cancelled,
        }
    }
}

impl From<ReexportStatus> for domain::export::ExportStatus {
    fn from(status: ReexportStatus) -> Self {
        use domain::export::ExportStatus as Job;
        match status {
            ReexportStatus::Pending => Job::Queued,
            ReexportStatus::Running => Job::Running,
            ReexportStatus::Completed => Job::Completed,
            ReexportStatus::Failed => Job::Failed,
            ReexportStatus::Cancelled => Job::Cancelled,
        }
    }
}

pub fn format_name(export_format: &str) -> String {
    match export_format {
        "excel" => "xlsx".into(),
        other => other.into(),
    }
}
