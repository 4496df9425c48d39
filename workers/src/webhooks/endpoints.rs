//! Where an organisation's webhooks go: its own endpoint (set through the API, kept in
//! `webhook_endpoints`), else the service-wide one (`WEBHOOK_URL`, `WEBHOOK_SECRET`).

use store::tables::webhook_endpoints::{EndpointsError, WebhookEndpoints};

use crate::secret::Secret;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub url: String,
    pub secret: Secret,
}

pub(super) async fn for_org(
    own: &WebhookEndpoints,
    global: Option<&Endpoint>,
    org_id: &str,
) -> Result<Option<Endpoint>, EndpointsError> {
    Ok(match own.find(org_id).await? {
        Some(stored) => Some(Endpoint {
            url: stored.url,
            secret: stored.secret.into(),
        }),
        None => global.cloned(),
    })
}
