use clap::Parser;

use api::cli;
use api::config::{Cli, Command};

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
    }
}
