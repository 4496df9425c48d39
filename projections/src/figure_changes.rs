//! The figure_changes read model: why a figure changed. Figures are sums of records, so each
//! import is kept as what it did to each sum (`figure_deltas`: per quarter, metric and data
//! source) beside who sent it and when (`source_batches`). A figure as of a log position is the
//! sum of the deltas up to it; a diff of two versions is the deltas between them, grouped by the
//! import they came from — without replaying the log per request.
//!
//! Valid time and transaction time stay apart: a delta belongs to the quarter its records
//! occurred in (valid time) and to the position of the import that brought it (transaction
//! time), so records for 2025 corrected in March 2026 change 2025's figures as of March 2026,
//! and not before.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, Utc};
use domain::aggregation::MetricSum;
use domain::source_import::{self, SourceDataEvent};
use domain::source_records::SourceRecord;
use domain::{OrgId, PeriodId, decode_event};
use sqlx::{PgConnection, SqliteConnection};
use store::{Filter, IdList, ReadPool, ReadTransaction, RecordedEvent, Stamp, on_pool, on_tx};

use crate::report_data::position_key;
use crate::{Projection, ProjectionError};

pub const NAME: crate::ProjectionName = crate::ProjectionName::FigureChanges;

pub struct FigureChangesProjection;

/// Records per statement on SQLite (8 parameters each).
const CHUNK: usize = 500;

/// Where a record counts: its quarter, metric and data source.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Key {
    year: i64,
    quarter: i64,
    metric: String,
    data_source: String,
}

/// A record as this read model last saw it.
#[derive(Debug, Clone, sqlx::FromRow)]
struct Seen {
    record_id: String,
    year: i64,
    quarter: i64,
    metric: String,
    data_source: String,
    value: f64,
    hours: Option<f64>,
}

/// What one import did to one sum.
#[derive(Debug, Default, Clone, Copy)]
struct Delta {
    value: f64,
    hours: f64,
    records: i64,
    added: i64,
    replaced: i64,
}

fn key_of(r: &SourceRecord, data_source: &str) -> Key {
    Key {
        year: i64::from(r.occurred_on.year()),
        quarter: i64::from(r.occurred_on.month0() / 3 + 1),
        metric: r.metric.clone(),
        data_source: data_source.to_string(),
    }
}

/// The import's deltas: each record adds to its key, and takes away, from the key it had, the
/// earlier version it replaces.
fn deltas(
    records: &[SourceRecord],
    data_source: &str,
    before: &HashMap<String, Seen>,
) -> BTreeMap<Key, Delta> {
    let mut out: BTreeMap<Key, Delta> = BTreeMap::new();
    for r in records {
        let d = out.entry(key_of(r, data_source)).or_default();
        d.value += r.value;
        d.hours += r.hours.unwrap_or(0.0);
        d.records += 1;
        d.added += 1;
        if let Some(old) = before.get(&r.record_id) {
            let key = Key {
                year: old.year,
                quarter: old.quarter,
                metric: old.metric.clone(),
                data_source: old.data_source.clone(),
            };
            let d = out.entry(key).or_default();
            d.value -= old.value;
            d.hours -= old.hours.unwrap_or(0.0);
            d.records -= 1;
            d.replaced += 1;
        }
    }
    out
}

#[async_trait::async_trait]
impl Projection for FigureChangesProjection {
    fn name(&self) -> crate::ProjectionName {
        NAME
    }

    fn filter(&self) -> Filter {
        Filter::categories([source_import::CATEGORY])
    }

