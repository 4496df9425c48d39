//! The approvals of each report (an organisation's period), standing, withdrawn or voided:
//! what the sign-off page and API show, and the reports with standing approvals that the voiding
//! worker compares with the figures as they move.

use chrono::{DateTime, Utc};
use domain::signoff::{ApprovalStatus, SignOff, SignOffEvent, SignerRole};
use domain::{Aggregate, OrgId, PeriodId, decode_event};
use store::{Filter, ReadPool, ReadTransaction, RecordedEvent, Stamp, on_pool, on_tx};

use crate::{Projection, ProjectionError, ProjectionName};

pub const NAME: ProjectionName = ProjectionName::SignOffs;

pub struct SignOffsProjection;

#[async_trait::async_trait]
impl Projection for SignOffsProjection {
    fn name(&self) -> ProjectionName {
        NAME
    }

    fn filter(&self) -> Filter {
        Filter::categories([SignOff::CATEGORY])
    }

    fn tables(&self) -> &'static [&'static str] {
        &["approvals"]
    }

    async fn apply(
        &self,
        tx: &mut ReadTransaction,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        let position = event.position.to_string();
        match decode_event(&event.event_type, &event.payload)? {
            SignOffEvent::ReportApproved {
                approval_id,
                org_id,
                period_id,
                signer,
                role,
                digest,
                comment,
                approved_at,
            } => {
                on_tx!(tx, c => sqlx::query(
                    "INSERT INTO approvals (approval_id, org_id, period_id, digest, role, subject, \
                         issuer, comment, approved_at, status, position) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                     ON CONFLICT (approval_id) DO NOTHING",
                )
                .bind(approval_id)
                .bind(org_id.to_string())
                .bind(period_id.to_string())
                .bind(digest)
                .bind(role.as_str())
                .bind(signer.subject)
                .bind(signer.issuer)
                .bind(comment)
                .bind(Stamp(approved_at))
                .bind(ApprovalStatus::Standing.as_str())
                .bind(position)
                .execute(c)
                .await
                .map(|done| done.rows_affected()))?;
            }
            SignOffEvent::ApprovalWithdrawn {
                approval_id,
                withdrawn_at,
                ..
            } => {
                on_tx!(tx, c => sqlx::query(
                    "UPDATE approvals SET status = $1, ended_at = $2, position = $3 \
                     WHERE approval_id = $4",
                )
                .bind(ApprovalStatus::Withdrawn.as_str())
                .bind(Stamp(withdrawn_at))
                .bind(position)
                .bind(approval_id)
                .execute(c)
                .await
                .map(|done| done.rows_affected()))?;
            }
            SignOffEvent::ApprovalsVoided {
                approval_ids,
                current_digest,
                reason,
                voided_at,
            } => {
                for approval_id in approval_ids {
                    on_tx!(tx, c => sqlx::query(
                        "UPDATE approvals SET status = $1, ended_at = $2, void_reason = $3, \
                             current_digest = $4, position = $5 WHERE approval_id = $6",
                    )
                    .bind(ApprovalStatus::Voided.as_str())
                    .bind(Stamp(voided_at))
                    .bind(reason.clone())
                    .bind(current_digest.clone())
                    .bind(position.clone())
                    .bind(approval_id)
                    .execute(c)
                    .await
                    .map(|done| done.rows_affected()))?;
                }
            }
            SignOffEvent::VoidingNotified {
                approval_ids,
                notified_at,
            } => {
                for approval_id in approval_ids {
                    on_tx!(tx, c => sqlx::query(
                        "UPDATE approvals SET voided_notified_at = $1, position = $2 \
                         WHERE approval_id = $3",
                    )
                    .bind(Stamp(notified_at))
                    .bind(position.clone())
                    .bind(approval_id)
                    .execute(c)
                    .await
                    .map(|done| done.rows_affected()))?;
                }
            }
        }
        Ok(())
    }
}

/// One approval as the read model keeps it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ApprovalRow {
    pub approval_id: String,
    #[sqlx(try_from = "String")]
    pub org_id: OrgId,
    #[sqlx(try_from = "String")]
    pub period_id: PeriodId,
    pub digest: String,
    #[sqlx(try_from = "String")]
    pub role: SignerRole,
    pub subject: String,
    pub issuer: Option<String>,
    pub comment: Option<String>,
    pub approved_at: DateTime<Utc>,
    #[sqlx(try_from = "String")]
    pub status: ApprovalStatus,
    pub ended_at: Option<DateTime<Utc>>,
    pub void_reason: Option<String>,
    pub current_digest: Option<String>,
    pub voided_notified_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "approval_id, org_id, period_id, digest, role, subject, issuer, comment, \
    approved_at, status, ended_at, void_reason, current_digest, voided_notified_at";

/// Every approval of an organisation's period, oldest first.
pub async fn of_report(
    pool: &ReadPool,
    org: &OrgId,
    period: &PeriodId,
) -> Result<Vec<ApprovalRow>, ProjectionError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM approvals WHERE org_id = $1 AND period_id = $2 \
         ORDER BY approved_at, approval_id"
    );
    Ok(on_pool!(pool, c => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(org.to_string())
        .bind(period.to_string())
        .fetch_all(c)
        .await)?)
}

/// The reports with standing approvals, each once: what a change of figures may void.
pub async fn with_standing_approvals(
    pool: &ReadPool,
) -> Result<Vec<(OrgId, PeriodId)>, ProjectionError> {
    let rows: Vec<(String, String)> = on_pool!(pool, c => sqlx::query_as(
        "SELECT DISTINCT org_id, period_id FROM approvals WHERE status = $1 \
         ORDER BY org_id, period_id",
    )
    .bind(ApprovalStatus::Standing.as_str())
    .fetch_all(c)
    .await)?;
    rows.into_iter()
        .map(|(org, period)| {
            let corrupt = |e: String| ProjectionError::Corrupt(e);
            Ok((
                OrgId::parse(&org).map_err(|e| corrupt(e.to_string()))?,
                PeriodId::parse(&period).map_err(|e| corrupt(e.to_string()))?,
            ))
        })
        .collect()
}

/// Voided approvals the organisation has not been told of, oldest voiding first.
pub async fn voided_unnotified(
    pool: &ReadPool,
    limit: u64,
) -> Result<Vec<ApprovalRow>, ProjectionError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM approvals WHERE status = $1 AND voided_notified_at IS NULL \
         ORDER BY ended_at, approval_id LIMIT {limit}"
    );
    Ok(on_pool!(pool, c => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(ApprovalStatus::Voided.as_str())
        .fetch_all(c)
        .await)?)
}
