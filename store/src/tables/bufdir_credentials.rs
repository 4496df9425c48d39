//! `bufdir_credentials`: each organisation's Bufdir client credentials, so the delivery worker
//! can fetch a fresh token after a restart. Deliberately outside the log, which is kept for years
//! and read by auditors (it records only that an authentication happened). The secret is
//! encrypted under a key derived from the server secret: a database dump alone does not
//! reveal it.

use crate::ReadPool;

use super::secrets_by_org::{Failure, SecretsByOrg};

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
pub struct BufdirCredentials(SecretsByOrg);

impl BufdirCredentials {
    /// `server_secret` is the service's own secret; the key is derived from it for this use.
    pub fn new(pool: ReadPool, server_secret: &[u8]) -> Self {
        let rows = SecretsByOrg::new(
            pool,
            server_secret,
            "credentials",
            "bufdir_credentials",
            "client_id",
        );
        BufdirCredentials(rows)
    }

    pub async fn save(
        &self,
        org_id: &str,
        client_id: &str,
        client_secret: &str,
    ) -> Result<(), CredentialsError> {
        Ok(self.0.save(org_id, client_id, client_secret).await?)
    }

    pub async fn load(&self, org_id: &str) -> Result<Option<StoredClient>, CredentialsError> {
        match self.0.find(org_id).await {
            Ok(row) => Ok(row.map(|row| StoredClient {
                client_id: row.public,
                client_secret: row.secret,
            })),
            Err(Failure::Database(e)) => Err(e.into()),
            Err(Failure::Unreadable) => Err(CredentialsError::Unreadable(org_id.into())),
        }
    }
}
