//! The composition root: the one place where configuration becomes the service's parts. Every
//! subcommand (`serve`, `worker`, `projections`, `audit`, `privacy`, ...) opens the database,
//! the keys, the settings and the services through [`Root`], so two subcommands cannot open the
//! same thing two ways.

use std::sync::Arc;
use std::time::Duration;

use bufdir_sandbox::{Sandbox, SandboxArgs};
use projections::Projections;
use store::Database;
use tokio_util::sync::CancellationToken;
use workers::webhooks::Endpoint;

use crate::http::app::Settings;
use crate::http::auth::Keys;
use crate::http::auth::claim_map::ClaimMap;
use crate::http::auth::oidc::{Issuers, OidcSettings};

use super::config::Common;

/// How long a command run from the command line waits for the read models it reads back.
const CLI_READ_YOUR_WRITES: Duration = Duration::from_secs(10);

pub struct Root<'a> {
    common: &'a Common,
}

impl<'a> Root<'a> {
    pub fn new(common: &'a Common) -> Self {
        Root { common }
    }

    pub fn common(&self) -> &'a Common {
        self.common
    }

    /// The database (the embedded one is created under the data directory), migrated.
    pub async fn database(&self) -> anyhow::Result<Database> {
        let common = self.common;
        if common.database_url.is_none() {
            std::fs::create_dir_all(&common.data_dir)?;
        }
        let eventstore = common.eventstore_url.as_ref().map(|url| url.expose());
        Ok(store::connect_with(&common.database_url(), eventstore).await?)
    }

    /// The server's own keys: they sign local tokens, download links and secrets at rest.
    pub fn keys(&self) -> anyhow::Result<Keys> {
        Keys::load(
            self.common.jwt_secret.as_ref().map(|s| s.expose()),
            &self.common.data_dir,
        )
    }

    /// The keys requests are verified with: the local secret, and the identity providers when
    /// configured (their discovery documents and keys are read now).
    pub(crate) async fn request_keys(&self) -> anyhow::Result<Keys> {
        let common = self.common;
        let keys = self.keys()?;
        if common.oidc_issuer.is_empty() {
            anyhow::ensure!(
                common.local_tokens,
                "LOCAL_TOKENS=false needs an identity provider (OIDC_ISSUER)"
            );
            return Ok(keys);
        }
        let issuers = Issuers::discover(OidcSettings {
            issuers: common.oidc_issuer.clone(),
            audience: common.oidc_audience.clone(),
            roles_claim: common.oidc_roles_claim.clone(),
            orgs_claim: common.oidc_orgs_claim.clone(),
            claim_map: match &common.oidc_claim_map {
                Some(path) => ClaimMap::load(path)?,
                None => Default::default(),
            },
        })
        .await?;
        let issuers = Arc::new(issuers);
        Issuers::refresh_in_background(&issuers);
        Ok(keys.with_issuers(Some(issuers), common.local_tokens))
    }

    /// The projections over `db`.
    pub fn projections(&self, db: &Database) -> Arc<Projections> {
        Projections::new(db.clone(), projections::all())
    }

    /// What commands need, for a subcommand that runs them itself.
    pub fn commands(&self, db: &Database) -> commands::Ctx {
        commands::Ctx::new(db.clone(), self.projections(db), CLI_READ_YOUR_WRITES)
    }

    /// Bufdir at BUFDIR_API_URL, or else a sandbox started in this process (it stops with
    /// `shutdown`); the log says which.
    pub(crate) async fn bufdir_url(
        &self,
        sandbox: &SandboxArgs,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<String> {
        if let Some(url) = &self.common.bufdir.bufdir_api_url {
            tracing::info!(url, "using Bufdir's API at BUFDIR_API_URL");
            return Ok(url.clone());
        }
        let config = sandbox.config()?;
        let clients: Vec<&str> = config.clients.iter().map(|(id, _)| id.as_str()).collect();
        let sandbox = Sandbox::start(
            "127.0.0.1:0".parse().expect("a socket address"),
            config.clone(),
            shutdown.clone(),
        )
        .await?;
        tracing::warn!(
            url = %sandbox.url(),
            ?clients,
            "BUFDIR_API_URL is not set: submissions go to the in-process Bufdir sandbox, not to Bufdir"
        );
        Ok(sandbox.url())
    }

    /// Everything but the database, with Bufdir at `bufdir_url`.
    pub fn settings(&self, bufdir_url: String) -> Settings {
        let common = self.common;
        let mut settings = Settings::new(&common.data_dir, &bufdir_url);
        settings.bufdir.settings = common.bufdir.settings();
        settings.bufdir_is_sandbox = common.bufdir.bufdir_api_url.is_none();
        if let Some(calendar) = &common.calendar_file {
            settings.calendar = calendar.clone();
        }
        settings.reminder_lease =
            chrono::Duration::seconds(common.reminder_lease_seconds.max(1) as i64);
        settings.reminder_scan =
            chrono::Duration::seconds(common.reminder_scan_seconds.max(1) as i64);
        settings.file_store = common.exports.file_store_url.clone();
        settings.public_url = common.exports.public_base_url.clone();
        settings.exports.lease = Duration::from_secs(common.exports.export_lease_seconds.max(3));
        settings.exports.file_ttl =
            chrono::Duration::hours(common.exports.export_file_ttl_hours.max(1) as i64);
        let webhooks = &common.webhooks;
        let url = webhooks.webhook_url.as_deref().map(str::trim);
        settings.webhooks.global = url.filter(|u| !u.is_empty()).map(|url| Endpoint {
            url: url.to_string(),
            secret: webhooks.webhook_secret.clone().unwrap_or_default(),
        });
        settings.webhooks.retry_base = Duration::from_secs(webhooks.webhook_retry_seconds);
        settings.webhooks.targets.allow_private = webhooks.webhook_allow_private;
        settings.cors_allowed_origins = common.cors_allowed_origins.clone();
        settings.seals = commands::log_seals::Thresholds {
            events: common.seal_every_events.max(1),
            age: Duration::from_secs(common.seal_every_seconds.max(1)),
        };
        settings
    }
}
