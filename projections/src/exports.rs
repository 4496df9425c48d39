//! The exports read model: the jobs the API lists, the work list of the render worker (queued, or
//! running with a lapsed lease), and the files the expiry worker removes.

use chrono::{DateTime, NaiveDate, Utc};
use domain::export::{Export, ExportEvent, ExportFormat, ExportStatus, ExportSubmission};
use domain::{Aggregate, Locale, OrgId, decode_event};
use sqlx::types::Json;
use store::{
    Filter, IdList, Position, ReadPool, ReadTransaction, RecordedEvent, Stamp, on_pool, on_tx,
};

use crate::column::Stored;
use crate::{Projection, ProjectionError};

pub const NAME: crate::ProjectionName = crate::ProjectionName::Exports;

pub struct ExportsProjection;

#[async_trait::async_trait]
impl Projection for ExportsProjection {
    fn name(&self) -> crate::ProjectionName {
        NAME
    }

    fn filter(&self) -> Filter {
        Filter::categories([Export::CATEGORY])
    }

    fn tables(&self) -> &'static [&'static str] {
        &["exports"]
    }

    async fn apply(
        &self,
        tx: &mut ReadTransaction,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        let decoded: ExportEvent = decode_event(&event.event_type, &event.payload)?;
        let id = Export::key_in(&event.stream)
            .ok_or_else(|| ProjectionError::Corrupt(format!("stream {}", event.stream)))?
            .to_string();
        match decoded {
            ExportEvent::ExportRequested {
                export_id,
                request,
                requested_at,
            } => {
                let at = Stamp(requested_at);
                let reexport = request.reexport.as_ref();
                on_tx!(tx, c => sqlx::query(
                    "INSERT INTO exports (export_id, org_id, status, format, period_from, \
                         period_to, activity_types, include_attachments, submit_to_bufdir_api, \
                         created_at, queued_at, updated_at, requested_by, locale, reexport_of, \
                         as_of_position, notify_on_completion) \
                     VALUES ($1, $2, $15, $3, $4, $5, $6, $7, $8, $9, $9, $9, $10, $11, \
                         $12, $13, $14) \
                     ON CONFLICT (export_id) DO NOTHING",
                )
                .bind(export_id)
                .bind(request.org_id.as_str().to_string())
                .bind(request.format.as_str())
                .bind(request.period_from)
                .bind(request.period_to)
                .bind(Json(&request.activity_types))
                .bind(request.include_attachments)
                .bind(request.submit_to_bufdir_api)
                .bind(at)
                .bind(event.metadata.actor.clone())
                .bind(request.locale.as_str())
                .bind(reexport.map(|r| r.report_id.clone()))
                .bind(reexport.map(|r| r.as_of_position.clone()))
                .bind(reexport.is_some_and(|r| r.notify_on_completion))
                .bind(ExportStatus::Queued.as_str())
                .execute(c)
                .await
                .map(|done| done.rows_affected()))?;
            }
            ExportEvent::ExportClaimed {
                attempt,
                lease_until,
                claimed_at,
                ..
            } => {
                on_tx!(tx, c => sqlx::query(
                    "UPDATE exports SET status = $5, attempt = $1, lease_until = $2, \
                         started_at = $3, progress_done = 0, progress_total = 0, \
                         error_message = NULL, updated_at = $3 WHERE export_id = $4",
                )
                .bind(i64::from(attempt))
                .bind(Stamp(lease_until))
                .bind(Stamp(claimed_at))
                .bind(id)
                .bind(ExportStatus::Running.as_str())
                .execute(c)
                .await
                .map(|done| done.rows_affected()))?;
            }
            ExportEvent::ExportProgressed {
                done,
                total,
                lease_until,
                ..
            } => {
                on_tx!(tx, c => sqlx::query(
                    "UPDATE exports SET progress_done = $1, progress_total = $2, lease_until = $3 \
                     WHERE export_id = $4",
                )
                .bind(i64::from(done))
                .bind(i64::from(total))
                .bind(Stamp(lease_until))
                .bind(id)
                .execute(c)
                .await
                .map(|done| done.rows_affected()))?;
            }
            ExportEvent::ExportCompleted {
                file,
                source_position,
                submission,
                duration_ms,
                steps,
                completed_at,
                ..
            } => {
                let (submission_id, submission_errors) = match submission {
                    Some(ExportSubmission::Submitted { submission_id }) => {
                        (Some(submission_id), None)
                    }
                    Some(ExportSubmission::Invalid { errors }) => (None, Some(Json(errors))),
                    None => (None, None),
                };
                on_tx!(tx, c => sqlx::query(
                    "UPDATE exports SET status = $13, lease_until = NULL, \
                         progress_done = $12, progress_total = $12, file_key = $1, file_name = $2, \
                         content_type = $3, file_size_bytes = $4, file_expires_at = $5, \
                         source_position = $6, submission_id = $7, submission_errors = $8, \
                         duration_ms = $9, completed_at = $10, updated_at = $10 \
                     WHERE export_id = $11",
                )
                .bind(file.key)
                .bind(file.name)
                .bind(file.content_type)
                .bind(file.size_bytes as i64)
                .bind(Stamp(file.expires_at))
                .bind(source_position)
                .bind(submission_id)
                .bind(submission_errors)
                .bind(duration_ms as i64)
                .bind(Stamp(completed_at))
                .bind(id)
                .bind(i64::from(steps))
                .bind(ExportStatus::Completed.as_str())
                .execute(c)
                .await
                .map(|done| done.rows_affected()))?;
            }
            ExportEvent::ExportFailed {
                error, failed_at, ..
            } => {
                on_tx!(tx, c => sqlx::query(
                    "UPDATE exports SET status = $4, lease_until = NULL, error_message = $1, \
                         updated_at = $2 WHERE export_id = $3",
                )
                .bind(error)
                .bind(Stamp(failed_at))
                .bind(id)
                .bind(ExportStatus::Failed.as_str())
                .execute(c)
                .await
                .map(|done| done.rows_affected()))?;
            }
            ExportEvent::ExportCancelled {
                reason,
                cancelled_at,
            } => {
                on_tx!(tx, c => sqlx::query(
                    "UPDATE exports SET status = $4, lease_until = NULL, \
                         cancel_reason = $1, cancelled_at = $2, updated_at = $2 \
                     WHERE export_id = $3",
                )
                .bind(reason)
                .bind(Stamp(cancelled_at))
                .bind(id)
                .bind(ExportStatus::Cancelled.as_str())
                .execute(c)
                .await
                .map(|done| done.rows_affected()))?;
            }
            ExportEvent::ExportRetried {
                retry_count,
                queued_at,
            } => {
                on_tx!(tx, c => sqlx::query(
                    "UPDATE exports SET status = $4, retry_count = $1, queued_at = $2, \
                         error_message = NULL, cancelled_at = NULL, cancel_reason = NULL, \
                         started_at = NULL, progress_done = 0, progress_total = 0, updated_at = $2 \
                     WHERE export_id = $3",
                )
                .bind(i64::from(retry_count))
                .bind(Stamp(queued_at))
                .bind(id)
                .bind(ExportStatus::Queued.as_str())
                .execute(c)
                .await
                .map(|done| done.rows_affected()))?;
            }
            ExportEvent::ExportDeleted { deleted_at } => {
                on_tx!(tx, c => sqlx::query(
                    "UPDATE exports SET deleted = $1, updated_at = $2 WHERE export_id = $3",
                )
                .bind(true)
                .bind(Stamp(deleted_at))
                .bind(id)
                .execute(c)
                .await
                .map(|done| done.rows_affected()))?;
            }
            ExportEvent::ExportFileExpired { expired_at, .. } => {
                on_tx!(tx, c => sqlx::query(
                    "UPDATE exports SET file_removed = $1, updated_at = $2 WHERE export_id = $3",
                )
                .bind(true)
                .bind(Stamp(expired_at))
                .bind(id)
                .execute(c)
                .await
                .map(|done| done.rows_affected()))?;
            }
            ExportEvent::ExportNotified {
                attempts,
                notified_at,
            } => {
                on_tx!(tx, c => sqlx::query(
                    "UPDATE exports SET notified = $1, notify_attempts = $2, \
                         notify_retry_at = NULL, notify_error = NULL, updated_at = $3 \
                     WHERE export_id = $4",
                )
                .bind(true)
                .bind(i64::from(attempts))
                .bind(Stamp(notified_at))
                .bind(id)
                .execute(c)
                .await
                .map(|done| done.rows_affected()))?;
            }
            ExportEvent::ExportNotificationFailed {
                attempt,
                error,
                retry_at,
                failed_at,
            } => {
                on_tx!(tx, c => sqlx::query(
                    "UPDATE exports SET notify_attempts = $1, notify_retry_at = $2, \
                         notify_error = $3, updated_at = $4 WHERE export_id = $5",
                )
                .bind(i64::from(attempt))
                .bind(Stamp(retry_at))
                .bind(error)
                .bind(Stamp(failed_at))
                .bind(id)
                .execute(c)
                .await
                .map(|done| done.rows_affected()))?;
            }
        }
        Ok(())
    }
}

