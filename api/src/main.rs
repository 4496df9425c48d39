//! `bufdir-reporting`: one executable for the service, its workers and its tools, so a
//! deployment ships one file. What each subcommand does is in `api::cli`.

use std::process::ExitCode;

use clap::Parser;

// glibc's allocator took about a tenth of a cheap request's CPU time under load (per-request
// headers, futures and JSON); mimalloc's thread-local free lists make that a fraction.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    api::cli::run(api::cli::config::Cli::parse()).await
}
