//! ImportSourceRecords: a batch of an organisation's records, appended to its source-data
//! stream. Imports never conflict with one another (a re-sent record replaces the earlier one
//! when aggregated), so they append without an expected version.

use chrono::Utc;
use domain::source_import::{self, SourceDataEvent};
use domain::source_records::SourceRecord;
use domain::{OrgId, PeriodId, encode_event};
use projections::report_data;
use store::{ExpectedVersion, Metadata, StoreError};

use crate::{Ctx, id_for, request_event};

pub struct ImportSourceRecords {
    pub org_id: OrgId,
    pub data_source: String,
    pub records: Vec<SourceRecord>,
}

/// What an import recorded.
pub struct Imported {
    pub import_id: String,
    pub records: u64,
    /// Every period (years and quarters) the records fall in.
    pub periods: Vec<PeriodId>,
}

/// When an import is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Answer {
    /// Once the read models have the records (read-your-writes): the default.
    #[default]
    WhenReadable,
    /// Once the import is durably recorded in the log; reads may not show it for a moment.
    AtCommit,
}

pub async fn import(
    ctx: &Ctx,
    metadata: &Metadata,
    command: ImportSourceRecords,
    answer: Answer,
) -> Result<Imported, StoreError> {
    let mut periods: Vec<PeriodId> = command
        .records
        .iter()
        .flat_map(|r| PeriodId::containing(r.occurred_on))
        .collect();
    periods.sort();
    periods.dedup();
    let import_id = id_for("imp", metadata);
    let records = command.records.len() as u64;
    let event = SourceDataEvent::SourceRecordsImported {
        import_id: import_id.clone(),
        org_id: command.org_id.clone(),
        data_source: command.data_source,
        records: command.records,
        imported_at: Utc::now(),
    };
    let (event_type, payload) = encode_event(&event);
    let outcome = ctx
        .db
        .events
        .append(
            &source_import::stream(&command.org_id),
            ExpectedVersion::Any,
            vec![request_event("imp-event", event_type, payload, metadata)],
        )
        .await?;
    if answer == Answer::WhenReadable {
        // Both read models of records answer reads right after an import: the figures, and
        // what the import changed in them (diffs).
        ctx.settle(report_data::NAME, &outcome.position).await;
        ctx.settle(projections::figure_changes::NAME, &outcome.position)
            .await;
    }
    Ok(Imported {
        import_id,
        records,
        periods,
    })
}