/// An `exports` row. Columns stored in another form are decoded in place (`crate::column`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExportRow {
    pub export_id: String,
    #[sqlx(try_from = "String")]
    pub org_id: OrgId,
    #[sqlx(try_from = "String")]
    pub status: ExportStatus,
    #[sqlx(try_from = "String")]
    pub format: ExportFormat,
    pub period_from: NaiveDate,
    pub period_to: NaiveDate,
    #[sqlx(json)]
    pub activity_types: Vec<String>,
    pub include_attachments: bool,
    pub submit_to_bufdir_api: bool,
    pub created_at: DateTime<Utc>,
    pub queued_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub cancel_reason: Option<String>,
    pub error_message: Option<String>,
    #[sqlx(try_from = "i64")]
    pub retry_count: u32,
    #[sqlx(try_from = "i64")]
    pub attempt: u32,
    pub lease_until: Option<DateTime<Utc>>,
    #[sqlx(try_from = "i64")]
    pub progress_done: u32,
    #[sqlx(try_from = "i64")]
    pub progress_total: u32,
    pub file_key: Option<String>,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    #[sqlx(try_from = "Stored<Option<i64>>")]
    pub file_size_bytes: Option<u64>,
    pub file_expires_at: Option<DateTime<Utc>>,
    pub file_removed: bool,
    #[sqlx(try_from = "Stored<Option<String>>")]
    pub source_position: Option<Position>,
    pub submission_id: Option<String>,
    #[sqlx(try_from = "Stored<Option<sqlx::types::Json<Vec<String>>>>")]
    pub submission_errors: Vec<String>,
    pub deleted: bool,
    /// The actor who asked for it (`sub` of the token, or a worker).
    pub requested_by: Option<String>,
    #[sqlx(try_from = "String")]
    pub locale: Locale,
    /// For a re-export: the report it regenerates, and the log position it reads up to.
    pub reexport_of: Option<String>,
    #[sqlx(try_from = "Stored<Option<String>>")]
    pub as_of_position: Option<Position>,
    pub notify_on_completion: bool,
    pub notified: bool,
    #[sqlx(try_from = "i64")]
    pub notify_attempts: u32,
    pub notify_retry_at: Option<DateTime<Utc>>,
}

