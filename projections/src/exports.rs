//! The exports read model: the jobs the API lists, the work list of the render worker (queued, or
//! running with a lapsed lease), and the files the expiry worker removes.

use chrono::{DateTime, NaiveDate, Utc};
use domain::export::{Export, ExportEvent, ExportSubmission};
use domain::{Aggregate, Locale, decode_event};
use sqlx::{AnyConnection, AnyPool, Row};
use store::{Filter, RecordedEvent};

use crate::report_data::ts;
use crate::{Projection, ProjectionError};

pub const NAME: &str = "exports";

pub struct ExportsProjection;

fn flag(b: bool) -> i64 {
    i64::from(b)
}

#[async_trait::async_trait]
impl Projection for ExportsProjection {
    fn name(&self) -> &'static str {
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
        tx: &mut AnyConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        let decoded: ExportEvent = decode_event(&event.event_type, &event.payload)
            .map_err(|e| ProjectionError::Corrupt(e.to_string()))?;
        let id = event
            .stream
            .strip_prefix("export-")
            .ok_or_else(|| ProjectionError::Corrupt(format!("stream {}", event.stream)))?
            .to_string();
        let update = |sql: &'static str| sqlx::query(sql);
        match decoded {
            ExportEvent::ExportRequested {
                export_id,
                request,
                requested_at,
            } => {
                let at = ts(&requested_at);
                let reexport = request.reexport.as_ref();
                sqlx::query(
                    "INSERT INTO exports (export_id, org_id, status, format, period_from, \
                         period_to, activity_types, include_attachments, submit_to_bufdir_api, \
                         created_at, queued_at, updated_at, requested_by, locale, reexport_of, \
                         as_of_position, notify_on_completion) \
                     VALUES ($1, $2, 'queued', $3, $4, $5, $6, $7, $8, $9, $9, $9, $10, $11, \
                         $12, $13, $14) \
                     ON CONFLICT (export_id) DO NOTHING",
                )
                .bind(export_id)
                .bind(request.org_id.as_str().to_string())
                .bind(request.format.as_str())
                .bind(request.period_from.to_string())
                .bind(request.period_to.to_string())
                .bind(serde_json::to_string(&request.activity_types).unwrap_or_default())
                .bind(flag(request.include_attachments))
                .bind(flag(request.submit_to_bufdir_api))
                .bind(at)
                .bind(event.metadata.actor.clone())
                .bind(request.locale.as_str())
                .bind(reexport.map(|r| r.report_id.clone()))
                .bind(reexport.map(|r| r.as_of_position.clone()))
                .bind(flag(reexport.is_some_and(|r| r.notify_on_completion)))
                .execute(tx)
                .await?;
            }
            ExportEvent::ExportClaimed {
                attempt,
                lease_until,
                claimed_at,
                ..
            } => {
                update(
                    "UPDATE exports SET status = 'running', attempt = $1, lease_until = $2, \
                         started_at = $3, progress_done = 0, progress_total = 0, \
                         error_message = NULL, updated_at = $3 WHERE export_id = $4",
                )
                .bind(i64::from(attempt))
                .bind(ts(&lease_until))
                .bind(ts(&claimed_at))
                .bind(id)
                .execute(tx)
                .await?;
            }
            ExportEvent::ExportProgressed {
                done,
                total,
                lease_until,
                ..
            } => {
                update(
                    "UPDATE exports SET progress_done = $1, progress_total = $2, lease_until = $3 \
                     WHERE export_id = $4",
                )
                .bind(i64::from(done))
                .bind(i64::from(total))
                .bind(ts(&lease_until))
                .bind(id)
                .execute(tx)
                .await?;
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
                    Some(ExportSubmission::Invalid { errors }) => {
                        (None, serde_json::to_string(&errors).ok())
                    }
                    None => (None, None),
                };
                update(
                    "UPDATE exports SET status = 'completed', lease_until = NULL, \
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
                .bind(ts(&file.expires_at))
                .bind(source_position)
                .bind(submission_id)
                .bind(submission_errors)
                .bind(duration_ms as i64)
                .bind(ts(&completed_at))
                .bind(id)
                .bind(i64::from(steps))
                .execute(tx)
                .await?;
            }
            ExportEvent::ExportFailed {
                error, failed_at, ..
            } => {
                update(
                    "UPDATE exports SET status = 'failed', lease_until = NULL, error_message = $1, \
                         updated_at = $2 WHERE export_id = $3",
                )
                .bind(error)
                .bind(ts(&failed_at))
                .bind(id)
                .execute(tx)
                .await?;
            }
            ExportEvent::ExportCancelled {
                reason,
                cancelled_at,
            } => {
                update(
                    "UPDATE exports SET status = 'cancelled', lease_until = NULL, \
                         cancel_reason = $1, cancelled_at = $2, updated_at = $2 \
                     WHERE export_id = $3",
                )
                .bind(reason)
                .bind(ts(&cancelled_at))
                .bind(id)
                .execute(tx)
                .await?;
            }
            ExportEvent::ExportRetried {
                retry_count,
                queued_at,
            } => {
                update(
                    "UPDATE exports SET status = 'queued', retry_count = $1, queued_at = $2, \
                         error_message = NULL, cancelled_at = NULL, cancel_reason = NULL, \
                         started_at = NULL, progress_done = 0, progress_total = 0, updated_at = $2 \
                     WHERE export_id = $3",
                )
                .bind(i64::from(retry_count))
                .bind(ts(&queued_at))
                .bind(id)
                .execute(tx)
                .await?;
            }
            ExportEvent::ExportDeleted { deleted_at } => {
                update("UPDATE exports SET deleted = 1, updated_at = $1 WHERE export_id = $2")
                    .bind(ts(&deleted_at))
                    .bind(id)
                    .execute(tx)
                    .await?;
            }
            ExportEvent::ExportFileExpired { expired_at, .. } => {
                update("UPDATE exports SET file_removed = 1, updated_at = $1 WHERE export_id = $2")
                    .bind(ts(&expired_at))
                    .bind(id)
                    .execute(tx)
                    .await?;
            }
            ExportEvent::ExportNotified {
                attempts,
                notified_at,
            } => {
                update(
                    "UPDATE exports SET notified = 1, notify_attempts = $1, notify_retry_at = NULL, \
                         notify_error = NULL, updated_at = $2 WHERE export_id = $3",
                )
                .bind(i64::from(attempts))
                .bind(ts(&notified_at))
                .bind(id)
                .execute(tx)
                .await?;
            }
            ExportEvent::ExportNotificationFailed {
                attempt,
                error,
                retry_at,
                failed_at,
            } => {
                update(
                    "UPDATE exports SET notify_attempts = $1, notify_retry_at = $2, \
                         notify_error = $3, updated_at = $4 WHERE export_id = $5",
                )
                .bind(i64::from(attempt))
                .bind(ts(&retry_at))
                .bind(error)
                .bind(ts(&failed_at))
                .bind(id)
                .execute(tx)
                .await?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct ExportRow {
    pub export_id: String,
    pub org_id: String,
    pub status: String,
    pub format: String,
    pub period_from: NaiveDate,
    pub period_to: NaiveDate,
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
    pub retry_count: u32,
    pub attempt: u32,
    pub lease_until: Option<DateTime<Utc>>,
    pub progress_done: u32,
    pub progress_total: u32,
    pub file_key: Option<String>,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    pub file_size_bytes: Option<u64>,
    pub file_expires_at: Option<DateTime<Utc>>,
    pub file_removed: bool,
    pub source_position: Option<String>,
    pub submission_id: Option<String>,
    pub submission_errors: Vec<String>,
    pub deleted: bool,
    /// The actor who asked for it (`sub` of the token, or a worker).
    pub requested_by: Option<String>,
    pub locale: Locale,
    /// For a re-export: the report it regenerates, and the log position it reads up to.
    pub reexport_of: Option<String>,
    pub as_of_position: Option<String>,
    pub notify_on_completion: bool,
    pub notified: bool,
    pub notify_attempts: u32,
    pub notify_retry_at: Option<DateTime<Utc>>,
}

pub(crate) fn time(
    r: &sqlx::any::AnyRow,
    column: &str,
) -> Result<Option<DateTime<Utc>>, ProjectionError> {
    let text: Option<String> = r.try_get(column)?;
    text.map(|t| {
        DateTime::parse_from_rfc3339(&t)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| ProjectionError::Corrupt(format!("{column}: {e}")))
    })
    .transpose()
}

pub(crate) fn required_time(
    r: &sqlx::any::AnyRow,
    column: &str,
) -> Result<DateTime<Utc>, ProjectionError> {
    time(r, column)?.ok_or_else(|| ProjectionError::Corrupt(format!("{column} is empty")))
}

pub(crate) fn date(r: &sqlx::any::AnyRow, column: &str) -> Result<NaiveDate, ProjectionError> {
    let text: String = r.try_get(column)?;
    text.parse()
        .map_err(|e| ProjectionError::Corrupt(format!("{column}: {e}")))
}

pub(crate) fn count(r: &sqlx::any::AnyRow, column: &str) -> Result<u32, ProjectionError> {
    Ok(u32::try_from(r.try_get::<i64, _>(column)?).unwrap_or(u32::MAX))
}

fn row(r: &sqlx::any::AnyRow) -> Result<ExportRow, ProjectionError> {
    let activity_types: String = r.try_get("activity_types")?;
    let submission_errors: Option<String> = r.try_get("submission_errors")?;
    Ok(ExportRow {
        export_id: r.try_get("export_id")?,
        org_id: r.try_get("org_id")?,
        status: r.try_get("status")?,
        format: r.try_get("format")?,
        period_from: date(r, "period_from")?,
        period_to: date(r, "period_to")?,
        activity_types: serde_json::from_str(&activity_types)
            .map_err(|e| ProjectionError::Corrupt(format!("activity_types: {e}")))?,
        include_attachments: r.try_get::<i64, _>("include_attachments")? == 1,
        submit_to_bufdir_api: r.try_get::<i64, _>("submit_to_bufdir_api")? == 1,
        created_at: required_time(r, "created_at")?,
        queued_at: required_time(r, "queued_at")?,
        started_at: time(r, "started_at")?,
        completed_at: time(r, "completed_at")?,
        cancelled_at: time(r, "cancelled_at")?,
        cancel_reason: r.try_get("cancel_reason")?,
        error_message: r.try_get("error_message")?,
        retry_count: count(r, "retry_count")?,
        attempt: count(r, "attempt")?,
        lease_until: time(r, "lease_until")?,
        progress_done: count(r, "progress_done")?,
        progress_total: count(r, "progress_total")?,
        file_key: r.try_get("file_key")?,
        file_name: r.try_get("file_name")?,
        content_type: r.try_get("content_type")?,
        file_size_bytes: r
            .try_get::<Option<i64>, _>("file_size_bytes")?
            .map(|n| n.max(0) as u64),
        file_expires_at: time(r, "file_expires_at")?,
        file_removed: r.try_get::<i64, _>("file_removed")? == 1,
        source_position: r.try_get("source_position")?,
        submission_id: r.try_get("submission_id")?,
        submission_errors: submission_errors
            .and_then(|e| serde_json::from_str(&e).ok())
            .unwrap_or_default(),
        deleted: r.try_get::<i64, _>("deleted")? == 1,
        requested_by: r.try_get("requested_by")?,
        locale: Locale::parse(&r.try_get::<String, _>("locale")?).unwrap_or_default(),
        reexport_of: r.try_get("reexport_of")?,
        as_of_position: r.try_get("as_of_position")?,
        notify_on_completion: r.try_get::<i64, _>("notify_on_completion")? == 1,
        notified: r.try_get::<i64, _>("notified")? == 1,
        notify_attempts: count(r, "notify_attempts")?,
        notify_retry_at: time(r, "notify_retry_at")?,
    })
}

/// An export, deleted ones included (callers decide what a deleted export means to them).
pub async fn get(pool: &AnyPool, export_id: &str) -> Result<Option<ExportRow>, ProjectionError> {
    let found = sqlx::query("SELECT * FROM exports WHERE export_id = $1")
        .bind(export_id)
        .fetch_optional(pool)
        .await?;
    found.as_ref().map(row).transpose()
}

#[derive(Debug, Default)]
pub struct ExportFilter {
    /// `false`: plain exports only; `true`: re-exports only.
    pub reexports: bool,
    /// Re-exports of this report.
    pub reexport_of: Option<String>,
    pub org_id: Option<String>,
    pub status: Option<String>,
    /// Exports whose range ends on or after this date.
    pub period_from: Option<NaiveDate>,
    /// Exports whose range starts on or before this date.
    pub period_to: Option<NaiveDate>,
}

/// One page of live exports, newest first, and the total. `visible` limits the organisations.
pub async fn list(
    pool: &AnyPool,
    filter: &ExportFilter,
    visible: crate::organizations::Visible<'_>,
    offset: u64,
    limit: u64,
) -> Result<(Vec<ExportRow>, u64), ProjectionError> {
    let kind = if filter.reexports {
        "reexport_of IS NOT NULL"
    } else {
        "reexport_of IS NULL"
    };
    let mut conditions = vec!["deleted = 0".to_string(), kind.to_string()];
    let mut binds: Vec<String> = vec![];
    let bind = |value: String, binds: &mut Vec<String>| {
        binds.push(value);
        format!("${}", binds.len())
    };
    if let Some(report) = &filter.reexport_of {
        let p = bind(report.clone(), &mut binds);
        conditions.push(format!("reexport_of = {p}"));
    }
    if let Some(org) = &filter.org_id {
        let p = bind(org.clone(), &mut binds);
        conditions.push(format!("org_id = {p}"));
    }
    if let Some(status) = &filter.status {
        let p = bind(status.clone(), &mut binds);
        conditions.push(format!("status = {p}"));
    }
    if let Some(from) = filter.period_from {
        let p = bind(from.to_string(), &mut binds);
        conditions.push(format!("period_to >= {p}"));
    }
    if let Some(to) = filter.period_to {
        let p = bind(to.to_string(), &mut binds);
        conditions.push(format!("period_from <= {p}"));
    }
    match visible {
        crate::organizations::Visible::All => {}
        crate::organizations::Visible::Only([]) => return Ok((vec![], 0)),
        crate::organizations::Visible::Only(ids) => {
            let marks: Vec<String> = ids.iter().map(|id| bind(id.clone(), &mut binds)).collect();
            conditions.push(format!("org_id IN ({})", marks.join(", ")));
        }
    }
    let condition = conditions.join(" AND ");
    let page_sql = format!(
        "SELECT * FROM exports WHERE {condition} ORDER BY created_at DESC, export_id DESC \
         LIMIT {limit} OFFSET {offset}"
    );
    let count_sql = format!("SELECT count(*) FROM exports WHERE {condition}");
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

/// The oldest job a worker may take at `now`: queued, or running with a lapsed lease.
pub async fn next_claimable(
    pool: &AnyPool,
    now: DateTime<Utc>,
) -> Result<Option<ExportRow>, ProjectionError> {
    let found = sqlx::query(
        "SELECT * FROM exports WHERE deleted = 0 AND (status = 'queued' \
             OR (status = 'running' AND lease_until <= $1)) \
         ORDER BY queued_at, export_id LIMIT 1",
    )
    .bind(ts(&now))
    .fetch_optional(pool)
    .await?;
    found.as_ref().map(row).transpose()
}

/// Completed exports whose file has expired, or whose export was deleted, and is still stored.
pub async fn files_to_remove(
    pool: &AnyPool,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<ExportRow>, ProjectionError> {
    let sql = format!(
        "SELECT * FROM exports WHERE file_key IS NOT NULL AND file_removed = 0 \
             AND (file_expires_at <= $1 OR deleted = 1) \
         ORDER BY file_expires_at LIMIT {limit}"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(ts(&now))
        .fetch_all(pool)
        .await?;
    rows.iter().map(row).collect()
}

/// Mean duration of the last completed exports, for `estimated_duration_seconds`.
pub async fn recent_duration_ms(pool: &AnyPool) -> Result<Option<f64>, ProjectionError> {
    let rows = sqlx::query(
        "SELECT duration_ms FROM exports WHERE duration_ms IS NOT NULL \
         ORDER BY completed_at DESC LIMIT 20",
    )
    .fetch_all(pool)
    .await?;
    let durations: Vec<i64> = rows
        .iter()
        .map(|r| r.try_get::<i64, _>(0))
        .collect::<Result<_, _>>()?;
    Ok((!durations.is_empty())
        .then(|| durations.iter().sum::<i64>() as f64 / durations.len() as f64))
}

/// The oldest finished re-export whose completion webhook is owed at `now`.
pub async fn next_notification(
    pool: &AnyPool,
    now: DateTime<Utc>,
) -> Result<Option<ExportRow>, ProjectionError> {
    let found = sqlx::query(
        "SELECT * FROM exports WHERE notify_on_completion = 1 AND notified = 0 AND deleted = 0 \
             AND status IN ('completed', 'failed') \
             AND (notify_retry_at IS NULL OR notify_retry_at <= $1) \
         ORDER BY updated_at, export_id LIMIT 1",
    )
    .bind(ts(&now))
    .fetch_optional(pool)
    .await?;
    found.as_ref().map(row).transpose()
}

/// Completed exports (and re-exports) not yet in the report history.
pub async fn unrecorded_reports(
    pool: &AnyPool,
    limit: u64,
) -> Result<Vec<ExportRow>, ProjectionError> {
    let sql = format!(
        "SELECT * FROM exports e WHERE e.status = 'completed' AND e.deleted = 0 \
             AND e.file_removed = 0 \
             AND NOT EXISTS (SELECT 1 FROM reports r WHERE r.export_id = e.export_id) \
         ORDER BY e.completed_at, e.export_id LIMIT {limit}"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await?;
    rows.iter().map(row).collect()
}
