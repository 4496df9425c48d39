//! The report_data read model: source records (one row per record id, corrections replace),
//! where each organisation's records last changed, and the snapshots with their figures.
//! One projection owns all three so that a snapshot's staleness and the records it is
//! aggregated from are always at the same log position.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use domain::report_data::{ReportData, ReportDataEvent, SnapshotStatus};
use domain::source_import::{self, SourceDataEvent};
use domain::source_records::SourceRecord;
use domain::{Aggregate, PeriodId, decode_event};
use sqlx::types::Json;
use sqlx::{PgConnection, SqliteConnection};
use store::{Filter, IdList, ReadTransaction, RecordedEvent, Stamp, on_tx};

use crate::{Projection, ProjectionError};

pub const NAME: crate::ProjectionName = crate::ProjectionName::ReportData;

pub struct ReportDataProjection;

/// Rows per multi-row statement on SQLite; 9 parameters each stays below its limit.
const CHUNK: usize = 500;

/// The numeric, ordered part of a log position, for comparisons in SQL.
pub fn position_key(position: &store::Position) -> i64 {
    position.commit_prepare().0 as i64
}

#[async_trait::async_trait]
impl Projection for ReportDataProjection {
    fn name(&self) -> crate::ProjectionName {
        NAME
    }

    fn filter(&self) -> Filter {
        Filter::categories([source_import::CATEGORY, ReportData::CATEGORY])
    }

    fn tables(&self) -> &'static [&'static str] {
        &["source_records", "source_changes", "snapshots"]
    }

    async fn apply(
        &self,
        tx: &mut ReadTransaction,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        if event.category() == source_import::CATEGORY {
            let decoded: SourceDataEvent = decode_event(&event.event_type, &event.payload)?;
            apply_import(tx, event, decoded).await
        } else {
            let decoded: ReportDataEvent = decode_event(&event.event_type, &event.payload)?;
            apply_snapshot(tx, event, decoded).await
        }
    }
}

async fn apply_import(
    tx: &mut ReadTransaction,
    event: &RecordedEvent,
    decoded: SourceDataEvent,
) -> Result<(), ProjectionError> {
    let SourceDataEvent::SourceRecordsImported {
        org_id,
        data_source,
        records,
        imported_at,
        ..
    } = decoded;
    let position = position_key(&event.position);
    let mut years: BTreeSet<i32> = records
        .iter()
        .map(|r| chrono::Datelike::year(&r.occurred_on))
        .collect();
    let upsert = Upsert {
        org_id: org_id.as_str(),
        data_source: &data_source,
        records: &records,
        imported_at: Stamp(imported_at),
        position,
    };
    // A corrected record may move to another year: the year it leaves changes too.
    let left = match tx {
        ReadTransaction::Postgres(t) => upsert.on_postgres(t).await?,
        ReadTransaction::Sqlite(t) => upsert.on_sqlite(t).await?,
    };
    years.extend(left.iter().map(chrono::Datelike::year));
    for year in years {
        on_tx!(tx, c => sqlx::query(
            "INSERT INTO source_changes (org_id, year, position, changed_by, changed_by_issuer) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (org_id, year) DO UPDATE SET position = excluded.position, \
                 changed_by = excluded.changed_by, changed_by_issuer = excluded.changed_by_issuer",
        )
        .bind(org_id.as_str().to_string())
        .bind(i64::from(year))
        .bind(position)
        .bind(event.metadata.actor.clone())
        .bind(event.metadata.issuer.clone())
        .execute(c)
        .await
        .map(|done| done.rows_affected()))?;
    }
    Ok(())
}

