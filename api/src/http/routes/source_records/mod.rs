//! Source records (`/api/v1/source-records`): the organisations' own activity and case data,
//! imported as JSON, CSV or an Excel workbook in validated batches and listed back.

mod types;

use commands::source_records::{Answer, ImportSourceRecords};
use domain::source_records::{self as records, RawNumber, RawRecord, RecordError};
use domain::{PeriodId, schema};
use poem::Request;
use poem::web::Data;
use poem_openapi::OpenApi;
use poem_openapi::param::{Header, Query};
use poem_openapi::payload::Json;
use projections::report_queries;

use crate::http::access::{self, WRITERS};
use crate::http::auth::BearerAuth;
use crate::http::csv_payload::Csv;
use crate::http::problem::{ApiError, FieldError, ProblemResponse};
use crate::http::routes::{ApiTags, PageParams, metadata};
use crate::http::state::AppState;
use crate::http::text::{IdempotencyKeyText, OrgIdText, PeriodIdText, Text128};
use crate::http::xlsx_payload::{self, Xlsx};
use types::*;

pub struct SourceRecordsApi;

fn record_errors(errors: Vec<RecordError>) -> ApiError {
    ApiError::Unprocessable {
        detail: format!(
            "{} problem(s) in the records; nothing was stored",
            errors.len()
        ),
        errors: errors
            .into_iter()
            .map(|e| {
                let field = if e.field == "records" {
                    e.field
                } else {
                    format!("records/{}/{}", e.row, e.field)
                };
                FieldError::new(&field, e.code, e.message)
            })
            .collect(),
    }
}

/// Where a CSV or Excel import goes: tables carry only records, so the organisation and source
/// come as query parameters.
fn table_target(
    organization_id: Option<OrgIdText>,
    data_source: Option<Text128>,
) -> Result<(OrgIdText, Text128), ApiError> {
    let missing = |name: &str| {
        FieldError::new(
            name,
            "required",
            format!("{name} is a required query parameter for CSV and Excel bodies"),
        )
    };
    match (organization_id, data_source) {
        (Some(org), Some(source)) => Ok((org, source)),
        (org, source) => Err(ApiError::invalid(
            [
                org.is_none().then(|| missing("organization_id")),
                source.is_none().then(|| missing("data_source")),
            ]
            .into_iter()
            .flatten()
            .collect(),
        )),
    }
}

#[OpenApi(tag = "ApiTags::SourceRecords")]
impl SourceRecordsApi {
    /// Import source records
    ///
    /// Validates the whole batch first: an unknown metric, a negative value or a bad date is a
    /// 422 naming the row and field, and nothing of the batch is stored.
    #[oai(
        path = "/api/v1/source-records",
        method = "post",
        operation_id = "importSourceRecords"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn import(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        req: &Request,
        /// For CSV and Excel bodies: the organisation.
        organization_id: Query<Option<OrgIdText>>,
        /// For CSV and Excel bodies: the system the records come from.
        data_source: Query<Option<Text128>>,
        /// When to answer: `read_your_writes` (the default) once reads show the records;
        /// `commit` once the import is durably recorded, for bulk loaders that do not read their
        /// own writes (lists and snapshots then show it a moment later).
        consistency: Query<Option<ImportConsistency>>,
        /// Makes a retry safe: the same key and body get the first answer.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<IdempotencyKeyText>>,
        body: ImportBody,
    ) -> Result<Json<ImportResult>, ProblemResponse> {
        let caller = auth.0;
        caller.require_any(WRITERS)?;
        let (org, source, raw) = match body {
            ImportBody::Json(Json(body)) => {
                let raw = body
                    .records
                    .into_iter()
                    .map(|r| RawRecord {
                        record_id: r.record_id.0,
                        occurred_on: r.occurred_on.0,
                        metric: r.metric.0,
                        value: RawNumber::Number(r.value),
                        hours: r.hours.map(RawNumber::Number),
                    })
                    .collect();
                (body.organization_id, body.data_source, raw)
            }
            ImportBody::Csv(Csv(text)) => {
                let (org, source) = table_target(organization_id.0, data_source.0)?;
                (
                    org,
                    source,
                    records::parse_csv(&text).map_err(record_errors)?,
                )
            }
            ImportBody::Xlsx(Xlsx(workbook)) => {
                let (org, source) = table_target(organization_id.0, data_source.0)?;
                let text = xlsx_payload::first_sheet_as_csv(workbook).await?;
                (
                    org,
                    source,
                    records::parse_csv(&text).map_err(record_errors)?,
                )
            }
        };
        let org_id = access::org(&state, &caller, &org).await?;
        let source = source.trim().to_string();
        if source.is_empty() || source.len() > 128 {
            return Err(ApiError::invalid(vec![FieldError::new(
                "data_source",
                "invalid_data_source",
                "data_source is 1 to 128 characters",
            )])
            .into());
        }
        let records = records::validate(raw, schema::bufdir_2025_v2()).map_err(record_errors)?;
        let imported = commands::source_records::import(
            &state.commands,
            &metadata(&caller, req),
            ImportSourceRecords {
                org_id: org_id.clone(),
                data_source: source.clone(),
                records,
            },
            match consistency.0.unwrap_or_default() {
                ImportConsistency::ReadYourWrites => Answer::WhenReadable,
                ImportConsistency::Commit => Answer::AtCommit,
            },
        )
        .await?;
        Ok(Json(ImportResult {
            import_id: imported.import_id,
            organization_id: org_id.to_string(),
            data_source: source,
            records_imported: imported.records,
            periods: imported.periods.iter().map(ToString::to_string).collect(),
        }))
    }

    /// List source records
    ///
    /// Any role of the organisation. `period_id` keeps records dated within it.
    #[oai(
        path = "/api/v1/source-records",
        method = "get",
        operation_id = "listSourceRecords"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        organization_id: Query<OrgIdText>,
        /// A year (`2024`) or quarter (`2024-Q1`): records dated within it.
        period_id: Query<Option<PeriodIdText>>,
        metric: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))] page: Query<
            Option<u32>,
        >,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] limit: Query<Option<u32>>,
    ) -> Result<Json<SourceRecordList>, ProblemResponse> {
        let caller = auth.0;
        let org_id = access::org(&state, &caller, &organization_id.0).await?;
        let period = period_id
            .0
            .as_deref()
            .map(|p| {
                PeriodId::parse(p).map_err(|e| {
                    ApiError::invalid(vec![FieldError::new(
                        "period_id",
                        "invalid_period",
                        e.to_string(),
                    )])
                })
            })
            .transpose()?;
        let params = PageParams::new(page.0, limit.0);
        let found = report_queries::source_records(
            &state.db.read,
            org_id.as_str(),
            period.as_ref(),
            metric.0.as_deref(),
            params.rows(),
        )
        .await?;
        let (data, pagination) = params.page_of(found);
        Ok(Json(SourceRecordList { data, pagination }))
    }
}
