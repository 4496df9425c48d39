//! A `text/csv` request body, so CSV imports are a documented content type of the same
//! operation as JSON imports rather than a second endpoint.

use poem::{FromRequest, Request, RequestBody};
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::MetaSchemaRef;
use poem_openapi::types::Type;

#[derive(Debug)]
pub struct Csv(pub String);

impl Payload for Csv {
    const CONTENT_TYPE: &'static str = "text/csv";

    fn check_content_type(content_type: &str) -> bool {
        content_type
            .split(';')
            .next()
            .is_some_and(|ct| ct.trim().eq_ignore_ascii_case("text/csv"))
    }

    fn schema_ref() -> MetaSchemaRef {
        String::schema_ref()
    }
}

impl ParsePayload for Csv {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        // A body that is not UTF-8 is a 400 from String's extractor.
        Ok(Csv(String::from_request(request, body).await?))
    }
}
