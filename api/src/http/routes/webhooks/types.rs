//! What the webhook operations take and answer.

use poem_openapi::Object;

use crate::http::text::UrlText;

#[derive(Debug, Object)]
pub(crate) struct SetWebhook {
    /// `https://…` (or `http://…`). It must resolve to public addresses only: loopback,
    /// private, link-local and metadata addresses are refused (422), when it is set and again
    /// each time a webhook is sent; redirects are not followed.
    pub url: UrlText,
}

#[derive(Debug, Object)]
pub(crate) struct WebhookSet {
    pub org_id: String,
    pub url: String,
    /// The HMAC-SHA256 key of `Bufdir-Signature: t=<unix>,v1=<hex>` (over `<t>.<body>`).
    /// Shown once.
    pub secret: String,
}

#[derive(Debug, Object)]
pub(crate) struct WebhookInfo {
    pub org_id: String,
    pub url: String,
}
