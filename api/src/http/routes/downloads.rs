//! Downloads of export and report files through signed, expiring links. The link is the credential (a
//! browser or a mail client follows it without a bearer token), so it is checked in full: the
//! HMAC covers the path and the expiry, and a tampered or expired link is a 403.

use chrono::Utc;
use domain::FileKey;
use poem::http::StatusCode;
use poem::web::{Data, Path, Query};
use poem::{Body, Response, handler};
use projections::{exports, reports};
use serde::Deserialize;
use workers::export::render::Format;
use workers::files::LinkError;

use crate::http::problem::ApiError;
use crate::http::state::AppState;

/// The path a link signs.
pub fn path(export_id: &str) -> String {
    format!("/api/v1/bufdir-exports/{export_id}/file")
}

#[derive(Deserialize)]
pub struct Signed {
    expires: Option<i64>,
    signature: Option<String>,
}

fn forbidden(detail: &str) -> ApiError {
    ApiError::Forbidden(detail.into())
}

/// A reference recorded before references were checked may name another organisation's file;
/// it is never served.
fn foreign(key: &str) -> ApiError {
    tracing::error!(%key, "a recorded file lies outside its organisation; not served");
    ApiError::NotFound("the file is no longer available".into())
}

/// A header-safe `filename` for Content-Disposition (our names are ASCII already).
fn disposition(name: &str) -> String {
    let safe: String = name
        .chars()
        .filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\')
        .collect();
    format!("attachment; filename=\"{safe}\"")
}

#[handler]
pub async fn download(
    Path(export_id): Path<String>,
    Query(signed): Query<Signed>,
    state: Data<&AppState>,
) -> Result<Response, ApiError> {
    let (Some(expires), Some(signature)) = (signed.expires, signed.signature) else {
        return Err(forbidden("this link is not signed"));
    };
    state
        .links
        .verify(&path(&export_id), expires, &signature, Utc::now())
        .map_err(|e| match e {
            LinkError::Expired => {
                forbidden("this link has expired; fetch the export again for a new one")
            }
            _ => forbidden("this link is not valid"),
        })?;
    let export = exports::get(&state.db.read, &export_id)
        .await?
        .filter(|e| {
            !e.deleted && !e.file_removed && e.status == domain::export::ExportStatus::Completed
        })
        .ok_or_else(|| ApiError::NotFound("the file is no longer available".into()))?;
    let (Some(key), Some(name), Some(content_type)) =
        (export.file_key, export.file_name, export.content_type)
    else {
        return Err(ApiError::NotFound("the export has no file".into()));
    };
    let owned = FileKey::parse(&key)
        .is_ok_and(|k| k.is_of_export(&export.export_id) || k.is_owned_by(&export.org_id));
    if !owned {
        return Err(foreign(&key));
    }
    serve(&state, &key, &name, &content_type).await
}

/// A report file, through a link from `GET /api/v1/report-history/{id}/download-url`.
#[handler]
pub(crate) async fn download_report(
    Path(report_id): Path<String>,
    Query(signed): Query<Signed>,
    state: Data<&AppState>,
) -> Result<Response, ApiError> {
    let (Some(expires), Some(signature)) = (signed.expires, signed.signature) else {
        return Err(forbidden("this link is not signed"));
    };
    let path = crate::http::routes::report_history::file_path(&report_id);
    state
        .links
        .verify(&path, expires, &signature, Utc::now())
        .map_err(|e| match e {
            LinkError::Expired => forbidden("this link has expired; ask for a new download URL"),
            _ => forbidden("this link is not valid"),
        })?;
    let report = reports::get(&state.db.read, &report_id)
        .await?
        .filter(|r| !r.deleted && !r.file_removed)
        .ok_or_else(|| ApiError::NotFound("the file is no longer available".into()))?;
    let (Some(key), Some(name)) = (report.file_ref, report.file_name) else {
        return Err(ApiError::NotFound("the report has no file".into()));
    };
    let owned = FileKey::parse(&key).is_ok_and(|k| k.is_owned_by(&report.org_id));
    if !owned {
        return Err(foreign(&key));
    }
    let content_type =
        Format::from_file_name(&name).map_or("application/octet-stream", Format::content_type);
    serve(&state, &key, &name, content_type).await
}

async fn serve(
    state: &AppState,
    key: &str,
    name: &str,
    content_type: &str,
) -> Result<Response, ApiError> {
    let Some((size, stream)) = state
        .services
        .files
        .get(key)
        .await
        .map_err(ApiError::internal)?
    else {
        return Err(ApiError::NotFound("the file is no longer available".into()));
    };
    Ok(Response::builder()
        .status(StatusCode::OK)
        .content_type(content_type)
        .header("Content-Disposition", disposition(name))
        .header("Content-Length", size)
        .header("Cache-Control", "private, no-store")
        .body(Body::from_bytes_stream(stream)))
}
