//! A report-history record as it stood at a point of the log: the fold of its events up to
//! there, the same steps the reports read model takes.

use chrono::{DateTime, Utc};

use crate::report::{ReportEvent, ReportFile, ReportStatus};

/// What a report's record showed at a position.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportAt {
    pub status: ReportStatus,
    pub file: Option<ReportFile>,
    pub generated_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    pub file_removed: bool,
    pub deleted: bool,
}

/// The report after `events` (its stream, in log order); `None` before it was recorded.
pub fn report_at<'a>(events: impl IntoIterator<Item = &'a ReportEvent>) -> Option<ReportAt> {
    let mut at: Option<ReportAt> = None;
    for event in events {
        match (event, at.as_mut()) {
            (
                ReportEvent::ReportRecorded {
                    report,
                    recorded_at,
                },
                None,
            ) => {
                at = Some(ReportAt {
                    status: report.status,
                    file: report.file.clone(),
                    generated_at: report.generated_at,
                    updated_at: *recorded_at,
                    file_removed: false,
                    deleted: false,
                });
            }
            (
                ReportEvent::ReportUpdated {
                    status,
                    file,
                    generated_at,
                    updated_at,
                },
                Some(r),
            ) => {
                r.status = *status;
                // A file, once named, stays unless another replaces it.
                if file.is_some() {
                    r.file = file.clone();
                }
                if generated_at.is_some() {
                    r.generated_at = *generated_at;
                }
                r.updated_at = *updated_at;
            }
            (ReportEvent::ReportDeleted { deleted_at }, Some(r)) => {
                r.deleted = true;
                r.updated_at = *deleted_at;
            }
            (ReportEvent::ReportFileRemoved { removed_at, .. }, Some(r)) => {
                r.file_removed = true;
                r.updated_at = *removed_at;
            }
            _ => {}
        }
    }
    at
}
