//! The submissions read model: what the API answers about a submission, the delivery outbox
//! (rows still `pending`, with when to try next) and the status poll list (rows `received`).

use chrono::{DateTime, Utc};
use domain::submission::{Submission, SubmissionEvent};
use domain::{Aggregate, decode_event};
use sqlx::{AnyConnection, AnyPool, Row};
use store::{Filter, RecordedEvent};

use crate::report_data::ts;
use crate::{Projection, ProjectionError};

pub const NAME: &str = "submissions";

pub struct SubmissionsProjection;

#[async_trait::async_trait]
impl Projection for SubmissionsProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn filter(&self) -> Filter {
        Filter::categories([Submission::CATEGORY])
    }

    fn tables(&self) -> &'static [&'static str] {
        &["bufdir_submissions"]
    }

    async fn apply(
        &self,
        tx: &mut AnyConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        let decoded: SubmissionEvent = decode_event(&event.event_type, &event.payload)
            .map_err(|e| ProjectionError::Corrupt(e.to_string()))?;
        match decoded {
            SubmissionEvent::SubmissionRequested {
                submission_id,
                org_id,
                report_id,
                payload_version,
                payload,
                payload_digest,
                requested_at,
            } => {
                let at = ts(&requested_at);
                sqlx::query(
                    "INSERT INTO bufdir_submissions (submission_id, org_id, report_id, \
                         payload_version, payload, payload_digest, status, attempts, \
                         next_attempt_at, requested_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7, $7) \
                     ON CONFLICT (submission_id) DO NOTHING",
                )
                .bind(submission_id)
                .bind(org_id.as_str().to_string())
                .bind(report_id)
                .bind(payload_version)
                .bind(payload.to_string())
                .bind(payload_digest)
                .bind(at)
                .execute(tx)
                .await?;
            }
            SubmissionEvent::SubmissionDeliveryFailed {
                submission_id,
                attempt,
                error,
                retry_at,
                failed_at,
            } => {
                sqlx::query(
                    "UPDATE bufdir_submissions SET attempts = $1, last_error = $2, \
                         next_attempt_at = $3, updated_at = $4 WHERE submission_id = $5",
                )
                .bind(i64::from(attempt))
                .bind(error)
                .bind(ts(&retry_at))
                .bind(ts(&failed_at))
                .bind(submission_id)
                .execute(tx)
                .await?;
            }
            SubmissionEvent::SubmissionDelivered {
                submission_id,
                reference_id,
                status,
                submitted_at,
                confirmation,
                attempt,
                delivered_at,
            } => {
                sqlx::query(
                    "UPDATE bufdir_submissions SET status = $1, reference_id = $2, \
                         submitted_at = $3, confirmation = $4, attempts = $5, \
                         next_attempt_at = NULL, last_error = NULL, updated_at = $6 \
                     WHERE submission_id = $7",
                )
                .bind(status.as_str())
                .bind(reference_id)
                .bind(ts(&submitted_at))
                .bind(confirmation)
                .bind(i64::from(attempt))
                .bind(ts(&delivered_at))
                .bind(submission_id)
                .execute(tx)
                .await?;
            }
            SubmissionEvent::SubmissionRefused {
                submission_id,
                http_status,
                reason,
                refused_at,
            } => {
                sqlx::query(
                    "UPDATE bufdir_submissions SET status = 'failed', next_attempt_at = NULL, \
                         last_error = $1, attempts = attempts + 1, updated_at = $2 \
                     WHERE submission_id = $3",
                )
                .bind(format!("Bufdir answered {http_status}: {reason}"))
                .bind(ts(&refused_at))
                .bind(submission_id)
                .execute(tx)
                .await?;
            }
            SubmissionEvent::SubmissionStatusChanged {
                submission_id,
                status,
                processed_at,
                notes,
                observed_at,
            } => {
                sqlx::query(
                    "UPDATE bufdir_submissions SET status = $1, processed_at = $2, notes = $3, \
                         updated_at = $4 WHERE submission_id = $5",
                )
                .bind(status.as_str())
                .bind(processed_at.as_ref().map(ts))
                .bind(notes)
                .bind(ts(&observed_at))
                .bind(submission_id)
                .execute(tx)
                .await?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct SubmissionRow {
    pub submission_id: String,
    pub org_id: String,
    pub report_id: String,
    pub payload_version: String,
    pub payload: serde_json::Value,
    pub status: String,
    pub reference_id: Option<String>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub confirmation: Option<String>,
    pub processed_at: Option<DateTime<Utc>>,
    pub notes: Option<String>,
    pub attempts: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub requested_at: DateTime<Utc>,
}

const COLUMNS: &str = "submission_id, org_id, report_id, payload_version, payload, status, \
    reference_id, submitted_at, confirmation, processed_at, notes, attempts, next_attempt_at, \
    last_error, requested_at";

fn time(r: &sqlx::any::AnyRow, column: &str) -> Result<Option<DateTime<Utc>>, ProjectionError> {
    let text: Option<String> = r.try_get(column)?;
    text.map(|t| {
        DateTime::parse_from_rfc3339(&t)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| ProjectionError::Corrupt(format!("{column}: {e}")))
    })
    .transpose()
}

fn row(r: &sqlx::any::AnyRow) -> Result<SubmissionRow, ProjectionError> {
    let payload: String = r.try_get("payload")?;
    let attempts: i64 = r.try_get("attempts")?;
    Ok(SubmissionRow {
        submission_id: r.try_get("submission_id")?,
        org_id: r.try_get("org_id")?,
        report_id: r.try_get("report_id")?,
        payload_version: r.try_get("payload_version")?,
        payload: serde_json::from_str(&payload)
            .map_err(|e| ProjectionError::Corrupt(format!("payload: {e}")))?,
        status: r.try_get("status")?,
        reference_id: r.try_get("reference_id")?,
        submitted_at: time(r, "submitted_at")?,
        confirmation: r.try_get("confirmation")?,
        processed_at: time(r, "processed_at")?,
        notes: r.try_get("notes")?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        next_attempt_at: time(r, "next_attempt_at")?,
        last_error: r.try_get("last_error")?,
        requested_at: time(r, "requested_at")?
            .ok_or_else(|| ProjectionError::Corrupt("requested_at is empty".into()))?,
    })
}

async fn one(
    pool: &AnyPool,
    condition: &str,
    value: &str,
) -> Result<Option<SubmissionRow>, ProjectionError> {
    let sql = format!("SELECT {COLUMNS} FROM bufdir_submissions WHERE {condition}");
    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(value)
        .fetch_optional(pool)
        .await?;
    found.as_ref().map(row).transpose()
}

pub async fn by_id(
    pool: &AnyPool,
    submission_id: &str,
) -> Result<Option<SubmissionRow>, ProjectionError> {
    one(pool, "submission_id = $1", submission_id).await
}

pub async fn by_reference(
    pool: &AnyPool,
    reference_id: &str,
) -> Result<Option<SubmissionRow>, ProjectionError> {
    // Bufdir's references are unique; should one ever repeat, the newest submission wins.
    one(
        pool,
        "reference_id = $1 ORDER BY requested_at DESC LIMIT 1",
        reference_id,
    )
    .await
}

/// The latest submission of a report.
pub async fn latest_for_report(
    pool: &AnyPool,
    org_id: &str,
    report_id: &str,
) -> Result<Option<SubmissionRow>, ProjectionError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM bufdir_submissions WHERE org_id = $1 AND report_id = $2 \
         ORDER BY requested_at DESC, submission_id DESC LIMIT 1"
    );
    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org_id)
        .bind(report_id)
        .fetch_optional(pool)
        .await?;
    found.as_ref().map(row).transpose()
}

/// The pending submission whose next attempt is due soonest, if one is due at `now`.
pub async fn next_due_delivery(
    pool: &AnyPool,
    now: DateTime<Utc>,
) -> Result<Option<SubmissionRow>, ProjectionError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM bufdir_submissions \
         WHERE status = 'pending' AND next_attempt_at <= $1 \
         ORDER BY next_attempt_at, submission_id LIMIT 1"
    );
    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(ts(&now))
        .fetch_optional(pool)
        .await?;
    found.as_ref().map(row).transpose()
}

/// Submissions Bufdir has received but not yet decided on, oldest first.
pub async fn awaiting_verdict(
    pool: &AnyPool,
    limit: u64,
) -> Result<Vec<SubmissionRow>, ProjectionError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM bufdir_submissions WHERE status = 'received' \
         ORDER BY submitted_at, submission_id LIMIT {limit}"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await?;
    rows.iter().map(row).collect()
}
