//! Where an organisation's webhooks go: its own endpoint (set through the API, secret sealed in
//! `webhook_endpoints`), else the service-wide one (`WEBHOOK_URL`, `WEBHOOK_SECRET`).

use chrono::{SecondsFormat, Utc};
use sqlx::{AnyPool, Row};

use crate::sealing::Sealer;

#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub url: String,
    pub secret: String,
}

// Written by hand so the secret never reaches a log.
impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint").field("url", &self.url).finish()
    }
}

#[derive(Clone)]
pub struct WebhookEndpoints {
    pool: AnyPool,
    sealer: Sealer,
    global: Option<Endpoint>,
}

/// A fresh signing secret: 32 random bytes, hex, with a prefix that says what it is.
fn new_secret() -> String {
    format!("whsec_{}", hex::encode(rand::random::<[u8; 32]>()))
}

impl WebhookEndpoints {
    pub fn new(pool: AnyPool, server_secret: &[u8], global: Option<Endpoint>) -> Self {
        WebhookEndpoints {
            pool,
            sealer: Sealer::new(server_secret, "webhooks"),
            global,
        }
    }

    /// Sets the organisation's endpoint with a new secret, which is returned: it is shown once.
    pub async fn save(&self, org_id: &str, url: &str) -> anyhow::Result<Endpoint> {
        let secret = new_secret();
        let sealed = self.sealer.seal(secret.as_bytes(), org_id)?;
        sqlx::query(
            "INSERT INTO webhook_endpoints (org_id, url, sealed_secret, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (org_id) DO UPDATE SET url = excluded.url, \
                 sealed_secret = excluded.sealed_secret, updated_at = excluded.updated_at",
        )
        .bind(org_id)
        .bind(url)
        .bind(sealed)
        .bind(Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true))
        .execute(&self.pool)
        .await?;
        Ok(Endpoint {
            url: url.to_string(),
            secret,
        })
    }

    /// The organisation's own endpoint, if it set one.
    pub async fn own(&self, org_id: &str) -> anyhow::Result<Option<Endpoint>> {
        let Some(row) =
            sqlx::query("SELECT url, sealed_secret FROM webhook_endpoints WHERE org_id = $1")
                .bind(org_id)
                .fetch_optional(&self.pool)
                .await?
        else {
            return Ok(None);
        };
        let sealed: String = row.try_get("sealed_secret")?;
        let secret = self.sealer.open(&sealed, org_id).ok_or_else(|| {
            anyhow::anyhow!(
                "the webhook secret of {org_id} cannot be opened (was the server secret changed?); set the webhook again"
            )
        })?;
        Ok(Some(Endpoint {
            url: row.try_get("url")?,
            secret: String::from_utf8(secret)?,
        }))
    }

    pub async fn remove(&self, org_id: &str) -> anyhow::Result<bool> {
        let done = sqlx::query("DELETE FROM webhook_endpoints WHERE org_id = $1")
            .bind(org_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Where the organisation's webhooks go: its own endpoint, else the service-wide one.
    pub async fn for_org(&self, org_id: &str) -> anyhow::Result<Option<Endpoint>> {
        Ok(self.own(org_id).await?.or_else(|| self.global.clone()))
    }
}
