//! What the API and the aggregation worker ask of the report_data read model.

use chrono::{DateTime, Utc};
use domain::aggregation::MetricSum;
use domain::report_data::SectionValues;
use domain::{OrgId, PeriodId};
use sqlx::{AnyPool, Row};

use crate::ProjectionError;
use crate::organizations::Visible;

/// Whether a current snapshot has seen every change to its records (its year and prior year).
const CACHE_VALID: &str = "CASE WHEN s.status = 'current' AND s.source_position >= COALESCE(\
    (SELECT max(c.position) FROM source_changes c \
     WHERE c.org_id = s.org_id AND c.year IN (s.period_year, s.prior_year)), 0) THEN 1 ELSE 0 END";

#[derive(Debug, Clone)]
pub struct SnapshotRow {
    pub snapshot_id: String,
    pub org_id: String,
    pub organization_name: Option<String>,
    pub period_id: String,
    pub status: String,
    pub job_id: String,
    pub cache_valid: bool,
    pub invalidation_reason: Option<String>,
    pub invalidated_at: Option<DateTime<Utc>>,
    pub sections: Option<SectionValues>,
    pub prior_values: Option<std::collections::BTreeMap<String, f64>>,
    pub populated_field_count: u64,
    pub aggregated_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub error: Option<String>,
}

fn corrupt(e: impl std::fmt::Display) -> ProjectionError {
    ProjectionError::Corrupt(e.to_string())
}

fn time(text: Option<String>) -> Result<Option<DateTime<Utc>>, ProjectionError> {
    text.map(|t| {
        DateTime::parse_from_rfc3339(&t)
            .map(|t| t.with_timezone(&Utc))
            .map_err(corrupt)
    })
    .transpose()
}

fn snapshot_columns() -> String {
    format!(
        "s.snapshot_id, s.org_id, o.name AS organization_name, s.period_id, s.status, s.job_id, \
         {CACHE_VALID} AS cache_valid, s.invalidation_reason, s.invalidated_at, s.sections, \
         s.prior_values, s.populated_field_count, s.aggregated_at, s.created_at, s.error"
    )
}

fn snapshot_row(r: &sqlx::any::AnyRow, with_values: bool) -> Result<SnapshotRow, ProjectionError> {
    let json = |name: &str| -> Result<Option<String>, ProjectionError> {
        if with_values {
            Ok(r.try_get::<Option<String>, _>(name)?)
        } else {
            Ok(None)
        }
    };
    Ok(SnapshotRow {
        snapshot_id: r.try_get("snapshot_id")?,
        org_id: r.try_get("org_id")?,
        organization_name: r.try_get("organization_name")?,
        period_id: r.try_get("period_id")?,
        status: r.try_get("status")?,
        job_id: r.try_get("job_id")?,
        cache_valid: r.try_get::<i64, _>("cache_valid")? == 1,
        invalidation_reason: r.try_get("invalidation_reason")?,
        invalidated_at: time(r.try_get("invalidated_at")?)?,
        sections: json("sections")?
            .map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(corrupt)?,
        prior_values: json("prior_values")?
            .map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(corrupt)?,
        populated_field_count: r.try_get::<i64, _>("populated_field_count")? as u64,
        aggregated_at: time(r.try_get("aggregated_at")?)?,
        created_at: time(r.try_get("created_at")?)?.ok_or_else(|| corrupt("created_at missing"))?,
        error: r.try_get("error")?,
    })
}

pub async fn snapshot(
    pool: &AnyPool,
    snapshot_id: &str,
) -> Result<Option<SnapshotRow>, ProjectionError> {
    let sql = format!(
        "SELECT {} FROM snapshots s LEFT JOIN organizations o ON o.org_id = s.org_id WHERE s.snapshot_id = $1",
        snapshot_columns()
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(snapshot_id)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(|r| snapshot_row(r, true)).transpose()
}

/// The current snapshot of an organisation and period, if any.
pub async fn current(
    pool: &AnyPool,
    org_id: &str,
    period_id: &str,
) -> Result<Option<SnapshotRow>, ProjectionError> {
    let sql = format!(
        "SELECT {} FROM snapshots s LEFT JOIN organizations o ON o.org_id = s.org_id \
         WHERE s.org_id = $1 AND s.period_id = $2 AND s.status = 'current'",
        snapshot_columns()
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org_id)
        .bind(period_id)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(|r| snapshot_row(r, false)).transpose()
}

#[derive(Debug, Default)]
pub struct SnapshotFilter {
    pub org_id: Option<String>,
    pub period_id: Option<String>,
    pub status: Option<String>,
}

/// One page of snapshots, newest first, with the total; without their figures.
pub async fn snapshots(
    pool: &AnyPool,
    filter: &SnapshotFilter,
    visible: Visible<'_>,
    offset: u64,
    limit: u64,
) -> Result<(Vec<SnapshotRow>, u64), ProjectionError> {
    // Fixed placeholders $1..$5; the visible org ids follow from $6.
    let mut condition = String::from(
        "($1 = '' OR s.org_id = $1) AND ($2 = '' OR s.period_id = $2) AND ($3 = '' OR s.status = $3)",
    );
    let ids: &[String] = match visible {
        Visible::All => &[],
        Visible::Only([]) => return Ok((vec![], 0)),
        Visible::Only(ids) => {
            let marks: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 6)).collect();
            condition.push_str(&format!(" AND s.org_id IN ({})", marks.join(", ")));
            ids
        }
    };
    let bind_all = |sql: String| {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(filter.org_id.clone().unwrap_or_default())
            .bind(filter.period_id.clone().unwrap_or_default())
            .bind(filter.status.clone().unwrap_or_default())
            .bind(limit as i64)
            .bind(offset as i64);
        for id in ids {
            q = q.bind(id.clone());
        }
        q
    };
    let page = format!(
        "SELECT {} FROM snapshots s LEFT JOIN organizations o ON o.org_id = s.org_id \
         WHERE {condition} ORDER BY s.created_at DESC, s.snapshot_id DESC LIMIT $4 OFFSET $5",
        snapshot_columns()
    );
    let rows = bind_all(page).fetch_all(pool).await?;
    let count =
        format!("SELECT count(*) FROM snapshots s WHERE {condition} AND $4 >= 0 AND $5 >= 0");
    let total: i64 = bind_all(count).fetch_one(pool).await?.try_get(0)?;
    Ok((
        rows.iter()
            .map(|r| snapshot_row(r, false))
            .collect::<Result<_, _>>()?,
        total as u64,
    ))
}

