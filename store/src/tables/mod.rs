//! The state beside the log: five small tables that are not projections. No event writes them,
//! a rebuild leaves them alone, and `audit replay` does not compare them. Each is here as a
//! typed repository, so that their SQL has one home (`docs/architecture.md`, "State beside the
//! log", says who owns each and why it is not events).
//!
//! - `idempotency_keys`: the first answer to a keyed request, replayed to its retries.
//! - `work_claims`: which worker process holds a piece of work for now.
//! - `bufdir_credentials`: organisations' Bufdir client secrets, encrypted.
//! - `webhook_endpoints`: where organisations' webhooks go, their signing secrets encrypted.
//! - `privacy_subjects`: the keys personal data in the log is encrypted under.

pub mod bufdir_credentials;
mod cipher;
pub mod idempotency_keys;
pub mod privacy_subjects;
mod secrets_by_org;
pub mod webhook_endpoints;
pub mod work_claims;

pub use cipher::{Cipher, NonceFrom};
