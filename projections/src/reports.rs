//! The report history read model: one row per report, deleted ones kept (hidden from the API) so
//! the history worker knows which exports were recorded and which files still have to go.

use chrono::{DateTime, NaiveDate, Utc};
use domain::report::{Report, ReportEvent};
use domain::{Aggregate, decode_event};
use sqlx::{AnyConnection, AnyPool, Row};
use store::{Filter, RecordedEvent};

use crate::exports::{count, date, required_time, time};
use crate::organizations::Visible;
use crate::report_data::ts;
use crate::{Projection, ProjectionError};

pub const NAME: &str = "reports";

pub struct ReportsProjection;

/// The last segment of a file reference: what a download is called.
pub fn file_name_of(file_ref: &str) -> &str {
    file_ref.rsplit('/').next().unwrap_or(file_ref)
}

#[async_trait::async_trait]
impl Projection for ReportsProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn filter(&self) -> Filter {
        Filter::categories([Report::CATEGORY])
    }

    fn tables(&self) -> &'static [&'static str] {
        &["reports"]
    }

    async fn apply(
        &self,
        tx: &mut AnyConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        let decoded: ReportEvent = decode_event(&event.event_type, &event.payload)
            .map_err(|e| ProjectionError::Corrupt(e.to_string()))?;
        let id = event
            .stream
            .strip_prefix("report-")
            .ok_or_else(|| ProjectionError::Corrupt(format!("stream {}", event.stream)))?
            .to_string();
        // A report made by hand has no read position of its own: what we knew when it was
        // recorded (or completed) is the log up to that event.
        let here = event.position.to_string();
        match decoded {
            ReportEvent::ReportRecorded {
                report,
                recorded_at,
            } => {
                let at = ts(&recorded_at);
                let file = report.file.as_ref();
                let as_of = report.source_position.clone().unwrap_or(here);
                sqlx::query(
                    "INSERT INTO reports (report_id, org_id, report_type, period_from, period_to, \
                         status, file_ref, file_name, file_size_bytes, generated_by, generated_at, \
                         source_position, as_of_position, export_id, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15) \
                     ON CONFLICT (report_id) DO NOTHING",
                )
                .bind(report.report_id)
                .bind(report.org_id.as_str().to_string())
                .bind(report.report_type.as_str())
                .bind(report.period_from.to_string())
                .bind(report.period_to.to_string())
                .bind(report.status.as_str())
                .bind(file.map(|f| f.file_ref.clone()))
                .bind(file.map(|f| file_name_of(&f.file_ref).to_string()))
                .bind(file.map(|f| f.file_size_bytes as i64))
                .bind(report.generated_by)
                .bind(report.generated_at.as_ref().map(ts))
                .bind(report.source_position)
                .bind(as_of)
                .bind(report.export_id)
                .bind(at)
                .execute(tx)
                .await?;
            }
            ReportEvent::ReportUpdated {
                status,
                file,
                generated_at,
                updated_at,
            } => {
                let file = file.as_ref();
                let completed = status == domain::report::ReportStatus::Completed;
                sqlx::query(
                    "UPDATE reports SET status = $1, \
                         file_ref = COALESCE($2, file_ref), file_name = COALESCE($3, file_name), \
                         file_size_bytes = COALESCE($4, file_size_bytes), \
                         generated_at = COALESCE($5, generated_at), \
                         as_of_position = CASE WHEN $6 = 1 AND source_position IS NULL \
                             THEN $7 ELSE as_of_position END, \
                         updated_at = $8 WHERE report_id = $9",
                )
                .bind(status.as_str())
                .bind(file.map(|f| f.file_ref.clone()))
                .bind(file.map(|f| file_name_of(&f.file_ref).to_string()))
                .bind(file.map(|f| f.file_size_bytes as i64))
                .bind(generated_at.as_ref().map(ts))
                .bind(i64::from(completed))
                .bind(here)
                .bind(ts(&updated_at))
                .bind(id)
                .execute(tx)
                .await?;
            }
            ReportEvent::ReportDeleted { deleted_at } => {
                sqlx::query(
                    "UPDATE reports SET deleted = 1, deleted_at = $1, deleted_by = $2, \
                         updated_at = $1 WHERE report_id = $3",
                )
                .bind(ts(&deleted_at))
                .bind(event.metadata.actor.clone())
                .bind(id)
                .execute(tx)
                .await?;
            }
            ReportEvent::ReportFileRemoved { removed_at, .. } => {
                sqlx::query(
                    "UPDATE reports SET file_removed = 1, updated_at = $1 WHERE report_id = $2",
                )
                .bind(ts(&removed_at))
                .bind(id)
                .execute(tx)
                .await?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct ReportRow {
    pub report_id: String,
    pub org_id: String,
    pub report_type: String,
    pub period_from: NaiveDate,
    pub period_to: NaiveDate,
    pub status: String,
    pub file_ref: Option<String>,
    pub file_name: Option<String>,
    pub file_size_bytes: Option<u64>,
    pub generated_by: Option<String>,
    pub generated_at: Option<DateTime<Utc>>,
    pub source_position: Option<String>,
    /// What a re-export reads the log up to.
    pub as_of_position: String,
    pub export_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted: bool,
    pub file_removed: bool,
}

fn row(r: &sqlx::any::AnyRow) -> Result<ReportRow, ProjectionError> {
    Ok(ReportRow {
        report_id: r.try_get("report_id")?,
        org_id: r.try_get("org_id")?,
        report_type: r.try_get("report_type")?,
        period_from: date(r, "period_from")?,
        period_to: date(r, "period_to")?,
        status: r.try_get("status")?,
        file_ref: r.try_get("file_ref")?,
        file_name: r.try_get("file_name")?,
        file_size_bytes: r
            .try_get::<Option<i64>, _>("file_size_bytes")?
            .map(|n| n.max(0) as u64),
        generated_by: r.try_get("generated_by")?,
        generated_at: time(r, "generated_at")?,
        source_position: r.try_get("source_position")?,
        as_of_position: r.try_get("as_of_position")?,
        export_id: r.try_get("export_id")?,
        created_at: required_time(r, "created_at")?,
        updated_at: required_time(r, "updated_at")?,
        deleted: count(r, "deleted")? == 1,
        file_removed: count(r, "file_removed")? == 1,
    })
}

/// A report, deleted ones included.
pub async fn get(pool: &AnyPool, report_id: &str) -> Result<Option<ReportRow>, ProjectionError> {
    let found = sqlx::query("SELECT * FROM reports WHERE report_id = $1")
        .bind(report_id)
        .fetch_optional(pool)
        .await?;
    found.as_ref().map(row).transpose()
}

#[derive(Debug, Default)]
pub struct ReportFilter {
    pub org_id: Option<String>,
    pub report_type: Option<String>,
    pub status: Option<String>,
    /// Reports whose period ends on or after this date.
    pub period_from: Option<NaiveDate>,
    /// Reports whose period starts on or before this date.
    pub period_to: Option<NaiveDate>,
}

/// One page of live reports, newest first, and the total.
pub async fn list(
    pool: &AnyPool,
    filter: &ReportFilter,
    visible: Visible<'_>,
    offset: u64,
    limit: u64,
) -> Result<(Vec<ReportRow>, u64), ProjectionError> {
    let mut conditions = vec!["deleted = 0".to_string()];
    let mut binds: Vec<String> = vec![];
    let mut bind = |column: &str, op: &str, value: String| {
        binds.push(value);
        conditions.push(format!("{column} {op} ${}", binds.len()));
    };
    if let Some(org) = &filter.org_id {
        bind("org_id", "=", org.clone());
    }
    if let Some(t) = &filter.report_type {
        bind("report_type", "=", t.clone());
    }
    if let Some(status) = &filter.status {
        bind("status", "=", status.clone());
    }
    if let Some(from) = filter.period_from {
        bind("period_to", ">=", from.to_string());
    }
    if let Some(to) = filter.period_to {
        bind("period_from", "<=", to.to_string());
    }
    match visible {
        Visible::All => {}
        Visible::Only([]) => return Ok((vec![], 0)),
        Visible::Only(ids) => {
            let first = binds.len() + 1;
            binds.extend(ids.iter().cloned());
            let marks: Vec<String> = (first..=binds.len()).map(|i| format!("${i}")).collect();
            conditions.push(format!("org_id IN ({})", marks.join(", ")));
        }
    }
    let condition = conditions.join(" AND ");
    let page_sql = format!(
        "SELECT * FROM reports WHERE {condition} ORDER BY created_at DESC, report_id DESC \
         LIMIT {limit} OFFSET {offset}"
    );
    let count_sql = format!("SELECT count(*) FROM reports WHERE {condition}");
    let mut page = sqlx::query(sqlx::AssertSqlSafe(page_sql));
    let mut total = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(count_sql));
    for b in &binds {
        page = page.bind(b.clone());
        total = total.bind(b.clone());
    }
    let rows = page.fetch_all(pool).await?;
    let total = total.fetch_one(pool).await?;
    Ok((
        rows.iter().map(row).collect::<Result<_, _>>()?,
        total.max(0) as u64,
    ))
}

/// Deleted reports whose file is still stored.
pub async fn files_to_remove(
    pool: &AnyPool,
    limit: u64,
) -> Result<Vec<ReportRow>, ProjectionError> {
    let sql = format!(
        "SELECT * FROM reports WHERE deleted = 1 AND file_removed = 0 AND file_ref IS NOT NULL \
         ORDER BY deleted_at, report_id LIMIT {limit}"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await?;
    rows.iter().map(row).collect()
}
