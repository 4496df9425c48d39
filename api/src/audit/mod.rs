//! Auditing the service against its event log: which organisation an event belongs to (for the
//! audit API), and `audit replay`, which checks that the read models are what the log makes.

pub mod chain;
pub mod event_org;
pub mod offline;
pub mod replay;
mod scratch;
mod table_diff;

pub use table_diff::{Difference, TableDiff};
