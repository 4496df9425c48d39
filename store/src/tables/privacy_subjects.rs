//! `privacy_subjects`: one key per data subject, kept here and not in the log. The log holds the
//! subject's personal data encrypted under it; erasing destroys the key and the lookup (a hash
//! of who the subject is) and keeps only that an erasure happened. A key is made the first time
//! its subject's data is written, and never changes after.

use crate::{ReadPool, on_pool};

/// A subject's key, as stored.
pub type SubjectKey = [u8; 32];

#[derive(Clone)]
pub struct PrivacySubjects {
    pool: ReadPool,
}

fn key_from_hex(text: &str) -> Option<SubjectKey> {
    hex::decode(text).ok()?.try_into().ok()
}

impl PrivacySubjects {
    pub fn new(pool: ReadPool) -> Self {
        PrivacySubjects { pool }
    }

    /// The subject known by `lookup`, and their key; `None` when unknown or erased.
    pub async fn find_by_lookup(
        &self,
        lookup: &str,
    ) -> Result<Option<(String, SubjectKey)>, sqlx::Error> {
        let row: Option<(String, Option<String>)> = on_pool!(&self.pool, c => sqlx::query_as(
            "SELECT subject_id, subject_key FROM privacy_subjects WHERE lookup = $1",
        )
        .bind(lookup)
        .fetch_optional(c)
        .await)?;
        Ok(row.and_then(|(id, key)| Some((id, key_from_hex(&key?)?))))
    }

    /// The key of a subject; `None` once erased (or never known).
    pub async fn key_of(&self, subject_id: &str) -> Result<Option<SubjectKey>, sqlx::Error> {
        let key: Option<Option<String>> = on_pool!(&self.pool, c => sqlx::query_scalar(
            "SELECT subject_key FROM privacy_subjects WHERE subject_id = $1",
        )
        .bind(subject_id)
        .fetch_optional(c)
        .await)?;
        Ok(key.flatten().as_deref().and_then(key_from_hex))
    }

    /// Stores a new subject unless one with `lookup` exists already (made meanwhile by another
    /// request: its key is the one, and [`find_by_lookup`](Self::find_by_lookup) answers it).
    pub async fn insert_new(
        &self,
        subject_id: &str,
        lookup: &str,
        key: &SubjectKey,
        created_at: &str,
    ) -> Result<(), sqlx::Error> {
        on_pool!(&self.pool, c => sqlx::query(
            "INSERT INTO privacy_subjects (subject_id, lookup, subject_key, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (lookup) DO NOTHING",
        )
        .bind(subject_id)
        .bind(lookup)
        .bind(hex::encode(key))
        .bind(created_at)
        .execute(c)
        .await
        .map(drop))
    }

    /// Destroys the subject's key and lookup: what was encrypted under it no longer opens.
    pub async fn destroy_key(&self, subject_id: &str, erased_at: &str) -> Result<(), sqlx::Error> {
        on_pool!(&self.pool, c => sqlx::query(
            "UPDATE privacy_subjects SET subject_key = NULL, lookup = NULL, erased_at = $2 \
             WHERE subject_id = $1",
        )
        .bind(subject_id)
        .bind(erased_at)
        .execute(c)
        .await
        .map(drop))
    }
}
