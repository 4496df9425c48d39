//! What a re-export may ask: a document format (the original report's unless another is asked),
//! a locale, and only of a completed report. A re-export is an export job, so the job's refusals
//! are its refusals too, worded for a re-export: its queued job is `pending` to a renderer.

use crate::Locale;
use crate::export::{ExportError, ExportFormat};
use crate::report::ReportStatus;

/// Why a re-export request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReexportRefusal {
    #[error("{0:?} is not a re-export format: use xlsx, csv or pdf")]
    UnknownFormat(String),
    #[error("{0:?} is not a locale: use nb-NO, nn-NO or en-GB")]
    UnknownLocale(String),
    #[error("report {report_id} is {status}; only a completed report can be re-exported")]
    NotCompleted {
        report_id: String,
        status: &'static str,
    },
    #[error("re-export not found")]
    Unknown,
    #[error("the re-export is {}; only a pending or running re-export can be cancelled", job_status(.0))]
    NotCancellable(&'static str),
    #[error("the re-export is {}; a notification follows a completed or failed re-export", job_status(.0))]
    NotFinished(&'static str),
    #[error("the re-export is {}; it cannot run again", job_status(.0))]
    NotRunnable(&'static str),
    #[error("the re-export is {}; only a pending or running one can complete or fail", job_status(.0))]
    NotFinishable(&'static str),
    #[error("the re-export is {}; it cannot become pending again", job_status(.0))]
    NotPending(&'static str),
    #[error("another renderer holds this re-export, or it is no longer running")]
    HeldElsewhere,
    /// Any other refusal of the job, as the export words it.
    #[error(transparent)]
    Job(ExportError),
}

/// A job's status as a re-export's client knows it: the contract's `pending` is `queued`.
fn job_status(status: &str) -> &str {
    match status {
        "queued" => "pending",
        other => other,
    }
}

impl From<ExportError> for ReexportRefusal {
    fn from(e: ExportError) -> Self {
        match e {
            ExportError::Unknown => ReexportRefusal::Unknown,
            ExportError::NotCancellable(s) => ReexportRefusal::NotCancellable(s),
            ExportError::NotFinished(s) => ReexportRefusal::NotFinished(s),
            ExportError::NotRunnable(s) => ReexportRefusal::NotRunnable(s),
            ExportError::NotFinishable(s) => ReexportRefusal::NotFinishable(s),
            ExportError::NotPending(s) => ReexportRefusal::NotPending(s),
            ExportError::LostClaim(_) | ExportError::NotClaimable | ExportError::HeldByAnother => {
                ReexportRefusal::HeldElsewhere
            }
            other => ReexportRefusal::Job(other),
        }
    }
}

/// The format a re-export is written in: as `asked`, else the `original` report's; re-exports
/// are documents, so an original JSON payload (or none) is re-exported as Excel.
pub fn format(
    asked: Option<&str>,
    original: Option<&str>,
) -> Result<ExportFormat, ReexportRefusal> {
    let name = asked.or(original).unwrap_or("xlsx");
    match ExportFormat::parse(name) {
        Some(f @ (ExportFormat::Excel | ExportFormat::Csv | ExportFormat::Pdf)) => Ok(f),
        _ if asked.is_none() => Ok(ExportFormat::Excel),
        _ => Err(ReexportRefusal::UnknownFormat(name.to_string())),
    }
}

/// The locale asked for, else the default one.
pub fn locale(asked: Option<&str>) -> Result<Locale, ReexportRefusal> {
    match asked {
        None => Ok(Locale::default()),
        Some(tag) => Locale::parse(tag).ok_or_else(|| ReexportRefusal::UnknownLocale(tag.into())),
    }
}

/// Only a completed report has figures to regenerate.
pub fn may_reexport(report_id: &str, status: ReportStatus) -> Result<(), ReexportRefusal> {
    match status {
        ReportStatus::Completed => Ok(()),
        other => Err(ReexportRefusal::NotCompleted {
            report_id: report_id.to_string(),
            status: other.as_str(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jobs_refusal_reads_as_a_reexports() {
        assert_eq!(
            ReexportRefusal::from(ExportError::NotCancellable("queued")).to_string(),
            "the re-export is pending; only a pending or running re-export can be cancelled"
        );
        assert_eq!(
            ReexportRefusal::from(ExportError::NotRunnable("completed")).to_string(),
            "the re-export is completed; it cannot run again"
        );
        assert_eq!(
            ReexportRefusal::from(ExportError::LostClaim(2)),
            ReexportRefusal::HeldElsewhere
        );
        assert_eq!(
            ReexportRefusal::from(ExportError::AlreadyNotified),
            ReexportRefusal::Job(ExportError::AlreadyNotified)
        );
    }

    #[test]
    fn the_format_asked_wins_and_else_the_originals_document_format() {
        assert_eq!(format(Some("pdf"), Some("csv")), Ok(ExportFormat::Pdf));
        assert_eq!(format(Some("excel"), None), Ok(ExportFormat::Excel));
        assert_eq!(format(None, Some("csv")), Ok(ExportFormat::Csv));
        assert_eq!(format(None, None), Ok(ExportFormat::Excel));
        // The original was the JSON payload: a re-export is a document.
        assert_eq!(format(None, Some("json")), Ok(ExportFormat::Excel));
        assert_eq!(format(None, Some("odt")), Ok(ExportFormat::Excel));
    }

    #[test]
    fn a_format_asked_that_is_no_document_is_refused() {
        assert_eq!(
            format(Some("json"), Some("xlsx")),
            Err(ReexportRefusal::UnknownFormat("json".into()))
        );
        assert_eq!(
            format(Some("docx"), None).unwrap_err().to_string(),
            "\"docx\" is not a re-export format: use xlsx, csv or pdf"
        );
    }

    #[test]
    fn locales_are_the_three_languages_and_default_to_bokmaal() {
        assert_eq!(locale(None), Ok(Locale::default()));
        assert_eq!(locale(Some("nn-NO")), Ok(Locale::NnNo));
        assert_eq!(locale(Some("en_gb")), Ok(Locale::EnGb));
        assert_eq!(
            locale(Some("de-DE")),
            Err(ReexportRefusal::UnknownLocale("de-DE".into()))
        );
    }

    #[test]
    fn only_a_completed_report_is_reexported() {
        assert_eq!(may_reexport("rpt_1", ReportStatus::Completed), Ok(()));
        for status in [
            ReportStatus::Pending,
            ReportStatus::Generating,
            ReportStatus::Failed,
        ] {
            assert_eq!(
                may_reexport("rpt_1", status),
                Err(ReexportRefusal::NotCompleted {
                    report_id: "rpt_1".into(),
                    status: status.as_str(),
                })
            );
        }
        assert_eq!(
            may_reexport("rpt_1", ReportStatus::Failed)
                .unwrap_err()
                .to_string(),
            "report rpt_1 is failed; only a completed report can be re-exported"
        );
    }
}
