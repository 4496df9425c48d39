//! What the Bufdir operations take and answer.

use domain::bufdir_payload::Issue;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};

use crate::http::text::{AnyText, OrgIdText, PayloadVersionText, ReportIdText, Text200, Text1000};
use crate::http::wire::{RequiredJson, Timestamp};

#[derive(Debug, Object)]
pub(crate) struct ValidatePayload {
    /// The payload's schema version; `bufdir_2025_v2` is the current one.
    pub payload_version: AnyText,
    /// `organisasjonsnummer`, `rapporteringsperiode`, `aktiviteter[{kategori, antall, timer}]`,
    /// `kontaktperson {navn, epost, telefon}` (recommended) and the schema's fields as `felter`.
    pub payload: RequiredJson,
}

/// One finding of the validator.
#[derive(Debug, Clone, Object)]
pub(crate) struct ValidationIssue {
    /// A JSON pointer into the request (`/payload/aktiviteter/0/timer`).
    pub field: String,
    /// Stable and machine-readable (`invalid_organisasjonsnummer`, `duplicate_category`, ...).
    pub code: String,
    /// In English.
    pub message: String,
    /// The same in Norwegian (bokmål).
    pub message_nb: String,
    /// The same in Norwegian (nynorsk).
    pub message_nn: String,
}

impl From<&Issue> for ValidationIssue {
    fn from(i: &Issue) -> Self {
        ValidationIssue {
            field: i.pointer.clone(),
            code: i.code.to_string(),
            message: i.message_en.clone(),
            message_nb: i.message_nb.clone(),
            message_nn: i.message_nn.clone(),
        }
    }
}

#[derive(Debug, Object)]
pub(crate) struct ValidationResult {
    pub is_valid: bool,
    pub payload_version: String,
    pub errors: Vec<ValidationIssue>,
    /// The warnings' messages, in English.
    pub warnings: Vec<String>,
    /// The warnings with pointer, code and the message in every language.
    pub warning_details: Vec<ValidationIssue>,
}

#[derive(Debug, Object)]
pub(crate) struct Authenticate {
    /// The organisation's Bufdir client id.
    pub client_id: Text200,
    #[oai(write_only)]
    pub client_secret: Text1000,
    /// The organisation the credentials belong to. May be left out by callers who belong to
    /// exactly one organisation.
    #[oai(nullable)]
    pub org_id: Option<OrgIdText>,
}

#[derive(Debug, Object)]
pub(crate) struct BufdirToken {
    pub access_token: String,
    pub token_type: String,
    /// Seconds from `issued_at`.
    pub expires_in: u64,
    pub issued_at: Timestamp,
    pub org_id: String,
}

#[derive(ApiResponse)]
pub(crate) enum AuthenticateResponse {
    /// Bufdir accepted the credentials; they are kept (sealed) for delivering submissions.
    #[oai(status = 200)]
    Ok(Json<BufdirToken>, #[oai(header = "Cache-Control")] String),
}

#[derive(Debug, Object)]
pub struct Submit {
    /// Submitting the same report with the same payload again answers with the first
    /// submission; another payload is a 409 unless Bufdir rejected or refused the last one.
    pub report_id: ReportIdText,
    pub org_id: OrgIdText,
    pub payload_version: PayloadVersionText,
    pub payload: RequiredJson,
}

/// Where a submission is: `pending` (not yet delivered), `received` (Bufdir is processing it),
/// `accepted`, `rejected`, or `failed` (Bufdir refused to take it; see `last_error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, poem_openapi::Enum)]
#[oai(rename_all = "snake_case")]
pub enum SubmissionStatus {
    Pending,
    Received,
    Accepted,
    Rejected,
    Failed,
}

impl From<domain::submission::SubmissionStatus> for SubmissionStatus {
    fn from(status: domain::submission::SubmissionStatus) -> Self {
        use domain::submission::SubmissionStatus as S;
        match status {
            S::Pending => SubmissionStatus::Pending,
            S::Received => SubmissionStatus::Received,
            S::Accepted => SubmissionStatus::Accepted,
            S::Rejected => SubmissionStatus::Rejected,
            S::Failed => SubmissionStatus::Failed,
        }
    }
}

#[derive(Debug, Object)]
pub struct SubmissionReceipt {
    /// Bufdir's reference; null until delivered.
    #[oai(nullable)]
    pub submission_reference_id: Option<String>,
    pub status: SubmissionStatus,
    #[oai(nullable)]
    pub submitted_at: Option<Timestamp>,
    #[oai(nullable)]
    pub bufdir_confirmation: Option<String>,
    /// Our id of the submission; `submission-status` takes it as well as Bufdir's reference.
    pub submission_id: String,
    pub report_id: String,
    pub org_id: String,
    pub attempts: u32,
    #[oai(nullable)]
    pub last_error: Option<String>,
    pub warnings: Vec<String>,
}

#[derive(ApiResponse)]
pub enum SubmitResponse {
    /// Delivered to Bufdir (or this report was delivered before with the same payload).
    #[oai(status = 200)]
    Delivered(Json<SubmissionReceipt>),
    /// Accepted but not yet delivered within the wait; it will be, exactly once. Follow
    /// `Location`.
    #[oai(status = 202)]
    Accepted(Json<SubmissionReceipt>, #[oai(header = "Location")] String),
}

#[derive(Debug, Object)]
pub(crate) struct SubmissionStatusView {
    /// Bufdir's reference; null until delivered.
    #[oai(nullable)]
    pub reference_id: Option<String>,
    pub status: SubmissionStatus,
    #[oai(nullable)]
    pub submitted_at: Option<Timestamp>,
    #[oai(nullable)]
    pub processed_at: Option<Timestamp>,
    #[oai(nullable)]
    pub notes: Option<String>,
    pub submission_id: String,
    pub report_id: String,
    pub org_id: String,
    pub payload_version: String,
    pub requested_at: Timestamp,
    pub attempts: u32,
    #[oai(nullable)]
    pub next_attempt_at: Option<Timestamp>,
    #[oai(nullable)]
    pub last_error: Option<String>,
}
