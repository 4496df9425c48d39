//! `idempotency_keys` behind `Idempotency-Key`: a key is claimed before its request runs and
//! holds the answer afterwards, so that a retry, from any process, gets the first answer.

use chrono::{DateTime, Utc};

use crate::{ReadPool, Stamp, on_pool};

/// A claimed key as stored: the request it was claimed for and, once there is one, its answer.
#[derive(Debug, sqlx::FromRow)]
pub struct StoredKey {
    pub request_hash: String,
    /// `None` while the first request is still running (or died without an answer). An
    /// `INTEGER` column on both databases, hence 32 bits.
    pub status: Option<i32>,
    pub content_type: Option<String>,
    pub location: Option<String>,
    pub body: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The answer to store for a claimed key.
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub location: Option<String>,
    pub body: String,
}

/// Keys are per caller: `scope` names the caller, `key` is what they sent.
#[derive(Clone)]
pub struct IdempotencyKeys {
    pool: ReadPool,
}

impl IdempotencyKeys {
    pub fn new(pool: ReadPool) -> Self {
        IdempotencyKeys { pool }
    }

    /// Claims `key` for a request with `hash`; `false` when someone holds it already.
    pub async fn claim(
        &self,
        scope: &str,
        key: &str,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, sqlx::Error> {
        let claimed = on_pool!(&self.pool, c => sqlx::query(
            "INSERT INTO idempotency_keys (scope, idem_key, request_hash, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (scope, idem_key) DO NOTHING",
        )
        .bind(scope)
        .bind(key)
        .bind(hash)
        .bind(Stamp(now))
        .execute(c)
        .await
        .map(|done| done.rows_affected()))?;
        Ok(claimed == 1)
    }

    pub async fn find(&self, scope: &str, key: &str) -> Result<Option<StoredKey>, sqlx::Error> {
        on_pool!(&self.pool, c => sqlx::query_as(
            "SELECT request_hash, status, content_type, location, body, created_at \
             FROM idempotency_keys WHERE scope = $1 AND idem_key = $2",
        )
        .bind(scope)
        .bind(key)
        .fetch_optional(c)
        .await)
    }

    /// Frees a key whose request never answered, so that it can be claimed again.
    pub async fn release_unanswered(&self, scope: &str, key: &str) -> Result<(), sqlx::Error> {
        on_pool!(&self.pool, c => sqlx::query(
            "DELETE FROM idempotency_keys WHERE scope = $1 AND idem_key = $2 AND status IS NULL",
        )
        .bind(scope)
        .bind(key)
        .execute(c)
        .await
        .map(drop))
    }

    /// Frees a key whatever it holds: its answer is not one to replay.
    pub async fn release(&self, scope: &str, key: &str) -> Result<(), sqlx::Error> {
        on_pool!(&self.pool, c => sqlx::query(
            "DELETE FROM idempotency_keys WHERE scope = $1 AND idem_key = $2",
        )
        .bind(scope)
        .bind(key)
        .execute(c)
        .await
        .map(drop))
    }

    pub async fn store_answer(
        &self,
        scope: &str,
        key: &str,
        answer: Answer,
    ) -> Result<(), sqlx::Error> {
        on_pool!(&self.pool, c => sqlx::query(
            "UPDATE idempotency_keys SET status = $1, content_type = $2, location = $3, \
             body = $4 WHERE scope = $5 AND idem_key = $6",
        )
        .bind(i32::from(answer.status))
        .bind(answer.content_type.clone())
        .bind(answer.location.clone())
        .bind(answer.body.clone())
        .bind(scope)
        .bind(key)
        .execute(c)
        .await
        .map(drop))
    }
}
