//! What the source-record operations take and answer.

use poem_openapi::payload::Json;
use poem_openapi::{ApiRequest, Object};
use projections::report_queries::SourceRecordRow;

use crate::http::csv_payload::Csv;
use crate::http::routes::Pagination;
use crate::http::text::{DayText, MetricText, OrgIdText, RecordIdText, Text128};
use crate::http::wire::Timestamp;
use crate::http::xlsx_payload::Xlsx;

#[derive(Debug, Object)]
pub(crate) struct ImportRecords {
    pub organization_id: OrgIdText,
    /// The system the records come from, e.g. `fagsystem-cis`.
    pub data_source: Text128,
    /// Up to 10 000 records. A `record_id` sent before replaces that record.
    pub records: Vec<RecordInput>,
}

#[derive(Debug, Object)]
pub(crate) struct RecordInput {
    pub record_id: RecordIdText,
    /// ISO date, `YYYY-MM-DD`.
    pub occurred_on: DayText,
    /// A metric of the reporting schema.
    pub metric: MetricText,
    pub value: f64,
    #[oai(nullable)]
    pub hours: Option<f64>,
}

#[derive(ApiRequest)]
pub(crate) enum ImportBody {
    /// The records as JSON.
    Json(Json<ImportRecords>),
    /// UTF-8 CSV with a header row (`record_id`, `occurred_on`, `metric`, `value`, `hours`),
    /// `;` or `,` separated, decimal comma accepted; `organization_id` and `data_source` are then
    /// query parameters.
    Csv(Csv),
    /// An Excel workbook: its first sheet is read as the CSV would be, first row the header with
    /// the same columns; dates may be Excel dates or text. `organization_id` and `data_source`
    /// are then query parameters.
    Xlsx(Xlsx),
}

#[derive(Debug, Object)]
pub(crate) struct ImportResult {
    pub import_id: String,
    pub organization_id: String,
    pub data_source: String,
    pub records_imported: u64,
    /// Every period (years and quarters) the records fall in.
    pub periods: Vec<String>,
}

#[derive(Debug, Object)]
pub(crate) struct SourceRecordView {
    pub record_id: String,
    pub occurred_on: String,
    pub metric: String,
    pub value: f64,
    #[oai(nullable)]
    pub hours: Option<f64>,
    pub data_source: String,
    pub imported_at: Timestamp,
}

impl From<SourceRecordRow> for SourceRecordView {
    fn from(r: SourceRecordRow) -> Self {
        SourceRecordView {
            record_id: r.record_id,
            occurred_on: r.occurred_on.to_string(),
            metric: r.metric,
            value: r.value,
            hours: r.hours,
            data_source: r.data_source,
            imported_at: r.imported_at.into(),
        }
    }
}

#[derive(Debug, Object)]
pub(crate) struct SourceRecordList {
    pub data: Vec<SourceRecordView>,
    pub pagination: Pagination,
}

/// When an import is answered (`consistency`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, poem_openapi::Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum ImportConsistency {
    /// Once reads show the records: a list or snapshot right after sees them.
    #[default]
    ReadYourWrites,
    /// Once the import is durably recorded; reads show it a moment later.
    Commit,
}
