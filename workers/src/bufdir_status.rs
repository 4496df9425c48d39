//! Keeps the status of received submissions current: asks Bufdir about each one every poll
//! interval until it is accepted or rejected, and records a change as an event. When each was
//! last asked is kept in memory only; after a restart every open submission is asked at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::Utc;
use commands::CommandError;
use commands::submissions as submissions_command;
use domain::OrgId;
use domain::submission::{SubmissionCommand, SubmissionStatus};
use projections::{Projections, submissions};
use store::Database;

use crate::bufdir::Bufdir;
use crate::{Outcome, Worker};

pub struct StatusWorker {
    db: Database,
    projections: Arc<Projections>,
    bufdir: Arc<Bufdir>,
    last_asked: Mutex<HashMap<String, Instant>>,
}

/// Submissions looked at per step.
const BATCH: u64 = 100;

impl StatusWorker {
    pub fn new(db: Database, projections: Arc<Projections>, bufdir: Arc<Bufdir>) -> Self {
        StatusWorker {
            db,
            projections,
            bufdir,
            last_asked: Mutex::new(HashMap::new()),
        }
    }

    fn due(&self, submission_id: &str) -> bool {
        let asked = self.last_asked.lock().expect("poll schedule lock");
        asked
            .get(submission_id)
            .is_none_or(|t| t.elapsed() >= self.bufdir.settings.status_poll_interval)
    }
}

#[async_trait::async_trait]
impl Worker for StatusWorker {
    fn name(&self) -> &'static str {
        "bufdir-status"
    }

    async fn run_once(&self) -> anyhow::Result<Outcome> {
        let open = submissions::awaiting_verdict(&self.db.read, BATCH).await?;
        let mut outcome = Outcome::Idle;
        for row in open.into_iter().filter(|r| self.due(&r.submission_id)) {
            let Some(reference) = row.reference_id.as_deref() else {
                continue;
            };
            self.last_asked
                .lock()
                .expect("poll schedule lock")
                .insert(row.submission_id.clone(), Instant::now());
            let answer = match self.bufdir.status(&row.org_id, reference).await {
                Ok(answer) => answer,
                Err(e) => {
                    tracing::warn!(reference, error = %e, "could not ask Bufdir for a status; will ask again");
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
            let org = OrgId::parse(&row.org_id)?;
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
                        self.last_asked
                            .lock()
                            .expect("poll schedule lock")
                            .remove(&row.submission_id);
                    }
                    outcome = Outcome::Worked;
                }
                Err(CommandError::Rejected(e)) => {
                    tracing::info!(error = %e, "status no longer applies");
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(outcome)
    }
}
