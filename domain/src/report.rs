//! Reports in the history: one stream per report. A report is a legal record, so deleting one is
//! refused while the retention period runs (bokføringsloven § 13: five years after the end of the
//! calendar year its period ends in), and a deletion is itself an event, with who did it.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::{Aggregate, FileKey, OrgId, PeriodId};

pub struct Report;

/// Years a report is kept after the end of the calendar year its period ends in.
pub(crate) const RETENTION_YEARS: i32 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportType {
    AnnualSummary,
    QuarterlyActivity,
    CustomPeriod,
}

impl ReportType {
    /// A calendar year is an annual summary, a calendar quarter a quarterly report; any other
    /// range is a custom period.
    pub fn of_range(from: NaiveDate, to: NaiveDate) -> Self {
        let year = PeriodId::Year(from.year());
        if year.start() == from && year.end() == to {
            return Self::AnnualSummary;
        }
        let quarter = PeriodId::Quarter(from.year(), (from.month0() / 3 + 1) as u8);
        if quarter.start() == from && quarter.end() == to {
            return Self::QuarterlyActivity;
        }
        Self::CustomPeriod
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AnnualSummary => "annual_summary",
            Self::QuarterlyActivity => "quarterly_activity",
            Self::CustomPeriod => "custom_period",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "annual_summary" => Self::AnnualSummary,
            "quarterly_activity" => Self::QuarterlyActivity,
            "custom_period" => Self::CustomPeriod,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportStatus {
    #[default]
    Pending,
    Generating,
    Completed,
    Failed,
}

impl ReportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Generating => "generating",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "generating" => Self::Generating,
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            _ => return None,
        })
    }

    /// Forward only: a completed report is final; a failed one may be tried again.
    pub(crate) fn may_become(self, next: ReportStatus) -> bool {
        use ReportStatus as S;
        matches!(
            (self, next),
            (S::Pending, S::Generating | S::Completed | S::Failed)
                | (S::Generating, S::Completed | S::Failed)
                | (S::Failed, S::Pending | S::Generating)
        )
    }
}

/// The last day a report for a period ending on `period_to` must be kept.
pub fn retained_until(period_to: NaiveDate) -> NaiveDate {
    let year = period_to.year().saturating_add(RETENTION_YEARS);
    NaiveDate::from_ymd_opt(year, 12, 31).unwrap_or(NaiveDate::MAX)
}

/// A report's file, once it has one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportFile {
    pub file_ref: String,
    pub file_size_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReportState {
    pub org_id: Option<OrgId>,
    pub period_to: Option<NaiveDate>,
    pub status: ReportStatus,
    pub file: Option<ReportFile>,
    pub deleted: bool,
    pub file_removed: bool,
}

/// A report as first recorded: by a completed export (with its file and the log position its
/// data was read at), or by a client through the API (usually `pending`, without a file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewReport {
    pub report_id: String,
    pub org_id: OrgId,
    pub report_type: ReportType,
    pub period_from: NaiveDate,
    pub period_to: NaiveDate,
    pub status: ReportStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<ReportFile>,
    pub generated_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated_at: Option<DateTime<Utc>>,
    /// The store position the report's data was read at; `None` for reports recorded by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_position: Option<String>,
    /// The export (or re-export) that produced it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ReportCommand {
    Record {
        report: NewReport,
        now: DateTime<Utc>,
    },
    Update {
        status: Option<ReportStatus>,
        file: Option<ReportFile>,
        generated_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    },
    Delete {
        today: NaiveDate,
        now: DateTime<Utc>,
    },
    RemoveFile {
        now: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event_type", content = "payload")]
pub enum ReportEvent {
    ReportRecorded {
        #[serde(flatten)]
        report: NewReport,
        recorded_at: DateTime<Utc>,
    },
    ReportUpdated {
        status: ReportStatus,
        file: Option<ReportFile>,
        generated_at: Option<DateTime<Utc>>,
        updated_at: DateTime<Utc>,
    },
    ReportDeleted {
        deleted_at: DateTime<Utc>,
    },
    /// The deleted report's file is gone from the file store.
    ReportFileRemoved {
        file_ref: String,
        removed_at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error("report not found")]
    Unknown,
    #[error("report already exists")]
    AlreadyExists,
    #[error("a {from} report cannot become {to}")]
    Transition {
        from: &'static str,
        to: &'static str,
    },
    #[error("a completed report needs a file_ref")]
    CompletedWithoutFile,
    #[error(
        "the report must be kept until {0} (bokføringsloven § 13: five years after the end of the year its period ends in)"
    )]
    Retained(NaiveDate),
    #[error("the report is not deleted or has no file left to remove")]
    NoFileToRemove,
    /// A file outside the report's organisation's prefix (`reports/{org}/`).
    #[error("the file {0} does not lie under the organisation's own prefix")]
    ForeignFile(String),
}

