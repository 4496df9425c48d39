//! Completion webhooks of re-exports, sent from an outbox: a finished re-export that asked to be
//! notified and was not yet is owed a webhook (the exports read model lists them), so nothing is
//! lost to a crash or an unreachable receiver. Each attempt is an event; `notified` turns true
//! only on a 2xx answer. Delivery is at least once: a crash between the answer and its record
//! sends it again, so receivers deduplicate on `Bufdir-Webhook-Id`.

pub mod deadlines;
mod endpoints;
pub mod signature;
pub mod target;
pub mod voided;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use commands::Error;
use domain::export::{ExportCommand, ExportStatus};
use projections::Projections;
use projections::exports::{self, ExportRow};
use serde_json::json;
use store::Database;

pub use endpoints::Endpoint;
use store::tables::webhook_endpoints::WebhookEndpoints;
pub use target::{TargetError, TargetPolicy};

use crate::{Outcome, Worker};

#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// The service-wide endpoint, for organisations without their own.
    pub global: Option<Endpoint>,
    /// The wait after the first failed attempt; it doubles with each further one.
    pub retry_base: Duration,
    pub max_backoff: Duration,
    /// A whole attempt, connecting included: a receiver that hangs must not hold a worker.
    pub timeout: Duration,
    /// `WEBHOOK_ALLOW_PRIVATE`: let webhooks reach loopback and private addresses (development,
    /// tests). Off, they go to public addresses only.
    pub targets: TargetPolicy,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            global: None,
            retry_base: Duration::from_secs(5),
            max_backoff: Duration::from_secs(3600),
            timeout: Duration::from_secs(5),
            targets: TargetPolicy {
                allow_private: false,
            },
        }
    }
}

/// What sending needs: the endpoints and an HTTP client.
pub struct Webhooks {
    /// The organisations' own endpoints.
    pub endpoints: WebhookEndpoints,
    http: reqwest::Client,
    settings: WebhookSettings,
}

impl Webhooks {
    /// Whether `url` may be a webhook target now (see [`target`]).
    pub async fn check_target(&self, url: &str) -> Result<url::Url, TargetError> {
        self.settings.targets.check(url).await
    }

    pub fn new(
        pool: store::ReadPool,
        server_secret: &[u8],
        settings: WebhookSettings,
    ) -> anyhow::Result<Self> {
        let mut http = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(2)))
            // A receiver's redirect would carry the signed body somewhere nobody configured,
            // and past the address check.
            .redirect(reqwest::redirect::Policy::none())
            // Proxies from the environment would connect on our behalf, past the address check.
            .no_proxy()
            .user_agent(concat!("bufdir-reporting/", env!("CARGO_PKG_VERSION")));
        if let Some(resolver) = settings.targets.resolver() {
            http = http.dns_resolver(resolver);
        }
        let http = http.build()?;
        Ok(Webhooks {
            endpoints: WebhookEndpoints::new(pool, server_secret),
            http,
            settings,
        })
    }

    /// Whether organisation `org` has somewhere its webhooks go (its own endpoint or the
    /// service-wide one).
    pub(crate) async fn reach(&self, org: &domain::OrgId) -> anyhow::Result<bool> {
        let global = self.settings.global.as_ref();
        Ok(endpoints::for_org(&self.endpoints, global, org.as_str())
            .await?
            .is_some())
    }

    /// Sends `body` to organisation `org`'s endpoint (its own, else the service-wide one), signed,
    /// with `webhook_id` for the receiver to deduplicate on. `Ok(())` on a 2xx answer, else why
    /// not.
    pub(crate) async fn deliver(
        &self,
        org: &domain::OrgId,
        webhook_id: &str,
        body: &serde_json::Value,
    ) -> Result<(), String> {
        let global = self.settings.global.as_ref();
        let endpoint = endpoints::for_org(&self.endpoints, global, org.as_str())
            .await
            .map_err(|e| format!("{e:#}"))?
            .ok_or_else(|| "no webhook URL is configured for the organisation".to_string())?;
        // Checked again at send time: an address in the URL here, a name in the resolver.
        let url = url::Url::parse(&endpoint.url).map_err(|e| e.to_string())?;
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
            _ => None,
        };
        if let Some(ip) = literal {
            self.settings
                .targets
                .literal(ip)
                .map_err(|e| e.to_string())?;
        }
        let body = serde_json::to_vec(body).map_err(|e| e.to_string())?;
        let signature = signature::sign(endpoint.secret.expose(), Utc::now().timestamp(), &body);
        let answer = self
            .http
            .post(&endpoint.url)
            .header("Content-Type", "application/json")
            .header(signature::HEADER, signature)
            .header("Bufdir-Webhook-Id", webhook_id)
            .body(body)
            .send()
            .await
            .map_err(|e| {
                // The resolver's refusal is the cause of a connect error; name it.
                let mut cause: Option<&dyn std::error::Error> = Some(&e);
                let mut text = String::new();
                while let Some(c) = cause {
                    if !text.is_empty() {
                        text.push_str(": ");
                    }
                    text.push_str(&c.to_string());
                    cause = c.source();
                }
                text
            })?;
        if answer.status().is_success() {
            Ok(())
        } else {
            Err(format!("the receiver answered {}", answer.status()))
        }
    }

    /// The wait before attempt `failed + 1`.
    fn backoff(&self, failed: u32) -> Duration {
        let factor = 2u32.saturating_pow(failed.saturating_sub(1).min(20));
        self.settings
            .retry_base
            .saturating_mul(factor)
            .min(self.settings.max_backoff)
    }
}

