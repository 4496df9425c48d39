//! RecordReport, UpdateReport, DeleteReport and the removal of a deleted report's file: one
//! stream per report (`Report`), whose decide keeps statuses moving forward and refuses a
//! deletion while the retention period runs.

use chrono::{DateTime, NaiveDate, Utc};
use domain::report::{NewReport, Report, ReportCommand, ReportError, ReportFile, ReportStatus};
use projections::reports;
use store::Metadata;

use crate::{Ctx, Error};

async fn run(
    ctx: &Ctx,
    metadata: &Metadata,
    report_id: &str,
    command: ReportCommand,
) -> Result<(), Error<ReportError>> {
    ctx.run::<Report>(
        &Report::stream(report_id),
        metadata,
        &[reports::NAME],
        command,
    )
    .await?;
    Ok(())
}

pub async fn record(
    ctx: &Ctx,
    metadata: &Metadata,
    report: NewReport,
) -> Result<(), Error<ReportError>> {
    let report_id = report.report_id.clone();
    let command = ReportCommand::Record {
        report,
        now: Utc::now(),
    };
    run(ctx, metadata, &report_id, command).await
}

pub struct UpdateReport {
    pub status: Option<ReportStatus>,
    /// Already checked to be the organisation's own file.
    pub file: Option<ReportFile>,
    pub generated_at: Option<DateTime<Utc>>,
}

pub async fn update(
    ctx: &Ctx,
    metadata: &Metadata,
    report_id: &str,
    update: UpdateReport,
) -> Result<(), Error<ReportError>> {
    let command = ReportCommand::Update {
        status: update.status,
        file: update.file,
        generated_at: update.generated_at,
        now: Utc::now(),
    };
    run(ctx, metadata, report_id, command).await
}

/// Deletes the report once its retention period is over; answers when.
pub async fn delete(
    ctx: &Ctx,
    metadata: &Metadata,
    report_id: &str,
    today: NaiveDate,
) -> Result<DateTime<Utc>, Error<ReportError>> {
    let now = Utc::now();
    run(
        ctx,
        metadata,
        report_id,
        ReportCommand::Delete { today, now },
    )
    .await?;
    Ok(now)
}

/// Records that a deleted report's file is gone from the store.
pub async fn file_removed(
    ctx: &Ctx,
    metadata: &Metadata,
    report_id: &str,
) -> Result<(), Error<ReportError>> {
    run(
        ctx,
        metadata,
        report_id,
        ReportCommand::RemoveFile { now: Utc::now() },
    )
    .await
}

/// Report `report_id`'s record as it stood `as_of`, folded from its events as the read model
/// folds them; `None` before it was recorded.
pub async fn as_of(
    ctx: &Ctx,
    report_id: &str,
    as_of: crate::as_of::AsOf,
) -> Result<Option<domain::report_history::ReportAt>, Error<std::convert::Infallible>> {
    let events: Vec<domain::report::ReportEvent> =
        crate::as_of::events_until(ctx, &Report::stream(report_id), as_of).await?;
    Ok(domain::report_history::report_at(&events))
}
