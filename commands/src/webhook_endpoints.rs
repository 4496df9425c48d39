//! SetWebhookEndpoint, RemoveWebhookEndpoint: where an organisation's completion webhooks go.
//! Not events: the endpoint carries a signing secret, which must never reach the log
//! (`store::tables::webhook_endpoints`). Setting one makes a new secret, answered once.

use domain::OrgId;
use store::tables::webhook_endpoints::{EndpointsError, StoredEndpoint, WebhookEndpoints};

/// A fresh signing secret: 32 random bytes, hex, with a prefix that says what it is.
fn new_secret() -> String {
    format!("whsec_{}", hex::encode(rand::random::<[u8; 32]>()))
}

/// Sets the organisation's endpoint to `url` (already checked as a webhook target) with a new
/// secret, which is answered: it is shown once.
pub async fn set(
    endpoints: &WebhookEndpoints,
    org: &OrgId,
    url: &str,
) -> Result<StoredEndpoint, EndpointsError> {
    let secret = new_secret();
    endpoints.save(org.as_str(), url, &secret).await?;
    Ok(StoredEndpoint {
        url: url.to_string(),
        secret,
    })
}

/// The organisation's own endpoint, if it set one.
pub async fn own(
    endpoints: &WebhookEndpoints,
    org: &OrgId,
) -> Result<Option<StoredEndpoint>, EndpointsError> {
    endpoints.find(org.as_str()).await
}

/// Removes the organisation's own endpoint; answers the one removed.
pub async fn remove(
    endpoints: &WebhookEndpoints,
    org: &OrgId,
) -> Result<Option<StoredEndpoint>, EndpointsError> {
    let Some(endpoint) = endpoints.find(org.as_str()).await? else {
        return Ok(None);
    };
    endpoints.remove(org.as_str()).await?;
    Ok(Some(endpoint))
}