    fn tables(&self) -> &'static [&'static str] {
        &["figure_records", "figure_deltas", "source_batches"]
    }

    async fn apply(
        &self,
        tx: &mut ReadTransaction,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        let SourceDataEvent::SourceRecordsImported {
            import_id,
            org_id,
            data_source,
            records,
            imported_at,
        } = decode_event(&event.event_type, &event.payload)?;
        let position = position_key(&event.position);
        let org = org_id.as_str();
        let before = match &mut *tx {
            ReadTransaction::Postgres(c) => seen_on_postgres(c, org, &records).await?,
            ReadTransaction::Sqlite(c) => seen_on_sqlite(c, org, &records).await?,
        };
        let before: HashMap<String, Seen> = before
            .into_iter()
            .map(|s| (s.record_id.clone(), s))
            .collect();
        for (key, d) in deltas(&records, &data_source, &before) {
            on_tx!(tx, c => sqlx::query(
                "INSERT INTO figure_deltas (org_id, year, quarter, metric, data_source, position, \
                     value, hours, records, added, replaced) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                 ON CONFLICT (org_id, year, position, quarter, metric, data_source) DO NOTHING",
            )
            .bind(org)
            .bind(key.year)
            .bind(key.quarter)
            .bind(key.metric.clone())
            .bind(key.data_source.clone())
            .bind(position)
            .bind(d.value)
            .bind(d.hours)
            .bind(d.records)
            .bind(d.added)
            .bind(d.replaced)
            .execute(c)
            .await
            .map(|done| done.rows_affected()))?;
        }
        match &mut *tx {
            ReadTransaction::Postgres(c) => {
                remember_on_postgres(c, org, &data_source, &records).await?
            }
            ReadTransaction::Sqlite(c) => {
                remember_on_sqlite(c, org, &data_source, &records).await?
            }
        }
        on_tx!(tx, c => sqlx::query(
            "INSERT INTO source_batches (position, org_id, import_id, data_source, actor, issuer, \
                 imported_at, records) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (position) DO NOTHING",
        )
        .bind(position)
        .bind(org)
        .bind(import_id.clone())
        .bind(data_source.clone())
        .bind(event.metadata.actor.clone())
        .bind(event.metadata.issuer.clone())
        .bind(Stamp(imported_at))
        .bind(records.len() as i64)
        .execute(c)
        .await
        .map(|done| done.rows_affected()))?;
        Ok(())
    }
}

const SEEN_COLUMNS: &str =
    "f.record_id, f.year, f.quarter, f.metric, f.data_source, f.value, f.hours";

async fn seen_on_postgres(
    c: &mut PgConnection,
    org: &str,
    records: &[SourceRecord],
) -> Result<Vec<Seen>, sqlx::Error> {
    let ids: Vec<&str> = records.iter().map(|r| r.record_id.as_str()).collect();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SEEN_COLUMNS} FROM figure_records f WHERE f.org_id = $1 AND f.record_id = ANY($2)"
    )))
    .bind(org)
    .bind(&ids)
    .fetch_all(c)
    .await
}

async fn seen_on_sqlite(
    c: &mut SqliteConnection,
    org: &str,
    records: &[SourceRecord],
) -> Result<Vec<Seen>, sqlx::Error> {
    let mut out = Vec::new();
    for chunk in records.chunks(CHUNK) {
        let ids = IdList(chunk.iter().map(|r| r.record_id.clone()).collect());
        // One primary-key lookup per record (see report_data's upsert for why CROSS JOIN).
        let rows: Vec<Seen> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {SEEN_COLUMNS} FROM json_each($2) AS j \
             CROSS JOIN figure_records AS f WHERE f.org_id = $1 AND f.record_id = j.value"
        )))
        .bind(org)
        .bind(ids)
        .fetch_all(&mut *c)
        .await?;
        out.extend(rows);
    }
    Ok(out)
}

const REMEMBER: &str = "ON CONFLICT (org_id, record_id) DO UPDATE SET year = excluded.year, \
    quarter = excluded.quarter, metric = excluded.metric, data_source = excluded.data_source, \
    value = excluded.value, hours = excluded.hours";

async fn remember_on_postgres(
    c: &mut PgConnection,
    org: &str,
    data_source: &str,
    records: &[SourceRecord],
) -> Result<(), sqlx::Error> {
    let keys: Vec<Key> = records.iter().map(|r| key_of(r, data_source)).collect();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO figure_records (org_id, record_id, year, quarter, metric, data_source, value, hours) \
         SELECT $1, record_id, year, quarter, metric, $6, value, hours \
         FROM unnest($2::text[], $3::int8[], $4::int8[], $5::text[], $7::float8[], $8::float8[]) \
             AS t(record_id, year, quarter, metric, value, hours) {REMEMBER}"
    )))
    .bind(org)
    .bind(records.iter().map(|r| r.record_id.as_str()).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.year).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.quarter).collect::<Vec<_>>())
    .bind(records.iter().map(|r| r.metric.as_str()).collect::<Vec<_>>())
    .bind(data_source)
    .bind(records.iter().map(|r| r.value).collect::<Vec<_>>())
    .bind(records.iter().map(|r| r.hours).collect::<Vec<_>>())
    .execute(c)
    .await
    .map(drop)
}

