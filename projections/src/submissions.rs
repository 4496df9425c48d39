//! The submissions read model: what the API answers about a submission, the delivery outbox
//! (rows still `pending`, with when to try next) and the status poll list (rows `received`).

use chrono::{DateTime, Utc};
use domain::submission::{Submission, SubmissionEvent, SubmissionStatus};
use domain::{Aggregate, OrgId, decode_event, privacy};
use store::tables::work_claims::{ClaimKind, unclaimed};
use store::{Filter, ReadPool, ReadTransaction, RecordedEvent, Stamp, on_pool, on_tx};

use crate::column::Stored;
use crate::{Projection, ProjectionError};

pub const NAME: crate::ProjectionName = crate::ProjectionName::Submissions;

pub struct SubmissionsProjection;

#[async_trait::async_trait]
impl Projection for SubmissionsProjection {
    fn name(&self) -> crate::ProjectionName {
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
        tx: &mut ReadTransaction,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        let decoded: SubmissionEvent = decode_event(&event.event_type, &event.payload)?;
        match decoded {
            SubmissionEvent::SubmissionRequested {
                submission_id,
                org_id,
                report_id,
                payload_version,
                payload,
                payload_digest,
                requested_at,
                ..
            } => {
                // The payload stays text on both databases: it is the exact document sent to
                // Bufdir, and its digest is over those bytes.
                on_tx!(tx, c => sqlx::query(
                    "INSERT INTO bufdir_submissions (submission_id, org_id, report_id, \
                         payload_version, payload, payload_digest, status, attempts, \
                         next_attempt_at, requested_at, updated_at, contact_subject) \
                     VALUES ($1, $2, $3, $4, $5, $6, $9, 0, $7, $7, $7, $8) \
                     ON CONFLICT (submission_id) DO NOTHING",
                )
                .bind(submission_id.clone())
                .bind(org_id.as_str().to_string())
                .bind(report_id.clone())
                .bind(payload_version.clone())
                .bind(payload.to_string())
                .bind(payload_digest.clone())
                .bind(Stamp(requested_at))
                .bind(privacy::encrypted_subject(&payload).map(str::to_string))
                .bind(SubmissionStatus::Pending.as_str())
                .execute(c)
                .await
                .map(|done| done.rows_affected()))?;
            }
            SubmissionEvent::SubmissionDeliveryFailed {
                submission_id,
                attempt,
                error,
                retry_at,
                failed_at,
            } => {
                on_tx!(tx, c => sqlx::query(
                    "UPDATE bufdir_submissions SET attempts = $1, last_error = $2, \
                         next_attempt_at = $3, updated_at = $4 WHERE submission_id = $5",
                )
                .bind(i64::from(attempt))
                .bind(error.clone())
                .bind(Stamp(retry_at))
                .bind(Stamp(failed_at))
                .bind(submission_id.clone())
                .execute(c)
                .await
                .map(|done| done.rows_affected()))?;
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
                on_tx!(tx, c => sqlx::query(
                    "UPDATE bufdir_submissions SET status = $1, reference_id = $2, \
                         submitted_at = $3, confirmation = $4, attempts = $5, \
                         next_attempt_at = NULL, last_error = NULL, updated_at = $6 \
                     WHERE submission_id = $7",
                )
                .bind(status.as_str())
                .bind(reference_id.clone())
                .bind(Stamp(submitted_at))
                .bind(confirmation.clone())
                .bind(i64::from(attempt))
                .bind(Stamp(delivered_at))
                .bind(submission_id.clone())
                .execute(c)
                .await
                .map(|done| done.rows_affected()))?;
            }
            SubmissionEvent::SubmissionRefused {
                submission_id,
                http_status,
                reason,
                refused_at,
            } => {
                let error = format!("Bufdir answered {http_status}: {reason}");
                on_tx!(tx, c => sqlx::query(
                    "UPDATE bufdir_submissions SET status = $4, next_attempt_at = NULL, \
                         last_error = $1, attempts = attempts + 1, updated_at = $2 \
                     WHERE submission_id = $3",
                )
                .bind(error.clone())
                .bind(Stamp(refused_at))
                .bind(submission_id.clone())
                .bind(SubmissionStatus::Failed.as_str())
                .execute(c)
                .await
                .map(|done| done.rows_affected()))?;
            }
            SubmissionEvent::SubmissionStatusChanged {
                submission_id,
                status,
                processed_at,
                notes,
                observed_at,
            } => {
                on_tx!(tx, c => sqlx::query(
                    "UPDATE bufdir_submissions SET status = $1, processed_at = $2, notes = $3, \
                         updated_at = $4 WHERE submission_id = $5",
                )
                .bind(status.as_str())
                .bind(processed_at.map(Stamp))
                .bind(notes.clone())
                .bind(Stamp(observed_at))
                .bind(submission_id.clone())
                .execute(c)
                .await
                .map(|done| done.rows_affected()))?;
            }
        }
        Ok(())
    }
}

