//! Delivers submissions from the outbox (pending rows of the submissions read model) to Bufdir.
//! Each attempt's result becomes an event on the submission's stream: delivered, refused (final),
//! or failed with the time of the next try. The submission id travels as the idempotency key, so
//! an attempt whose answer was lost files it at Bufdir once; a claim (`crate::claims`) keeps a
//! second worker process from calling Bufdir for the same submission at the same time.

use std::sync::Arc;

use chrono::Utc;
use commands::Error;
use commands::submissions as submissions_command;
use domain::submission::{SubmissionCommand, SubmissionStatus};
use projections::{Projections, submissions};
use store::Database;

use crate::bufdir::wire::SubmitRequest;
use crate::bufdir::{Bufdir, BufdirError, GatewayError};
use crate::{Outcome, Worker};
use store::tables::work_claims::{ClaimKind as Kind, WorkClaims};

pub struct DeliveryWorker {
    db: Database,
    projections: Arc<Projections>,
    bufdir: Arc<Bufdir>,
    claims: WorkClaims,
}

impl DeliveryWorker {
    pub fn new(db: Database, projections: Arc<Projections>, bufdir: Arc<Bufdir>) -> Self {
        DeliveryWorker {
            claims: WorkClaims::new(db.read.clone(), crate::holder_id()),
            db,
            projections,
            bufdir,
        }
    }

    /// How long a claim on a delivery holds: an authentication and a submit, each with its
    /// retries. A worker that dies mid-call leaves the submission to another after that.
    fn lease(&self) -> chrono::Duration {
        let call = self.bufdir.settings.client.longest_call();
        chrono::Duration::from_std(call.saturating_mul(2)).unwrap_or(chrono::Duration::days(1))
    }

    async fn deliver(&self, row: submissions::SubmissionRow) -> anyhow::Result<Outcome> {
        let attempt = row.attempts + 1;
        // Bufdir gets the contact person in the clear; one erased meanwhile is left out.
        let mut payload = row.payload.clone();
        if commands::privacy::reveal(&self.db.read, &mut payload).await?
            && let Some(fields) = payload.as_object_mut()
        {
            fields.remove(domain::privacy::CONTACT);
        }
        let request = SubmitRequest {
            payload_version: row.payload_version.clone(),
            payload,
        };
        let result = self
            .bufdir
            .submit(row.org_id.as_str(), &row.submission_id, &request)
            .await;
        let now = Utc::now();
        let id = row.submission_id.clone();
        let command = match result {
            Ok(receipt) => SubmissionCommand::RecordDelivery {
                submission_id: id,
                reference_id: receipt.submission_reference_id,
                status: SubmissionStatus::parse(&receipt.status)
                    .filter(|s| *s != SubmissionStatus::Pending && *s != SubmissionStatus::Failed)
                    .unwrap_or(SubmissionStatus::Received),
                submitted_at: receipt.submitted_at,
                confirmation: receipt.bufdir_confirmation,
                attempt,
                now,
            },
            Err(GatewayError::Bufdir(BufdirError::Refused {
                status, message, ..
            })) => {
                tracing::warn!(submission_id = %row.submission_id, status, message, "Bufdir refused a submission");
                SubmissionCommand::RecordRefusal {
                    submission_id: id,
                    http_status: status,
                    reason: message,
                    now,
                }
            }
            // Unreachable, failing, or credentials that no longer work: all can be fixed
            // without a new submission, so the outbox keeps trying.
            Err(e) => {
                let wait = match &e {
                    GatewayError::Bufdir(BufdirError::Unavailable {
                        retry_after: Some(after),
                        ..
                    }) => *after,
                    _ => self.bufdir.settings.outbox.delay(attempt),
                };
                tracing::warn!(submission_id = %row.submission_id, attempt, error = %store::causes(&e), ?wait, "delivery to Bufdir failed; will retry");
                SubmissionCommand::RecordFailedAttempt {
                    submission_id: id,
                    attempt,
                    error: e.to_string(),
                    retry_at: now + chrono::Duration::from_std(wait).unwrap_or_default(),
                    now,
                }
            }
        };
        let org = row.org_id.clone();
        let ctx = crate::commands_of(&self.db, &self.projections);
        let metadata = crate::acting("bufdir-delivery");
        match submissions_command::record(&ctx, &metadata, &org, &row.report_id, command).await {
            Ok(()) => {}
            // Another worker recorded this submission's result first.
            Err(Error::Rejected(e)) => {
                tracing::info!(error = %store::causes(&e), "submission already settled");
                ctx.settle_all(submissions::NAME).await?;
            }
            Err(e) => return Err(e.into()),
        }
        Ok(Outcome::Worked)
    }
}

#[async_trait::async_trait]
impl Worker for DeliveryWorker {
    fn name(&self) -> &'static str {
        "bufdir-delivery"
    }

    async fn run_once(&self) -> anyhow::Result<Outcome> {
        let now = Utc::now();
        let kind = Kind::Delivery;
        let Some(row) = submissions::next_due_delivery(&self.db.read, now, kind).await? else {
            return Ok(Outcome::Idle);
        };
        if !self
            .claims
            .take(kind, &row.submission_id, now + self.lease(), now)
            .await?
        {
            // Another worker took it between the list and the claim.
            return Ok(Outcome::Worked);
        }
        let submission_id = row.submission_id.clone();
        let delivered = self.deliver(row).await;
        // Released once the result is recorded (the command waits for the read model), so the
        // row is no longer due, or due at its retry time.
        self.claims.release(kind, &submission_id).await?;
        delivered
    }
}
