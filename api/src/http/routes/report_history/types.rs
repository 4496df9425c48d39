//! What the report-history operations take and answer.

use crate::http::problem::FieldError;
use domain::report::{ReportStatus as Status, ReportType as Kind, retained_until};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object};
use projections::reports::ReportRow;

use crate::http::routes::Pagination;
use crate::http::text::{FileRefText, OrgIdText, Text200};
use crate::http::wire::{Date, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ReportType {
    AnnualSummary,
    QuarterlyActivity,
    CustomPeriod,
}

impl From<ReportType> for Kind {
    fn from(t: ReportType) -> Self {
        match t {
            ReportType::AnnualSummary => Kind::AnnualSummary,
            ReportType::QuarterlyActivity => Kind::QuarterlyActivity,
            ReportType::CustomPeriod => Kind::CustomPeriod,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ReportStatus {
    Pending,
    Generating,
    Completed,
    Failed,
}

impl From<Status> for ReportStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Pending => ReportStatus::Pending,
            Status::Generating => ReportStatus::Generating,
            Status::Completed => ReportStatus::Completed,
            Status::Failed => ReportStatus::Failed,
        }
    }
}

impl From<ReportStatus> for Status {
    fn from(s: ReportStatus) -> Self {
        match s {
            ReportStatus::Pending => Status::Pending,
            ReportStatus::Generating => Status::Generating,
            ReportStatus::Completed => Status::Completed,
            ReportStatus::Failed => Status::Failed,
        }
    }
}

/// A report in the history.
#[derive(Debug, Object)]
pub struct ReportRecord {
    pub report_id: String,
    pub org_id: String,
    /// `annual_summary` (a calendar year), `quarterly_activity` (a calendar quarter) or
    /// `custom_period`.
    pub report_type: String,
    pub period_from: Date,
    pub period_to: Date,
    /// `pending`, `generating`, `completed` or `failed`.
    pub status: ReportStatus,
    /// Where the file is kept; fetch it through `GET /{report_id}/download-url`.
    #[oai(nullable)]
    pub file_ref: Option<String>,
    #[oai(nullable)]
    pub file_size_bytes: Option<u64>,
    /// Who made the report (the token subject that asked for it).
    #[oai(nullable)]
    pub generated_by: Option<String>,
    #[oai(nullable)]
    pub generated_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The event-log position the report's figures were read at. A re-export reads the log up
    /// to here, so it shows what was known then.
    #[oai(nullable)]
    pub source_position: Option<String>,
    /// The export or re-export that produced it; none for reports recorded through the API.
    #[oai(nullable)]
    pub export_id: Option<String>,
    /// The report may not be deleted before the day after this (bokføringsloven § 13).
    pub retained_until: Date,
}

impl From<ReportRow> for ReportRecord {
    fn from(r: ReportRow) -> Self {
        ReportRecord {
            retained_until: retained_until(r.period_to).into(),
            report_id: r.report_id,
            org_id: r.org_id.into(),
            report_type: r.report_type.as_str().into(),
            period_from: r.period_from.into(),
            period_to: r.period_to.into(),
            status: r.status.into(),
            file_ref: r.file_ref,
            file_size_bytes: r.file_size_bytes,
            generated_by: r.generated_by,
            generated_at: r.generated_at.map(Into::into),
            created_at: r.created_at.into(),
            updated_at: r.updated_at.into(),
            source_position: r.source_position.map(|p| p.to_string()),
            export_id: r.export_id,
        }
    }
}

#[derive(Debug, Object)]
pub(crate) struct ReportList {
    pub data: Vec<ReportRecord>,
    pub pagination: Pagination,
}

#[derive(Debug, Object)]
pub(crate) struct CreateReport {
    pub org_id: OrgIdText,
    /// Must match the period: a calendar year is `annual_summary`, a calendar quarter
    /// `quarterly_activity`, anything else `custom_period`.
    pub report_type: ReportType,
    pub period_from: Date,
    pub period_to: Date,
    /// Default `pending`. `completed` needs `file_ref` and `file_size_bytes`.
    pub status: Option<ReportStatus>,
    /// Default: the caller (the token's subject).
    #[oai(nullable)]
    pub generated_by: Option<Text200>,
    /// A file store key under the organisation's own prefix (`reports/{org_id}/…`), with
    /// `file_size_bytes`: the file must be there, of that size (422 otherwise).
    #[oai(nullable)]
    pub file_ref: Option<FileRefText>,
    #[oai(
        nullable,
        validator(minimum(value = "0"), maximum(value = "9007199254740991"))
    )]
    pub file_size_bytes: Option<u64>,
    #[oai(nullable)]
    pub generated_at: Option<Timestamp>,
}

#[derive(Debug, Object)]
pub struct UpdateReport {
    /// Statuses only move forward: `pending` → `generating` → `completed` | `failed`, and a
    /// failed report may go back to `pending` or `generating`. A completed report is final.
    pub status: Option<ReportStatus>,
    /// A file store key under the organisation's own prefix
    /// (`reports/org-a/2026-Q1/report.xlsx`), with `file_size_bytes`: the file must be there,
    /// of that size (422 otherwise). Or upload the bytes with `PUT /{report_id}/upload`.
    #[oai(nullable)]
    pub file_ref: Option<FileRefText>,
    #[oai(
        nullable,
        validator(minimum(value = "0"), maximum(value = "9007199254740991"))
    )]
    pub file_size_bytes: Option<u64>,
    #[oai(nullable)]
    pub generated_at: Option<Timestamp>,
}

#[derive(Debug, Object)]
pub(crate) struct DownloadUrl {
    pub report_id: String,
    /// Signed; works without a bearer token until `expires_at`.
    pub download_url: String,
    pub expires_at: Timestamp,
    pub file_name: String,
    #[oai(nullable)]
    pub file_size_bytes: Option<u64>,
}

#[derive(Debug, Object)]
pub struct ReportDeleted {
    pub report_id: String,
    pub deleted: bool,
    pub deleted_at: Timestamp,
}

#[derive(ApiResponse)]
pub(crate) enum CreateResponse {
    /// Recorded.
    #[oai(status = 201)]
    Created(Json<ReportRecord>, #[oai(header = "Location")] String),
}

impl CreateReport {
    /// What is wrong with the request apart from its file: the period and its type, who made it.
    pub fn problems(&self) -> Vec<FieldError> {
        let mut errors = vec![];
        let kind = Kind::from(self.report_type);
        let actual = Kind::of_range(self.period_from.0, self.period_to.0);
        if self.period_from > self.period_to {
            errors.push(FieldError::new(
                "period_to",
                "period_order",
                "period_to is before period_from",
            ));
        } else if actual != kind {
            errors.push(FieldError::new(
                "report_type",
                "report_type_mismatch",
                format!(
                    "{} to {} is a {} report",
                    self.period_from,
                    self.period_to,
                    actual.as_str()
                ),
            ));
        }
        if let Some(by) = &self.generated_by {
            by.check("generated_by", &mut errors);
        }
        errors
    }
}
