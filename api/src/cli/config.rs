//! Configuration from flags and environment. Every setting has a default that works on a fresh
//! machine (the embedded SQLite store under `./data`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use workers::secret::Secret;

use bufdir_sandbox::SandboxArgs;

use crate::http::auth::Role;
use crate::http::cors::Origin;

#[derive(Debug, Parser)]
#[command(
    name = "bufdir-reporting",
    version,
    about = "The Bufdir reporting backend"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct Common {
    /// Where the embedded database, the JWT secret and files live.
    #[arg(long, env = "BUFDIR_DATA_DIR", default_value = "./data", global = true)]
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://USER@HOST/DB`. Default: `sqlite://<data-dir>/bufdir.db`.
    /// A secret: it may carry the database's password.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    pub database_url: Option<Secret>,
    /// `esdb://HOST:2113?tls=false` or `esdb+discover://...`: keep the event log in EventStoreDB
    /// (KurrentDB); the read models stay in `DATABASE_URL`.
    #[arg(long, env = "EVENTSTORE_URL", hide_env_values = true, global = true)]
    pub eventstore_url: Option<Secret>,
    /// Log output: human-readable or one JSON object per line.
    #[arg(
        long,
        env = "LOG_FORMAT",
        value_enum,
        default_value = "pretty",
        global = true
    )]
    pub log_format: LogFormat,
    /// HS256 signing secret for bearer tokens (at least 32 bytes). Default: a random secret kept
    /// in `<data-dir>/jwt-secret`.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true, global = true)]
    pub jwt_secret: Option<Secret>,
    /// Origins of browser front ends that may call the API from another origin, comma-separated
    /// (`http://127.0.0.1:5173,https://app.example.no`). Unset: no CORS headers at all.
    #[arg(
        long,
        env = "CORS_ALLOWED_ORIGINS",
        value_delimiter = ',',
        global = true
    )]
    pub cors_allowed_origins: Vec<Origin>,
    /// Identity providers whose tokens are accepted (their issuer URLs, comma-separated): the
    /// discovery document and keys are read from each (RS256, ES256, EdDSA).
    #[arg(long, env = "OIDC_ISSUER", value_delimiter = ',', global = true)]
    pub oidc_issuer: Vec<String>,
    /// The audience (`aud`) the identity providers' tokens must name.
    #[arg(long, env = "OIDC_AUDIENCE", global = true)]
    pub oidc_audience: Option<String>,
    /// The claim of an identity provider's token that holds the caller's roles.
    #[arg(long, env = "OIDC_ROLES_CLAIM", default_value = "roles", global = true)]
    pub oidc_roles_claim: String,
    /// The claim that holds the organisations the caller belongs to.
    #[arg(long, env = "OIDC_ORGS_CLAIM", default_value = "orgs", global = true)]
    pub oidc_orgs_claim: String,
    /// A TOML file that maps the identity provider's role and organisation claim values to
    /// ours (Entra ID app roles, group ids); see `api/src/auth/claim_map.rs`.
    #[arg(long, env = "OIDC_CLAIM_MAP", global = true)]
    pub oidc_claim_map: Option<std::path::PathBuf>,
    /// Whether local tokens (HS256 with the server's secret, `bufdir-reporting token`) are
    /// accepted; switch off in production once an identity provider is configured.
    #[arg(long, env = "LOCAL_TOKENS", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub local_tokens: bool,
    /// The seal worker seals the log after this many events since the last seal...
    #[arg(long, env = "SEAL_EVERY_EVENTS", default_value_t = 1000, global = true)]
    pub seal_every_events: u64,
    /// ...or once the oldest event not yet sealed is this many seconds old.
    #[arg(
        long,
        env = "SEAL_EVERY_SECONDS",
        default_value_t = 3600,
        global = true
    )]
    pub seal_every_seconds: u64,
    /// The reporting calendar (a TOML file of rules: see the README); unset, the shipped one.
    #[arg(long, env = "CALENDAR_FILE", value_parser = calendar_file, global = true)]
    pub calendar_file: Option<domain::calendar::Calendar>,
    /// How long a worker's claim on a deadline reminder holds: one killed mid-send delays the
    /// reminder this long before another sends it.
    #[arg(
        long,
        env = "REMINDER_LEASE_SECONDS",
        default_value_t = 60,
        global = true
    )]
    pub reminder_lease_seconds: u64,
    /// How often the workers look through the deadlines for reminders owed.
    #[arg(
        long,
        env = "REMINDER_SCAN_SECONDS",
        default_value_t = 60,
        global = true
    )]
    pub reminder_scan_seconds: u64,
    #[command(flatten)]
    pub bufdir: BufdirArgs,
    #[command(flatten)]
    pub exports: ExportArgs,
    #[command(flatten)]
    pub webhooks: WebhookArgs,
}

/// Reads and checks a calendar file, so a wrong one stops the service at its start.
fn calendar_file(path: &str) -> Result<domain::calendar::Calendar, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    domain::calendar::Calendar::parse(&text).map_err(|e| format!("{path}: {e}"))
}

