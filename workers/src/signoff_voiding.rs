//! Approvals void themselves when the figures move: after each change to the read models, the
//! reports with standing approvals are compared with the payload their figures make now, and
//! the approvals of any other payload are voided by an event that says why
//! (`commands::signoff::void_if_changed`). A submission checks the same digest itself, so a
//! voiding that has not happened yet never lets a changed report through.

use std::sync::Arc;

use projections::{Projections, signoffs};
use store::Database;

use crate::{Outcome, Worker};

pub struct VoidingWorker {
    db: Database,
    ctx: commands::Ctx,
}

impl VoidingWorker {
    pub fn new(db: Database, projections: Arc<Projections>) -> Self {
        VoidingWorker {
            ctx: crate::commands_of(&db, &projections),
            db,
        }
    }
}

#[async_trait::async_trait]
impl Worker for VoidingWorker {
    fn name(&self) -> &'static str {
        "signoff-voiding"
    }

    async fn run_once(&self) -> anyhow::Result<Outcome> {
        let mut voided = 0;
        for (org, period) in signoffs::with_standing_approvals(&self.db.read).await? {
            voided += commands::signoff::void_if_changed(
                &self.ctx,
                &crate::acting("signoff-voiding"),
                &org,
                &period,
            )
            .await?;
        }
        Ok(if voided > 0 {
            Outcome::Worked
        } else {
            Outcome::Idle
        })
    }
}
