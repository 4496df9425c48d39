//! Removes export files whose time is up (their signed links expire with them) and files of
//! deleted exports that are still stored, then records the removal.

use std::sync::Arc;

use chrono::Utc;
use commands::Error;
use domain::export::ExportCommand;
use projections::Projections;
use projections::exports;
use store::Database;

use crate::files::FileStore;
use crate::{Outcome, Worker};

pub struct FileExpiryWorker {
    db: Database,
    ctx: commands::Ctx,
    files: Arc<dyn FileStore>,
}

/// Files removed per step.
const BATCH: u64 = 100;

impl FileExpiryWorker {
    pub fn new(db: Database, projections: Arc<Projections>, files: Arc<dyn FileStore>) -> Self {
        FileExpiryWorker {
            ctx: crate::commands_of(&db, &projections),
            db,
            files,
        }
    }
}

#[async_trait::async_trait]
impl Worker for FileExpiryWorker {
    fn name(&self) -> &'static str {
        "export-file-expiry"
    }

    async fn run_once(&self) -> anyhow::Result<Outcome> {
        let now = Utc::now();
        let due = exports::files_to_remove(&self.db.read, now, BATCH).await?;
        if due.is_empty() {
            return Ok(Outcome::Idle);
        }
        for export in due {
            let Some(key) = export.file_key.as_deref() else {
                continue;
            };
            self.files.delete(key).await?;
            let metadata = crate::acting("export-file-expiry");
            let removed = commands::exports::record(
                &self.ctx,
                &metadata,
                &export.export_id,
                ExportCommand::ExpireFile { now },
            );
            match removed.await {
                Ok(_) | Err(Error::Rejected(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Outcome::Worked)
    }
}