async fn remember_on_sqlite(
    c: &mut SqliteConnection,
    org: &str,
    data_source: &str,
    records: &[SourceRecord],
) -> Result<(), sqlx::Error> {
    for chunk in records.chunks(CHUNK) {
        let rows = vec!["(?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
        let sql = format!(
            "INSERT INTO figure_records (org_id, record_id, year, quarter, metric, data_source, \
                 value, hours) VALUES {rows} {REMEMBER}"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for r in chunk {
            let key = key_of(r, data_source);
            q = q
                .bind(org)
                .bind(r.record_id.as_str())
                .bind(key.year)
                .bind(key.quarter)
                .bind(r.metric.as_str())
                .bind(data_source)
                .bind(r.value)
                .bind(r.hours);
        }
        q.execute(&mut *c).await?;
    }
    Ok(())
}

/// `{t}year = $2` for an annual period, `{t}year = $2 AND {t}quarter = $3` for a quarter, the
/// columns of table alias `t` (`""` or `"d."`); `$3` is bound either way.
fn period_condition(period: &PeriodId, t: &str) -> (String, i64, i64) {
    match period {
        PeriodId::Year(y) => (format!("{t}year = $2 AND $3 = 0"), i64::from(*y), 0),
        PeriodId::Quarter(y, q) => (
            format!("{t}year = $2 AND {t}quarter = $3"),
            i64::from(*y),
            i64::from(*q),
        ),
    }
}

#[derive(sqlx::FromRow)]
struct SumRow {
    metric: String,
    data_source: String,
    value: f64,
    hours: f64,
    records: i64,
}

/// The per-metric sums of `org`'s records of `period` as the log stood at `upto` (a position
/// key; `None`: now): what aggregation would have read then.
pub async fn sums_as_of(
    pool: &ReadPool,
    org: &OrgId,
    period: &PeriodId,
    upto: Option<i64>,
) -> Result<Vec<MetricSum>, ProjectionError> {
    let (condition, year, quarter) = period_condition(period, "");
    let sql = format!(
        "SELECT metric, data_source, CAST(sum(value) AS DOUBLE PRECISION) AS value, \
             CAST(sum(hours) AS DOUBLE PRECISION) AS hours, CAST(sum(records) AS BIGINT) AS records \
         FROM figure_deltas WHERE org_id = $1 AND {condition} AND position <= $4 \
         GROUP BY metric, data_source"
    );
    let rows: Vec<SumRow> = on_pool!(pool, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
        .bind(org.as_str())
        .bind(year)
        .bind(quarter)
        .bind(upto.unwrap_or(i64::MAX))
        .fetch_all(c)
        .await)?;
    Ok(rows
        .into_iter()
        .map(|r| MetricSum {
            metric: r.metric,
            data_source: r.data_source,
            value: r.value,
            hours: r.hours,
            records: r.records.max(0) as u64,
        })
        .collect())
}

/// One import's part in the change of one metric between two versions.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LineageRow {
    pub position: i64,
    pub metric: String,
    pub value: f64,
    pub hours: f64,
    pub added: i64,
    pub replaced: i64,
    pub import_id: String,
    pub data_source: String,
    pub actor: Option<String>,
    pub issuer: Option<String>,
    pub imported_at: DateTime<Utc>,
}

/// What each import after `after` and up to `upto` did to each metric of `org`'s `period`, in
/// log order.
pub async fn lineage(
    pool: &ReadPool,
    org: &OrgId,
    period: &PeriodId,
    after: Option<i64>,
    upto: Option<i64>,
) -> Result<Vec<LineageRow>, ProjectionError> {
    let (condition, year, quarter) = period_condition(period, "d.");
    let sql = format!(
        "SELECT d.position, d.metric, CAST(sum(d.value) AS DOUBLE PRECISION) AS value, \
             CAST(sum(d.hours) AS DOUBLE PRECISION) AS hours, \
             CAST(sum(d.added) AS BIGINT) AS added, CAST(sum(d.replaced) AS BIGINT) AS replaced, \
             b.import_id, b.data_source, b.actor, b.issuer, b.imported_at \
         FROM figure_deltas d JOIN source_batches b ON b.position = d.position \
         WHERE d.org_id = $1 AND {condition} AND d.position > $4 AND d.position <= $5 \
         GROUP BY d.position, d.metric, b.import_id, b.data_source, b.actor, b.issuer, b.imported_at \
         ORDER BY d.position, d.metric"
    );
    Ok(
        on_pool!(pool, c => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
        .bind(org.as_str())
        .bind(year)
        .bind(quarter)
        .bind(after.unwrap_or(-1))
        .bind(upto.unwrap_or(i64::MAX))
        .fetch_all(c)
        .await)?,
    )
}

/// The position of `org`'s newest import recorded at or before `at`; `Some(-1)`: none yet.
pub async fn position_at(
    pool: &ReadPool,
    org: &OrgId,
    at: DateTime<Utc>,
) -> Result<i64, ProjectionError> {
    let found: Option<i64> = on_pool!(pool, c => sqlx::query_scalar(
        "SELECT max(position) FROM source_batches WHERE org_id = $1 AND imported_at <= $2",
    )
    .bind(org.as_str())
    .bind(Stamp(at))
    .fetch_one(c)
    .await)?;
    Ok(found.unwrap_or(-1))
}

/// The organisation and period of snapshot `id`, and the position its figures were read at.
pub async fn snapshot_cut(
    pool: &ReadPool,
    id: &str,
) -> Result<Option<(String, String, i64)>, ProjectionError> {
    Ok(on_pool!(pool, c => sqlx::query_as(
        "SELECT org_id, period_id, source_position FROM snapshots WHERE snapshot_id = $1",
    )
    .bind(id)
    .fetch_optional(c)
    .await)?)
}

/// An import of `org`'s, by its position.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BatchRow {
    pub position: i64,
    pub import_id: String,
    pub data_source: String,
    pub actor: Option<String>,
    pub issuer: Option<String>,
    pub imported_at: DateTime<Utc>,
    pub records: i64,
}