/// Completion webhooks of re-exports.
#[derive(Debug, Clone, Args)]
pub struct WebhookArgs {
    /// Where webhooks go for organisations that set no endpoint of their own.
    #[arg(long, env = "WEBHOOK_URL", global = true)]
    pub webhook_url: Option<String>,
    /// The HMAC-SHA256 key that signs webhooks sent to `WEBHOOK_URL`.
    #[arg(long, env = "WEBHOOK_SECRET", hide_env_values = true, global = true)]
    pub webhook_secret: Option<Secret>,
    /// The wait after a failed webhook, in seconds; it doubles with each further failure (up
    /// to an hour).
    #[arg(
        long,
        env = "WEBHOOK_RETRY_SECONDS",
        default_value_t = 5,
        global = true
    )]
    pub webhook_retry_seconds: u64,
    /// Let webhooks reach loopback, private and link-local addresses. Only for development and
    /// tests with a receiver on this machine or network: off, an organisation's webhook can
    /// never reach inside.
    #[arg(
        long,
        env = "WEBHOOK_ALLOW_PRIVATE",
        default_value_t = false,
        action = clap::ArgAction::Set,
        global = true
    )]
    pub webhook_allow_private: bool,
}

/// Export files and their links.
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// Where export files are kept: unset for `<data-dir>/files`, `file:///PATH`, or
    /// `s3://BUCKET/PREFIX?endpoint=URL&region=REGION` (credentials from the AWS_* variables).
    #[arg(long, env = "FILE_STORE_URL", global = true)]
    pub file_store_url: Option<String>,
    /// The base of download links, as clients reach the service. Unset: the request's host.
    #[arg(long, env = "PUBLIC_BASE_URL", global = true)]
    pub public_base_url: Option<String>,
    /// How long a worker's claim on an export holds without renewal, in seconds.
    #[arg(
        long,
        env = "EXPORT_LEASE_SECONDS",
        default_value_t = 30,
        global = true
    )]
    pub export_lease_seconds: u64,
    /// How long export files (and their links) are kept, in hours.
    #[arg(
        long,
        env = "EXPORT_FILE_TTL_HOURS",
        default_value_t = 720,
        global = true
    )]
    pub export_file_ttl_hours: u64,
}

/// How to reach Bufdir.
#[derive(Debug, Clone, Args)]
pub struct BufdirArgs {
    /// Bufdir's external API. Unset: an in-process Bufdir sandbox stands in.
    #[arg(long, env = "BUFDIR_API_URL", global = true)]
    pub bufdir_api_url: Option<String>,
    /// How long `submit` waits for delivery before answering 202, in milliseconds.
    #[arg(
        long,
        env = "BUFDIR_SUBMIT_WAIT_MS",
        default_value_t = 10_000,
        global = true
    )]
    pub bufdir_submit_wait_ms: u64,
    /// Timeout of one call to Bufdir, in seconds.
    #[arg(
        long,
        env = "BUFDIR_TIMEOUT_SECONDS",
        default_value_t = 30,
        global = true
    )]
    pub bufdir_timeout_seconds: u64,
    /// How often a received submission's status is asked for, in seconds.
    #[arg(
        long,
        env = "BUFDIR_STATUS_POLL_SECONDS",
        default_value_t = 30,
        global = true
    )]
    pub bufdir_status_poll_seconds: u64,
}

impl BufdirArgs {
    pub fn settings(&self) -> workers::bufdir::BufdirSettings {
        let defaults = workers::bufdir::BufdirSettings::default();
        workers::bufdir::BufdirSettings {
            submit_wait: std::time::Duration::from_millis(self.bufdir_submit_wait_ms),
            status_poll_interval: std::time::Duration::from_secs(self.bufdir_status_poll_seconds),
            client: workers::bufdir::ClientSettings {
                timeout: std::time::Duration::from_secs(self.bufdir_timeout_seconds.max(1)),
                ..defaults.client.clone()
            },
            ..defaults
        }
    }
}

