//! Where an organisation's webhooks go: its own endpoint (set through the API, secret sealed in
//! `webhook_endpoints`), else the service-wide one (`WEBHOOK_URL`, `WEBHOOK_SECRET`).

use store::{ReadPool, Stamp, on_pool};

use crate::sealing::Sealer;
use crate::secret::Secret;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub url: String,
    pub secret: Secret,
}

#[derive(Clone)]
pub struct WebhookEndpoints {
    pool: ReadPool,
    sealer: Sealer,
    global: Option<Endpoint>,
}

/// A fresh signing secret: 32 random bytes, hex, with a prefix that says what it is.
fn new_secret() -> String {
    format!("whsec_{}", hex::encode(rand::random::<[u8; 32]>()))
}

impl WebhookEndpoints {
    pub fn new(pool: ReadPool, server_secret: &[u8], global: Option<Endpoint>) -> Self {
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
        on_pool!(&self.pool, c => sqlx::query(
            "INSERT INTO webhook_endpoints (org_id, url, sealed_secret, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (org_id) DO UPDATE SET url = excluded.url, \
                 sealed_secret = excluded.sealed_secret, updated_at = excluded.updated_at",
        )
        .bind(org_id)
        .bind(url)
        .bind(sealed)
        .bind(Stamp::now())
        .execute(c)
        .await
        .map(drop))?;
        Ok(Endpoint {
            url: url.to_string(),
            secret: secret.into(),
        })
    }

    /// The organisation's own endpoint, if it set one.
    pub async fn own(&self, org_id: &str) -> anyhow::Result<Option<Endpoint>> {
        let found: Option<(String, String)> = on_pool!(&self.pool, c => sqlx::query_as(
            "SELECT url, sealed_secret FROM webhook_endpoints WHERE org_id = $1",
        )
        .bind(org_id)
        .fetch_optional(c)
        .await)?;
        let Some((url, sealed)) = found else {
            return Ok(None);
        };
        let secret = self.sealer.open(&sealed, org_id).ok_or_else(|| {
            anyhow::anyhow!(
                "the webhook secret of {org_id} cannot be opened (was the server secret changed?); set the webhook again"
            )
        })?;
        Ok(Some(Endpoint {
            url,
            secret: String::from_utf8(secret)?.into(),
        }))
    }

    pub async fn remove(&self, org_id: &str) -> anyhow::Result<bool> {
        let removed = on_pool!(&self.pool, c => sqlx::query(
            "DELETE FROM webhook_endpoints WHERE org_id = $1",
        )
        .bind(org_id)
        .execute(c)
        .await
        .map(|done| done.rows_affected()))?;
        Ok(removed > 0)
    }

    /// Where the organisation's webhooks go: its own endpoint, else the service-wide one.
    pub async fn for_org(&self, org_id: &str) -> anyhow::Result<Option<Endpoint>> {
        Ok(self.own(org_id).await?.or_else(|| self.global.clone()))
    }
}
