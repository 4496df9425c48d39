//! The report history read model: one row per report, deleted ones kept (hidden from the API) so
//! the history worker knows which exports were recorded and which files still have to go.

use chrono::{DateTime, NaiveDate, Utc};
use domain::report::{Report, ReportEvent, ReportStatus, ReportType};
use domain::{Aggregate, OrgId, decode_event};
use store::{
    Filter, IdList, Position, ReadPool, ReadTransaction, RecordedEvent, Stamp, on_pool, on_tx,
};

use crate::column::Stored;
use crate::organizations::Visible;
use crate::{Projection, ProjectionError};

pub const NAME: crate::ProjectionName = crate::ProjectionName::Reports;

pub struct ReportsProjection;

/// The last segment of a file reference: what a download is called.
pub fn file_name_of(file_ref: &str) -> &str {
    file_ref.rsplit('/').next().unwrap_or(file_ref)
}

#[async_trait::async_trait]
impl Projection for ReportsProjection {
    fn name(&self) -> crate::ProjectionName {
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
        tx: &mut ReadTransaction,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        let decoded: ReportEvent = decode_event(&event.event_type, &event.payload)?;
        let id = Report::key_in(&event.stream)
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
                let file = report.file.as_ref();
                let as_of = report.source_position.clone().unwrap_or(here);
                on_tx!(tx, c => sqlx::query(
                    "INSERT INTO reports (report_id, org_id, report_type, period_from, period_to, \
                         status, file_ref, file_name, file_size_bytes, generated_by, generated_at, \
                         source_position, as_of_position, export_id, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15) \
                     ON CONFLICT (report_id) DO NOTHING",
                )
                .bind(report.report_id.clone())
                .bind(report.org_id.as_str().to_string())
                .bind(report.report_type.as_str())
                .bind(report.period_from)
                .bind(report.period_to)
                .bind(report.status.as_str())
                .bind(file.map(|f| f.file_ref.clone()))
                .bind(file.map(|f| file_name_of(&f.file_ref).to_string()))
                .bind(file.map(|f| f.file_size_bytes as i64))
                .bind(report.generated_by.clone())
                .bind(report.generated_at.map(Stamp))
                .bind(report.source_position.clone())
                .bind(as_of)
                .bind(report.export_id.clone())
                .bind(Stamp(recorded_at))
                .execute(c)
                .await
                .map(|done| done.rows_affected()))?;
            }
            ReportEvent::ReportUpdated {
                status,
                file,
                generated_at,
                updated_at,
            } => {
                let file = file.as_ref();
                let completed = status == domain::report::ReportStatus::Completed;
                on_tx!(tx, c => sqlx::query(
                    "UPDATE reports SET status = $1, \
                         file_ref = COALESCE($2, file_ref), file_name = COALESCE($3, file_name), \
                         file_size_bytes = COALESCE($4, file_size_bytes), \
                         generated_at = COALESCE($5, generated_at), \
                         as_of_position = CASE WHEN $6 AND source_position IS NULL \
                             THEN $7 ELSE as_of_position END, \
                         updated_at = $8 WHERE report_id = $9",
                )
                .bind(status.as_str())
                .bind(file.map(|f| f.file_ref.clone()))
                .bind(file.map(|f| file_name_of(&f.file_ref).to_string()))
                .bind(file.map(|f| f.file_size_bytes as i64))
                .bind(generated_at.map(Stamp))
                .bind(completed)
                .bind(here.clone())
                .bind(Stamp(updated_at))
                .bind(id.clone())
                .execute(c)
                .await
                .map(|done| done.rows_affected()))?;
            }
            ReportEvent::ReportDeleted { deleted_at } => {
                on_tx!(tx, c => sqlx::query(
                    "UPDATE reports SET deleted = $1, deleted_at = $2, deleted_by = $3, \
                         updated_at = $2 WHERE report_id = $4",
                )
                .bind(true)
                .bind(Stamp(deleted_at))
                .bind(event.metadata.actor.clone())
                .bind(id.clone())
                .execute(c)
                .await
                .map(|done| done.rows_affected()))?;
            }
            ReportEvent::ReportFileRemoved { removed_at, .. } => {
                on_tx!(tx, c => sqlx::query(
                    "UPDATE reports SET file_removed = $1, updated_at = $2 WHERE report_id = $3",
                )
                .bind(true)
                .bind(Stamp(removed_at))
                .bind(id.clone())
                .execute(c)
                .await
                .map(|done| done.rows_affected()))?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReportRow {
    pub report_id: String,
    #[sqlx(try_from = "String")]
    pub org_id: OrgId,
    #[sqlx(try_from = "String")]
    pub report_type: ReportType,
    pub period_from: NaiveDate,
    pub period_to: NaiveDate,
    #[sqlx(try_from = "String")]
    pub status: ReportStatus,
    pub file_ref: Option<String>,
    pub file_name: Option<String>,
    #[sqlx(try_from = "Stored<Option<i64>>")]
    pub file_size_bytes: Option<u64>,
    pub generated_by: Option<String>,
    pub generated_at: Option<DateTime<Utc>>,
    #[sqlx(try_from = "Stored<Option<String>>")]
    pub source_position: Option<Position>,
    /// What a re-export reads the log up to.
    #[sqlx(try_from = "String")]
    pub as_of_position: Position,
    pub export_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted: bool,
    pub file_removed: bool,
}

const COLUMNS: &str = "report_id, org_id, report_type, period_from, period_to, status, file_ref, \
    file_name, file_size_bytes, generated_by, generated_at, source_position, as_of_position, \
    export_id, created_at, updated_at, deleted, file_removed";

/// A report, deleted ones included.
pub async fn get(pool: &ReadPool, report_id: &str) -> Result<Option<ReportRow>, ProjectionError> {
    let sql = format!("SELECT {COLUMNS} FROM reports WHERE report_id = $1");
    let found: Option<ReportRow> = on_pool!(pool, c => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(report_id)
        .fetch_optional(c)
        .await)?;
    Ok(found)
}

#[derive(Debug, Default)]
pub struct ReportFilter {
    pub org_id: Option<String>,
    pub report_type: Option<ReportType>,
    pub status: Option<ReportStatus>,
    /// Reports whose period ends on or after this date.
    pub period_from: Option<NaiveDate>,
    /// Reports whose period starts on or before this date.
    pub period_to: Option<NaiveDate>,
}

/// One page of live reports, newest first, and the total.
pub async fn list(
    pool: &ReadPool,
    filter: &ReportFilter,
    visible: Visible<'_>,
    page: crate::Page,
) -> Result<(Vec<ReportRow>, u64), ProjectionError> {
    // Each condition holds one parameter, numbered by its place in the list; `bind_filters!`
    // binds the values in the same order. `deleted` is compared with a bound `false` (not
    // `NOT deleted`) so SQLite still finds it in the `reports_list` index.
    let mut conditions = vec!["deleted = $1".to_string()];
    let mut add = |column: &str, op: &str| {
        let n = conditions.len() + 1;
        conditions.push(format!("{column} {op} ${n}"));
    };
    if filter.org_id.is_some() {
        add("org_id", "=");
    }
    if filter.report_type.is_some() {
        add("report_type", "=");
    }
    if filter.status.is_some() {
        add("status", "=");
    }
    if filter.period_from.is_some() {
        add("period_to", ">=");
    }
    if filter.period_to.is_some() {
        add("period_from", "<=");
    }
    let ids = match visible {
        Visible::All => None,
        Visible::Only([]) => return Ok((vec![], 0)),
        Visible::Only(ids) => {
            conditions.push(pool.any_of("org_id", conditions.len() + 1));
            Some(IdList(ids.to_vec()))
        }
    };
    let (clause, bound) = page.clause(pool, conditions.len() + 1);
    let condition = conditions.join(" AND ");
    let page_sql = format!(
        "SELECT {COLUMNS} FROM reports WHERE {condition} ORDER BY created_at DESC, report_id DESC \
         {clause}"
    );
    let count_sql = format!("SELECT count(*) FROM reports WHERE {condition}");
    macro_rules! bind_filters {
        ($query:expr) => {{
            let mut query = $query.bind(false);
            if let Some(org) = &filter.org_id {
                query = query.bind(org.as_str());
            }
            if let Some(t) = &filter.report_type {
                query = query.bind(t.as_str());
            }
            if let Some(status) = &filter.status {
                query = query.bind(status.as_str());
            }
            if let Some(from) = filter.period_from {
                query = query.bind(from);
            }
            if let Some(to) = filter.period_to {
                query = query.bind(to);
            }
            if let Some(ids) = &ids {
                query = query.bind(ids.clone());
            }
            query
        }};
    }
    let records: Vec<ReportRow> = on_pool!(pool, c => {
        let mut query = bind_filters!(sqlx::query_as(sqlx::AssertSqlSafe(page_sql)));
        for value in bound.iter().flatten() {
            query = query.bind(*value);
        }
        query.fetch_all(c).await
    })?;
    let total: i64 = on_pool!(pool, c => bind_filters!(
        sqlx::query_scalar(sqlx::AssertSqlSafe(count_sql))
    )
    .fetch_one(c)
    .await)?;
    Ok((records.into_iter().collect(), total.max(0) as u64))
}

/// Deleted reports whose file is still stored.
pub async fn files_to_remove(
    pool: &ReadPool,
    limit: u64,
) -> Result<Vec<ReportRow>, ProjectionError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM reports \
         WHERE deleted = $1 AND file_removed = $2 AND file_ref IS NOT NULL \
         ORDER BY deleted_at, report_id LIMIT {limit}"
    );
    let records: Vec<ReportRow> = on_pool!(pool, c => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(true)
        .bind(false)
        .fetch_all(c)
        .await)?;
    Ok(records.into_iter().collect())
}
