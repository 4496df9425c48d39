//! What the sign-off operations take and answer.

use domain::signoff::{ApprovalStatus, Requirement, SignOffCheck};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object};
use projections::signoffs::ApprovalRow;

use crate::http::routes::organizations::{ApprovalPolicyView, ApprovalRequirement, ApprovalRole};
use crate::http::text::UpTo1000;
use crate::http::wire::Timestamp;

/// Where an approval stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ApprovalState {
    /// It counts for the payload it names.
    Standing,
    /// Its signer took it back.
    Withdrawn,
    /// The figures changed after it was given; `void_reason` says how.
    Voided,
}

impl From<ApprovalStatus> for ApprovalState {
    fn from(s: ApprovalStatus) -> Self {
        match s {
            ApprovalStatus::Standing => ApprovalState::Standing,
            ApprovalStatus::Withdrawn => ApprovalState::Withdrawn,
            ApprovalStatus::Voided => ApprovalState::Voided,
        }
    }
}

/// One approval of a report.
#[derive(Debug, Clone, Object)]
pub struct ApprovalView {
    pub approval_id: String,
    pub role: ApprovalRole,
    /// The signer's subject (`sub`), and the identity provider that vouched for it.
    pub subject: String,
    #[oai(nullable)]
    pub issuer: Option<String>,
    #[oai(nullable)]
    pub comment: Option<String>,
    /// The digest of the payload approved (`payload_digest` of the sign-off it was given on).
    pub payload_digest: String,
    pub approved_at: Timestamp,
    pub status: ApprovalState,
    /// When it was withdrawn or voided.
    #[oai(nullable)]
    pub ended_at: Option<Timestamp>,
    #[oai(nullable)]
    pub void_reason: Option<String>,
}

impl From<ApprovalRow> for ApprovalView {
    fn from(r: ApprovalRow) -> Self {
        ApprovalView {
            approval_id: r.approval_id,
            role: r.role.into(),
            subject: r.subject,
            issuer: r.issuer,
            comment: r.comment,
            payload_digest: r.digest,
            approved_at: r.approved_at.into(),
            status: r.status.into(),
            ended_at: r.ended_at.map(Into::into),
            void_reason: r.void_reason,
        }
    }
}

/// A report's sign-off: what would be submitted now, who approved it, and who is still needed.
#[derive(Debug, Object)]
pub struct SignOff {
    pub org_id: String,
    pub period_id: String,
    pub policy: ApprovalPolicyView,
    pub payload_version: String,
    /// SHA-256 (hex) over the payload version and the canonically serialised payload: what an
    /// approval names, and what a submission must match.
    pub payload_digest: String,
    /// The Bufdir payload the figures make now: exactly what an approval approves.
    pub payload: serde_json::Value,
    /// Whether the payload may be submitted now (always, without a policy).
    pub ready: bool,
    /// Who is still needed; empty when ready.
    pub missing: Vec<ApprovalRequirement>,
    /// Why earlier approvals no longer count, when they were voided.
    #[oai(nullable)]
    pub voided_reason: Option<String>,
    /// Every approval given, oldest first.
    pub approvals: Vec<ApprovalView>,
}

/// What an approval approves.
#[derive(Debug, Object)]
pub(crate) struct Approve {
    /// The role the caller approves in (`approver` or `auditor`; they must hold it).
    pub role: ApprovalRole,
    /// The `payload_digest` of the sign-off the caller looked at: an approval of figures that
    /// changed meanwhile is refused with 409.
    pub payload_digest: String,
    pub comment: Option<UpTo1000>,
}

#[derive(ApiResponse)]
pub(crate) enum ApproveResponse {
    /// Approved.
    #[oai(status = 201)]
    Created(Json<ApprovalView>),
    /// The caller had approved this payload already: their standing approval.
    #[oai(status = 200)]
    Existing(Json<ApprovalView>),
}

pub(crate) fn missing_of(check: &SignOffCheck) -> (bool, Vec<ApprovalRequirement>, Option<String>) {
    match check {
        SignOffCheck::NotRequired | SignOffCheck::Approved(_) => (true, vec![], None),
        SignOffCheck::Missing { missing, voided } => (
            false,
            missing.iter().copied().map(Requirement::into).collect(),
            voided.clone(),
        ),
    }
}