/// A report's file lies under its organisation's prefix, never anywhere else: the file store
/// is shared by every organisation, and a key is all a download link or a deletion goes by.
fn owned_file(org: &OrgId, file: Option<&ReportFile>) -> Result<(), ReportError> {
    match file {
        Some(file) if !FileKey::parse(&file.file_ref).is_ok_and(|key| key.is_owned_by(org)) => {
            Err(ReportError::ForeignFile(file.file_ref.clone()))
        }
        _ => Ok(()),
    }
}

impl Report {
    pub fn stream(report_id: &str) -> String {
        format!("{}-{}", Self::CATEGORY, report_id)
    }
}

impl Aggregate for Report {
    type State = ReportState;
    type Command = ReportCommand;
    type Event = ReportEvent;
    type Error = ReportError;

    const CATEGORY: &'static str = "report";

    fn decide(
        state: &ReportState,
        command: ReportCommand,
    ) -> Result<Vec<ReportEvent>, ReportError> {
        let exists = state.org_id.is_some() && !state.deleted;
        match command {
            ReportCommand::Record { report, now } => {
                if state.org_id.is_some() {
                    return Err(ReportError::AlreadyExists);
                }
                if report.status == ReportStatus::Completed && report.file.is_none() {
                    return Err(ReportError::CompletedWithoutFile);
                }
                owned_file(&report.org_id, report.file.as_ref())?;
                Ok(vec![ReportEvent::ReportRecorded {
                    report,
                    recorded_at: now,
                }])
            }
            ReportCommand::Update {
                status,
                file,
                generated_at,
                now,
            } => {
                if !exists {
                    return Err(ReportError::Unknown);
                }
                let next = status.unwrap_or(state.status);
                if next != state.status && !state.status.may_become(next) {
                    return Err(ReportError::Transition {
                        from: state.status.as_str(),
                        to: next.as_str(),
                    });
                }
                if state.status == ReportStatus::Completed
                    && (file.is_some() || generated_at.is_some())
                {
                    return Err(ReportError::Transition {
                        from: "completed",
                        to: "completed",
                    });
                }
                if next == ReportStatus::Completed && file.is_none() && state.file.is_none() {
                    return Err(ReportError::CompletedWithoutFile);
                }
                if let Some(org) = &state.org_id {
                    owned_file(org, file.as_ref())?;
                }
                Ok(vec![ReportEvent::ReportUpdated {
                    status: next,
                    file,
                    generated_at,
                    updated_at: now,
                }])
            }
            ReportCommand::Delete { today, now } => {
                if !exists {
                    return Err(ReportError::Unknown);
                }
                if let Some(period_to) = state.period_to {
                    let until = retained_until(period_to);
                    if today <= until {
                        return Err(ReportError::Retained(until));
                    }
                }
                Ok(vec![ReportEvent::ReportDeleted { deleted_at: now }])
            }
            ReportCommand::RemoveFile { now } => {
                let file = state
                    .file
                    .as_ref()
                    .filter(|_| state.deleted && !state.file_removed)
                    .ok_or(ReportError::NoFileToRemove)?;
                Ok(vec![ReportEvent::ReportFileRemoved {
                    file_ref: file.file_ref.clone(),
                    removed_at: now,
                }])
            }
        }
    }