/// An export, deleted ones included (callers decide what a deleted export means to them).
pub async fn get(pool: &ReadPool, export_id: &str) -> Result<Option<ExportRow>, ProjectionError> {
    let found: Option<ExportRow> = on_pool!(pool, c => sqlx::query_as(
        "SELECT * FROM exports WHERE export_id = $1",
    )
    .bind(export_id)
    .fetch_optional(c)
    .await)?;
    Ok(found)
}

#[derive(Debug, Default)]
pub struct ExportFilter {
    /// `false`: plain exports only; `true`: re-exports only.
    pub reexports: bool,
    /// Re-exports of this report.
    pub reexport_of: Option<String>,
    pub org_id: Option<String>,
    pub status: Option<ExportStatus>,
    /// Exports whose range ends on or after this date.
    pub period_from: Option<NaiveDate>,
    /// Exports whose range starts on or before this date.
    pub period_to: Option<NaiveDate>,
}

/// A value of [`list`]'s condition, bound to the placeholder written for it.
enum Arg {
    Flag(bool),
    Text(String),
    Date(NaiveDate),
    Ids(IdList),
}

/// One page of live exports, newest first, and the total. `visible` limits the organisations.
pub async fn list(
    pool: &ReadPool,
    filter: &ExportFilter,
    visible: crate::organizations::Visible<'_>,
    page: crate::Page,
) -> Result<(Vec<ExportRow>, u64), ProjectionError> {
    // Only the filters that are set become conditions, so each combination is a plain query the
    // database plans with its indexes (`exports_list`, `exports_reexports`); the statement's text
    // depends on which filters are set, never on their values or on the number of visible ids.
    let kind = if filter.reexports {
        "reexport_of IS NOT NULL"
    } else {
        "reexport_of IS NULL"
    };
    let mut args = vec![Arg::Flag(false)];
    let mut conditions = vec!["deleted = $1".to_string(), kind.to_string()];
    // Adds a value and gives the number of its placeholder.
    let mut param = |arg: Arg| {
        args.push(arg);
        args.len()
    };
    if let Some(report) = &filter.reexport_of {
        let n = param(Arg::Text(report.clone()));
        conditions.push(format!("reexport_of = ${n}"));
    }
    if let Some(org) = &filter.org_id {
        let n = param(Arg::Text(org.clone()));
        conditions.push(format!("org_id = ${n}"));
    }
    if let Some(status) = filter.status {
        let n = param(Arg::Text(status.as_str().to_string()));
        conditions.push(format!("status = ${n}"));
    }
    if let Some(from) = filter.period_from {
        let n = param(Arg::Date(from));
        conditions.push(format!("period_to >= ${n}"));
    }
    if let Some(to) = filter.period_to {
        let n = param(Arg::Date(to));
        conditions.push(format!("period_from <= ${n}"));
    }
    match visible {
        crate::organizations::Visible::All => {}
        crate::organizations::Visible::Only([]) => return Ok((vec![], 0)),
        crate::organizations::Visible::Only(ids) => {
            let n = param(Arg::Ids(IdList(ids.to_vec())));
            conditions.push(pool.any_of("org_id", n));
        }
    }
    let condition = conditions.join(" AND ");
    let (clause, bound) = page.clause(pool, args.len() + 1);
    let page_sql = format!(
        "SELECT * FROM exports WHERE {condition} ORDER BY created_at DESC, export_id DESC {clause}"
    );
    let count_sql = format!("SELECT count(*) FROM exports WHERE {condition}");
    // Binds the filters' values in the order their placeholders were numbered.
    macro_rules! bind_args {
        ($query:expr) => {{
            let mut query = $query;
            for arg in &args {
                query = match arg {
                    Arg::Text(s) => query.bind(s.clone()),
                    Arg::Date(d) => query.bind(*d),
                    Arg::Ids(ids) => query.bind(ids.clone()),
                    Arg::Flag(b) => query.bind(*b),
                };
            }
            query
        }};
    }
    let records: Vec<ExportRow> = on_pool!(pool, c => {
        let mut query = bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(page_sql)));
        for value in bound.iter().flatten() {
            query = query.bind(*value);
        }
        query.fetch_all(c).await
    })?;
    let total: i64 = on_pool!(pool, c => bind_args!(sqlx::query_scalar(
        sqlx::AssertSqlSafe(count_sql)
    ))
    .fetch_one(c)
    .await)?;
    Ok((records, total.max(0) as u64))
}

