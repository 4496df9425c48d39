//! [`Bufdir`]: Bufdir as the rest of the service sees it. Calls are made in an organisation's
//! name: its token comes from the cache until shortly before it expires, and is fetched anew
//! with the organisation's stored credentials when it is missing, old or refused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use store::ReadPool;

use super::client::{BufdirClient, BufdirError, ClientSettings};
use super::retry::Backoff;
use super::wire::{Credentials, StatusResponse, SubmitRequest, SubmitResponse, TokenResponse};
use store::tables::bufdir_credentials::BufdirCredentials;

#[derive(Debug, Clone)]
pub struct BufdirSettings {
    pub client: ClientSettings,
    /// Delay between delivery attempts from the outbox, after a call's own retries failed.
    pub outbox: Backoff,
    /// How long `submit` waits for delivery before answering 202.
    pub submit_wait: Duration,
    /// How often a received submission's status is asked for.
    pub status_poll_interval: Duration,
}

impl Default for BufdirSettings {
    fn default() -> Self {
        BufdirSettings {
            client: ClientSettings::default(),
            outbox: Backoff {
                base: Duration::from_secs(2),
                cap: Duration::from_secs(300),
            },
            submit_wait: Duration::from_secs(10),
            status_poll_interval: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("organisation {0} has no Bufdir credentials; call authenticate first")]
    NotAuthenticated(String),
    #[error(transparent)]
    Bufdir(#[from] BufdirError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

struct CachedToken {
    token: String,
    refresh_at: Instant,
}

pub struct Bufdir {
    client: BufdirClient,
    credentials: BufdirCredentials,
    tokens: Mutex<HashMap<String, CachedToken>>,
    /// One token fetch at a time, so callers that find the token missing or refused together
    /// (the delivery and the status worker after an expiry) authenticate once, not each.
    fetching: tokio::sync::Mutex<()>,
    pub settings: BufdirSettings,
}

/// A token is replaced a minute before it expires, or halfway through a shorter life, so a call
/// never leaves with a token that expires on the way.
fn refresh_after(expires_in: u64) -> Duration {
    let life = Duration::from_secs(expires_in);
    life - Duration::from_secs(60).min(life / 2)
}

impl Bufdir {
    pub fn new(
        base_url: &str,
        settings: BufdirSettings,
        pool: ReadPool,
        server_secret: &[u8],
    ) -> Result<Arc<Self>, BufdirError> {
        Ok(Arc::new(Bufdir {
            client: BufdirClient::new(base_url, settings.client.clone())?,
            credentials: BufdirCredentials::new(pool, server_secret),
            tokens: Mutex::new(HashMap::new()),
            fetching: tokio::sync::Mutex::new(()),
            settings,
        }))
    }

    pub fn base_url(&self) -> &str {
        self.client.base_url()
    }

    /// Exchanges `credentials` for a token. Accepted credentials are kept (encrypted) for the
    /// delivery worker, and the token is cached for `org_id`.
    pub async fn authenticate(
        &self,
        org_id: &str,
        credentials: &Credentials,
    ) -> Result<TokenResponse, GatewayError> {
        let token = self.client.authenticate(credentials).await?;
        let secret = credentials.client_secret.expose();
        self.credentials
            .save(org_id, &credentials.client_id, secret)
            .await
            .map_err(anyhow::Error::from)?;
        self.remember(org_id, &token);
        Ok(token)
    }

    pub async fn has_credentials(&self, org_id: &str) -> anyhow::Result<bool> {
        Ok(self.credentials.load(org_id).await?.is_some())
    }

    pub async fn submit(
        &self,
        org_id: &str,
        idempotency_key: &str,
        request: &SubmitRequest,
    ) -> Result<SubmitResponse, GatewayError> {
        self.with_token(org_id, |token| async move {
            self.client.submit(&token, idempotency_key, request).await
        })
        .await
    }

    pub async fn status(
        &self,
        org_id: &str,
        reference_id: &str,
    ) -> Result<StatusResponse, GatewayError> {
        self.with_token(org_id, |token| async move {
            self.client.status(&token, reference_id).await
        })
        .await
    }

    /// Runs `call` with the organisation's token; a refused token is replaced once.
    async fn with_token<T, F, Fut>(&self, org_id: &str, call: F) -> Result<T, GatewayError>
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = Result<T, BufdirError>>,
    {
        let token = self.token(org_id).await?;
        match call(token.clone()).await {
            Err(BufdirError::Unauthorized(reason)) => {
                tracing::info!(
                    org_id,
                    reason,
                    "Bufdir refused the cached token; fetching a new one"
                );
                self.forget(org_id, &token);
                let token = self.token(org_id).await?;
                Ok(call(token).await?)
            }
            other => Ok(other?),
        }
    }

    async fn token(&self, org_id: &str) -> Result<String, GatewayError> {
        if let Some(cached) = self.cached(org_id) {
            return Ok(cached);
        }
        let _fetching = self.fetching.lock().await;
        // Someone else may have fetched it while this call waited.
        if let Some(cached) = self.cached(org_id) {
            return Ok(cached);
        }
        let stored = self
            .credentials
            .load(org_id)
            .await
            .map_err(anyhow::Error::from)?
            .ok_or_else(|| GatewayError::NotAuthenticated(org_id.to_string()))?;
        let credentials = Credentials {
            client_id: stored.client_id,
            client_secret: stored.client_secret.into(),
        };
        let token = self.client.authenticate(&credentials).await?;
        self.remember(org_id, &token);
        Ok(token.access_token.expose().to_string())
    }

    fn cached(&self, org_id: &str) -> Option<String> {
        let tokens = self.tokens.lock().expect("token cache lock");
        tokens
            .get(org_id)
            .filter(|t| Instant::now() < t.refresh_at)
            .map(|t| t.token.clone())
    }

    fn remember(&self, org_id: &str, token: &TokenResponse) {
        let mut tokens = self.tokens.lock().expect("token cache lock");
        tokens.insert(
            org_id.to_string(),
            CachedToken {
                token: token.access_token.expose().to_string(),
                refresh_at: Instant::now() + refresh_after(token.expires_in),
            },
        );
    }

    /// Drops `token` from the cache, unless it was already replaced by a newer one.
    fn forget(&self, org_id: &str, token: &str) {
        let mut tokens = self.tokens.lock().expect("token cache lock");
        if tokens.get(org_id).is_some_and(|t| t.token == token) {
            tokens.remove(org_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_refreshed_before_they_expire() {
        assert_eq!(refresh_after(3600), Duration::from_secs(3540));
        assert_eq!(refresh_after(60), Duration::from_secs(30));
        assert_eq!(refresh_after(0), Duration::ZERO);
    }
}
