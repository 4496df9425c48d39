//! `work_claims`: claims on work that is not an event-sourced job of its own (a submission's
//! delivery, its next status poll, a snapshot's aggregation, a deadline reminder's sending). With several worker processes on
//! one database each such piece is done by one of them at a time, and a process that dies does
//! not hold its piece for ever: a claim is taken with one conditional upsert, so of two racers
//! exactly one gets it, and it lapses at `held_until`.

use chrono::{DateTime, Utc};

use crate::{ReadPool, Stamp, on_pool};

/// What is claimed: the `kind` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimKind {
    Delivery,
    StatusPoll,
    Aggregation,
    Reminder,
}

impl ClaimKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimKind::Delivery => "delivery",
            ClaimKind::StatusPoll => "status_poll",
            ClaimKind::Aggregation => "aggregation",
            ClaimKind::Reminder => "reminder",
        }
    }
}

/// A condition for a work list's `WHERE`: no worker holds a claim on the row whose id is in
/// `id_column` that lasts past the time bound as `$1`, of the kind bound as `$2`. The work
/// lists leave claimed pieces out this way, so a worker does not spin on what another holds.
pub fn unclaimed(id_column: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM work_claims w WHERE w.kind = $2 \
         AND w.id = {id_column} AND w.held_until > $1)"
    )
}

/// One worker's claims; `holder` names it in the table, for whoever looks.
#[derive(Clone)]
pub struct WorkClaims {
    pool: ReadPool,
    holder: String,
}

impl WorkClaims {
    pub fn new(pool: ReadPool, holder: String) -> WorkClaims {
        WorkClaims { pool, holder }
    }

    /// Takes `id` until `until` when nobody holds it (or the holding claim lapsed by `now`).
    /// `true`: it is ours; `false`: another holds it.
    pub async fn take(
        &self,
        kind: ClaimKind,
        id: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, sqlx::Error> {
        let taken = on_pool!(&self.pool, c => sqlx::query(
            "INSERT INTO work_claims (kind, id, holder, held_until) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (kind, id) DO UPDATE SET holder = excluded.holder, \
                 held_until = excluded.held_until \
             WHERE work_claims.held_until <= $5",
        )
        .bind(kind.as_str())
        .bind(id)
        .bind(&self.holder)
        .bind(Stamp(until))
        .bind(Stamp(now))
        .execute(c)
        .await
        .map(|done| done.rows_affected()))?;
        Ok(taken == 1)
    }

    /// Gives `id` back (only if still ours), so the next change to it is picked up at once.
    pub async fn release(&self, kind: ClaimKind, id: &str) -> Result<(), sqlx::Error> {
        on_pool!(&self.pool, c => sqlx::query(
            "DELETE FROM work_claims WHERE kind = $1 AND id = $2 AND holder = $3",
        )
        .bind(kind.as_str())
        .bind(id)
        .bind(&self.holder)
        .execute(c)
        .await
        .map(drop))
    }

    /// Forgets `id` whoever holds it: the work is over for good (a final status).
    pub async fn forget(&self, kind: ClaimKind, id: &str) -> Result<(), sqlx::Error> {
        on_pool!(&self.pool, c => sqlx::query("DELETE FROM work_claims WHERE kind = $1 AND id = $2")
            .bind(kind.as_str())
            .bind(id)
            .execute(c)
            .await
            .map(drop))
    }
}
