//! Organisations' Bufdir client credentials, kept sealed in the `bufdir_credentials` table so the
//! delivery worker can fetch a fresh token after a restart. A database dump alone does not reveal
//! a secret: it is sealed ([`Sealer`]) with a key derived from the server secret.

use store::{ReadPool, Stamp, on_pool};

use super::wire::Credentials;
use crate::sealing::Sealer;

#[derive(Clone)]
pub struct CredentialStore {
    pool: ReadPool,
    sealer: Sealer,
}

impl CredentialStore {
    /// `server_secret` is the service's own secret (the JWT secret); the key is derived from it
    /// for this one purpose.
    pub fn new(pool: ReadPool, server_secret: &[u8]) -> Self {
        CredentialStore {
            pool,
            sealer: Sealer::new(server_secret, "credentials"),
        }
    }

    pub async fn save(&self, org_id: &str, credentials: &Credentials) -> anyhow::Result<()> {
        let sealed = self
            .sealer
            .seal(credentials.client_secret.expose().as_bytes(), org_id)?;
        on_pool!(&self.pool, c => sqlx::query(
            "INSERT INTO bufdir_credentials (org_id, client_id, sealed_secret, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (org_id) DO UPDATE SET \
                 client_id = excluded.client_id, sealed_secret = excluded.sealed_secret, \
                 updated_at = excluded.updated_at",
        )
        .bind(org_id)
        .bind(&credentials.client_id)
        .bind(sealed)
        .bind(Stamp::now())
        .execute(c)
        .await
        .map(drop))?;
        Ok(())
    }

    pub async fn load(&self, org_id: &str) -> anyhow::Result<Option<Credentials>> {
        let found: Option<(String, String)> = on_pool!(&self.pool, c => sqlx::query_as(
            "SELECT client_id, sealed_secret FROM bufdir_credentials WHERE org_id = $1",
        )
        .bind(org_id)
        .fetch_optional(c)
        .await)?;
        let Some((client_id, sealed)) = found else {
            return Ok(None);
        };
        let unreadable = || {
            anyhow::anyhow!(
                "the stored Bufdir credentials of {org_id} cannot be opened (was the server secret changed?); authenticate again"
            )
        };
        let secret = self.sealer.open(&sealed, org_id).ok_or_else(unreadable)?;
        Ok(Some(Credentials {
            client_id,
            client_secret: String::from_utf8(secret).map_err(|_| unreadable())?.into(),
        }))
    }
}