/// A snapshot that needs aggregating: requested or invalidated, or current but older than
/// its organisation's newest records. Oldest first.
pub async fn next_stale(
    pool: &AnyPool,
) -> Result<Option<(String, OrgId, PeriodId)>, ProjectionError> {
    let sql = format!(
        "SELECT s.snapshot_id, s.org_id, s.period_id FROM snapshots s \
         WHERE s.status = 'processing' OR (s.status = 'current' AND {CACHE_VALID} = 0) \
         ORDER BY s.created_at, s.snapshot_id LIMIT 1"
    );
    let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_optional(pool)
        .await?
    else {
        return Ok(None);
    };
    let org: String = row.try_get(1)?;
    let period: String = row.try_get(2)?;
    Ok(Some((
        row.try_get(0)?,
        OrgId::parse(&org).map_err(corrupt)?,
        PeriodId::parse(&period).map_err(corrupt)?,
    )))
}

/// The sums of an organisation's records within a period, per metric and data source.
pub async fn metric_sums(
    conn: &mut sqlx::AnyConnection,
    org_id: &OrgId,
    period: &PeriodId,
) -> Result<Vec<MetricSum>, ProjectionError> {
    metric_sums_between(conn, org_id, period.start(), period.end()).await
}

/// Per-metric sums of an organisation's records dated `from` to `to`, both included.
pub async fn metric_sums_between(
    conn: &mut sqlx::AnyConnection,
    org_id: &OrgId,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> Result<Vec<MetricSum>, ProjectionError> {
    let rows = sqlx::query(
        "SELECT metric, data_source, CAST(sum(value) AS DOUBLE PRECISION), \
             CAST(COALESCE(sum(hours), 0) AS DOUBLE PRECISION), count(*) FROM source_records \
         WHERE org_id = $1 AND occurred_on >= $2 AND occurred_on <= $3 GROUP BY metric, data_source",
    )
    .bind(org_id.as_str().to_string())
    .bind(from.to_string())
    .bind(to.to_string())
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(MetricSum {
                metric: r.try_get(0)?,
                data_source: r.try_get(1)?,
                value: r.try_get(2)?,
                hours: r.try_get(3)?,
                records: r.try_get::<i64, _>(4)? as u64,
            })
        })
        .collect()
}

/// Mean duration of the last aggregations, for `estimated_completion_seconds`.
pub async fn recent_aggregation_ms(pool: &AnyPool) -> Result<Option<f64>, ProjectionError> {
    let rows = sqlx::query(
        "SELECT duration_ms FROM snapshots WHERE duration_ms IS NOT NULL ORDER BY aggregated_at DESC LIMIT 20",
    )
    .fetch_all(pool)
    .await?;
    let durations: Vec<i64> = rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    Ok((!durations.is_empty())
        .then(|| durations.iter().sum::<i64>() as f64 / durations.len() as f64))
}

#[derive(Debug, Clone)]
pub struct SourceRecordRow {
    pub record_id: String,
    pub occurred_on: String,
    pub metric: String,
    pub value: f64,
    pub hours: Option<f64>,
    pub data_source: String,
    pub imported_at: DateTime<Utc>,
}

/// One page of an organisation's records, newest date first.
pub async fn source_records(
    pool: &AnyPool,
    org_id: &str,
    period: Option<&PeriodId>,
    metric: Option<&str>,
    offset: u64,
    limit: u64,
) -> Result<(Vec<SourceRecordRow>, u64), ProjectionError> {
    let (from, to) = period.map_or((String::new(), "9999-12-31".into()), |p| {
        (p.start().to_string(), p.end().to_string())
    });
    let condition =
        "org_id = $1 AND occurred_on >= $2 AND occurred_on <= $3 AND ($4 = '' OR metric = $4)";
    let page = format!(
        "SELECT record_id, occurred_on, metric, value, hours, data_source, imported_at FROM source_records \
         WHERE {condition} ORDER BY occurred_on DESC, record_id LIMIT $5 OFFSET $6"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(page))
        .bind(org_id)
        .bind(from.clone())
        .bind(to.clone())
        .bind(metric.unwrap_or_default())
        .bind(limit as i64)
        .bind(offset as i64)
        .fetch_all(pool)
        .await?;
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM source_records WHERE {condition}"
    )))
    .bind(org_id)
    .bind(from)
    .bind(to)
    .bind(metric.unwrap_or_default())
    .fetch_one(pool)
    .await?;
    let rows = rows
        .iter()
        .map(|r| {
            Ok(SourceRecordRow {
                record_id: r.try_get(0)?,
                occurred_on: r.try_get(1)?,
                metric: r.try_get(2)?,
                value: r.try_get(3)?,
                hours: r.try_get(4)?,
                data_source: r.try_get(5)?,
                imported_at: time(r.try_get(6)?)?.ok_or_else(|| corrupt("imported_at missing"))?,
            })
        })
        .collect::<Result<_, ProjectionError>>()?;
    Ok((rows, total as u64))
}
