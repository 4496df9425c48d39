//! The `api` binary: one executable for the service, its workers and its tools (serve, worker,
//! projections, audit, privacy, token, openapi, migrate), so a deployment ships one file.

use clap::Parser;

use api::cli;
use api::config::{Cli, Command};

// glibc's allocator took about a tenth of a cheap request's CPU time under load (per-request
// headers, futures and JSON); mimalloc's thread-local free lists make that a fraction.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Cli::parse();
    cli::init_logging(args.common.log_format);
    let common = &args.common;
    match &args.command {
        Command::Serve(serve) => cli::serve(common, serve).await,
        Command::Worker(worker) => cli::worker(common, worker).await,
        Command::BufdirSandbox { bind, sandbox } => cli::bufdir_sandbox(*bind, sandbox).await,
        Command::Projections { command } => cli::projections(common, command).await,
        Command::Openapi { output } => cli::openapi(output),
        Command::Token(token) => cli::token(common, token),
        Command::Migrate => cli::migrate(common).await,
        Command::Audit { command } => std::process::exit(cli::audit(common, command).await),
        Command::Privacy { command } => std::process::exit(cli::privacy(common, command).await),
    }
}
