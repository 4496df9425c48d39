//! The seal worker: seals the log (`commands::log_seals`) every so many events or so much time,
//! whichever comes first (`SEAL_EVERY_EVENTS`, `SEAL_EVERY_SECONDS`).

use commands::log_seals::{self, Cursor, SealError, Thresholds};
use store::Database;
use tokio::sync::Mutex;

use crate::{Outcome, Worker};

pub struct LogSealWorker {
    db: Database,
    thresholds: Thresholds,
    cursor: Mutex<Cursor>,
}

impl LogSealWorker {
    pub fn new(db: Database, thresholds: Thresholds) -> Self {
        LogSealWorker {
            db,
            thresholds,
            cursor: Mutex::new(Cursor::default()),
        }
    }
}

#[async_trait::async_trait]
impl Worker for LogSealWorker {
    fn name(&self) -> &'static str {
        "log_seals"
    }

    async fn run_once(&self) -> anyhow::Result<Outcome> {
        let mut cursor = self.cursor.lock().await;
        let metadata = crate::acting("log-seals");
        match log_seals::seal(
            self.db.events.as_ref(),
            &mut cursor,
            Some(&self.thresholds),
            &metadata,
        )
        .await
        {
            Ok(Some(_)) => Ok(Outcome::Worked),
            Ok(None) => Ok(Outcome::Idle),
            // A backend without chains has nothing to seal; saying so on every step would
            // drown the log.
            Err(SealError::Unchained { .. }) => Ok(Outcome::Idle),
            Err(e) => Err(e.into()),
        }
    }
}
