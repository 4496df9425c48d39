//! `webhook_endpoints`: where an organisation's webhooks go, set through the API, with its
//! signing secret encrypted under a key derived from the server secret.

use crate::ReadPool;

use super::secrets_by_org::{Failure, SecretsByOrg};

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
pub struct WebhookEndpoints(SecretsByOrg);

impl WebhookEndpoints {
    pub fn new(pool: ReadPool, server_secret: &[u8]) -> Self {
        let rows = SecretsByOrg::new(pool, server_secret, "webhooks", "webhook_endpoints", "url");
        WebhookEndpoints(rows)
    }

    pub async fn save(&self, org_id: &str, url: &str, secret: &str) -> Result<(), EndpointsError> {
        Ok(self.0.save(org_id, url, secret).await?)
    }

    pub async fn find(&self, org_id: &str) -> Result<Option<StoredEndpoint>, EndpointsError> {
        match self.0.find(org_id).await {
            Ok(row) => Ok(row.map(|row| StoredEndpoint {
                url: row.public,
                secret: row.secret,
            })),
            Err(Failure::Database(e)) => Err(e.into()),
            Err(Failure::Unreadable) => Err(EndpointsError::Unreadable(org_id.into())),
        }
    }

    /// `true` when there was one.
    pub async fn remove(&self, org_id: &str) -> Result<bool, EndpointsError> {
        Ok(self.0.remove(org_id).await?)
    }
}
