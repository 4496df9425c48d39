//! What the organisation operations take and answer.

use domain::signoff::{ApprovalPolicy, Requirement, SignerRole};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object};
use projections::organizations::OrganizationRow;

use crate::http::pagination::Pagination;
use crate::http::text::{NameText, OrgIdText, OrgNumberText};
use crate::http::wire::Timestamp;

#[derive(Debug, Object)]
pub(crate) struct CreateOrganization {
    /// Opaque id, `^[a-z0-9][a-z0-9_-]{1,63}$`.
    pub org_id: OrgIdText,
    pub name: NameText,
    /// Nine digits with a valid MOD11 check digit.
    pub organisasjonsnummer: OrgNumberText,
}

#[derive(Debug, Clone, Object)]
pub struct Organization {
    pub org_id: String,
    pub name: String,
    pub organisasjonsnummer: String,
    pub created_at: Timestamp,
    /// Who must approve a report before it may be submitted to Bufdir.
    pub approval_policy: ApprovalPolicyView,
}

impl From<OrganizationRow> for Organization {
    fn from(r: OrganizationRow) -> Self {
        Organization {
            org_id: r.org_id.into(),
            name: r.name,
            organisasjonsnummer: r.organisasjonsnummer,
            created_at: r.created_at.into(),
            approval_policy: r.approval_policy.unwrap_or_default().into(),
        }
    }
}

/// A role whose approval a policy may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ApprovalRole {
    /// The daily manager or the board chair, who answers for the report.
    Approver,
    /// The auditor who confirms it (an ISRS 4400 check).
    Auditor,
}

impl From<ApprovalRole> for SignerRole {
    fn from(r: ApprovalRole) -> Self {
        match r {
            ApprovalRole::Approver => SignerRole::Approver,
            ApprovalRole::Auditor => SignerRole::Auditor,
        }
    }
}

impl From<SignerRole> for ApprovalRole {
    fn from(r: SignerRole) -> Self {
        match r {
            SignerRole::Approver => ApprovalRole::Approver,
            SignerRole::Auditor => ApprovalRole::Auditor,
        }
    }
}

/// How many distinct people of a role must approve.
#[derive(Debug, Clone, Object)]
pub struct ApprovalRequirement {
    pub role: ApprovalRole,
    /// 1 to 5.
    #[oai(validator(minimum(value = "1"), maximum(value = "5")))]
    pub count: u32,
}

impl From<Requirement> for ApprovalRequirement {
    fn from(r: Requirement) -> Self {
        ApprovalRequirement {
            role: r.role.into(),
            count: r.count,
        }
    }
}

/// An approval policy: each role at most once. No requirements: reports are submitted without
/// sign-off.
#[derive(Debug, Clone, Object)]
pub struct ApprovalPolicyView {
    pub requirements: Vec<ApprovalRequirement>,
}

impl From<ApprovalPolicy> for ApprovalPolicyView {
    fn from(p: ApprovalPolicy) -> Self {
        ApprovalPolicyView {
            requirements: p.requirements().iter().copied().map(Into::into).collect(),
        }
    }
}

#[derive(Debug, Object)]
pub(crate) struct OrganizationList {
    pub data: Vec<Organization>,
    pub pagination: Pagination,
}

#[derive(ApiResponse)]
pub enum Created {
    /// Registered.
    #[oai(status = 201)]
    Created(Json<Organization>, #[oai(header = "Location")] String),
}