async fn apply_snapshot(
    tx: &mut ReadTransaction,
    event: &RecordedEvent,
    decoded: ReportDataEvent,
) -> Result<(), ProjectionError> {
    use ReportDataEvent as E;
    let position = event.position.to_string();
    match decoded {
        E::SnapshotRequested {
            snapshot_id,
            org_id,
            period_id,
            job_id,
            requested_at,
        } => {
            on_tx!(tx, c => sqlx::query(
                "INSERT INTO snapshots (snapshot_id, org_id, period_id, period_year, prior_year, status, \
                     job_id, created_at, position) \
                 VALUES ($1, $2, $3, $4, $5, $9, $6, $7, $8) ON CONFLICT (snapshot_id) DO NOTHING",
            )
            .bind(snapshot_id)
            .bind(org_id.as_str().to_string())
            .bind(period_id.to_string())
            .bind(i64::from(period_id.year()))
            .bind(i64::from(PeriodId::prior(&period_id).year()))
            .bind(job_id)
            .bind(Stamp(requested_at))
            .bind(position)
            .bind(SnapshotStatus::Processing.as_str())
            .execute(c)
            .await
            .map(|done| done.rows_affected()))?;
        }
        E::SnapshotInvalidated {
            snapshot_id,
            job_id,
            reason,
            invalidated_at,
            ..
        } => {
            on_tx!(tx, c => sqlx::query(
                "UPDATE snapshots SET status = $6, job_id = $1, invalidation_reason = $2, \
                     invalidated_at = $3, position = $4 WHERE snapshot_id = $5",
            )
            .bind(job_id)
            .bind(reason)
            .bind(Stamp(invalidated_at))
            .bind(position)
            .bind(snapshot_id)
            .bind(SnapshotStatus::Processing.as_str())
            .execute(c)
            .await
            .map(|done| done.rows_affected()))?;
        }
        E::SnapshotAggregated {
            snapshot_id,
            sections,
            prior_values,
            superseded,
            source_position,
            duration_ms,
            aggregated_at,
            ..
        } => {
            if let Some(old) = superseded {
                on_tx!(tx, c => sqlx::query(
                    "UPDATE snapshots SET status = 'historical', position = $1 WHERE snapshot_id = $2",
                )
                .bind(position.clone())
                .bind(old)
                .execute(c)
                .await
                .map(|done| done.rows_affected()))?;
            }
            let populated: usize = sections.values().map(|fields| fields.len()).sum();
            let source: store::Position = source_position.parse().map_err(|_| {
                ProjectionError::Corrupt(format!("source position {source_position:?}"))
            })?;
            on_tx!(tx, c => sqlx::query(
                "UPDATE snapshots SET status = $9, sections = $1, prior_values = $2, \
                     populated_field_count = $3, source_position = $4, duration_ms = $5, \
                     aggregated_at = $6, error = NULL, position = $7 WHERE snapshot_id = $8",
            )
            .bind(Json(&sections))
            .bind(Json(&prior_values))
            .bind(populated as i64)
            .bind(position_key(&source))
            .bind(duration_ms.min(i64::MAX as u64) as i64)
            .bind(Stamp(aggregated_at))
            .bind(position)
            .bind(snapshot_id)
            .bind(SnapshotStatus::Current.as_str())
            .execute(c)
            .await
            .map(|done| done.rows_affected()))?;
        }
        E::SnapshotAggregationFailed {
            snapshot_id, error, ..
        } => {
            on_tx!(tx, c => sqlx::query(
                "UPDATE snapshots SET status = $4, error = $1, position = $2 WHERE snapshot_id = $3",
            )
            .bind(error)
            .bind(position)
            .bind(snapshot_id)
            .bind(SnapshotStatus::Failed.as_str())
            .execute(c)
            .await
            .map(|done| done.rows_affected()))?;
        }
        E::SnapshotDeleted { snapshot_id, .. } => {
            on_tx!(tx, c => sqlx::query("DELETE FROM snapshots WHERE snapshot_id = $1")
                .bind(snapshot_id)
                .execute(c)
                .await
                .map(|done| done.rows_affected()))?;
        }
    }
    Ok(())
}

/// `$first, $first+1, ...` for `count` values.
/// One row of `width` anonymous parameters, `(?, ?, ...)`. Not `$n`: SQLite finds a numbered
/// parameter's name by walking a list of all of them, so binding the 4 500 of a chunk by number
/// took half the import's time (measured with perf: `sqlite3_bind_parameter_name`).
fn row_marks(width: usize) -> String {
    format!("({})", vec!["?"; width].join(", "))
}

