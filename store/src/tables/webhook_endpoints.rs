//! `webhook_endpoints`: where an organisation's webhooks go, set through the API, with its
//! signing secret encrypted under a key derived from the server secret.

use crate::{ReadPool, Stamp, on_pool};

use super::Cipher;

/// An endpoint as stored, its secret decrypted.
pub struct StoredEndpoint {
    pub url: String,
    pub secret: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EndpointsError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(
        "the webhook secret of {0} cannot be opened (was the server secret changed?); set the \
         webhook again"
    )]
    Unreadable(String),
}

#[derive(Clone)]
pub struct WebhookEndpoints {
    pool: ReadPool,
    cipher: Cipher,
}

impl WebhookEndpoints {
    pub fn new(pool: ReadPool, server_secret: &[u8]) -> Self {
        WebhookEndpoints {
            pool,
            cipher: Cipher::derived(server_secret, "webhooks"),
        }
    }

    pub async fn save(&self, org_id: &str, url: &str, secret: &str) -> Result<(), EndpointsError> {
        let encrypted = self.cipher.encrypt_secret(secret.as_bytes(), org_id);
        on_pool!(&self.pool, c => sqlx::query(
            "INSERT INTO webhook_endpoints (org_id, url, encrypted_secret, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (org_id) DO UPDATE SET url = excluded.url, \
                 encrypted_secret = excluded.encrypted_secret, updated_at = excluded.updated_at",
        )
        .bind(org_id)
        .bind(url)
        .bind(encrypted)
        .bind(Stamp::now())
        .execute(c)
        .await
        .map(drop))?;
        Ok(())
    }

    pub async fn find(&self, org_id: &str) -> Result<Option<StoredEndpoint>, EndpointsError> {
        let found: Option<(String, String)> = on_pool!(&self.pool, c => sqlx::query_as(
            "SELECT url, encrypted_secret FROM webhook_endpoints WHERE org_id = $1",
        )
        .bind(org_id)
        .fetch_optional(c)
        .await)?;
        let Some((url, encrypted)) = found else {
            return Ok(None);
        };
        let unreadable = || EndpointsError::Unreadable(org_id.to_string());
        let secret = self
            .cipher
            .decrypt_secret(&encrypted, org_id)
            .ok_or_else(unreadable)?;
        Ok(Some(StoredEndpoint {
            url,
            secret: String::from_utf8(secret).map_err(|_| unreadable())?,
        }))
    }

    /// `true` when there was one.
    pub async fn remove(&self, org_id: &str) -> Result<bool, EndpointsError> {
        let removed = on_pool!(&self.pool, c => sqlx::query(
            "DELETE FROM webhook_endpoints WHERE org_id = $1",
        )
        .bind(org_id)
        .execute(c)
        .await
        .map(|done| done.rows_affected()))?;
        Ok(removed > 0)
    }
}
