//! The organisations that report to Bufdir (`/api/v1/organizations`): registered by an admin,
//! each the owner of everything else.

mod types;

use commands::organizations::{self as command, RegisterOrganization};
use domain::organization::OrgName;
use domain::{OrgId, OrgNumber};
use poem::Request;
use poem::web::Data;
use poem_openapi::OpenApi;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use projections::organizations as read;

use crate::http::access::ADMINS;
use crate::http::auth::BearerAuth;
use crate::http::problem::{ApiError, FieldError, ProblemResponse};
use crate::http::routes::{ApiTags, PageParams, metadata};
use crate::http::state::AppState;
use crate::http::text::IdempotencyKeyText;
pub use types::*;

pub struct OrganizationsApi;

#[OpenApi(tag = "ApiTags::Organizations")]
impl OrganizationsApi {
    /// Register an organisation
    ///
    /// Needs the `admin` role. The organisation number is checked with its MOD11 check digit.
    #[oai(
        path = "/api/v1/organizations",
        method = "post",
        operation_id = "createOrganization"
    )]
    async fn create(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        req: &Request,
        /// Makes a retry safe: the same key and body get the first answer.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<IdempotencyKeyText>>,
        body: Json<CreateOrganization>,
    ) -> Result<Created, ProblemResponse> {
        let caller = auth.0;
        caller.require_any(ADMINS)?;
        let (org_id, name, number) = parse(&body)?;
        let registered = command::register(
            &state.commands,
            &metadata(&caller, req),
            RegisterOrganization {
                org_id: org_id.clone(),
                name: name.clone(),
                organisasjonsnummer: number.clone(),
            },
        )
        .await?;
        let org = Organization {
            org_id: org_id.to_string(),
            name: name.as_str().to_string(),
            organisasjonsnummer: number.to_string(),
            created_at: registered.into(),
            approval_policy: domain::signoff::ApprovalPolicy::default().into(),
        };
        let location = format!("/api/v1/organizations/{org_id}");
        Ok(Created::Created(Json(org), location))
    }

    /// List organisations
    ///
    /// Admins see every organisation; others see those in their token.
    #[oai(
        path = "/api/v1/organizations",
        method = "get",
        operation_id = "listOrganizations"
    )]
    async fn list(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// Page number, from 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
        page: Query<Option<u32>>,
        /// Items per page (default 20, at most 100).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<OrganizationList>, ProblemResponse> {
        let params = PageParams::new(page.0, limit.0);
        let found = read::list(&state.db.read, auth.0.visible(), params.rows()).await?;
        let (data, pagination) = params.page_of(found);
        Ok(Json(OrganizationList { data, pagination }))
    }

    /// Get an organisation
    ///
    /// Any role of the organisation (admins: every organisation); another organisation's is a 404.
    #[oai(
        path = "/api/v1/organizations/:org_id",
        method = "get",
        operation_id = "getOrganization"
    )]
    async fn get(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        org_id: Path<String>,
    ) -> Result<Json<Organization>, ProblemResponse> {
        let found = crate::http::access::organization(&state, &org_id.0).await?;
        let row = auth.0.scope(&org_id.0, found, "organisation")?;
        Ok(Json(row.into()))
    }

    /// Set the organisation's approval policy
    ///
    /// Needs the `admin` role. Which roles must approve a report before it may be submitted to
    /// Bufdir, and how many distinct people of each (one person counts once, whatever roles
    /// they hold). An empty list: reports are submitted without sign-off. Answers the
    /// organisation with its policy.
    #[oai(
        path = "/api/v1/organizations/:org_id/approval-policy",
        method = "put",
        operation_id = "setApprovalPolicy"
    )]
    async fn set_approval_policy(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        req: &Request,
        org_id: Path<String>,
        body: Json<ApprovalPolicyView>,
    ) -> Result<Json<Organization>, ProblemResponse> {
        let caller = auth.0;
        let org = crate::http::access::org(&state, &caller, &org_id.0).await?;
        caller.require_any(ADMINS)?;
        let policy = domain::signoff::ApprovalPolicy::new(
            body.0
                .requirements
                .into_iter()
                .map(|r| domain::signoff::Requirement {
                    role: r.role.into(),
                    count: r.count,
                })
                .collect(),
        )
        .map_err(|e| {
            ApiError::invalid(vec![FieldError::new(
                "requirements",
                "invalid_policy",
                e.to_string(),
            )])
        })?;
        command::set_approval_policy(&state.commands, &metadata(&caller, req), &org, policy)
            .await?;
        let row = read::get(&state.db.read, org.as_str())
            .await?
            .ok_or_else(|| ApiError::Unavailable("the organisation is being updated".into()))?;
        Ok(Json(row.into()))
    }
}

fn parse(body: &CreateOrganization) -> Result<(OrgId, OrgName, OrgNumber), ApiError> {
    let mut errors = Vec::new();
    let org_id = OrgId::parse(&body.org_id)
        .map_err(|e| errors.push(FieldError::new("org_id", "invalid_org_id", e.to_string())));
    let name = OrgName::parse(&body.name)
        .map_err(|e| errors.push(FieldError::new("name", "invalid_name", e.to_string())));
    let number = OrgNumber::parse(&body.organisasjonsnummer).map_err(|e| {
        let code = match e {
            domain::org_number::InvalidOrgNumber::Format => "invalid_format",
            domain::org_number::InvalidOrgNumber::CheckDigit => "invalid_check_digit",
        };
        errors.push(FieldError::new("organisasjonsnummer", code, e.to_string()))
    });
    match (org_id, name, number) {
        (Ok(a), Ok(b), Ok(c)) => Ok((a, b, c)),
        _ => Err(ApiError::invalid(errors)),
    }
}
