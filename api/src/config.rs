//! Configuration from flags and environment. Every setting has a default that works on a fresh
//! machine (the embedded SQLite store under `./data`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::auth::Role;

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
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,
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
    pub jwt_secret: Option<String>,
}

impl Common {
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}/bufdir.db", self.data_dir.display()))
    }

    /// Whether this is the embedded default (no database configured).
    pub fn embedded(&self) -> bool {
        self.database_url.is_none()
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
    Worker,
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
