//! Exports: rendering a report to a file.

pub mod as_of;
pub mod data;
pub mod document;
pub mod expiry;
pub mod job;
pub mod render;
