use chrono::{SubsecRound, Utc};
use domain::organization::{OrgName, Organization as OrgAggregate, OrganizationCommand};
use domain::{OrgId, OrgNumber};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use projections::organizations::{self as read, OrganizationRow};

use crate::auth::{BearerAuth, Role};
use crate::problem::{ApiError, FieldError, ProblemResponse};
use crate::routes::{ApiTags, PageParams, Pagination, metadata};
use crate::state::AppState;
use crate::text::{NameText, OrgIdText, OrgNumberText};
use crate::wire::Timestamp;

pub struct OrganizationsApi;

#[derive(Debug, Object)]
pub struct CreateOrganization {
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
            org_id: r.org_id,
            name: r.name,
            organisasjonsnummer: r.organisasjonsnummer,
            created_at: r.created_at.into(),
        }
    }
}

#[derive(Debug, Object)]
pub struct OrganizationList {
    pub data: Vec<Organization>,
    pub pagination: Pagination,
}

#[derive(ApiResponse)]
pub enum Created {
    /// Registered.
    #[oai(status = 201)]
    Created(Json<Organization>, #[oai(header = "Location")] String),
}

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
        #[oai(
            name = "Idempotency-Key",
            validator(min_length = 1, max_length = 255, pattern = r"^[!-~]{1,255}$")
        )]
        _idempotency_key: Header<Option<String>>,
        body: Json<CreateOrganization>,
    ) -> Result<Created, ProblemResponse> {
        let caller = auth.0;
        caller.require_any(&[Role::Admin])?;
        let (org_id, name, number) = parse(&body)?;
        let stream = OrgAggregate::stream(&org_id);
        // Microseconds: what the read model keeps, so the answer equals a later GET.
        let now = Utc::now().trunc_subsecs(6);
        let executed = commands::execute::<OrgAggregate>(
            state.db.events.as_ref(),
            &stream,
            &metadata(&caller, req),
            || OrganizationCommand::Register {
                org_id: org_id.clone(),
                name: name.clone(),
                organisasjonsnummer: number.clone(),
                now,
            },
        )
        .await
        .map_err(ApiError::from)?;
        if let Some(outcome) = executed.outcome {
            state.wait_for(read::NAME, &outcome.position).await?;
        }
        let org = Organization {
            org_id: org_id.to_string(),
            name: name.as_str().to_string(),
            organisasjonsnummer: number.to_string(),
            created_at: now.into(),
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
        let caller = auth.0;
        let params = PageParams::new(page.0, limit.0);
        let visible = caller.visible();
        let (rows, total) = read::list(
            &state.db.read,
            visible,
            params.offset(),
            u64::from(params.limit),
        )
        .await
        .map_err(ApiError::internal)?;
        Ok(Json(OrganizationList {
            data: rows.into_iter().map(Into::into).collect(),
            pagination: params.pagination(total),
        }))
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
        let found = read::get(&state.db.read, &org_id.0)
            .await
            .map_err(ApiError::internal)?;
        let row = auth.0.scope(&org_id.0, found, "organisation")?;
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
