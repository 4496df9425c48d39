//! Claims on work that is not an event-sourced job of its own: a submission's delivery, a
//! submission's next status poll, a snapshot's aggregation. With several worker processes on one
//! database each such piece must be done by one of them at a time, and a process that dies must
//! not hold its piece for ever. A claim is a row of `work_claims` (not a read model: no event
//! writes it, a rebuild leaves it alone) taken with one conditional upsert, so of two racers
//! exactly one gets it, and it lapses at `held_until`.
//!
//! The work lists (`next_due_delivery`, `awaiting_verdict`, `next_stale`) take the kind and leave
//! out pieces with a claim of it that has not lapsed, so a worker does not spin on what another
//! holds.

use chrono::{DateTime, Utc};
use store::{ReadPool, Stamp, on_pool};

/// What is claimed: the `kind` column, which the work lists are given to filter on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Delivery,
    StatusPoll,
    Aggregation,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Delivery => "delivery",
            Kind::StatusPoll => "status_poll",
            Kind::Aggregation => "aggregation",
        }
    }
}

/// One worker's claims; `holder` names it in the table, for whoever looks.
#[derive(Clone)]
pub struct Claims {
    pool: ReadPool,
    holder: String,
}

impl Claims {
    pub fn new(pool: ReadPool) -> Claims {
        Claims {
            pool,
            holder: crate::holder_id(),
        }
    }

    /// Takes `id` until `until` when nobody holds it (or the holding claim lapsed by `now`).
    /// `true`: it is ours; `false`: another holds it.
    pub async fn take(
        &self,
        kind: Kind,
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
    pub async fn release(&self, kind: Kind, id: &str) -> Result<(), sqlx::Error> {
        on_pool!(&self.pool, c => sqlx::query(
            "DELETE FROM work_claims WHERE kind = $1 AND id = $2 AND holder = $3",
        )
        .bind(kind.as_str())
        .bind(id)
        .bind(&self.holder)
        .execute(c)
        .await
        .map(|done| done.rows_affected()))?;
        Ok(())
    }

    /// Forgets `id` whoever holds it: the work is over for good (a final status).
    pub async fn forget(&self, kind: Kind, id: &str) -> Result<(), sqlx::Error> {
        on_pool!(&self.pool, c => sqlx::query("DELETE FROM work_claims WHERE kind = $1 AND id = $2")
            .bind(kind.as_str())
            .bind(id)
            .execute(c)
            .await
            .map(|done| done.rows_affected()))?;
        Ok(())
    }
}
