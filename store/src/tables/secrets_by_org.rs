//! The shape two tables share: one row per organisation with a public part (Bufdir's client id,
//! a webhook's URL) and a secret encrypted under a key derived from the server secret for the
//! table's purpose, bound to the organisation (a value copied to another row does not open).

use crate::{ReadPool, Stamp, on_pool};

use super::Cipher;

/// A row, its secret decrypted.
pub(super) struct Row {
    pub public: String,
    pub secret: String,
}

/// Why a row could not be read.
pub(super) enum Failure {
    Database(sqlx::Error),
    /// It does not open: damaged, or encrypted under another server secret.
    Unreadable,
}

#[derive(Clone)]
pub(super) struct SecretsByOrg {
    pool: ReadPool,
    cipher: Cipher,
    /// The table and its public column: constants of this module's users, never input.
    table: &'static str,
    public: &'static str,
}

impl SecretsByOrg {
    pub fn new(
        pool: ReadPool,
        server_secret: &[u8],
        purpose: &str,
        table: &'static str,
        public: &'static str,
    ) -> Self {
        SecretsByOrg {
            pool,
            cipher: Cipher::derived(server_secret, purpose),
            table,
            public,
        }
    }

    pub async fn save(&self, org_id: &str, public: &str, secret: &str) -> Result<(), sqlx::Error> {
        let encrypted = self.cipher.encrypt_secret(secret.as_bytes(), org_id);
        let (table, column) = (self.table, self.public);
        let sql = format!(
            "INSERT INTO {table} (org_id, {column}, encrypted_secret, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (org_id) DO UPDATE SET \
                 {column} = excluded.{column}, encrypted_secret = excluded.encrypted_secret, \
                 updated_at = excluded.updated_at"
        );
        on_pool!(&self.pool, c => sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org_id)
            .bind(public)
            .bind(encrypted)
            .bind(Stamp::now())
            .execute(c)
            .await
            .map(drop))
    }

    pub async fn find(&self, org_id: &str) -> Result<Option<Row>, Failure> {
        let sql = format!(
            "SELECT {}, encrypted_secret FROM {} WHERE org_id = $1",
            self.public, self.table
        );
        let found: Option<(String, String)> =
            on_pool!(&self.pool, c => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(org_id)
            .fetch_optional(c)
            .await)
            .map_err(Failure::Database)?;
        let Some((public, encrypted)) = found else {
            return Ok(None);
        };
        let secret = self
            .cipher
            .decrypt_secret(&encrypted, org_id)
            .ok_or(Failure::Unreadable)?;
        let secret = String::from_utf8(secret).map_err(|_| Failure::Unreadable)?;
        Ok(Some(Row { public, secret }))
    }

    /// `true` when there was a row.
    pub async fn remove(&self, org_id: &str) -> Result<bool, sqlx::Error> {
        let sql = format!("DELETE FROM {} WHERE org_id = $1", self.table);
        let removed = on_pool!(&self.pool, c => sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org_id)
            .execute(c)
            .await
            .map(|done| done.rows_affected()))?;
        Ok(removed > 0)
    }
}