impl Common {
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose().to_string(),
            None => format!("sqlite://{}/bufdir.db", self.data_dir.display()),
        }
    }

    /// Whether this is the embedded default (no database and no event store configured).
    pub fn embedded(&self) -> bool {
        self.database_url.is_none() && self.eventstore_url.is_none()
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API with projections and workers in this process.
    Serve(ServeArgs),
    /// Run projections and workers without the API.
    Worker(WorkerArgs),
    /// Run the Bufdir sandbox alone: Bufdir's endpoints with test clients and fault injection.
    BufdirSandbox {
        /// Address to listen on.
        #[arg(long, env = "BUFDIR_SANDBOX_BIND", default_value = "127.0.0.1:8090")]
        bind: SocketAddr,
        #[command(flatten)]
        sandbox: SandboxArgs,
    },
    /// Manage read models.
    Projections {
        #[command(subcommand)]
        command: ProjectionsCommand,
    },
    /// Write the OpenAPI spec.
    Openapi {
        #[arg(long, default_value = "openapi/openapi.yaml")]
        output: PathBuf,
    },
    /// Mint a bearer token valid for this configuration.
    Token(TokenArgs),
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Check the service against its event log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Personal data in the log.
    Privacy {
        #[command(subcommand)]
        command: PrivacyCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum PrivacyCommand {
    /// Erase a data subject's personal data (a submission's contact person): the erasure is
    /// recorded in the log and their key destroyed, so every read and replay shows the data as
    /// erased. Refused while a retained report needs it, unless --force with a --reason.
    /// Exit code 0: erased; 1: refused; 2: could not run.
    Erase {
        /// The contact person's e-mail address (else name) as submitted, or a `subj_…` id.
        #[arg(long)]
        subject: String,
        /// Erase even though a retained report needs the data.
        #[arg(long, requires = "reason")]
        force: bool,
        /// Why (recorded in the log).
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "BUFDIR_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Register a demo organisation on start (the default for the embedded store).
    #[arg(long, overrides_with = "no_demo")]
    pub demo: bool,
    /// Start without demo data (the default with DATABASE_URL).
    #[arg(long)]
    pub no_demo: bool,
    /// Serve the API and projections only; `worker` processes do the work.
    #[arg(long)]
    pub no_workers: bool,
    /// The in-process Bufdir sandbox, used when BUFDIR_API_URL is unset.
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    /// Without BUFDIR_API_URL, start a Bufdir sandbox inside this worker. Off by default: a
    /// worker beside `serve` must send submissions where `serve` can follow them (Bufdir, or one
    /// shared `bufdir-sandbox`), and a private sandbox would swallow them.
    #[arg(long, env = "BUFDIR_WORKER_OWN_SANDBOX")]
    pub own_sandbox: bool,
    /// The in-process Bufdir sandbox, used with --own-sandbox when BUFDIR_API_URL is unset.
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

impl ServeArgs {
    pub fn demo(&self, embedded: bool) -> bool {
        if self.no_demo {
            false
        } else {
            self.demo || embedded
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ProjectionsCommand {
    /// Empty read models and replay the log into them: NAME, or all.
    Rebuild { name: Option<String> },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute every stream's hash chain and every seal of the log (in the database, or in an
    /// export with --from) and name the first broken link. Exit code 0: intact; 1: tampered;
    /// 2: the check could not run.
    Verify {
        /// Check this export (`audit export`) instead of the database; no database is opened.
        #[arg(long)]
        from: Option<std::path::PathBuf>,
        /// A seal's digest kept outside the system, as `audit seal` printed it
        /// (`POSITION:DIGEST`): the log up to POSITION must still give DIGEST. Repeatable.
        #[arg(long = "expect", value_name = "POSITION:DIGEST")]
        expect: Vec<String>,
    },
    /// Seal the log now (if anything was appended since the last seal) and print the seal, to
    /// be kept outside the system; with --print, print the newest seal without sealing.
    Seal {
        #[arg(long)]
        print: bool,
    },
    /// Write the log as JSON Lines, with every event's hash (seals are events of the log):
    /// a header line, then one event per line in position order.
    Export {
        #[arg(long)]
        to: std::path::PathBuf,
        /// The last position to include (default: the whole log).
        #[arg(long)]
        as_of: Option<i64>,
    },
    /// Rebuild every read model from the log into a fresh database and compare it, table by from the log into a fresh database and compare it, table by
    /// table and row by row, with the live read models (each up to its live checkpoint).
    /// Exit code 0: identical; 1: they differ; 2: the audit could not run.
    ///
    /// With --from FILE --as-of POSITION and --report or --snapshot: no database is compared.
    /// The export is verified, its events up to POSITION are replayed into a fresh database, and
    /// what the report (its figures, read as its export read them, and its Bufdir payload) or
    /// the snapshot showed at that position is printed as JSON.
    Replay {
        /// At most this many differences are shown per table (all are counted).
        #[arg(long, default_value_t = 20)]
        max_differences: usize,
        /// An export (`audit export`) to replay instead of the database.
        #[arg(long, requires = "as_of")]
        from: Option<std::path::PathBuf>,
        /// The log position to replay the export up to.
        #[arg(long, requires = "from")]
        as_of: Option<i64>,
        /// The report to show (with --from).
        #[arg(long, requires = "from", conflicts_with = "snapshot")]
        report: Option<String>,
        /// The snapshot to show (with --from).
        #[arg(long, requires = "from")]
        snapshot: Option<String>,
    },
}

#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// An organisation the token belongs to (repeatable). Admin tokens reach every organisation.
    #[arg(long = "org")]
    pub orgs: Vec<String>,
    /// A role (repeatable).
    #[arg(long = "role", value_enum, required = true)]
    pub roles: Vec<Role>,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 8 * 3600)]
    pub ttl: i64,
    /// The subject, recorded as the actor of every event the token causes.
    #[arg(long, default_value = "local-cli")]
    pub sub: String,
}
