//! Imports of source records. There is no invariant across imports beyond each batch being
//! valid (checked before anything is recorded), so imports append to the organisation's stream
//! without an aggregate: a re-sent `record_id` replaces the earlier record downstream.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::OrgId;
use crate::source_records::SourceRecord;

pub const CATEGORY: &str = "sourcedata";

pub fn stream(org_id: &OrgId) -> String {
    format!("{CATEGORY}-{org_id}")
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event_type", content = "payload")]
pub enum SourceDataEvent {
    SourceRecordsImported {
        import_id: String,
        org_id: OrgId,
        /// The system the records came from (`fagsystem-cis`).
        data_source: String,
        records: Vec<SourceRecord>,
        imported_at: DateTime<Utc>,
    },
}
