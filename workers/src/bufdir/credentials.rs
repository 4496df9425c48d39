//! Organisations' Bufdir client credentials, kept sealed in the `bufdir_credentials` table so the
//! delivery worker can fetch a fresh token after a restart. A database dump alone does not reveal
//! a secret: it is sealed ([`Sealer`]) with a key derived from the server secret.

use chrono::{SecondsFormat, Utc};
use sqlx::{AnyPool, Row};

use super::wire::Credentials;
use crate::sealing::Sealer;

#[derive(Clone)]
pub struct CredentialStore {
    pool: AnyPool,
    sealer: Sealer,
}

impl CredentialStore {
    /// `server_secret` is the service's own secret (the JWT secret); the key is derived from it
    /// for this one purpose.
    pub fn new(pool: AnyPool, server_secret: &[u8]) -> Self {
        CredentialStore {
            pool,
            sealer: Sealer::new(server_secret, "credentials"),
        }
    }

    pub async fn save(&self, org_id: &str, credentials: &Credentials) -> anyhow::Result<()> {
        let sealed = self
            .sealer
            .seal(credentials.client_secret.as_bytes(), org_id)?;
        sqlx::query(
            "INSERT INTO bufdir_credentials (org_id, client_id, sealed_secret, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (org_id) DO UPDATE SET \
                 client_id = excluded.client_id, sealed_secret = excluded.sealed_secret, \
                 updated_at = excluded.updated_at",
        )
        .bind(org_id)
        .bind(&credentials.client_id)
        .bind(sealed)
        .bind(Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn load(&self, org_id: &str) -> anyhow::Result<Option<Credentials>> {
        let Some(row) = sqlx::query(
            "SELECT client_id, sealed_secret FROM bufdir_credentials WHERE org_id = $1",
        )
        .bind(org_id)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let client_id: String = row.try_get("client_id")?;
        let sealed: String = row.try_get("sealed_secret")?;
        let unreadable = || {
            anyhow::anyhow!(
                "the stored Bufdir credentials of {org_id} cannot be opened (was the server secret changed?); authenticate again"
            )
        };
        let secret = self.sealer.open(&sealed, org_id).ok_or_else(unreadable)?;
        Ok(Some(Credentials {
            client_id,
            client_secret: String::from_utf8(secret).map_err(|_| unreadable())?,
        }))
    }
}
