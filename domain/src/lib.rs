//! The domain: pure rules with no IO, no async and no clock. Aggregates decide which events a
//! command produces and evolve their state from events; anything from outside (the time, facts
//! looked up elsewhere) arrives inside the command.

pub mod aggregate;
pub mod aggregation;
pub mod bufdir_access;
pub mod bufdir_payload;
pub mod calendar;
pub mod export;
pub mod export_request;
pub mod file_key;
pub mod locale;
pub mod org_id;
pub mod org_number;
pub mod organization;
pub mod period;
pub mod privacy;
pub mod reexport;
pub mod reminders;
pub mod report;
pub mod report_data;
pub mod report_history;
pub mod report_payload;
pub mod schema;
pub mod signoff;
pub mod snapshot_history;
pub mod source_import;
pub mod source_records;
pub(crate) mod stored_name;
pub mod submission;
pub mod submission_history;
pub mod testing;
pub mod workbook;

pub use aggregate::{Aggregate, DecodeError, decode_event, encode_event};
pub use bufdir_payload::Issue;
pub use file_key::FileKey;
pub use locale::Locale;
pub use org_id::OrgId;
pub use org_number::OrgNumber;
pub use period::PeriodId;
