//! Black-box tests of the API: the real application on a random port, real HTTP, a fresh
//! database per test.

mod helpers;

mod auth;
mod bufdir;
mod docs_and_health;
mod errors;
mod exports;
mod idempotency;
mod organizations;
mod projections;
mod report_data;
mod source_records;
mod sse;
mod watch;