/// The upsert of one import's records into `source_records`.
struct Upsert<'a> {
    org_id: &'a str,
    data_source: &'a str,
    records: &'a [SourceRecord],
    imported_at: Stamp,
    position: i64,
}

const UPSERT_RECORD: &str = "ON CONFLICT (org_id, record_id) DO UPDATE SET \
    occurred_on = excluded.occurred_on, metric = excluded.metric, value = excluded.value, \
    hours = excluded.hours, data_source = excluded.data_source, \
    imported_at = excluded.imported_at, position = excluded.position";

impl Upsert<'_> {
    /// One statement each for the whole import, the records bound as arrays: no statement text
    /// that grows with the batch, no per-value parameter. Returns the dates the records had.
    async fn on_postgres(&self, c: &mut PgConnection) -> Result<Vec<NaiveDate>, sqlx::Error> {
        let records = self.records;
        let ids: Vec<&str> = records.iter().map(|r| r.record_id.as_str()).collect();
        let before = sqlx::query_scalar(
            "SELECT DISTINCT occurred_on FROM source_records \
             WHERE org_id = $1 AND record_id = ANY($2)",
        )
        .bind(self.org_id)
        .bind(&ids)
        .fetch_all(&mut *c)
        .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO source_records \
                 (org_id, record_id, occurred_on, metric, value, hours, data_source, imported_at, position) \
             SELECT $1, record_id, occurred_on, metric, value, hours, $7, $8, $9 \
             FROM unnest($2::text[], $3::date[], $4::text[], $5::float8[], $6::float8[]) \
                 AS t(record_id, occurred_on, metric, value, hours) {UPSERT_RECORD}"
        )))
        .bind(self.org_id)
        .bind(&ids)
        .bind(records.iter().map(|r| r.occurred_on).collect::<Vec<_>>())
        .bind(records.iter().map(|r| r.metric.as_str()).collect::<Vec<_>>())
        .bind(records.iter().map(|r| r.value).collect::<Vec<_>>())
        .bind(records.iter().map(|r| r.hours).collect::<Vec<_>>())
        .bind(self.data_source)
        .bind(self.imported_at)
        .bind(self.position)
        .execute(&mut *c)
        .await?;
        Ok(before)
    }

    /// Multi-row statements of [`CHUNK`] records (SQLite binds parameters one by one). Returns
    /// the dates the records had.
    async fn on_sqlite(&self, c: &mut SqliteConnection) -> Result<Vec<NaiveDate>, sqlx::Error> {
        let mut before = Vec::new();
        for chunk in self.records.chunks(CHUNK) {
            // Written as `record_id IN (list)`, SQLite's planner scans the organisation's
            // covering index and tests every row against the list, so each import cost grew with
            // the organisation's records; CROSS JOIN fixes the order: one primary-key lookup per
            // record.
            let ids = IdList(chunk.iter().map(|r| r.record_id.clone()).collect());
            let dates: Vec<NaiveDate> = sqlx::query_scalar(
                "SELECT DISTINCT s.occurred_on FROM json_each($2) AS j \
                 CROSS JOIN source_records AS s WHERE s.org_id = $1 AND s.record_id = j.value",
            )
            .bind(self.org_id)
            .bind(ids)
            .fetch_all(&mut *c)
            .await?;
            before.extend(dates);

            let rows: Vec<String> = (0..chunk.len()).map(|_| row_marks(9)).collect();
            let sql = format!(
                "INSERT INTO source_records \
                     (org_id, record_id, occurred_on, metric, value, hours, data_source, imported_at, position) \
                 VALUES {} {UPSERT_RECORD}",
                rows.join(", ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for r in chunk {
                q = q
                    .bind(self.org_id)
                    .bind(r.record_id.as_str())
                    .bind(r.occurred_on)
                    .bind(r.metric.as_str())
                    .bind(r.value)
                    .bind(r.hours)
                    .bind(self.data_source)
                    .bind(self.imported_at)
                    .bind(self.position);
            }
            q.execute(&mut *c).await?;
        }
        Ok(before)
    }
}