/// A `bufdir_submissions` row; the payload is text (not `jsonb`) on both databases.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SubmissionRow {
    pub submission_id: String,
    #[sqlx(try_from = "String")]
    pub org_id: OrgId,
    pub report_id: String,
    pub payload_version: String,
    #[sqlx(try_from = "Stored<String>")]
    pub payload: serde_json::Value,
    #[sqlx(try_from = "String")]
    pub status: SubmissionStatus,
    pub reference_id: Option<String>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub confirmation: Option<String>,
    pub processed_at: Option<DateTime<Utc>>,
    pub notes: Option<String>,
    #[sqlx(try_from = "i64")]
    pub attempts: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub requested_at: DateTime<Utc>,
}

const COLUMNS: &str = "submission_id, org_id, report_id, payload_version, payload, status, \
    reference_id, submitted_at, confirmation, processed_at, notes, attempts, next_attempt_at, \
    last_error, requested_at";

/// The submission matched by `condition` (a fixed SQL text of this module) on parameter `$1`.
async fn one(
    pool: &ReadPool,
    condition: &str,
    value: &str,
) -> Result<Option<SubmissionRow>, ProjectionError> {
    let sql = format!("SELECT {COLUMNS} FROM bufdir_submissions WHERE {condition}");
    let found: Option<SubmissionRow> = on_pool!(pool, c => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(value)
            .fetch_optional(c)
            .await)?;
    Ok(found)
}

pub async fn by_id(
    pool: &ReadPool,
    submission_id: &str,
) -> Result<Option<SubmissionRow>, ProjectionError> {
    one(pool, "submission_id = $1", submission_id).await
}

pub async fn by_reference(
    pool: &ReadPool,
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
    pool: &ReadPool,
    org_id: &str,
    report_id: &str,
) -> Result<Option<SubmissionRow>, ProjectionError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM bufdir_submissions WHERE org_id = $1 AND report_id = $2 \
         ORDER BY requested_at DESC, submission_id DESC LIMIT 1"
    );
    let found: Option<SubmissionRow> = on_pool!(pool, c => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(org_id)
            .bind(report_id)
            .fetch_optional(c)
            .await)?;
    Ok(found)
}

/// The pending submission whose next attempt is due soonest, if one is due at `now`.
pub async fn next_due_delivery(
    pool: &ReadPool,
    now: DateTime<Utc>,
    claim: ClaimKind,
) -> Result<Option<SubmissionRow>, ProjectionError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM bufdir_submissions \
         WHERE status = $3 AND next_attempt_at <= $1 AND {} \
         ORDER BY next_attempt_at, submission_id LIMIT 1",
        unclaimed("bufdir_submissions.submission_id")
    );
    let found: Option<SubmissionRow> = on_pool!(pool, c => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(Stamp(now))
            .bind(claim.as_str())
            .bind(SubmissionStatus::Pending.as_str())
            .fetch_optional(c)
            .await)?;
    Ok(found)
}

/// Submissions Bufdir has received but not yet decided on, oldest first, whose status poll
/// (`claim`) is due.
pub async fn awaiting_verdict(
    pool: &ReadPool,
    limit: u64,
    now: DateTime<Utc>,
    claim: ClaimKind,
) -> Result<Vec<SubmissionRow>, ProjectionError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM bufdir_submissions WHERE status = $3 AND {} \
         ORDER BY submitted_at, submission_id LIMIT {limit}",
        unclaimed("bufdir_submissions.submission_id")
    );
    let records: Vec<SubmissionRow> = on_pool!(pool, c => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(Stamp(now))
            .bind(claim.as_str())
            .bind(SubmissionStatus::Received.as_str())
            .fetch_all(c)
            .await)?;
    Ok(records)
}

/// The ids of the submissions whose contact person is encrypted under `subject_id`'s key.
pub async fn carrying_subject(
    pool: &ReadPool,
    subject_id: &str,
) -> Result<Vec<String>, ProjectionError> {
    Ok(on_pool!(pool, c => sqlx::query_scalar(
        "SELECT submission_id FROM bufdir_submissions WHERE contact_subject = $1 \
         ORDER BY submission_id",
    )
    .bind(subject_id)
    .fetch_all(c)
    .await)?)
}

/// An organisation's submissions that Bufdir received (and has not rejected), oldest first.
pub async fn received_of_org(
    pool: &ReadPool,
    org_id: &str,
) -> Result<Vec<SubmissionRow>, ProjectionError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM bufdir_submissions WHERE org_id = $1 AND status IN ($2, $3) \
         AND submitted_at IS NOT NULL ORDER BY submitted_at, submission_id"
    );
    Ok(on_pool!(pool, c => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(org_id)
        .bind(SubmissionStatus::Received.as_str())
        .bind(SubmissionStatus::Accepted.as_str())
        .fetch_all(c)
        .await)?)
}