    fn evolve(mut state: ReportState, event: &ReportEvent) -> ReportState {
        match event {
            ReportEvent::ReportRecorded { report, .. } => {
                state.org_id = Some(report.org_id.clone());
                state.period_to = Some(report.period_to);
                state.status = report.status;
                state.file = report.file.clone();
            }
            ReportEvent::ReportUpdated { status, file, .. } => {
                state.status = *status;
                if file.is_some() {
                    state.file = file.clone();
                }
            }
            ReportEvent::ReportDeleted { .. } => state.deleted = true,
            ReportEvent::ReportFileRemoved { .. } => state.file_removed = true,
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{given, state_after};

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    /// The history of a pending annual report for `period_to`'s year.
    fn recorded(period_to: NaiveDate) -> Vec<ReportEvent> {
        given::<Report>(&[])
            .when(ReportCommand::Record {
                report: NewReport {
                    report_id: "rpt_1".into(),
                    org_id: OrgId::parse("org-1").unwrap(),
                    report_type: ReportType::AnnualSummary,
                    period_from: d(period_to.year(), 1, 1),
                    period_to,
                    status: ReportStatus::Pending,
                    file: None,
                    generated_by: Some("user".into()),
                    generated_at: None,
                    source_position: None,
                    export_id: None,
                },
                now: Utc::now(),
            })
            .events()
    }

    #[test]
    fn report_types_follow_the_period() {
        assert_eq!(
            ReportType::of_range(d(2025, 1, 1), d(2025, 12, 31)),
            ReportType::AnnualSummary
        );
        assert_eq!(
            ReportType::of_range(d(2025, 10, 1), d(2025, 12, 31)),
            ReportType::QuarterlyActivity
        );
        assert_eq!(
            ReportType::of_range(d(2025, 1, 1), d(2025, 6, 30)),
            ReportType::CustomPeriod
        );
    }

    #[test]
    fn a_report_is_kept_five_years_after_its_year_ends() {
        assert_eq!(retained_until(d(2025, 3, 31)), d(2030, 12, 31));
        let history = recorded(d(2020, 12, 31));
        let delete = |today| ReportCommand::Delete {
            today,
            now: Utc::now(),
        };
        given::<Report>(&history)
            .when(delete(d(2025, 12, 31)))
            .then_error(ReportError::Retained(d(2025, 12, 31)));
        assert!(
            given::<Report>(&history)
                .when(delete(d(2026, 1, 1)))
                .result()
                .is_ok()
        );
    }

    #[test]
    fn a_deleted_reports_file_is_removed_once() {
        let mut history = recorded(d(2019, 12, 31));
        // Not deleted.
        given::<Report>(&history)
            .when(ReportCommand::RemoveFile { now: Utc::now() })
            .then_error(ReportError::NoFileToRemove);
        let file = ReportFile {
            file_ref: "reports/org-1/rpt_1/a.pdf".into(),
            file_size_bytes: 1,
        };
        let update = ReportCommand::Update {
            status: Some(ReportStatus::Completed),
            file: Some(file),
            generated_at: None,
            now: Utc::now(),
        };
        for command in [
            update,
            ReportCommand::Delete {
                today: d(2026, 11, 23),
                now: Utc::now(),
            },
            ReportCommand::RemoveFile { now: Utc::now() },
        ] {
            history.extend(given::<Report>(&history).when(command).events());
        }
        let state = state_after::<Report>(&history);
        assert!(state.deleted && state.file_removed);
        given::<Report>(&history)
            .when(ReportCommand::RemoveFile { now: Utc::now() })
            .then_error(ReportError::NoFileToRemove);
        // Deleted once.
        given::<Report>(&history)
            .when(ReportCommand::Delete {
                today: d(2026, 11, 23),
                now: Utc::now(),
            })
            .then_error(ReportError::Unknown);
    }

    #[test]
    fn statuses_only_move_forward_and_completion_needs_a_file() {
        let history = recorded(d(2025, 12, 31));
        let update = |status, file: Option<ReportFile>| ReportCommand::Update {
            status: Some(status),
            file,
            generated_at: None,
            now: Utc::now(),
        };
        given::<Report>(&history)
            .when(update(ReportStatus::Completed, None))
            .then_error(ReportError::CompletedWithoutFile);
        let file = ReportFile {
            file_ref: "reports/org-1/rpt_1/a.xlsx".into(),
            file_size_bytes: 10,
        };
        let done = given::<Report>(&history)
            .when(update(ReportStatus::Completed, Some(file)))
            .events();
        let history = [history, done].concat();
        assert!(matches!(
            given::<Report>(&history)
                .when(update(ReportStatus::Pending, None))
                .result(),
            Err(ReportError::Transition { .. })
        ));
    }

    #[test]
    fn a_report_never_takes_a_file_outside_its_organisation() {
        let history = recorded(d(2025, 12, 31));
        for foreign in [
            "reports/org-2/rpt_9/report.csv",
            "reports/org-10/x.csv",
            "exports/exp_1/1/report.csv",
            "reports/org-1",
            "../reports/org-1/x.csv",
        ] {
            let file = ReportFile {
                file_ref: foreign.into(),
                file_size_bytes: 3,
            };
            let update = ReportCommand::Update {
                status: Some(ReportStatus::Completed),
                file: Some(file.clone()),
                generated_at: None,
                now: Utc::now(),
            };
            assert_eq!(
                given::<Report>(&history).when(update).result(),
                Err(ReportError::ForeignFile(foreign.into())),
                "{foreign}"
            );
        }
        let ReportCommand::Record { mut report, .. } = record_of(&state_after::<Report>(&history))
        else {
            unreachable!()
        };
        report.status = ReportStatus::Completed;
        report.file = Some(ReportFile {
            file_ref: "reports/org-2/rpt_1/report.csv".into(),
            file_size_bytes: 3,
        });
        assert!(matches!(
            given::<Report>(&[])
                .when(ReportCommand::Record {
                    report,
                    now: Utc::now()
                })
                .result(),
            Err(ReportError::ForeignFile(_))
        ));
    }

    fn record_of(state: &ReportState) -> ReportCommand {
        ReportCommand::Record {
            report: NewReport {
                report_id: "rpt_2".into(),
                org_id: state.org_id.clone().unwrap(),
                report_type: ReportType::AnnualSummary,
                period_from: d(2025, 1, 1),
                period_to: d(2025, 12, 31),
                status: ReportStatus::Pending,
                file: None,
                generated_by: None,
                generated_at: None,
                source_position: None,
                export_id: None,
            },
            now: Utc::now(),
        }
    }
}
