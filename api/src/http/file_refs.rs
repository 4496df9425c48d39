//! File references a client hands us, and files it uploads.
//!
//! A reference (`file_ref` of a report, `output_file_ref` of a re-export) is a key in the file
//! store that every organisation shares, so it is never taken on trust: it must lie under the
//! organisation's own prefix (`reports/{org}/`), and the file must be there with the size the
//! client states. Otherwise the request is a 422 naming the field, and nothing is recorded.
//! The prefix is checked before the store is asked, so a refusal says nothing about whether
//! another organisation's file exists.
//!
//! Uploads spare clients from naming keys at all: the bytes are streamed to a scratch file,
//! then stored under a key we choose, inside the organisation's prefix.

use domain::file_key::check_file_name;
use domain::{FileKey, OrgId};
use futures::StreamExt;
use poem::Body;
use tokio::io::AsyncWriteExt;

use crate::http::problem::{ApiError, FieldError};
use crate::http::state::AppState;

/// Largest upload accepted (413 beyond); the request-body limit of other operations is lower.
pub(crate) const MAX_UPLOAD_BYTES: u64 = 256 * 1024 * 1024;

fn invalid(field: &str, code: &str, message: String) -> ApiError {
    ApiError::invalid(vec![FieldError::new(field, code, message)])
}

/// The key in `field`, if it names a file of `org` that exists with `size` bytes.
pub async fn owned_file(
    state: &AppState,
    org: &OrgId,
    field: &str,
    key: &str,
    size: u64,
) -> Result<FileKey, ApiError> {
    let key = FileKey::parse(key).map_err(|e| invalid(field, "invalid_file_ref", e.to_string()))?;
    if !key.is_owned_by(org) {
        return Err(invalid(
            field,
            "foreign_file_ref",
            format!(
                "a file reference must lie under the organisation's own prefix {}",
                FileKey::org_prefix(org)
            ),
        ));
    }
    match state
        .services
        .files
        .size(key.as_str())
        .await
        .map_err(ApiError::internal)?
    {
        None => Err(invalid(
            field,
            "file_not_found",
            format!("there is no file at {key}; upload it first"),
        )),
        Some(stored) if stored != size => Err(invalid(
            field,
            "file_size_mismatch",
            format!("the file at {key} has {stored} bytes, not {size}"),
        )),
        Some(_) => Ok(key),
    }
}

/// A file reference and its size come together: both or neither (else a 422 for the missing
/// one, by its field name).
fn file_pair(
    (ref_field, file_ref): (&str, Option<String>),
    (size_field, size): (&str, Option<u64>),
    errors: &mut Vec<FieldError>,
) -> Option<(String, u64)> {
    match (file_ref, size) {
        (None, None) => None,
        (Some(file_ref), Some(size)) => Some((file_ref, size)),
        (Some(_), None) => {
            errors.push(FieldError::new(
                size_field,
                "required",
                format!("{size_field} comes with {ref_field}"),
            ));
            None
        }
        (None, Some(_)) => {
            errors.push(FieldError::new(
                ref_field,
                "required",
                format!("{ref_field} comes with {size_field}"),
            ));
            None
        }
    }
}

/// A report's file as a client names it (`file_ref` with `file_size_bytes`), once it is checked
/// to be organisation `org`'s own. `errors` are the request's other problems: with any, or
/// with a half of the pair, the answer is one 422 naming them all.
pub async fn report_file(
    state: &AppState,
    org: &OrgId,
    (file_ref, size): (Option<String>, Option<u64>),
    mut errors: Vec<FieldError>,
) -> Result<Option<domain::report::ReportFile>, ApiError> {
    let file = file_pair(
        ("file_ref", file_ref),
        ("file_size_bytes", size),
        &mut errors,
    );
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let Some((file_ref, file_size_bytes)) = file else {
        return Ok(None);
    };
    let key = owned_file(state, org, "file_ref", &file_ref, file_size_bytes).await?;
    Ok(Some(domain::report::ReportFile {
        file_ref: key.into(),
        file_size_bytes,
    }))
}

/// Removes a deleted report's file. A reference recorded before references were checked may
/// name a file that is not the organisation's: that file is left alone.
pub(crate) async fn remove_report_file(
    state: &AppState,
    org: &OrgId,
    report_id: &str,
    file_ref: &str,
) -> Result<(), ApiError> {
    if FileKey::parse(file_ref).is_ok_and(|k| k.is_owned_by(org)) {
        state
            .services
            .files
            .delete(file_ref)
            .await
            .map_err(ApiError::internal)?;
    } else {
        tracing::warn!(%report_id, %file_ref, "a deleted report's file lies outside its organisation; not removed");
    }
    Ok(())
}

/// The name an uploaded file is kept under: the client's, else `{stem}.{extension}` from the
/// request's content type.
pub(crate) fn upload_name(
    asked: Option<&str>,
    content_type: Option<&str>,
    stem: &str,
) -> Result<String, ApiError> {
    if let Some(name) = asked {
        return check_file_name(name)
            .map(str::to_string)
            .map_err(|e| invalid("file_name", "invalid_file_name", e.to_string()));
    }
    let media = content_type
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase());
    let extension = match media.as_deref() {
        Some("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet") => "xlsx",
        Some("text/csv") => "csv",
        Some("application/pdf") => "pdf",
        Some("application/json") => "json",
        _ => "bin",
    };
    Ok(format!("{stem}.{extension}"))
}

/// Streams `body` into the file store at `key`; returns its size. An empty or oversized body
/// stores nothing.
pub(crate) async fn store_upload(
    state: &AppState,
    body: Body,
    key: &FileKey,
) -> Result<u64, ApiError> {
    let work_dir = &state.services.exports.work_dir;
    tokio::fs::create_dir_all(work_dir)
        .await
        .map_err(ApiError::internal)?;
    let staged = work_dir.join(format!(
        "upload-{}",
        ulid::Ulid::new().to_string().to_lowercase()
    ));
    let result = async {
        let mut out = tokio::fs::File::create(&staged)
            .await
            .map_err(ApiError::internal)?;
        let mut stream = body.into_bytes_stream();
        let mut size = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.map_err(|e| ApiError::BadRequest(format!("the upload broke off: {e}")))?;
            size += chunk.len() as u64;
            if size > MAX_UPLOAD_BYTES {
                return Err(ApiError::PayloadTooLarge(format!(
                    "an upload is at most {MAX_UPLOAD_BYTES} bytes"
                )));
            }
            out.write_all(&chunk).await.map_err(ApiError::internal)?;
        }
        out.sync_all().await.map_err(ApiError::internal)?;
        drop(out);
        if size == 0 {
            return Err(invalid(
                "body",
                "empty_file",
                "the uploaded file is empty".into(),
            ));
        }
        state
            .services
            .files
            .put_file(key.as_str(), &staged)
            .await
            .map_err(ApiError::internal)
    }
    .await;
    let _ = tokio::fs::remove_file(&staged).await;
    result
}

/// A new key for an upload in `dir` of organisation `org`'s prefix (a report id, or
/// `reexports/{id}`): a fresh segment per upload, so two uploads never write over each other.
pub(crate) fn upload_key(org: &OrgId, dir: &str, name: &str) -> Result<FileKey, ApiError> {
    FileKey::parse(&format!(
        "{}{dir}/{}/{name}",
        FileKey::org_prefix(org),
        ulid::Ulid::new().to_string().to_lowercase()
    ))
    .map_err(|e| invalid("file_name", "invalid_file_name", e.to_string()))
}
