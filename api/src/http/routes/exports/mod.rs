//! Export jobs (`/api/v1/bufdir-exports`): create, list, read, cancel, retry, delete. Rendering is
//! the export worker's (`workers::export::job`); the finished file is fetched through a signed,
//! expiring link served by [`crate::http::routes::downloads`].

mod types;

use chrono::Utc;
use commands::exports as command;
use domain::export::ExportRequest;
use domain::export_request::ExportForm;
use poem::Request;
use poem::web::Data;
use poem_openapi::OpenApi;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use projections::exports::{self, ExportFilter, ExportRow};

use crate::http::access::{self, WRITERS};
use crate::http::auth::BearerAuth;
use crate::http::problem::{ApiError, FieldError, ProblemResponse};
use crate::http::routes::{ApiTags, PageParams, base_url, metadata};
use crate::http::state::AppState;
use crate::http::text::IdempotencyKeyText;
use crate::http::wire::Date;
pub use types::*;

pub struct ExportsApi;

fn location(export_id: &str) -> String {
    format!("/api/v1/bufdir-exports/{export_id}")
}

async fn detail(state: &AppState, req: &Request, row: ExportRow) -> Result<ExportDetail, ApiError> {
    let submission = match &row.submission_id {
        Some(id) => projections::submissions::by_id(&state.db.read, id).await?,
        None => None,
    };
    let now = Utc::now();
    let file_url = match (&row.file_expires_at, row.file_removed) {
        (Some(expires), false)
            if *expires > now && row.status == domain::export::ExportStatus::Completed =>
        {
            let path = crate::http::routes::downloads::path(&row.export_id);
            Some(format!(
                "{}{path}?{}",
                base_url(state, req),
                state.links.sign(&path, *expires)
            ))
        }
        _ => None,
    };
    Ok(ExportDetail {
        file_expires_at: file_url.as_ref().and(row.file_expires_at.map(Into::into)),
        file_url,
        progress: Progress {
            done: row.progress_done,
            total: row.progress_total,
        },
        submission_reference_id: submission.as_ref().and_then(|s| s.reference_id.clone()),
        submission_status: submission.map(|s| s.status.as_str().into()),
        export_id: row.export_id,
        org_id: row.org_id.into(),
        status: row.status.into(),
        format: row.format.as_str().into(),
        period_from: row.period_from.into(),
        period_to: row.period_to.into(),
        activity_types: row.activity_types,
        locale: row.locale.as_str().into(),
        created_at: row.created_at.into(),
        completed_at: row.completed_at.map(Into::into),
        error_message: row.error_message,
        retry_count: row.retry_count,
        file_size_bytes: row.file_size_bytes,
        file_name: row.file_name,
        include_attachments: row.include_attachments,
        submit_to_bufdir_api: row.submit_to_bufdir_api,
        submission_id: row.submission_id,
        submission_errors: row.submission_errors,
        cancelled_at: row.cancelled_at.map(Into::into),
        cancel_reason: row.cancel_reason,
        source_position: row.source_position.map(|p| p.to_string()),
    })
}