/// The oldest job a worker may take at `now`: queued, or running with a lapsed lease.
pub async fn next_claimable(
    pool: &ReadPool,
    now: DateTime<Utc>,
) -> Result<Option<ExportRow>, ProjectionError> {
    let found: Option<ExportRow> = on_pool!(pool, c => sqlx::query_as(
        "SELECT * FROM exports WHERE deleted = $2 AND (status = $3 \
             OR (status = $4 AND lease_until <= $1)) \
         ORDER BY queued_at, export_id LIMIT 1",
    )
    .bind(Stamp(now))
    .bind(false)
    .bind(ExportStatus::Queued.as_str())
    .bind(ExportStatus::Running.as_str())
    .fetch_optional(c)
    .await)?;
    Ok(found)
}

/// Completed exports whose file has expired, or whose export was deleted, and is still stored.
pub async fn files_to_remove(
    pool: &ReadPool,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<ExportRow>, ProjectionError> {
    // A worker's batch size is a constant of its own: a literal keeps one statement per caller
    // (see `Page::clause` for why SQLite must not have it bound).
    let sql = format!(
        "SELECT * FROM exports WHERE file_key IS NOT NULL AND file_removed = $2 \
             AND (file_expires_at <= $1 OR deleted = $3) \
         ORDER BY file_expires_at LIMIT {limit}"
    );
    let records: Vec<ExportRow> = on_pool!(pool, c => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(Stamp(now))
        .bind(false)
        .bind(true)
        .fetch_all(c)
        .await)?;
    Ok(records)
}

/// Mean duration of the last completed exports, for `estimated_duration_seconds`.
pub async fn recent_duration_ms(pool: &ReadPool) -> Result<Option<f64>, ProjectionError> {
    let durations: Vec<i64> = on_pool!(pool, c => sqlx::query_scalar(
        "SELECT duration_ms FROM exports WHERE duration_ms IS NOT NULL \
         ORDER BY completed_at DESC LIMIT 20",
    )
    .fetch_all(c)
    .await)?;
    Ok((!durations.is_empty())
        .then(|| durations.iter().sum::<i64>() as f64 / durations.len() as f64))
}

/// The oldest finished re-export whose completion webhook is owed at `now`.
pub async fn next_notification(
    pool: &ReadPool,
    now: DateTime<Utc>,
) -> Result<Option<ExportRow>, ProjectionError> {
    let found: Option<ExportRow> = on_pool!(pool, c => sqlx::query_as(
        "SELECT * FROM exports WHERE notify_on_completion = $2 AND notified = $3 \
             AND deleted = $3 AND status IN ($4, $5) \
             AND (notify_retry_at IS NULL OR notify_retry_at <= $1) \
         ORDER BY updated_at, export_id LIMIT 1",
    )
    .bind(Stamp(now))
    .bind(true)
    .bind(false)
    .bind(ExportStatus::Completed.as_str())
    .bind(ExportStatus::Failed.as_str())
    .fetch_optional(c)
    .await)?;
    Ok(found)
}

/// Completed exports (and re-exports) not yet in the report history.
pub async fn unrecorded_reports(
    pool: &ReadPool,
    limit: u64,
) -> Result<Vec<ExportRow>, ProjectionError> {
    let sql = format!(
        "SELECT * FROM exports e WHERE e.status = $2 AND e.deleted = $1 \
             AND e.file_removed = $1 \
             AND NOT EXISTS (SELECT 1 FROM reports r WHERE r.export_id = e.export_id) \
         ORDER BY e.completed_at, e.export_id LIMIT {limit}"
    );
    let records: Vec<ExportRow> = on_pool!(pool, c => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(false)
        .bind(ExportStatus::Completed.as_str())
        .fetch_all(c)
        .await)?;
    Ok(records)
}
