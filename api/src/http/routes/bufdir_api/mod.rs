//! The Bufdir API gateway: validate a payload, exchange client credentials, submit (through the
//! outbox, see `workers::bufdir_delivery`) and follow a submission's status.

mod types;

use chrono::Utc;
use domain::bufdir_payload;
use poem::Request;
use poem::web::Data;
use poem_openapi::OpenApi;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use projections::submissions::{self, SubmissionRow};
use workers::bufdir::wire::Credentials;

use crate::http::access;
use crate::http::auth::{BearerAuth, Caller, Role};
use crate::http::problem::{ApiError, FieldError, ProblemResponse};
use crate::http::routes::{ApiTags, metadata};
use crate::http::state::AppState;
use crate::http::text::IdempotencyKeyText;
use commands::submissions::{self as command, SubmitToBufdir};
pub use types::*;

pub struct BufdirApi;

/// Who may talk to Bufdir in an organisation's name.
const SUBMITTERS: &[Role] = &[Role::Reporter, Role::Admin, Role::Service];

fn receipt(row: SubmissionRow, warnings: Vec<String>) -> SubmissionReceipt {
    SubmissionReceipt {
        submission_reference_id: row.reference_id,
        status: row.status.into(),
        submitted_at: row.submitted_at.map(Into::into),
        bufdir_confirmation: row.confirmation,
        submission_id: row.submission_id,
        report_id: row.report_id,
        org_id: row.org_id.into(),
        attempts: row.attempts,
        last_error: row.last_error,
        warnings,
    }
}

fn status_location(submission_id: &str) -> String {
    format!("/api/v1/bufdir-api/submission-status/{submission_id}")
}

/// The organisation a call is for: the one named, or the caller's only one.
fn chosen_org(caller: &Caller, named: Option<String>) -> Result<String, ApiError> {
    match (named, caller.claims.orgs.as_slice()) {
        (Some(org), _) => Ok(org),
        (None, [only]) => Ok(only.clone()),
        (None, _) => Err(ApiError::invalid(vec![FieldError::new(
            "org_id",
            "required",
            "name the organisation: the token belongs to more or fewer than one",
        )])),
    }
}

