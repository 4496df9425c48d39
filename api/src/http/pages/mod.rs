//! The pages people open in a browser: the front door (`/`) and the live report preview
//! (`/preview`). Everything they need is compiled into the binary, so they work offline and
//! behind any proxy; the preview talks to the public API like any other client.

mod front_door;

use std::sync::Arc;

use poem::http::{Method, header};
use poem::{Endpoint, IntoResponse, Request, Response, handler};

pub use front_door::{Site, index};

/// A page's assets change only with the binary; a short cache keeps a redeploy visible.
const CACHE: &str = "public, max-age=300";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, CACHE)
        .header("X-Content-Type-Options", "nosniff")
        .body(body)
}

/// Serves `/` itself and hands every other request on.
pub(crate) async fn front_door_first<E: Endpoint>(
    ep: Arc<E>,
    req: Request,
) -> poem::Result<Response> {
    if req.uri().path() == "/" && matches!(*req.method(), Method::GET | Method::HEAD) {
        return index.call(req).await;
    }
    ep.call(req).await.map(IntoResponse::into_response)
}

#[handler]
pub fn preview() -> Response {
    Response::builder()
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        // The token arrives on the URL once and is moved out by the page's script: no referrer
        // may carry it elsewhere meanwhile, and nothing but our own script runs.
        .header("Referrer-Policy", "no-referrer")
        .header(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        )
        .header(header::CACHE_CONTROL, "no-cache")
        .body(include_str!("../../../assets/preview/index.html"))
}

#[handler]
pub(crate) fn preview_js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../../assets/preview/preview.js"),
    )
}

#[handler]
pub(crate) fn preview_css() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("../../../assets/preview/preview.css"),
    )
}
