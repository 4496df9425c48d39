//! A typed client for Bufdir's external API (reqwest over rustls). Every call has a connect and
//! a total timeout; calls that are safe to repeat are retried on timeouts, dropped connections,
//! 5xx and 429, with jittered backoff that honours `Retry-After`. A submission is safe to repeat
//! because it carries an idempotency key.

use std::time::Duration;

use reqwest::{RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;

use super::retry::Backoff;
use super::wire::{
    self, Credentials, ErrorResponse, StatusResponse, SubmitRequest, SubmitResponse, TokenResponse,
};

#[derive(Debug, Clone)]
pub struct ClientSettings {
    pub connect_timeout: Duration,
    /// For a whole request, body included.
    pub timeout: Duration,
    /// Retries within one call, after the first try.
    pub retries: u32,
    pub backoff: Backoff,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
            retries: 3,
            backoff: Backoff {
                base: Duration::from_millis(200),
                cap: Duration::from_secs(5),
            },
        }
    }
}

impl ClientSettings {
    /// The longest one call may take with its retries (Retry-After aside, which is capped by
    /// the same backoff ceiling in practice).
    pub(crate) fn longest_call(&self) -> Duration {
        (self.timeout + self.backoff.cap).saturating_mul(self.retries + 1)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BufdirError {
    /// The token or the client credentials were not accepted.
    #[error("Bufdir did not accept the credentials: {0}")]
    Unauthorized(String),
    /// Bufdir refused the request itself; repeating it will not help.
    #[error("Bufdir refused the request ({status}): {message}")]
    Refused {
        status: u16,
        message: String,
        errors: Vec<serde_json::Value>,
    },
    /// Bufdir could not be reached or was failing, even after retries.
    #[error("Bufdir is unavailable: {message}")]
    Unavailable {
        message: String,
        /// What Bufdir asked for in `Retry-After`, if anything.
        retry_after: Option<Duration>,
    },
    #[error("Bufdir answered something we cannot read: {0}")]
    Unreadable(String),
}

impl BufdirError {
    /// Whether a later attempt could succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            BufdirError::Unavailable { .. } | BufdirError::Unreadable(_)
        )
    }
}

#[derive(Clone)]
pub struct BufdirClient {
    http: reqwest::Client,
    base: String,
    settings: ClientSettings,
}

impl std::fmt::Debug for BufdirClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufdirClient")
            .field("base", &self.base)
            .finish()
    }
}

impl BufdirClient {
    pub fn new(base_url: &str, settings: ClientSettings) -> Result<Self, BufdirError> {
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.timeout)
            .user_agent(concat!("bufdir-reporting/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| BufdirError::Unreadable(format!("cannot build the HTTP client: {e}")))?;
        Ok(BufdirClient {
            http,
            base: base_url.trim_end_matches('/').to_string(),
            settings,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    #[tracing::instrument(skip_all, fields(client_id = %credentials.client_id), err(level = "warn"))]
    pub async fn authenticate(
        &self,
        credentials: &Credentials,
    ) -> Result<TokenResponse, BufdirError> {
        let url = format!("{}{}", self.base, wire::AUTHENTICATE);
        self.send("authenticate", || self.http.post(&url).json(credentials))
            .await
    }

    /// Files a submission; the same `idempotency_key` again answers with the first filing.
    #[tracing::instrument(skip(self, token, request), err(level = "warn"))]
    pub async fn submit(
        &self,
        token: &str,
        idempotency_key: &str,
        request: &SubmitRequest,
    ) -> Result<SubmitResponse, BufdirError> {
        let url = format!("{}{}", self.base, wire::SUBMISSIONS);
        self.send("submit", || {
            self.http
                .post(&url)
                .bearer_auth(token)
                .header(wire::IDEMPOTENCY_KEY, idempotency_key)
                .json(request)
        })
        .await
    }

    #[tracing::instrument(skip(self, token), err(level = "warn"))]
    pub async fn status(
        &self,
        token: &str,
        reference_id: &str,
    ) -> Result<StatusResponse, BufdirError> {
        let url = format!("{}{}/{}", self.base, wire::SUBMISSIONS, reference_id);
        self.send("status", || self.http.get(&url).bearer_auth(token))
            .await
    }

    /// Sends the request built by `build`, retrying what may be retried.
    async fn send<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<T, BufdirError> {
        let mut retry = 0;
        loop {
            let error = match build().send().await {
                Ok(response) => {
                    let status = response.status();
                    match read(response).await {
                        Ok(answer) => {
                            record_call(operation, "ok");
                            return Ok(answer);
                        }
                        Err(e) => {
                            record_call(operation, status_class(status));
                            e
                        }
                    }
                }
                Err(e) => {
                    record_call(operation, if e.is_timeout() { "timeout" } else { "error" });
                    BufdirError::Unavailable {
                        message: transport_message(&e),
                        retry_after: None,
                    }
                }
            };
            if !error.is_transient() || retry >= self.settings.retries {
                return Err(error);
            }
            retry += 1;
            let delay = match &error {
                BufdirError::Unavailable {
                    retry_after: Some(after),
                    ..
                } => (*after).min(self.settings.backoff.cap),
                _ => self.settings.backoff.delay(retry),
            };
            tracing::warn!(retry, ?delay, error = %store::causes(&error), "retrying a Bufdir call");
            tokio::time::sleep(delay).await;
        }
    }
}

/// One attempt, retries included, so the series shows how often Bufdir makes us retry.
fn record_call(operation: &'static str, outcome: &'static str) {
    metrics::counter!("bufdir_api_calls_total", "operation" => operation, "outcome" => outcome)
        .increment(1);
}

/// A 2xx whose body could not be read or broke off is an `error`, not a success.
fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "error",
    }
}

async fn read<T: DeserializeOwned>(response: Response) -> Result<T, BufdirError> {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = response
        .bytes()
        .await
        .map_err(|e| BufdirError::Unavailable {
            message: format!("the answer broke off: {}", transport_message(&e)),
            retry_after: None,
        })?;
    if status.is_success() {
        return serde_json::from_slice(&body).map_err(|e| BufdirError::Unreadable(e.to_string()));
    }
    let error: ErrorResponse = serde_json::from_slice(&body).unwrap_or_else(|_| ErrorResponse {
        error: status.as_str().to_string(),
        message: String::from_utf8_lossy(&body).chars().take(500).collect(),
        errors: vec![],
    });
    Err(match status {
        StatusCode::UNAUTHORIZED => BufdirError::Unauthorized(error.message),
        StatusCode::TOO_MANY_REQUESTS | StatusCode::REQUEST_TIMEOUT => BufdirError::Unavailable {
            message: format!("{status}: {}", error.message),
            retry_after,
        },
        s if s.is_server_error() => BufdirError::Unavailable {
            message: format!("{status}: {}", error.message),
            retry_after,
        },
        s => BufdirError::Refused {
            status: s.as_u16(),
            message: error.message,
            errors: error.errors,
        },
    })
}

/// reqwest's error with its causes, which name what actually happened (refused, reset, timeout).
fn transport_message(e: &reqwest::Error) -> String {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
