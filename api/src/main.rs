//! `bufdir-reporting`: one executable for the service, its workers and its tools, so a
//! deployment ships one file. What each subcommand does is in `api::cli`.

// The HTTP service's type (every API, wrapped in each middleware) is deeper than the compiler's
// default limit of 128 allows the release build to lay out.
#![recursion_limit = "256"]

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