#[OpenApi(tag = "ApiTags::BufdirApi")]
impl BufdirApi {
    /// Validate an export payload against Bufdir schema before submission
    ///
    /// The same validator Bufdir's sandbox and our submissions use. Always 200: the verdict is in
    /// `is_valid`, with each error and warning pointing into the request.
    #[oai(
        path = "/api/v1/bufdir-api/validate-payload",
        method = "post",
        operation_id = "validateBufdirPayload"
    )]
    async fn validate_payload(
        &self,
        _auth: BearerAuth,
        body: Json<ValidatePayload>,
    ) -> Result<Json<ValidationResult>, ProblemResponse> {
        let v = bufdir_payload::validate(
            &body.payload_version,
            &body.payload.0,
            Utc::now().date_naive(),
        );
        Ok(Json(ValidationResult {
            is_valid: v.is_valid(),
            payload_version: body.0.payload_version.0,
            errors: v.errors.iter().map(Into::into).collect(),
            warnings: v.warnings.iter().map(|w| w.message_en.clone()).collect(),
            warning_details: v.warnings.iter().map(Into::into).collect(),
        }))
    }

    /// Authenticate against the Bufdir external API
    ///
    /// Exchanges the organisation's Bufdir client credentials for a token. Accepted credentials
    /// are kept sealed for delivering submissions, and the token is cached until shortly before
    /// it expires; neither is written to the event log, which records only that it happened.
    /// Wrong credentials are a 401. Needs `reporter`, `admin` or `service`; `org_id` may be left
    /// out (as in the contract) when the token belongs to exactly one organisation.
    #[oai(
        path = "/api/v1/bufdir-api/authenticate",
        method = "post",
        operation_id = "authenticateBufdir"
    )]
    async fn authenticate(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        req: &Request,
        body: Json<Authenticate>,
    ) -> Result<AuthenticateResponse, ProblemResponse> {
        let caller = auth.0;
        caller.require_any(SUBMITTERS)?;
        let body = body.0;
        let org = access::org(
            &state,
            &caller,
            &chosen_org(&caller, body.org_id.map(String::from))?,
        )
        .await?;
        let mut errors = vec![];
        body.client_id.check("client_id", &mut errors);
        body.client_secret.check("client_secret", &mut errors);
        if !errors.is_empty() {
            return Err(ApiError::invalid(errors).into());
        }
        let credentials = Credentials {
            client_id: body.client_id.0,
            client_secret: body.client_secret.0.into(),
        };
        let token = state
            .services
            .bufdir
            .authenticate(org.as_str(), &credentials)
            .await?;
        command::record_authentication(
            &state.commands,
            &metadata(&caller, req),
            &org,
            credentials.client_id.clone(),
            token.expires_in,
        )
        .await?;
        Ok(AuthenticateResponse::Ok(
            Json(BufdirToken {
                access_token: token.access_token.expose().to_string(),
                token_type: token.token_type,
                expires_in: token.expires_in,
                issued_at: token.issued_at.into(),
                org_id: org.as_str().to_string(),
            }),
            // A token is a secret: no cache may keep it, nor the idempotency store.
            "no-store".into(),
        ))
    }

    /// Submit a validated export payload to Bufdir
    ///
    /// Validates first (422 with the validator's errors; nothing is sent). Delivery goes through
    /// an outbox with retries, so a Bufdir outage delays a submission but never loses or
    /// duplicates it: 200 when Bufdir received it within the wait, otherwise 202 with a
    /// `Location` to follow. Needs `reporter`, `admin` or `service`, a registered organisation
    /// whose `organisasjonsnummer` the payload carries, and its Bufdir credentials first
    /// (`POST /authenticate`; 409 until then). A `report_id` that names one of our reports or
    /// exports must be the organisation's own.
    #[oai(
        path = "/api/v1/bufdir-api/submit",
        method = "post",
        operation_id = "submitToBufdir"
    )]
    async fn submit(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        req: &Request,
        /// Makes a retry safe: the same key and body get the first answer.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<IdempotencyKeyText>>,
        body: Json<Submit>,
    ) -> Result<SubmitResponse, ProblemResponse> {
        let caller = auth.0;
        caller.require_any(SUBMITTERS)?;
        let body = body.0;
        let org = access::org(&state, &caller, &body.org_id).await?;
        let submitted = command::submit(
            &state.commands,
            &metadata(&caller, req),
            SubmitToBufdir {
                org_id: org,
                report_id: body.report_id.0,
                payload_version: body.payload_version.0,
                payload: body.payload.0,
            },
        )
        .await?;
        let v = submitted.validation;
        let row = submitted.submission;
        let warnings = v.warnings.iter().map(|w| w.message_en.clone()).collect();
        if row.status == domain::submission::SubmissionStatus::Pending {
            let location = status_location(&row.submission_id);
            Ok(SubmitResponse::Accepted(
                Json(receipt(row, warnings)),
                location,
            ))
        } else {
            Ok(SubmitResponse::Delivered(Json(receipt(row, warnings))))
        }
    }

    /// Check status of a previously submitted Bufdir report
    ///
    /// Takes Bufdir's reference or our submission id (`sub_...`, from a 202's `Location`).
    /// A worker keeps the status current by asking Bufdir until it is final.
    #[oai(
        path = "/api/v1/bufdir-api/submission-status/:reference_id",
        method = "get",
        operation_id = "getBufdirSubmissionStatus"
    )]
    async fn submission_status(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        reference_id: Path<String>,
        /// The status as it stood at a log position (`position:N`) or a moment (RFC 3339):
        /// read from the log.
        as_of: Query<Option<String>>,
    ) -> Result<Json<SubmissionStatusView>, ProblemResponse> {
        let id = reference_id.0;
        let found = if id.starts_with("sub_") {
            submissions::by_id(&state.db.read, &id).await
        } else {
            submissions::by_reference(&state.db.read, &id).await
        }?;
        let org = found
            .as_ref()
            .map(|r| r.org_id.to_string())
            .unwrap_or_default();
        let mut row = auth.0.scope(&org, found, "submission")?;
        if let Some(text) = as_of.0.as_deref() {
            let then = commands::submissions::as_of(
                &state.commands,
                &row.org_id,
                &row.report_id,
                &row.submission_id,
                crate::http::routes::parse_as_of(text)?,
            )
            .await?
            .ok_or_else(|| {
                ApiError::NotFound(format!(
                    "submission {} did not exist at {text}",
                    row.submission_id
                ))
            })?;
            row.status = then.status;
            row.reference_id = then.reference_id;
            row.submitted_at = then.submitted_at;
            row.confirmation = then.confirmation;
            row.processed_at = then.processed_at;
            row.notes = then.notes;
            row.attempts = then.attempts;
            row.next_attempt_at = then.next_attempt_at;
            row.last_error = then.last_error;
        }
        Ok(Json(SubmissionStatusView {
            reference_id: row.reference_id,
            status: row.status.into(),
            submitted_at: row.submitted_at.map(Into::into),
            processed_at: row.processed_at.map(Into::into),
            notes: row.notes,
            submission_id: row.submission_id,
            report_id: row.report_id,
            org_id: row.org_id.into(),
            payload_version: row.payload_version,
            requested_at: row.requested_at.into(),
            attempts: row.attempts,
            next_attempt_at: row.next_attempt_at.map(Into::into),
            last_error: row.last_error,
        }))
    }
}