/// `org`'s import at `position`; `None` when there is none, or it is another organisation's.
pub async fn batch(
    pool: &ReadPool,
    org: &OrgId,
    position: i64,
) -> Result<Option<BatchRow>, ProjectionError> {
    Ok(on_pool!(pool, c => sqlx::query_as(
        "SELECT position, import_id, data_source, actor, issuer, imported_at, records \
         FROM source_batches WHERE position = $1 AND org_id = $2",
    )
    .bind(position)
    .bind(org.as_str())
    .fetch_optional(c)
    .await)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, on: &str, metric: &str, value: f64) -> SourceRecord {
        SourceRecord {
            record_id: id.into(),
            occurred_on: on.parse().unwrap(),
            metric: metric.into(),
            value,
            hours: None,
        }
    }

    #[test]
    fn a_correction_takes_its_earlier_version_away_where_it_counted() {
        let before: HashMap<String, Seen> = [(
            "r1".to_string(),
            Seen {
                record_id: "r1".into(),
                year: 2025,
                quarter: 1,
                metric: "m".into(),
                data_source: "cis".into(),
                value: 10.0,
                hours: Some(2.0),
            },
        )]
        .into();
        // r1 corrected to 7 and moved to the second quarter; r2 new.
        let d = deltas(
            &[
                record("r1", "2025-04-02", "m", 7.0),
                record("r2", "2025-02-01", "m", 5.0),
            ],
            "cis",
            &before,
        );
        let q = |quarter| Key {
            year: 2025,
            quarter,
            metric: "m".into(),
            data_source: "cis".into(),
        };
        let q1 = d[&q(1)];
        assert_eq!((q1.value, q1.hours, q1.records), (-5.0, -2.0, 0));
        assert_eq!((q1.added, q1.replaced), (1, 1));
        let q2 = d[&q(2)];
        assert_eq!(
            (q2.value, q2.records, q2.added, q2.replaced),
            (7.0, 1, 1, 0)
        );
    }
}
