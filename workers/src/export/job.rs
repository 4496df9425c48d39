//! The export worker: claims a job through the event store, renders it while renewing its lease,
//! stores the file, optionally hands the payload to the Bufdir submission path, and records the
//! result under its attempt. A worker that dies leaves its lease to run out; the next worker takes
//! the job over as a new attempt, and the dead attempt can no longer record anything.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use commands::Error;
use commands::submissions::{self, SubmitToBufdir};
use domain::export::{
    ExportCommand, ExportError, ExportEvent, ExportFile, ExportStatus, ExportSubmission,
};
use domain::submission::SubmissionError;
use projections::Projections;
use projections::exports::{self, ExportRow};
use store::{Database, Metadata};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::document::{AnnexRow, ReportDocument};
use super::render::{self, Format, RenderError};
use crate::files::FileStore;
use crate::{Outcome, Worker};

#[derive(Debug, Clone)]
pub struct ExportSettings {
    /// How long a claim holds without renewal; renewed every third of it while rendering.
    pub lease: Duration,
    /// How long a finished file (and its link) is kept.
    pub file_ttl: chrono::Duration,
    /// Where files are rendered before they are stored.
    pub work_dir: PathBuf,
}

pub struct ExportWorker {
    db: Database,
    ctx: commands::Ctx,
    projections: Arc<Projections>,
    files: Arc<dyn FileStore>,
    settings: ExportSettings,
    id: String,
}

/// Why an attempt ended without a file.
enum Stop {
    Cancelled,
    Failed(String),
}

impl From<anyhow::Error> for Stop {
    fn from(e: anyhow::Error) -> Self {
        Stop::Failed(format!("{e:#}"))
    }
}

struct Produced {
    file: ExportFile,
    steps: u32,
    source_position: String,
    submission: Option<ExportSubmission>,
}

/// A file name safe on every file system: letters, digits, `-` and `_`.
fn safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

fn metadata(worker: &str) -> Metadata {
    Metadata {
        actor: Some(format!("worker:export:{worker}")),
        ..Metadata::default()
    }
}

/// Pulls annex rows sent by the reading task, from the blocking render thread.
struct Incoming(mpsc::Receiver<AnnexRow>);

impl Iterator for Incoming {
    type Item = AnnexRow;
    fn next(&mut self) -> Option<AnnexRow> {
        self.0.blocking_recv()
    }
}

impl ExportWorker {
    pub fn new(
        db: Database,
        projections: Arc<Projections>,
        files: Arc<dyn FileStore>,
        settings: ExportSettings,
    ) -> Self {
        let id = crate::holder_id();
        ExportWorker {
            ctx: crate::commands_of(&db, &projections),
            db,
            projections,
            files,
            settings,
            id,
        }
    }

    async fn execute(
        &self,
        export_id: &str,
        command: ExportCommand,
    ) -> Result<Vec<ExportEvent>, Error<ExportError>> {
        commands::exports::record(&self.ctx, &metadata(&self.id), export_id, command).await
    }

    /// Renews the lease and records progress every third of the lease, and raises `cancelled`
    /// as soon as the job is cancelled, deleted or taken over, until `done`.
    fn guard(
        self: &Arc<Self>,
        export_id: String,
        attempt: u32,
        cancelled: Arc<AtomicBool>,
        progress: Arc<AtomicU64>,
        done: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let worker = self.clone();
        tokio::spawn(async move {
            let changed = worker.projections.changed();
            let mut renew = tokio::time::interval(worker.settings.lease / 3);
            renew.tick().await;
            loop {
                let notified = changed.notified();
                tokio::select! {
                    _ = done.cancelled() => return,
                    _ = notified => {
                        let row = exports::get(&worker.db.read, &export_id).await;
                        if let Ok(Some(row)) = row
                            && (row.deleted || row.status != ExportStatus::Running || row.attempt != attempt)
                        {
                            cancelled.store(true, Ordering::SeqCst);
                        }
                    }
                    _ = renew.tick() => {
                        let packed = progress.load(Ordering::SeqCst);
                        let command = ExportCommand::Progress {
                            attempt,
                            done: (packed >> 32) as u32,
                            total: packed as u32,
                            lease_until: Utc::now() + chrono::Duration::from_std(worker.settings.lease).unwrap_or_default(),
                        };
                        if let Err(Error::Rejected(_)) = worker.execute(&export_id, command).await {
                            cancelled.store(true, Ordering::SeqCst);
                        }
                    }
                }
            }
        })
    }

