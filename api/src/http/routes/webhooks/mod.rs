//! Where an organisation's completion webhooks go (`/api/v1/organizations/{org_id}/webhook`).
//! Setting one makes a new signing secret, shown in that answer only: store it, and check the
//! `Bufdir-Signature` header of each webhook with it. Without one, the service-wide endpoint
//! (`WEBHOOK_URL`) is used.

mod types;

use poem::web::Data;
use poem_openapi::OpenApi;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;

use crate::http::access::org as visible_org;
use crate::http::auth::{BearerAuth, Role};
use crate::http::problem::{ApiError, ProblemResponse};
use crate::http::routes::ApiTags;
use crate::http::state::AppState;
use types::*;

pub struct WebhooksApi;

#[OpenApi(tag = "ApiTags::ReportReexports")]
impl WebhooksApi {
    /// Set the organisation's webhook endpoint
    ///
    /// Needs the `admin` role. Answers with a new signing secret; the old one stops working.
    #[oai(
        path = "/api/v1/organizations/:org_id/webhook",
        method = "put",
        operation_id = "setWebhook"
    )]
    async fn set(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        org_id: Path<String>,
        body: Json<SetWebhook>,
    ) -> Result<Json<WebhookSet>, ProblemResponse> {
        let caller = auth.0;
        let org = visible_org(&state, &caller, &org_id.0).await?;
        caller.require_any(&[Role::Admin])?;
        let url = body.0.url.trim().to_string();
        state.services.webhooks.check_target(&url).await?;
        let endpoints = &state.services.webhooks.endpoints;
        let endpoint = commands::webhook_endpoints::set(endpoints, &org, &url).await?;
        Ok(Json(WebhookSet {
            org_id: org.to_string(),
            url: endpoint.url,
            secret: endpoint.secret,
        }))
    }

    /// The organisation's webhook endpoint (without its secret)
    ///
    /// Needs the `admin` role. 404 while the organisation has no webhook of its own.
    #[oai(
        path = "/api/v1/organizations/:org_id/webhook",
        method = "get",
        operation_id = "getWebhook"
    )]
    async fn get(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        org_id: Path<String>,
    ) -> Result<Json<WebhookInfo>, ProblemResponse> {
        let caller = auth.0;
        let org = visible_org(&state, &caller, &org_id.0).await?;
        caller.require_any(&[Role::Admin])?;
        let endpoints = &state.services.webhooks.endpoints;
        let endpoint = commands::webhook_endpoints::own(endpoints, &org)
            .await?
            .ok_or_else(no_webhook)?;
        Ok(Json(WebhookInfo {
            org_id: org.to_string(),
            url: endpoint.url,
        }))
    }

    /// Remove the organisation's webhook endpoint
    ///
    /// Webhooks then go to the service-wide endpoint, if one is configured.
    #[oai(
        path = "/api/v1/organizations/:org_id/webhook",
        method = "delete",
        operation_id = "deleteWebhook"
    )]
    async fn delete(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        org_id: Path<String>,
    ) -> Result<Json<WebhookInfo>, ProblemResponse> {
        let caller = auth.0;
        let org = visible_org(&state, &caller, &org_id.0).await?;
        caller.require_any(&[Role::Admin])?;
        let endpoints = &state.services.webhooks.endpoints;
        let endpoint = commands::webhook_endpoints::remove(endpoints, &org)
            .await?
            .ok_or_else(no_webhook)?;
        Ok(Json(WebhookInfo {
            org_id: org.to_string(),
            url: endpoint.url,
        }))
    }
}

fn no_webhook() -> ApiError {
    ApiError::NotFound("the organisation has no webhook of its own".into())
}
