//! RequestSnapshot, InvalidateSnapshot, DeleteSnapshot, and the aggregation worker's
//! RecordAggregation: one stream per organisation and period (`ReportData`).

use chrono::{DateTime, SubsecRound, Utc};
use domain::report_data::{
    ReportData, ReportDataCommand, ReportDataError, SectionValues, SnapshotStatus,
};
use domain::{OrgId, PeriodId};
use projections::organizations::Visible;
use projections::report_data;
use projections::report_queries::{self, SnapshotFilter, SnapshotRow};
use store::Metadata;

use crate::{Ctx, Error, id_for};

/// What a snapshot request did.
pub enum Requested {
    /// A new snapshot, to be aggregated.
    Started {
        snapshot_id: String,
        job_id: String,
        requested_at: DateTime<Utc>,
    },
    /// A current (or still processing) snapshot made the request unnecessary.
    Existing(Box<SnapshotRow>),
}

pub struct RequestSnapshot {
    pub org_id: OrgId,
    pub period_id: PeriodId,
    /// A new snapshot even when a valid one exists.
    pub force: bool,
}

pub async fn request(
    ctx: &Ctx,
    metadata: &Metadata,
    command: RequestSnapshot,
) -> Result<Requested, Error<ReportDataError>> {
    let snapshot_id = id_for("snap", metadata);
    let job_id = id_for("job", metadata);
    let now = Utc::now().trunc_subsecs(6);
    let executed = ctx
        .run::<ReportData>(
            &ReportData::stream(&command.org_id, &command.period_id),
            metadata,
            &[report_data::NAME],
            ReportDataCommand::Request {
                snapshot_id: snapshot_id.clone(),
                job_id: job_id.clone(),
                org_id: command.org_id.clone(),
                period_id: command.period_id,
                force: command.force,
                now,
            },
        )
        .await?;
    if executed.outcome.is_some() {
        return Ok(Requested::Started {
            snapshot_id,
            job_id,
            requested_at: now,
        });
    }
    let filter = SnapshotFilter {
        org_id: Some(command.org_id.to_string()),
        period_id: Some(command.period_id.to_string()),
        status: None,
    };
    let (rows, _) = report_queries::snapshots(
        &ctx.db.read,
        &filter,
        Visible::All,
        projections::Page {
            offset: 0,
            limit: 100,
        },
    )
    .await?;
    rows.into_iter()
        .find(|s| {
            matches!(
                s.status,
                SnapshotStatus::Current | SnapshotStatus::Processing
            )
        })
        .map(|row| Requested::Existing(Box::new(row)))
        // Nothing was needed, yet the read model shows no current snapshot: it is still
        // catching up with the one that made the request unnecessary.
        .ok_or(Error::NotVisibleYet(
            "the existing snapshot is not visible yet",
        ))
}

fn stream_of(row: &SnapshotRow) -> String {
    ReportData::stream(&row.org_id, &row.period_id)
}

pub struct InvalidateSnapshot {
    pub reason: String,
}

/// Marks the snapshot stale and queues its re-aggregation; answers the job and when.
pub async fn invalidate(
    ctx: &Ctx,
    metadata: &Metadata,
    snapshot: &SnapshotRow,
    command: InvalidateSnapshot,
) -> Result<(String, DateTime<Utc>), Error<ReportDataError>> {
    let job_id = id_for("job", metadata);
    let now = Utc::now().trunc_subsecs(6);
    ctx.run::<ReportData>(
        &stream_of(snapshot),
        metadata,
        &[report_data::NAME],
        ReportDataCommand::Invalidate {
            snapshot_id: snapshot.snapshot_id.clone(),
            job_id: job_id.clone(),
            reason: command.reason,
            now,
        },
    )
    .await?;
    Ok((job_id, now))
}

pub async fn delete(
    ctx: &Ctx,
    metadata: &Metadata,
    snapshot: &SnapshotRow,
) -> Result<(), Error<ReportDataError>> {
    ctx.run::<ReportData>(
        &stream_of(snapshot),
        metadata,
        &[report_data::NAME],
        ReportDataCommand::Delete {
            snapshot_id: snapshot.snapshot_id.clone(),
            now: Utc::now(),
        },
    )
    .await?;
    Ok(())
}

/// An aggregation's result: the figures, or why there are none.
pub enum Aggregated {
    Figures {
        sections: SectionValues,
        prior_values: std::collections::BTreeMap<String, f64>,
        source_position: String,
        duration_ms: u64,
    },
    Failed(String),
}

/// Records an aggregation of snapshot `snapshot_id` of `org_id`/`period_id`.
pub async fn record_aggregation(
    ctx: &Ctx,
    metadata: &Metadata,
    org_id: &OrgId,
    period_id: &PeriodId,
    snapshot_id: &str,
    result: Aggregated,
) -> Result<(), Error<ReportDataError>> {
    let now = Utc::now();
    let command = match result {
        Aggregated::Figures {
            sections,
            prior_values,
            source_position,
            duration_ms,
        } => ReportDataCommand::RecordAggregation {
            snapshot_id: snapshot_id.to_string(),
            sections,
            prior_values,
            source_position,
            duration_ms,
            now,
        },
        Aggregated::Failed(error) => ReportDataCommand::Fail {
            snapshot_id: snapshot_id.to_string(),
            error,
            now,
        },
    };
    ctx.run::<ReportData>(
        &ReportData::stream(org_id, period_id),
        metadata,
        &[report_data::NAME],
        command,
    )
    .await?;
    Ok(())
}

/// Snapshot `id` of `org`'s `period` as the service showed it `as_of`: its events up to there,
/// folded as the read model folds them. `None` before it was requested, or once deleted.
pub async fn as_of(
    ctx: &Ctx,
    org: &domain::OrgId,
    period: &domain::PeriodId,
    id: &str,
    as_of: crate::as_of::AsOf,
) -> Result<Option<domain::snapshot_history::SnapshotAt>, Error<std::convert::Infallible>> {
    let stream = domain::report_data::ReportData::stream(org, period);
    let events: Vec<domain::report_data::ReportDataEvent> =
        crate::as_of::events_until(ctx, &stream, as_of).await?;
    Ok(domain::snapshot_history::snapshot_at(&events, id))
}
