//! The HTTP service. Handlers are thin: parse, authorise, run a command or query a read model,
//! map errors to problem+json.

pub mod access;
pub mod app;
pub mod auth;
pub mod body_limit;
pub mod cors;
pub(crate) mod csv_payload;
pub(crate) mod empty_query;
pub mod feed_signing;
pub mod file_refs;
pub(crate) mod http_semantics;
pub mod idempotency;
pub mod metrics;
pub(crate) mod observe;
pub mod pages;
pub mod pagination;
pub(crate) mod path_template;
pub mod problem;
pub(crate) mod rejections;
pub mod request_id;
pub mod routes;
pub mod spec;
pub mod state;
pub mod text;
pub mod watch;
pub mod wire;
pub mod xlsx_payload;