    /// What changed since the period's last submission Bufdir received, up to the position the
    /// document was read at; `None` for a period that is no year or quarter, or was never
    /// submitted.
    async fn changes(
        &self,
        doc: &ReportDocument,
    ) -> Result<Option<super::document::Changes>, Stop> {
        let (Ok(period), Ok(org), Ok(read_at)) = (
            domain::PeriodId::parse(&doc.period_label),
            domain::OrgId::parse(&doc.org_id),
            doc.source_position.parse::<store::Position>(),
        ) else {
            return Ok(None);
        };
        let ctx = &self.ctx;
        let to =
            commands::diffs::Version::Position(projections::report_data::position_key(&read_at));
        match commands::diffs::diff(
            ctx,
            &org,
            &period,
            commands::diffs::Version::LastSubmission,
            to,
        )
        .await
        {
            Ok(diff) => Ok(Some(super::document::Changes {
                submitted_at: diff.from.at.unwrap_or(doc.generated_at),
                fields: diff.fields,
            })),
            Err(commands::Error::NotFound(_)) => Ok(None),
            Err(e) => Err(Stop::from(anyhow::Error::from(e))),
        }
    }

    async fn produce(
        &self,
        row: &ExportRow,
        attempt: u32,
        cancelled: Arc<AtomicBool>,
        progress: Arc<AtomicU64>,
    ) -> Result<Produced, Stop> {
        let format = Format::from(row.format);
        let (doc_tx, doc_rx) = oneshot::channel::<ReportDocument>();
        let (annex_tx, annex_rx) = if row.include_attachments {
            let (tx, rx) = mpsc::channel::<AnnexRow>(4096);
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let db = self.db.clone();
        let reading_row = row.clone();
        let as_of = row.as_of_position;
        let reading = tokio::spawn(async move {
            match as_of {
                Some(position) => {
                    super::as_of::read(&db, &reading_row, position, Utc::now(), annex_tx, doc_tx)
                        .await
                }
                None => super::data::read(&db, &reading_row, Utc::now(), annex_tx, doc_tx).await,
            }
        });
        let mut doc = match doc_rx.await {
            Ok(doc) => doc,
            Err(_) => {
                return Err(match reading.await {
                    Ok(Err(e)) => e.into(),
                    _ => Stop::Failed("reading the report data failed".into()),
                });
            }
        };
        // A re-export shows what was known then; the changes since a submission are today's.
        if as_of.is_none() {
            doc.changes = self.changes(&doc).await?;
        }
        std::fs::create_dir_all(&self.settings.work_dir).map_err(anyhow::Error::from)?;
        // A re-export says so, and in which language, so it is not mistaken for the original.
        let variant = match &row.reexport_of {
            Some(_) => format!("-reexport-{}", doc.locale.as_str()),
            None => String::new(),
        };
        let file_name = format!(
            "bufdir-{}-{}{variant}.{}",
            safe(&doc.org_id),
            safe(&doc.period_label),
            format.extension()
        );
        let temp = self.settings.work_dir.join(format!(
            "{}-{attempt}.{}",
            row.export_id,
            format.extension()
        ));
        let rendered = {
            let (doc, temp, cancelled) = (doc.clone(), temp.clone(), cancelled.clone());
            let progress = progress.clone();
            render::in_background(move || {
                let mut annex = annex_rx.map(Incoming);
                let annex = annex
                    .as_mut()
                    .map(|a| a as &mut dyn Iterator<Item = AnnexRow>);
                let mut report = |done: u32, total: u32| {
                    progress.store((u64::from(done) << 32) | u64::from(total), Ordering::SeqCst);
                };
                render::render(format, &doc, annex, &temp, &cancelled, &mut report)
            })
            .await
            .ok_or_else(|| Stop::Failed("the renderer stopped".into()))?
        };
        match reading.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = std::fs::remove_file(&temp);
                return Err(e.into());
            }
            Err(e) => return Err(Stop::Failed(format!("reading stopped: {e}"))),
        }
        match rendered {
            Ok(_) => {}
            Err(RenderError::Cancelled) => return Err(Stop::Cancelled),
            Err(e) => {
                let _ = std::fs::remove_file(&temp);
                return Err(Stop::Failed(e.to_string()));
            }
        }
        if cancelled.load(Ordering::SeqCst) {
            let _ = std::fs::remove_file(&temp);
            return Err(Stop::Cancelled);
        }
        let key = domain::FileKey::for_export(&row.export_id, attempt, &file_name);
        let stored = match &key {
            Ok(key) => self.files.put_file(key.as_str(), &temp).await,
            Err(e) => Err(anyhow::anyhow!("{e}")),
        };
        let key = key.map(String::from).unwrap_or_default();
        let _ = std::fs::remove_file(&temp);
        let size_bytes = stored?;
        let submission = if row.submit_to_bufdir_api {
            Some(self.submit(row, &doc).await?)
        } else {
            None
        };
        let steps = (progress.load(Ordering::SeqCst) & u64::from(u32::MAX)) as u32;
        Ok(Produced {
            steps,
            file: ExportFile {
                key,
                name: file_name,
                content_type: format.content_type().to_string(),
                size_bytes,
                expires_at: Utc::now() + self.settings.file_ttl,
            },
            source_position: doc.source_position.clone(),
            submission,
        })
    }

    /// Hands a valid payload to the Bufdir submission path (report id = export id), or reports
    /// why it is not valid.
    async fn submit(
        &self,
        row: &ExportRow,
        doc: &ReportDocument,
    ) -> anyhow::Result<ExportSubmission> {
        if !doc.validation.is_valid() {
            return Ok(ExportSubmission::Invalid {
                errors: doc
                    .validation
                    .errors
                    .iter()
                    .map(|i| format!("{} ({}): {}", i.pointer, i.code, i.message_en))
                    .collect(),
            });
        }
        let submit = SubmitToBufdir {
            org_id: row.org_id.clone(),
            report_id: row.export_id.clone(),
            payload_version: doc.payload_version.clone(),
            payload: doc.payload.clone(),
        };
        match submissions::submit(&self.ctx, &metadata(&self.id), submit).await {
            Ok(submitted) => Ok(ExportSubmission::Submitted {
                submission_id: submitted.submission.submission_id,
            }),
            // What the client can fix is the export's outcome, not the worker's failure.
            Err(Error::Invalid(issues)) => Ok(ExportSubmission::Invalid {
                errors: issues
                    .iter()
                    .map(|i| format!("{} ({}): {}", i.pointer, i.code, i.message_en))
                    .collect(),
            }),
            Err(
                e @ (Error::Rejected(SubmissionError::NotAuthenticated(_)) | Error::NotFound(_)),
            ) => Ok(ExportSubmission::Invalid {
                errors: vec![e.to_string()],
            }),
            Err(e) => Err(anyhow::Error::new(e).context("submitting to Bufdir")),
        }
    }

    /// One step, on a shared handle (the guard task needs one).
    pub async fn step(self: &Arc<Self>) -> anyhow::Result<Outcome> {
        let now = Utc::now();
        let Some(row) = exports::next_claimable(&self.db.read, now).await? else {
            return Ok(Outcome::Idle);
        };
        let lease_until = now + chrono::Duration::from_std(self.settings.lease)?;
        let claim = ExportCommand::Claim {
            worker: self.id.clone(),
            lease_until,
            now,
        };
        let attempt = match self.execute(&row.export_id, claim).await {
            Ok(events) => match events.first() {
                Some(ExportEvent::ExportClaimed { attempt, .. }) => *attempt,
                _ => return Ok(Outcome::Worked),
            },
            // Another worker claimed it first, or it was cancelled meanwhile.
            Err(Error::Rejected(_)) => return Ok(Outcome::Worked),
            Err(e) => return Err(e.into()),
        };
        tracing::info!(export_id = %row.export_id, attempt, worker = %self.id, "rendering an export");
        let started = Instant::now();
        let cancelled = Arc::new(AtomicBool::new(false));
        let progress = Arc::new(AtomicU64::new(0));
        let done = CancellationToken::new();
        let guard = self.guard(
            row.export_id.clone(),
            attempt,
            cancelled.clone(),
            progress.clone(),
            done.clone(),
        );
        let result = self.produce(&row, attempt, cancelled, progress).await;
        done.cancel();
        let _ = guard.await;
        let now = Utc::now();
        let command = match result {
            Ok(produced) => ExportCommand::Complete {
                attempt,
                file: produced.file.clone(),
                source_position: produced.source_position,
                submission: produced.submission,
                duration_ms: started.elapsed().as_millis() as u64,
                steps: produced.steps,
                now,
            },
            Err(Stop::Cancelled) => {
                tracing::info!(export_id = %row.export_id, attempt, "export stopped: cancelled, deleted or taken over");
                return Ok(Outcome::Worked);
            }
            Err(Stop::Failed(error)) => {
                tracing::warn!(export_id = %row.export_id, attempt, error, "export failed");
                ExportCommand::Fail {
                    attempt,
                    error,
                    now,
                }
            }
        };
        let file_key = match &command {
            ExportCommand::Complete { file, .. } => Some(file.key.clone()),
            _ => None,
        };
        match self.execute(&row.export_id, command).await {
            Ok(_) => {}
            Err(Error::Rejected(e)) => {
                // Cancelled, deleted or taken over while finishing: the file is nobody's.
                tracing::info!(export_id = %row.export_id, error = %store::causes(&e), "export result not recorded");
                if let Some(key) = file_key {
                    self.files.delete(&key).await?;
                }
            }
            Err(e) => return Err(e.into()),
        }
        Ok(Outcome::Worked)
    }
}

/// The [`Worker`] face of a shared export worker.
pub(crate) struct SharedExportWorker(pub Arc<ExportWorker>);

#[async_trait::async_trait]
impl Worker for SharedExportWorker {
    fn name(&self) -> &'static str {
        "export"
    }

    async fn run_once(&self) -> anyhow::Result<Outcome> {
        self.0.step().await
    }
}