fn time(t: &Option<DateTime<Utc>>) -> Option<String> {
    t.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// The body: the re-export's result, as `GET /api/v1/report-reexports/{id}` would show it.
pub fn body(row: &ExportRow) -> serde_json::Value {
    let completed = row.status == ExportStatus::Completed;
    json!({
        "event": if completed { "reexport.completed" } else { "reexport.failed" },
        "reexport_id": row.export_id,
        "report_id": row.reexport_of,
        "org_id": row.org_id,
        "status": row.status,
        "output_file_ref": row.file_key,
        "output_file_size_bytes": row.file_size_bytes,
        "requested_by": row.requested_by,
        "completed_at": time(&row.completed_at),
        "error_message": row.error_message,
    })
}

pub struct NotifyWorker {
    db: Database,
    projections: Arc<Projections>,
    webhooks: Arc<Webhooks>,
}

impl NotifyWorker {
    pub fn new(db: Database, projections: Arc<Projections>, webhooks: Arc<Webhooks>) -> Self {
        NotifyWorker {
            db,
            projections,
            webhooks,
        }
    }

    /// One attempt: `Ok(())` on a 2xx answer, else why not.
    #[tracing::instrument(skip_all, fields(export_id = %row.export_id), err(level = "warn"))]
    async fn send(&self, row: &ExportRow) -> Result<(), String> {
        self.webhooks
            .deliver(&row.org_id, &row.export_id, &body(row))
            .await
    }

    async fn record(&self, export_id: &str, command: ExportCommand) -> anyhow::Result<()> {
        let ctx = crate::commands_of(&self.db, &self.projections);
        match commands::exports::record(&ctx, &crate::acting("webhooks"), export_id, command).await
        {
            Ok(_) => Ok(()),
            // Marked notified meanwhile (an external renderer, or another worker).
            Err(Error::Rejected(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[async_trait::async_trait]
impl Worker for NotifyWorker {
    fn name(&self) -> &'static str {
        "webhooks"
    }

    async fn run_once(&self) -> anyhow::Result<Outcome> {
        let now = Utc::now();
        let Some(row) = exports::next_notification(&self.db.read, now).await? else {
            return Ok(Outcome::Idle);
        };
        let attempt = row.notify_attempts + 1;
        let command = match self.send(&row).await {
            Ok(()) => {
                tracing::info!(reexport_id = %row.export_id, attempt, "webhook delivered");
                ExportCommand::MarkNotified {
                    attempts: attempt,
                    now: Utc::now(),
                }
            }
            Err(error) => {
                let wait = self.webhooks.backoff(attempt);
                tracing::warn!(reexport_id = %row.export_id, attempt, error, retry_in_ms = wait.as_millis() as u64, "webhook not delivered");
                let now = Utc::now();
                ExportCommand::NotificationFailed {
                    attempt,
                    error,
                    retry_at: now + chrono::Duration::from_std(wait)?,
                    now,
                }
            }
        };
        self.record(&row.export_id, command).await?;
        Ok(Outcome::Worked)
    }
}
