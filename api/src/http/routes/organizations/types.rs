//! What the organisation operations take and answer.

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};
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
}

impl From<OrganizationRow> for Organization {
    fn from(r: OrganizationRow) -> Self {
        Organization {
            org_id: r.org_id.into(),
            name: r.name,
            organisasjonsnummer: r.organisasjonsnummer,
            created_at: r.created_at.into(),
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
