//! The HTTP API (poem + poem-openapi) and the `bufdir-reporting` binary's commands. Handlers are
//! thin: parse, authorise, run a command or query a read model, map errors to problem+json.

pub mod access;
pub mod app;
pub mod audit;
pub mod auth;
pub mod body_limit;
pub mod cli;
pub mod config;
pub mod cors;
pub mod csv_payload;
pub mod demo;
pub mod file_refs;
pub mod http_semantics;
pub mod idempotency;
mod idempotency_keys;
pub mod metrics;
pub mod observe;
pub mod pages;
pub mod pagination;
pub mod problem;
pub mod progress;
pub mod rejections;
pub mod routes;
pub mod sandbox;
pub mod spec;
pub mod state;
pub mod text;
pub mod watch;
pub mod wire;
pub mod xlsx_payload;
