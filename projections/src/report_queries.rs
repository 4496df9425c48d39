//! What the API and the aggregation worker ask of the report_data read model.

use chrono::{DateTime, NaiveDate, Utc};
use domain::aggregation::MetricSum;
use domain::report_data::{SectionValues, SnapshotStatus};
use domain::{OrgId, PeriodId};
use store::tables::work_claims::{ClaimKind, unclaimed};
use store::{IdList, ReadPool, ReadTransaction, Stamp, on_pool, on_tx};

use crate::ProjectionError;
use crate::organizations::Visible;

/// Whether a current snapshot has seen every change to its records (its year and prior year).
/// A condition, so a boolean on PostgreSQL and 0/1 on SQLite; never NULL. It is part of the
/// column list of statements numbered differently, so its status is written in, from the enum.
fn cache_valid() -> String {
    format!(
        "(s.status = '{}' AND s.source_position >= COALESCE(\
         (SELECT max(c.position) FROM source_changes c \
          WHERE c.org_id = s.org_id AND c.year IN (s.period_year, s.prior_year)), 0))",
        SnapshotStatus::Current.as_str()
    )
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SnapshotRow {
    pub snapshot_id: String,
    #[sqlx(try_from = "String")]
    pub org_id: OrgId,
    pub organization_name: Option<String>,
    #[sqlx(try_from = "String")]
    pub period_id: PeriodId,
    #[sqlx(try_from = "String")]
    pub status: SnapshotStatus,
    pub job_id: String,
    pub cache_valid: bool,
    pub invalidation_reason: Option<String>,
    pub invalidated_at: Option<DateTime<Utc>>,
    #[sqlx(json(nullable))]
    pub sections: Option<SectionValues>,
    #[sqlx(json(nullable))]
    pub prior_values: Option<std::collections::BTreeMap<String, f64>>,
    #[sqlx(try_from = "i64")]
    pub populated_field_count: u64,
    pub aggregated_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub error: Option<String>,
}

fn corrupt(e: impl std::fmt::Display) -> ProjectionError {
    ProjectionError::Corrupt(e.to_string())
}

/// The columns of a [`SnapshotRow`]; without its figures (NULL) unless `with_values`.
fn snapshot_columns(with_values: bool) -> String {
    let values = if with_values {
        "s.sections, s.prior_values"
    } else {
        "NULL AS sections, NULL AS prior_values"
    };
    let cache_valid = cache_valid();
    // populated_field_count is INTEGER: widened so it decodes as i64 on PostgreSQL too.
    format!(
        "s.snapshot_id, s.org_id, o.name AS organization_name, s.period_id, s.status, s.job_id, \
         {cache_valid} AS cache_valid, s.invalidation_reason, s.invalidated_at, {values}, \
         CAST(s.populated_field_count AS BIGINT) AS populated_field_count, s.aggregated_at, \
         s.created_at, s.error"
    )
}

pub async fn snapshot(
    pool: &ReadPool,
    snapshot_id: &str,
) -> Result<Option<SnapshotRow>, ProjectionError> {
    let sql = format!(
        "SELECT {} FROM snapshots s LEFT JOIN organizations o ON o.org_id = s.org_id WHERE s.snapshot_id = $1",
        snapshot_columns(true)
    );
    Ok(on_pool!(pool, c => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(snapshot_id)
        .fetch_optional(c)
        .await)?)
}

/// The current snapshot of an organisation and period, if any.
pub async fn current(
    pool: &ReadPool,
    org_id: &str,
    period_id: &str,
) -> Result<Option<SnapshotRow>, ProjectionError> {
    let sql = format!(
        "SELECT {} FROM snapshots s LEFT JOIN organizations o ON o.org_id = s.org_id \
         WHERE s.org_id = $1 AND s.period_id = $2 AND s.status = $3",
        snapshot_columns(false)
    );
    Ok(on_pool!(pool, c => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(org_id)
        .bind(period_id)
        .bind(SnapshotStatus::Current.as_str())
        .fetch_optional(c)
        .await)?)
}

#[derive(Debug, Default)]
pub struct SnapshotFilter {
    pub org_id: Option<String>,
    pub period_id: Option<String>,
    pub status: Option<SnapshotStatus>,
}

/// One page of snapshots, newest first, with the total; without their figures.
pub async fn snapshots(
    pool: &ReadPool,
    filter: &SnapshotFilter,
    visible: Visible<'_>,
    page: crate::Page,
) -> Result<(Vec<SnapshotRow>, u64), ProjectionError> {
    // Fixed placeholders $1..$5; `$6` is the list of visible org ids, bound as one value, so the
    // statement's text is the same for every caller and page size.
    let (visible_condition, ids) = match visible {
        Visible::All => ("$4 IS NULL".to_string(), None),
        Visible::Only([]) => return Ok((vec![], 0)),
        Visible::Only(ids) => (pool.any_of("s.org_id", 4), Some(IdList(ids.to_vec()))),
    };
    let condition = format!(
        "($1 = '' OR s.org_id = $1) AND ($2 = '' OR s.period_id = $2) AND ($3 = '' OR s.status = $3) \
         AND {visible_condition}"
    );
    let org_id = filter.org_id.clone().unwrap_or_default();
    let period_id = filter.period_id.clone().unwrap_or_default();
    let status = filter.status.map_or("", |s| s.as_str());
    let (clause, bound) = page.clause(pool, 5);
    let page = format!(
        "SELECT {} FROM snapshots s LEFT JOIN organizations o ON o.org_id = s.org_id \
         WHERE {condition} ORDER BY s.created_at DESC, s.snapshot_id DESC {clause}",
        snapshot_columns(false)
    );
    let rows: Vec<SnapshotRow> = on_pool!(pool, c => {
        let mut query = sqlx::query_as(sqlx::AssertSqlSafe(page))
            .bind(&org_id)
            .bind(&period_id)
            .bind(status)
            .bind(ids.clone());
        for value in bound.iter().flatten() {
            query = query.bind(*value);
        }
        query.fetch_all(c).await
    })?;
    let count = format!("SELECT count(*) FROM snapshots s WHERE {condition}");
    let total: i64 = on_pool!(pool, c => sqlx::query_scalar(sqlx::AssertSqlSafe(count))
        .bind(&org_id)
        .bind(&period_id)
        .bind(status)
        .bind(ids)
        .fetch_one(c)
        .await)?;
    Ok((rows, total as u64))
}

/// A snapshot that needs aggregating: requested or invalidated, or current but older than
/// its organisation's newest records. Oldest first.
///
/// Leaves out snapshots on which a worker holds a claim of kind `claim` lasting past `now`
/// (`store::tables::work_claims`), so two workers never aggregate one change of a snapshot.
pub async fn next_stale(
    pool: &ReadPool,
    now: DateTime<Utc>,
    claim: ClaimKind,
) -> Result<Option<(String, OrgId, PeriodId)>, ProjectionError> {
    let sql = format!(
        "SELECT s.snapshot_id, s.org_id, s.period_id FROM snapshots s \
         WHERE (s.status = $3 OR (s.status = $4 AND NOT {})) \
           AND {} \
         ORDER BY s.created_at, s.snapshot_id LIMIT 1",
        cache_valid(),
        unclaimed("s.snapshot_id")
    );
    let row: Option<(String, String, String)> = on_pool!(pool, c => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(Stamp(now))
            .bind(claim.as_str())
            .bind(SnapshotStatus::Processing.as_str())
            .bind(SnapshotStatus::Current.as_str())
            .fetch_optional(c)
            .await)?;
    let Some((snapshot_id, org, period)) = row else {
        return Ok(None);
    };
    Ok(Some((
        snapshot_id,
        OrgId::parse(&org).map_err(corrupt)?,
        PeriodId::parse(&period).map_err(corrupt)?,
    )))
}

/// The sums of an organisation's records within a period, per metric and data source.
pub async fn metric_sums(
    tx: &mut ReadTransaction,
    org_id: &OrgId,
    period: &PeriodId,
) -> Result<Vec<MetricSum>, ProjectionError> {
    metric_sums_between(tx, org_id, period.start(), period.end()).await
}

#[derive(sqlx::FromRow)]
struct MetricSumRecord {
    metric: String,
    data_source: String,
    value: f64,
    hours: f64,
    #[sqlx(try_from = "i64")]
    records: u64,
}

impl From<MetricSumRecord> for MetricSum {
    fn from(r: MetricSumRecord) -> Self {
        MetricSum {
            metric: r.metric,
            data_source: r.data_source,
            value: r.value,
            hours: r.hours,
            records: r.records,
        }
    }
}

/// Per-metric sums of an organisation's records dated `from` to `to`, both included.
pub async fn metric_sums_between(
    tx: &mut ReadTransaction,
    org_id: &OrgId,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<MetricSum>, ProjectionError> {
    let rows: Vec<MetricSumRecord> = on_tx!(tx, c => sqlx::query_as(
        "SELECT metric, data_source, CAST(sum(value) AS DOUBLE PRECISION) AS value, \
             CAST(COALESCE(sum(hours), 0) AS DOUBLE PRECISION) AS hours, count(*) AS records \
         FROM source_records \
         WHERE org_id = $1 AND occurred_on >= $2 AND occurred_on <= $3 GROUP BY metric, data_source",
    )
    .bind(org_id.as_str().to_string())
    .bind(from)
    .bind(to)
    .fetch_all(c)
    .await)?;
    Ok(rows.into_iter().map(MetricSum::from).collect())
}

/// Mean duration of the last aggregations, for `estimated_completion_seconds`.
pub async fn recent_aggregation_ms(pool: &ReadPool) -> Result<Option<f64>, ProjectionError> {
    let durations: Vec<i64> = on_pool!(pool, c => sqlx::query_scalar(
        "SELECT duration_ms FROM snapshots WHERE duration_ms IS NOT NULL ORDER BY aggregated_at DESC LIMIT 20",
    )
    .fetch_all(c)
    .await)?;
    Ok((!durations.is_empty())
        .then(|| durations.iter().sum::<i64>() as f64 / durations.len() as f64))
}

/// A `source_records` row: the date decoded as a date on both databases.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SourceRecordRow {
    pub record_id: String,
    pub occurred_on: NaiveDate,
    pub metric: String,
    pub value: f64,
    pub hours: Option<f64>,
    pub data_source: String,
    pub imported_at: DateTime<Utc>,
}

/// One page of an organisation's records, newest date first.
pub async fn source_records(
    pool: &ReadPool,
    org_id: &str,
    period: Option<&PeriodId>,
    metric: Option<&str>,
    page: crate::Page,
) -> Result<(Vec<SourceRecordRow>, u64), ProjectionError> {
    // Without a period, bounds around every date a record can have (years 1900 to 9999).
    let (from, to) = period.map_or(
        (
            NaiveDate::from_ymd_opt(1, 1, 1).expect("valid date"),
            NaiveDate::from_ymd_opt(9999, 12, 31).expect("valid date"),
        ),
        |p| (p.start(), p.end()),
    );
    let condition =
        "org_id = $1 AND occurred_on >= $2 AND occurred_on <= $3 AND ($4 = '' OR metric = $4)";
    let (clause, bound) = page.clause(pool, 5);
    let page = format!(
        "SELECT record_id, occurred_on, metric, value, hours, data_source, imported_at FROM source_records \
         WHERE {condition} ORDER BY occurred_on DESC, record_id {clause}"
    );
    let rows: Vec<SourceRecordRow> = on_pool!(pool, c => {
        let mut query = sqlx::query_as(sqlx::AssertSqlSafe(page))
            .bind(org_id)
            .bind(from)
            .bind(to)
            .bind(metric.unwrap_or_default());
        for value in bound.iter().flatten() {
            query = query.bind(*value);
        }
        query.fetch_all(c).await
    })?;
    let count = format!("SELECT count(*) FROM source_records WHERE {condition}");
    let total: i64 = on_pool!(pool, c => sqlx::query_scalar(sqlx::AssertSqlSafe(count))
        .bind(org_id)
        .bind(from)
        .bind(to)
        .bind(metric.unwrap_or_default())
        .fetch_one(c)
        .await)?;
    Ok((rows, total as u64))
}

/// Who made the newest change to an organisation's records of `year`: their subject and issuer
/// (`None` when nobody has, or the change was recorded before the service kept who made it).
pub async fn last_change_by(
    pool: &ReadPool,
    org_id: &OrgId,
    year: i32,
) -> Result<Option<(String, Option<String>)>, ProjectionError> {
    let row: Option<(Option<String>, Option<String>)> = on_pool!(pool, c => sqlx::query_as(
        "SELECT changed_by, changed_by_issuer FROM source_changes WHERE org_id = $1 AND year = $2",
    )
    .bind(org_id.as_str().to_string())
    .bind(i64::from(year))
    .fetch_optional(c)
    .await)?;
    Ok(row.and_then(|(by, issuer)| by.map(|by| (by, issuer))))
}
