//! `bufdir_credentials`: each organisation's Bufdir client credentials, so the delivery worker
//! can fetch a fresh token after a restart. Deliberately outside the log, which is kept for years
//! and read by auditors (it records only that an authentication happened). The secret is
//! encrypted under a key derived from the server secret: a database dump alone does not
//! reveal it.

use crate::{ReadPool, Stamp, on_pool};

use super::Cipher;

/// A stored client: its id, and its secret once decrypted.
pub struct StoredClient {
    pub client_id: String,
    pub client_secret: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(
        "the stored Bufdir credentials of {0} cannot be opened (was the server secret \
         changed?); authenticate again"
    )]
    Unreadable(String),
}

#[derive(Clone)]
pub struct BufdirCredentials {
    pool: ReadPool,
    cipher: Cipher,
}

impl BufdirCredentials {
    /// `server_secret` is the service's own secret; the key is derived from it for this use.
    pub fn new(pool: ReadPool, server_secret: &[u8]) -> Self {
        BufdirCredentials {
            pool,
            cipher: Cipher::derived(server_secret, "credentials"),
        }
    }

    pub async fn save(
        &self,
        org_id: &str,
        client_id: &str,
        client_secret: &str,
    ) -> Result<(), CredentialsError> {
        let encrypted = self.cipher.encrypt_secret(client_secret.as_bytes(), org_id);
        on_pool!(&self.pool, c => sqlx::query(
            "INSERT INTO bufdir_credentials (org_id, client_id, encrypted_secret, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (org_id) DO UPDATE SET \
                 client_id = excluded.client_id, encrypted_secret = excluded.encrypted_secret, \
                 updated_at = excluded.updated_at",
        )
        .bind(org_id)
        .bind(client_id)
        .bind(encrypted)
        .bind(Stamp::now())
        .execute(c)
        .await
        .map(drop))?;
        Ok(())
    }

    pub async fn load(&self, org_id: &str) -> Result<Option<StoredClient>, CredentialsError> {
        let found: Option<(String, String)> = on_pool!(&self.pool, c => sqlx::query_as(
            "SELECT client_id, encrypted_secret FROM bufdir_credentials WHERE org_id = $1",
        )
        .bind(org_id)
        .fetch_optional(c)
        .await)?;
        let Some((client_id, encrypted)) = found else {
            return Ok(None);
        };
        let unreadable = || CredentialsError::Unreadable(org_id.to_string());
        let secret = self
            .cipher
            .decrypt_secret(&encrypted, org_id)
            .ok_or_else(unreadable)?;
        Ok(Some(StoredClient {
            client_id,
            client_secret: String::from_utf8(secret).map_err(|_| unreadable())?,
        }))
    }
}
