//! An Excel workbook (`.xlsx`) request body, so organisations can send the sheet they keep
//! without exporting it to CSV first; `domain::workbook` reads its first sheet as CSV.

use bytes::Bytes;
use domain::workbook::{self, WorkbookError};
use poem::{FromRequest, Request, RequestBody};
use poem_openapi::payload::{Binary, ParsePayload, Payload};
use poem_openapi::registry::MetaSchemaRef;

use crate::http::body_limit::MAX_BODY_BYTES;
use crate::http::problem::{ApiError, FieldError};

pub const XLSX_CONTENT_TYPE: &str =
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

#[derive(Debug)]
pub struct Xlsx(pub Bytes);

impl Payload for Xlsx {
    const CONTENT_TYPE: &'static str = XLSX_CONTENT_TYPE;

    fn check_content_type(content_type: &str) -> bool {
        content_type
            .split(';')
            .next()
            .is_some_and(|ct| ct.trim().eq_ignore_ascii_case(XLSX_CONTENT_TYPE))
    }

    fn schema_ref() -> MetaSchemaRef {
        <Binary<Bytes> as Payload>::schema_ref()
    }
}

impl ParsePayload for Xlsx {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        // Read only once the caller is authorised, in the handler: here it is just bytes.
        Ok(Xlsx(Bytes::from_request(request, body).await?))
    }
}

/// The workbook's first sheet as `;`-separated CSV, header row first. A body that is not a
/// readable workbook is a 422 naming `body`: the spec allows any bytes, so refusing them is a
/// judgement, not a syntax error (a CSV body that is not UTF-8 breaks the spec's `string`, a
/// 400). One that unpacks to more than an import may hold is a 413.
pub async fn first_sheet_as_csv(body: Bytes) -> Result<String, ApiError> {
    let read =
        tokio::task::spawn_blocking(move || workbook::first_sheet_as_csv(&body, MAX_BODY_BYTES));
    match read.await.map_err(ApiError::internal)? {
        Ok(csv) => Ok(csv),
        Err(e @ WorkbookError::Unreadable(_)) => Err(ApiError::Unprocessable {
            detail: e.to_string(),
            errors: vec![FieldError::new(
                "body",
                "unreadable_workbook",
                e.to_string(),
            )],
        }),
        Err(e @ WorkbookError::TooLarge { .. }) => Err(ApiError::PayloadTooLarge(e.to_string())),
    }
}
