//! Bufdir's external API as we speak it: paths and bodies. No public Bufdir API specification
//! exists, so this is the contract our client and our sandbox share; `docs/bufdir-sandbox.md`
//! describes it for people who integrate.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::secret::Secret;

pub const AUTHENTICATE: &str = "/v1/authenticate";
pub const SUBMISSIONS: &str = "/v1/submissions";
pub const VALIDATE: &str = "/v1/validate";
/// Sent with every submission; Bufdir files a submission once per key.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Credentials {
    pub client_id: String,
    pub client_secret: Secret,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: Secret,
    pub token_type: String,
    pub expires_in: u64,
    pub issued_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubmitRequest {
    pub payload_version: String,
    pub payload: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubmitResponse {
    pub submission_reference_id: String,
    pub status: String,
    pub submitted_at: DateTime<Utc>,
    pub bufdir_confirmation: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusResponse {
    pub reference_id: String,
    pub status: String,
    pub submitted_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
    pub notes: Option<String>,
}

/// What Bufdir says when it refuses a request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub error: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<serde_json::Value>,
}
