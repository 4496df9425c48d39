//! Sign-off before submission (`/api/v1/organizations/{org_id}/sign-offs/{period_id}`): the
//! people who answer for a report approve the exact payload that would be sent. With a policy
//! (`PUT .../approval-policy`), `POST /api/v1/bufdir-api/submit` takes only a payload whose
//! digest the standing approvals name.

mod types;

use commands::signoff::{self as command, ApproveReport, PAYLOAD_VERSION};
use domain::PeriodId;
use poem::Request;
use poem::web::Data;
use poem_openapi::ApiResponse;
use poem_openapi::OpenApi;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;

use crate::http::access::org as visible_org;
use crate::http::auth::{BearerAuth, Role};
use crate::http::problem::{ApiError, FieldError, ProblemResponse};
use crate::http::routes::{ApiTags, metadata};
use crate::http::state::AppState;
pub use types::*;

/// Who may approve.
const SIGNERS: &[Role] = &[Role::Approver, Role::Auditor];

pub struct SignOffsApi;

fn period(id: &str) -> Result<PeriodId, ApiError> {
    PeriodId::parse(id).map_err(|e| {
        ApiError::invalid(vec![FieldError::new(
            "period_id",
            "invalid_period",
            e.to_string(),
        )])
    })
}

#[derive(ApiResponse)]
pub(crate) enum Withdrawn {
    /// Withdrawn.
    #[oai(status = 204)]
    Done,
}

#[OpenApi(tag = "ApiTags::Organizations")]
impl SignOffsApi {
    /// A report's sign-off
    ///
    /// Any role of the organisation. The payload the figures of the period make now, with its
    /// digest; the organisation's policy; every approval given (standing, withdrawn, voided);
    /// and who is still needed before it may be submitted.
    #[oai(
        path = "/api/v1/organizations/:org_id/sign-offs/:period_id",
        method = "get",
        operation_id = "getSignOff"
    )]
    async fn get(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        org_id: Path<String>,
        period_id: Path<String>,
    ) -> Result<Json<SignOff>, ProblemResponse> {
        let caller = auth.0;
        let org = visible_org(&state, &caller, &org_id.0).await?;
        let period = period(&period_id.0)?;
        let view = command::view(&state.commands, &org, &period).await?;
        let (ready, missing, voided_reason) = missing_of(&view.check);
        Ok(Json(SignOff {
            org_id: org.to_string(),
            period_id: period.to_string(),
            policy: view.policy.into(),
            payload_version: PAYLOAD_VERSION.into(),
            payload_digest: view.current.digest,
            payload: view.current.payload,
            ready,
            missing,
            voided_reason,
            approvals: view.approvals.into_iter().map(Into::into).collect(),
        }))
    }

    /// Approve a report
    ///
    /// Needs the `approver` or `auditor` role, in the role named. Approves the payload whose
    /// `payload_digest` the caller was shown (`GET .../sign-offs/{period_id}`); if the figures
    /// changed meanwhile, 409. One person counts once, whatever roles they hold: approving the
    /// same payload again answers their standing approval. Whoever made the last import or
    /// correction of these figures cannot approve them (409).
    #[oai(
        path = "/api/v1/organizations/:org_id/sign-offs/:period_id/approvals",
        method = "post",
        operation_id = "approveReport"
    )]
    async fn approve(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        req: &Request,
        org_id: Path<String>,
        period_id: Path<String>,
        body: Json<Approve>,
    ) -> Result<ApproveResponse, ProblemResponse> {
        let caller = auth.0;
        let org = visible_org(&state, &caller, &org_id.0).await?;
        caller.require_any(SIGNERS)?;
        let period = period(&period_id.0)?;
        let body = body.0;
        let mut errors = vec![];
        if let Some(comment) = &body.comment {
            comment.check("comment", &mut errors);
        }
        if !errors.is_empty() {
            return Err(ApiError::invalid(errors).into());
        }
        let before = projections::signoffs::of_report(&state.db.read, &org, &period).await?;
        let approval_id = command::approve(
            &state.commands,
            &metadata(&caller, req),
            ApproveReport {
                org_id: org.clone(),
                period_id: period,
                signer: caller.signer(),
                role: body.role.into(),
                held: caller.signer_roles(),
                digest: body.payload_digest,
                comment: body
                    .comment
                    .map(String::from)
                    .filter(|c| !c.trim().is_empty()),
            },
        )
        .await?;
        let rows = projections::signoffs::of_report(&state.db.read, &org, &period).await?;
        let row = rows
            .into_iter()
            .find(|r| r.approval_id == approval_id)
            .ok_or_else(|| {
                ApiError::Unavailable("the approval is being recorded; retry shortly".into())
            })?;
        let existed = before.iter().any(|r| r.approval_id == approval_id);
        Ok(if existed {
            ApproveResponse::Existing(Json(row.into()))
        } else {
            ApproveResponse::Created(Json(row.into()))
        })
    }

    /// Withdraw one's approval
    ///
    /// Only the person who gave it, while it stands; anything else is a 404.
    #[oai(
        path = "/api/v1/organizations/:org_id/sign-offs/:period_id/approvals/:approval_id",
        method = "delete",
        operation_id = "withdrawApproval"
    )]
    async fn withdraw(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        req: &Request,
        org_id: Path<String>,
        period_id: Path<String>,
        approval_id: Path<String>,
    ) -> Result<Withdrawn, ProblemResponse> {
        let caller = auth.0;
        let org = visible_org(&state, &caller, &org_id.0).await?;
        caller.require_any(SIGNERS)?;
        let period = period(&period_id.0)?;
        command::withdraw(
            &state.commands,
            &metadata(&caller, req),
            &org,
            &period,
            &approval_id.0,
            caller.signer(),
        )
        .await?;
        Ok(Withdrawn::Done)
    }
}
