//! `/`: what this service is and where to go from here, for a person. Programs asking for JSON
//! keep the problem document every unknown path answers.

use poem::error::NotFoundError;
use poem::http::header;
use poem::web::Data;
use poem::{Request, Response, handler};

/// What the front door says about this deployment.
#[derive(Debug, Clone)]
pub struct Site {
    /// The event store's backend (`sqlite`, `postgres`, `eventstoredb`).
    pub store: &'static str,
    /// Where submissions go.
    pub bufdir_url: String,
    /// Whether that is the sandbox this process started, not Bufdir.
    pub sandbox: bool,
}

/// A browser names `text/html` in `Accept`; API clients and tools do not.
fn wants_html(req: &Request) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[handler]
pub fn index(req: &Request, site: Data<&Site>) -> poem::Result<Response> {
    if !wants_html(req) {
        return Err(NotFoundError.into());
    }
    let store = match site.store {
        "sqlite" => "SQLite (embedded)",
        "postgres" => "PostgreSQL",
        other => other,
    };
    let bufdir = if site.sandbox {
        format!(
            "the Bufdir sandbox in this process (<code>{}</code>): nothing reaches Bufdir",
            escape(&site.bufdir_url)
        )
    } else {
        format!("Bufdir's API at <code>{}</code>", escape(&site.bufdir_url))
    };
    let page = include_str!("../../../assets/front_door.html")
        .replace("{{store}}", store)
        .replace("{{bufdir}}", &bufdir)
        .replace("{{version}}", env!("CARGO_PKG_VERSION"));
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-cache")
        .header("X-Content-Type-Options", "nosniff")
        .body(page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_text_cannot_become_markup() {
        assert_eq!(
            escape(r#"http://x/"><script>"#),
            "http://x/&quot;&gt;&lt;script&gt;"
        );
    }
}
