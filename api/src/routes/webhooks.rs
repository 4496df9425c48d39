//! Where an organisation's completion webhooks go (`/api/v1/organizations/{org_id}/webhook`).
//! Setting one makes a new signing secret, shown in that answer only: store it, and check the
//! `Bufdir-Signature` header of each webhook with it. Without one, the service-wide endpoint
//! (`WEBHOOK_URL`) is used.

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use crate::auth::{BearerAuth, Role};
use crate::problem::{ApiError, FieldError, ProblemResponse};
use crate::routes::ApiTags;
use crate::routes::source_records::visible_org;
use crate::state::AppState;
use crate::text::UrlText;
use workers::webhooks::TargetError;

pub struct WebhooksApi;

#[derive(Debug, Object)]
pub struct SetWebhook {
    /// `https://…` (or `http://…`). It must resolve to public addresses only: loopback,
    /// private, link-local and metadata addresses are refused (422), when it is set and again
    /// each time a webhook is sent; redirects are not followed.
    pub url: UrlText,
}

#[derive(Debug, Object)]
pub struct WebhookSet {
    pub org_id: String,
    pub url: String,
    /// The HMAC-SHA256 key of `Bufdir-Signature: t=<unix>,v1=<hex>` (over `<t>.<body>`).
    /// Shown once.
    pub secret: String,
}

#[derive(Debug, Object)]
pub struct WebhookInfo {
    pub org_id: String,
    pub url: String,
}

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
        state
            .services
            .webhooks
            .check_target(&url)
            .await
            .map_err(|e| {
                let code = match e {
                    TargetError::NotHttp => "invalid_url",
                    TargetError::Unresolvable(..) => "unresolvable_url",
                    TargetError::Internal(_) | TargetError::ResolvesInternal(..) => "internal_url",
                };
                ApiError::invalid(vec![FieldError::new("url", code, e.to_string())])
            })?;
        let endpoint = state
            .services
            .webhooks
            .endpoints
            .save(org.as_str(), &url)
            .await
            .map_err(ApiError::internal)?;
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
        let endpoint = state
            .services
            .webhooks
            .endpoints
            .own(org.as_str())
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| {
                ApiError::NotFound("the organisation has no webhook of its own".into())
            })?;
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
        let webhooks = &state.services.webhooks.endpoints;
        let endpoint = webhooks
            .own(org.as_str())
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| {
                ApiError::NotFound("the organisation has no webhook of its own".into())
            })?;
        webhooks
            .remove(org.as_str())
            .await
            .map_err(ApiError::internal)?;
        Ok(Json(WebhookInfo {
            org_id: org.to_string(),
            url: endpoint.url,
        }))
    }
}
