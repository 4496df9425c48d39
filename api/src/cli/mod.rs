//! The `bufdir-reporting` binary: its flags (`config`), the one composition root every
//! subcommand opens the service through (`compose`), and the subcommands. `main.rs` only parses
//! and hands over here.

mod audit;
pub mod compose;
pub mod config;
pub mod demo;
mod logging;
mod maintenance;
mod privacy;
pub mod progress;
mod service;

use std::process::ExitCode;

use compose::Root;
use config::{Cli, Command};

/// How a subcommand that checks something ended: `Clean` (exit 0) or with a `Finding` (exit 1:
/// the log was tampered with, the read models differ, an erasure was refused). A subcommand that
/// could not run exits 2 when it is one of those checks, else 1.
pub enum Verdict {
    Clean,
    Finding,
}

/// Runs the subcommand and answers the process's exit code.
pub async fn run(args: Cli) -> ExitCode {
    logging::init(args.common.log_format);
    let root = Root::new(&args.common);
    let checked = match &args.command {
        Command::Serve(serve) => service::serve(&root, serve).await,
        Command::Worker(worker) => service::worker(&root, worker).await,
        Command::BufdirSandbox { bind, sandbox } => service::bufdir_sandbox(*bind, sandbox).await,
        Command::Projections { command } => maintenance::projections(&root, command).await,
        Command::Openapi { output } => maintenance::openapi(output),
        Command::Token(token) => maintenance::token(&root, token),
        Command::Migrate => maintenance::migrate(&root).await,
        Command::Audit { command } => {
            return checked(audit::run(&root, command).await, "audit failed");
        }
        Command::Privacy { command } => {
            return checked(privacy::run(&root, command).await, "privacy erase failed");
        }
    };
    match checked {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:?}");
            ExitCode::FAILURE
        }
    }
}

fn checked(verdict: anyhow::Result<Verdict>, failed: &str) -> ExitCode {
    match verdict {
        Ok(Verdict::Clean) => ExitCode::SUCCESS,
        Ok(Verdict::Finding) => ExitCode::from(1),
        Err(e) => {
            eprintln!("{failed}: {e:#}");
            ExitCode::from(2)
        }
    }
}
