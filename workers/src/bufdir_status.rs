//! Keeps the status of received submissions current: asks Bufdir about each one every poll
//! interval until it is accepted or rejected, and records a change as an event. The schedule is
//! a claim per submission (`crate::claims`) held until its next poll is due: it survives a
//! restart, and of several worker processes one asks about a submission each interval.

use std::sync::Arc;

use chrono::Utc;
use commands::Error;
use commands::submissions as submissions_command;
use domain::submission::{SubmissionCommand, SubmissionStatus};
use projections::{Projections, submissions};
use store::Database;

use crate::bufdir::Bufdir;
use crate::{Outcome, Worker};
use store::tables::work_claims::{ClaimKind as Kind, WorkClaims};

pub struct StatusWorker {
    db: Database,
    projections: Arc<Projections>,
    bufdir: Arc<Bufdir>,
    claims: WorkClaims,
}

/// Submissions looked at per step.
const BATCH: u64 = 100;

impl StatusWorker {
    pub fn new(db: Database, projections: Arc<Projections>, bufdir: Arc<Bufdir>) -> Self {
        StatusWorker {
            claims: WorkClaims::new(db.read.clone(), crate::holder_id()),
            db,
            projections,
            bufdir,
        }
    }
}

#[async_trait::async_trait]
impl Worker for StatusWorker {
    fn name(&self) -> &'static str {
        "bufdir-status"
    }

    async fn run_once(&self) -> anyhow::Result<Outcome> {
        let kind = Kind::StatusPoll;
        let now = Utc::now();
        let interval = chrono::Duration::from_std(self.bufdir.settings.status_poll_interval)?;
        let open = submissions::awaiting_verdict(&self.db.read, BATCH, now, kind).await?;
        let mut outcome = Outcome::Idle;
        for row in open {
            let Some(reference) = row.reference_id.as_deref() else {
                continue;
            };
            // The claim is the schedule: taken until the next poll, never given back early.
            if !self
                .claims
                .take(kind, &row.submission_id, now + interval, now)
                .await?
            {
                continue;
            }
            let answer = match self.bufdir.status(row.org_id.as_str(), reference).await {
                Ok(answer) => answer,
                Err(e) => {
                    tracing::warn!(reference, error = %store::causes(&e), "could not ask Bufdir for a status; will ask again");
                    continue;
                }
            };
            let Some(status) = SubmissionStatus::parse(&answer.status) else {
                tracing::warn!(
                    reference,
                    status = answer.status,
                    "Bufdir sent an unknown status"
                );
                continue;
            };
            if status == row.status {
                continue;
            }
            let org = row.org_id.clone();
            let command = SubmissionCommand::RecordStatus {
                submission_id: row.submission_id.clone(),
                status,
                processed_at: answer.processed_at,
                notes: answer.notes.clone(),
                now: Utc::now(),
            };
            let ctx = crate::commands_of(&self.db, &self.projections);
            let metadata = crate::acting("bufdir-status");
            match submissions_command::record(&ctx, &metadata, &org, &row.report_id, command).await
            {
                Ok(()) => {
                    if status.is_final() {
                        self.claims.forget(kind, &row.submission_id).await?;
                    }
                    outcome = Outcome::Worked;
                }
                Err(Error::Rejected(e)) => {
                    tracing::info!(error = %store::causes(&e), "status no longer applies");
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(outcome)
    }
}
