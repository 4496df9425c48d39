//! The id of the request being handled, for whatever on its task needs to name it (problem
//! documents, the metadata of the events it causes). `observe` sets it for each request.

use std::future::Future;
use std::sync::Arc;

pub const REQUEST_ID: &str = "x-request-id";

tokio::task_local! {
    static CURRENT: Arc<str>;
}

/// Runs `work` as the handling of request `id`.
pub async fn scope<F: Future>(id: String, work: F) -> F::Output {
    CURRENT.scope(Arc::from(id), work).await
}

/// The id of the request being handled on this task, if any.
pub fn request_id() -> Option<String> {
    CURRENT.try_with(|id| id.to_string()).ok()
}