#[OpenApi(tag = "ApiTags::BufdirExports")]
impl ExportsApi {
    /// Initiate a new export
    ///
    /// Needs `reporter`, `admin` or `service`, and a registered organisation. Answers 202 with
    /// `Location`; follow it until `completed` (then `file_url`) or `failed`.
    /// `estimated_duration_seconds` is null until an export has completed.
    #[oai(
        path = "/api/v1/bufdir-exports",
        method = "post",
        operation_id = "createExport"
    )]
    async fn create(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        req: &Request,
        /// Makes a retry safe: the same key and body get the first answer.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<IdempotencyKeyText>>,
        body: Json<CreateExport>,
    ) -> Result<CreateResponse, ProblemResponse> {
        let caller = auth.0;
        caller.require_any(WRITERS)?;
        let org = access::org(&state, &caller, &body.org_id).await?;
        let body = body.0;
        let request = ExportRequest::parse(ExportForm {
            org_id: org,
            format: body.format.0,
            period_from: body.period_from.into(),
            period_to: body.period_to.into(),
            activity_types: body.activity_types.into_iter().map(String::from).collect(),
            include_attachments: body.include_attachments,
            submit_to_bufdir_api: body.submit_to_bufdir_api,
            locale: body.locale.map(String::from),
        })
        .map_err(|problems| {
            ApiError::invalid(
                problems
                    .into_iter()
                    .map(|p| FieldError::new(&p.field, p.code, p.message))
                    .collect(),
            )
        })?;
        let (export_id, now) =
            command::initiate(&state.commands, &metadata(&caller, req), request).await?;
        let estimated = exports::recent_duration_ms(&state.db.read)
            .await?
            .map(|ms| ((ms / 1000.0).ceil() as u64).max(1));
        Ok(CreateResponse::Queued(
            Json(ExportQueued {
                export_id: export_id.clone(),
                status: ExportStatus::Queued,
                estimated_duration_seconds: estimated,
                created_at: now.into(),
            }),
            location(&export_id),
        ))
    }

    /// List export jobs
    ///
    /// Any role; only the caller's organisations' exports. Newest first.
    #[oai(
        path = "/api/v1/bufdir-exports",
        method = "get",
        operation_id = "listExports"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        org_id: Query<Option<String>>,
        status: Query<Option<ExportStatus>>,
        /// Exports whose range ends on or after this day.
        period_from: Query<Option<Date>>,
        /// Exports whose range starts on or before this day.
        period_to: Query<Option<Date>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))] page: Query<
            Option<u32>,
        >,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] limit: Query<Option<u32>>,
    ) -> Result<Json<ExportList>, ProblemResponse> {
        let caller = auth.0;
        let params = PageParams::new(page.0, limit.0);
        let filter = ExportFilter {
            org_id: org_id.0,
            status: status.0.map(Into::into),
            period_from: period_from.0.map(Into::into),
            period_to: period_to.0.map(Into::into),
            ..ExportFilter::default()
        };
        let found = exports::list(&state.db.read, &filter, caller.visible(), params.rows()).await?;
        let (data, pagination) = params.page_of(found);
        Ok(Json(ExportList { data, pagination }))
    }

    /// Get export job status and metadata
    ///
    /// Any role of the organisation. `file_url` and `file_expires_at` are null until completed and
    /// after the file expired; `completed_at` and `error_message` are null until they apply.
    #[oai(
        path = "/api/v1/bufdir-exports/:export_id",
        method = "get",
        operation_id = "getExport"
    )]
    async fn get(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        req: &Request,
        export_id: Path<String>,
    ) -> Result<Json<ExportDetail>, ProblemResponse> {
        let row = access::export(&state, &auth.0, &export_id.0).await?;
        Ok(Json(detail(&state, req, row).await?))
    }

    /// Cancel an in-progress export
    ///
    /// From queued or running; a running render stops promptly and leaves no file. 409 from a
    /// final state.
    #[oai(
        path = "/api/v1/bufdir-exports/:export_id/cancel",
        method = "put",
        operation_id = "cancelExport"
    )]
    async fn cancel(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        req: &Request,
        export_id: Path<String>,
        body: Json<CancelExport>,
    ) -> Result<Json<ExportCancelled>, ProblemResponse> {
        let caller = auth.0;
        access::export(&state, &caller, &export_id.0).await?;
        caller.require_any(WRITERS)?;
        let mut errors = vec![];
        body.reason.check("reason", &mut errors);
        if !errors.is_empty() {
            return Err(ApiError::invalid(errors).into());
        }
        let now = command::cancel(
            &state.commands,
            &metadata(&caller, req),
            &export_id.0,
            body.0.reason.0,
        )
        .await?;
        Ok(Json(ExportCancelled {
            export_id: export_id.0,
            status: ExportStatus::Cancelled,
            cancelled_at: now.into(),
        }))
    }

    /// Retry a failed export
    ///
    /// From failed or cancelled; 409 otherwise.
    #[oai(
        path = "/api/v1/bufdir-exports/:export_id/retry",
        method = "post",
        operation_id = "retryExport"
    )]
    async fn retry(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        req: &Request,
        /// Makes a retry safe: the same key and body get the first answer.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<IdempotencyKeyText>>,
        export_id: Path<String>,
    ) -> Result<RetryResponse, ProblemResponse> {
        let caller = auth.0;
        access::export(&state, &caller, &export_id.0).await?;
        caller.require_any(WRITERS)?;
        let now = command::retry(&state.commands, &metadata(&caller, req), &export_id.0).await?;
        let row = access::export(&state, &caller, &export_id.0).await?;
        Ok(RetryResponse::Queued(
            Json(ExportRequeued {
                export_id: row.export_id.clone(),
                status: ExportStatus::Queued,
                retry_count: row.retry_count,
                queued_at: now.into(),
            }),
            location(&row.export_id),
        ))
    }

    /// Delete an export record and its files
    ///
    /// Cancels it first if it is queued or running. The export is gone from the API; its events
    /// stay in the log for audit.
    #[oai(
        path = "/api/v1/bufdir-exports/:export_id",
        method = "delete",
        operation_id = "deleteExport"
    )]
    async fn delete(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        req: &Request,
        export_id: Path<String>,
    ) -> Result<Json<ExportDeleted>, ProblemResponse> {
        let caller = auth.0;
        let row = access::export(&state, &caller, &export_id.0).await?;
        caller.require_any(WRITERS)?;
        let metadata = metadata(&caller, req);
        command::delete(&state.commands, &metadata, &export_id.0).await?;
        if let Some(key) = &row.file_key {
            state
                .services
                .files
                .delete(key)
                .await
                .map_err(ApiError::internal)?;
            // The file is gone; recording it keeps the expiry worker from trying again.
            if let Err(e) = command::file_removed(&state.commands, &metadata, &export_id.0).await {
                tracing::warn!(error = %store::causes(&e), "could not record the removal of a deleted export's file");
            }
        }
        Ok(Json(ExportDeleted {
            deleted: true,
            export_id: export_id.0,
        }))
    }
}
