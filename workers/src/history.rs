//! The report history keeps itself: every completed export and re-export becomes a report,
//! and the files of deleted reports are removed.
//!
//! An export's file expires with its download link; a report is a legal record kept for years.
//! So the file is copied under `reports/{org}/{report_id}/` (a place expiry never touches)
//! before the report is recorded. The report id comes from the export id, so a worker that dies
//! between the copy and the record repeats both harmlessly, and a report is never recorded twice.

use std::path::PathBuf;
use std::sync::Arc;

use commands::Error;
use domain::report::{NewReport, ReportError, ReportFile, ReportStatus, ReportType};
use futures::StreamExt;
use projections::exports::{self, ExportRow};
use projections::{Projections, reports};
use store::{Database, Metadata};
use tokio::io::AsyncWriteExt;

use crate::files::FileStore;
use crate::{Outcome, Worker};

pub struct HistoryWorker {
    db: Database,
    ctx: commands::Ctx,
    files: Arc<dyn FileStore>,
    /// Where a copied file is staged on its way into the store.
    work_dir: PathBuf,
}

/// Exports (or deleted reports) handled per step.
const BATCH: u64 = 20;

/// `exp_01j…` and `reexp_01j…` become `rpt_01j…`: the same ULID, so one export, one report.
pub(crate) fn report_id_of(export_id: &str) -> String {
    let ulid = export_id.split_once('_').map_or(export_id, |(_, u)| u);
    format!("rpt_{ulid}")
}

fn metadata() -> Metadata {
    crate::acting("report-history")
}

impl HistoryWorker {
    pub fn new(
        db: Database,
        projections: Arc<Projections>,
        files: Arc<dyn FileStore>,
        work_dir: PathBuf,
    ) -> Self {
        HistoryWorker {
            ctx: crate::commands_of(&db, &projections),
            db,
            files,
            work_dir,
        }
    }

    /// Copies a stored file to `to`; `None` when the source is gone.
    async fn copy(&self, from: &str, to: &str) -> anyhow::Result<Option<u64>> {
        let Some((_, mut chunks)) = self.files.get(from).await? else {
            return Ok(None);
        };
        tokio::fs::create_dir_all(&self.work_dir).await?;
        let staged = self.work_dir.join(format!(
            "copy-{}",
            ulid::Ulid::new().to_string().to_lowercase()
        ));
        let result = async {
            let mut out = tokio::fs::File::create(&staged).await?;
            while let Some(chunk) = chunks.next().await {
                out.write_all(&chunk?).await?;
            }
            out.sync_all().await?;
            drop(out);
            self.files.put_file(to, &staged).await
        }
        .await;
        let _ = tokio::fs::remove_file(&staged).await;
        result.map(Some)
    }

    /// What a command's refusal means here: recorded (or removed) already, by an earlier run
    /// that died before seeing it; once the read model has caught up, the work is gone.
    async fn done(&self, result: Result<(), Error<ReportError>>) -> anyhow::Result<()> {
        match result {
            Ok(()) => Ok(()),
            Err(Error::Rejected(_)) => Ok(self.ctx.settle_all(reports::NAME).await?),
            Err(e) => Err(e.into()),
        }
    }

    async fn record(&self, export: &ExportRow) -> anyhow::Result<()> {
        let report_id = report_id_of(&export.export_id);
        let org = export.org_id.clone();
        let (Some(key), Some(name)) = (&export.file_key, &export.file_name) else {
            anyhow::bail!("completed export {} has no file", export.export_id);
        };
        // Defence in depth: the domain lets an export complete only with its own file or one of
        // its organisation's, so this never copies another organisation's file into a report.
        let owned = domain::FileKey::parse(key)
            .is_ok_and(|k| k.is_of_export(&export.export_id) || k.is_owned_by(&org));
        let file_ref = domain::FileKey::for_report(&org, &report_id, name)?.to_string();
        let copied = if owned {
            self.copy(key, &file_ref).await?
        } else {
            tracing::error!(export_id = %export.export_id, %key, "the export names a file outside its organisation; its report is recorded as failed");
            None
        };
        if copied.is_none() && owned {
            tracing::warn!(export_id = %export.export_id, "the export's file is gone; its report is recorded as failed");
        }
        let report = NewReport {
            report_id: report_id.clone(),
            org_id: org,
            report_type: ReportType::of_range(export.period_from, export.period_to),
            period_from: export.period_from,
            period_to: export.period_to,
            status: if copied.is_some() {
                ReportStatus::Completed
            } else {
                ReportStatus::Failed
            },
            file: copied.map(|size| ReportFile {
                file_ref,
                file_size_bytes: size,
            }),
            generated_by: export.requested_by.clone(),
            generated_at: export.completed_at,
            // A re-export read the log at its report's position; an export at the read model's.
            source_position: export
                .as_of_position
                .or(export.source_position)
                .map(|p| p.to_string()),
            export_id: Some(export.export_id.clone()),
        };
        let recorded = commands::reports::record(&self.ctx, &metadata(), report).await;
        self.done(recorded).await
    }

    async fn remove_file(&self, report: &reports::ReportRow) -> anyhow::Result<()> {
        if let Some(file_ref) = &report.file_ref {
            self.files.delete(file_ref).await?;
        }
        let removed =
            commands::reports::file_removed(&self.ctx, &metadata(), &report.report_id).await;
        self.done(removed).await
    }
}

#[async_trait::async_trait]
impl Worker for HistoryWorker {
    fn name(&self) -> &'static str {
        "report-history"
    }

    async fn run_once(&self) -> anyhow::Result<Outcome> {
        let completed = exports::unrecorded_reports(&self.db.read, BATCH).await?;
        let deleted = reports::files_to_remove(&self.db.read, BATCH).await?;
        if completed.is_empty() && deleted.is_empty() {
            return Ok(Outcome::Idle);
        }
        for export in &completed {
            self.record(export).await?;
        }
        for report in &deleted {
            self.remove_file(report).await?;
        }
        Ok(Outcome::Worked)
    }
}
