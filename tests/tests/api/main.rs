//! Black-box tests of the API: the real application on a random port, real HTTP, a fresh
//! database per test.

mod helpers;

mod audit;
mod auth;
mod bufdir;
mod contract_replay;
mod cors;
mod deadlines;
mod docs_and_health;
mod errors;
mod exports;
mod file_refs;
mod idempotency;
mod metrics;
mod oidc;
mod organizations;
mod pages;
mod privacy;
mod projections;
mod read_cache;
mod reexports;
mod report_data;
mod report_diffs;
mod report_history;
mod sign_off;
mod source_records;
mod source_records_excel;
mod sse;
mod tenancy;
mod watch;
mod webhook_targets;
