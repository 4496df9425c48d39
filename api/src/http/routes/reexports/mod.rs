//! Re-exports (`/api/v1/report-reexports`): a report regenerated from the event log as it stood
//! when the report was made, in another format or language if asked. A re-export is an export
//! job (same worker, leases and files) that reads the log up to the report's position instead of
//! today's read models; it records a report of its own when it completes, and may send a signed
//! webhook (`workers::webhooks`). External renderers drive it through `PUT` and `…/upload`; what
//! they may do is the export's state machine, decided in the domain.

mod renderer;
mod types;

use chrono::Utc;
use commands::reexports::{self as command, RendererUpdate, RequestReexport};
use poem::web::Data;
use poem::{Body, Request};
use poem_openapi::OpenApi;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::{Binary, Json};
use projections::exports::{self, ExportFilter};

use crate::http::access::{self, RENDERERS, WRITERS};
use crate::http::auth::BearerAuth;
use crate::http::file_refs::{owned_file, store_upload, upload_key, upload_name};
use crate::http::problem::{ApiError, FieldError, ProblemResponse};
use crate::http::routes::{ApiTags, PageParams, metadata};
use crate::http::state::AppState;
use crate::http::text::{FileNameText, IdempotencyKeyText};
use renderer::report_progress;
pub use types::*;

pub struct ReexportsApi;

fn location(id: &str) -> String {
    format!("/api/v1/report-reexports/{id}")
}

#[OpenApi(tag = "ApiTags::ReportReexports")]
impl ReexportsApi {
    /// List re-export jobs with status tracking
    ///
    /// Any role; only the caller's organisations' re-exports. Newest first.
    #[oai(
        path = "/api/v1/report-reexports",
        method = "get",
        operation_id = "listReexports"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        report_id: Query<Option<String>>,
        org_id: Query<Option<String>>,
        status: Query<Option<ReexportStatus>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))] page: Query<
            Option<u32>,
        >,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] limit: Query<Option<u32>>,
    ) -> Result<Json<ReexportList>, ProblemResponse> {
        let caller = auth.0;
        let params = PageParams::new(page.0, limit.0);
        let filter = ExportFilter {
            reexports: true,
            reexport_of: report_id.0,
            org_id: org_id.0,
            status: status.0.map(Into::into),
            ..ExportFilter::default()
        };
        let found = exports::list(&state.db.read, &filter, caller.visible(), params.rows()).await?;
        let (data, pagination) = params.page_of(found);
        Ok(Json(ReexportList { data, pagination }))
    }

    /// Get status and result of a specific re-export job
    ///
    /// Any role of the organisation. `output_file_ref`, `output_file_size_bytes` and
    /// `completed_at` are null until completed.
    #[oai(
        path = "/api/v1/report-reexports/:reexport_id",
        method = "get",
        operation_id = "getReexport"
    )]
    async fn get(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        reexport_id: Path<String>,
    ) -> Result<Json<Reexport>, ProblemResponse> {
        let row = access::reexport(&state, &auth.0, &reexport_id.0).await?;
        Ok(Json(row.into()))
    }

    /// Trigger a re-export of a historical report with optional parameter overrides
    ///
    /// The figures are read from the event log up to the report's `source_position`: the data
    /// as it stood when the report was made, whatever changed since. Only a completed report
    /// can be re-exported (409 otherwise).
    #[oai(
        path = "/api/v1/report-reexports",
        method = "post",
        operation_id = "createReexport"
    )]
    async fn create(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        req: &Request,
        /// Makes a retry safe: the same key and body get the first answer.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<IdempotencyKeyText>>,
        body: Json<CreateReexport>,
    ) -> Result<CreateResponse, ProblemResponse> {
        let caller = auth.0;
        let report = access::report(&state, &caller, &body.report_id).await?;
        caller.require_any(WRITERS)?;
        let original = match &report.export_id {
            Some(id) => exports::get(&state.db.read, id).await?,
            None => None,
        };
        let params = body.export_params.clone();
        let params = params.as_ref();
        let original_format = original
            .as_ref()
            .map(|o| o.format.as_str().to_string())
            .or_else(|| {
                report
                    .file_name
                    .as_ref()
                    .and_then(|n| n.rsplit('.').next().map(str::to_string))
            });
        let format = domain::reexport::format(
            params.and_then(|p| p.format.as_ref()).map(|f| f.as_str()),
            original_format.as_deref(),
        )?;
        let locale =
            domain::reexport::locale(params.and_then(|p| p.locale.as_ref()).map(|l| l.as_str()))?;
        let request = RequestReexport {
            format,
            locale,
            include_annexes: params.and_then(|p| p.include_annexes).unwrap_or(false),
            notify_on_completion: body.notify_on_completion.unwrap_or(false),
        };
        let metadata = metadata(&caller, req);
        let reexport_id = command::request(
            &state.commands,
            &metadata,
            &report,
            original.as_ref(),
            request,
        )
        .await?;
        let row = access::reexport(&state, &caller, &reexport_id).await?;
        Ok(CreateResponse::Accepted(
            Json(row.into()),
            location(&reexport_id),
        ))
    }

    /// Update re-export job state (e.g. store result file ref, mark notification sent)
    ///
    /// For an external renderer with the `service` role. Only valid transitions are taken:
    /// `pending` → `running` → `completed` | `failed` (or straight from `pending`), `cancelled`
    /// from `pending` or `running`; anything else is a 409. `notified: true` records that the
    /// renderer sent the notification, once the job is completed or failed.
    #[oai(
        path = "/api/v1/report-reexports/:reexport_id",
        method = "put",
        operation_id = "updateReexport"
    )]
    async fn update(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        req: &Request,
        reexport_id: Path<String>,
        body: Json<UpdateReexport>,
    ) -> Result<Json<Reexport>, ProblemResponse> {
        let caller = auth.0;
        let row = access::reexport(&state, &caller, &reexport_id.0).await?;
        caller.require_any(RENDERERS)?;
        let body = body.0;
        let id = row.export_id.clone();
        let metadata = metadata(&caller, req);
        let update = match body.status {
            None => None,
            Some(ReexportStatus::Pending) => Some(RendererUpdate::Pending),
            Some(ReexportStatus::Running) => Some(RendererUpdate::Running),
            Some(ReexportStatus::Completed) => {
                let (Some(file_ref), Some(size)) =
                    (body.output_file_ref.clone(), body.output_file_size_bytes)
                else {
                    return Err(ApiError::invalid(vec![FieldError::new(
                        "output_file_ref",
                        "required",
                        "a completed re-export needs output_file_ref and output_file_size_bytes",
                    )])
                    .into());
                };
                let key =
                    owned_file(&state, &row.org_id, "output_file_ref", &file_ref, size).await?;
                Some(RendererUpdate::Completed {
                    key,
                    size,
                    completed_at: body.completed_at.map_or_else(Utc::now, Into::into),
                })
            }
            Some(ReexportStatus::Failed) => Some(RendererUpdate::Failed {
                error: body
                    .error_message
                    .clone()
                    .map(String::from)
                    .unwrap_or_else(|| format!("reported failed by {}", caller.actor())),
            }),
            Some(ReexportStatus::Cancelled) => Some(RendererUpdate::Cancelled {
                reason: format!("cancelled by {}", caller.actor()),
            }),
        };
        if let Some(update) = update {
            report_progress(&state, &caller, &metadata, &row, update).await?;
        }
        match body.notified {
            Some(true) => {
                let current = access::reexport(&state, &caller, &id).await?;
                command::mark_notified(&state.commands, &metadata, &id, current.notify_attempts)
                    .await?;
            }
            Some(false) if row.notified => {
                return Err(ApiError::Conflict(
                    "the notification was sent; that cannot be undone".into(),
                )
                .into());
            }
            _ => {}
        }
        let row = access::reexport(&state, &caller, &id).await?;
        Ok(Json(row.into()))
    }

    /// Upload a re-export's file and complete it
    ///
    /// For an external renderer with the `service` role: the finished file's bytes (any content
    /// type; at most 256 MiB). They are kept under the organisation's own prefix and the
    /// re-export completes with them, as `PUT` with `status: completed` would, without the
    /// renderer naming a file store key. A pending re-export is taken first; 409 unless it is
    /// pending or running. `file_name` defaults to `reexport` with the extension of the
    /// content type.
    #[oai(
        path = "/api/v1/report-reexports/:reexport_id/upload",
        method = "put",
        operation_id = "uploadReexportFile"
    )]
    async fn upload(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        req: &Request,
        reexport_id: Path<String>,
        file_name: Query<Option<FileNameText>>,
        body: Binary<Body>,
    ) -> Result<Json<Reexport>, ProblemResponse> {
        let caller = auth.0;
        let row = access::reexport(&state, &caller, &reexport_id.0).await?;
        caller.require_any(RENDERERS)?;
        let name = upload_name(
            file_name.0.as_ref().map(|n| n.as_str()),
            req.content_type(),
            "reexport",
        )?;
        let key = upload_key(&row.org_id, &format!("reexports/{}", row.export_id), &name)?;
        // Held before the bytes are stored: a job that cannot finish stores nothing.
        let metadata = metadata(&caller, req);
        report_progress(&state, &caller, &metadata, &row, RendererUpdate::Running).await?;
        let size = store_upload(&state, body.0, &key).await?;
        let completed = RendererUpdate::Completed {
            key: key.clone(),
            size,
            completed_at: Utc::now(),
        };
        if let Err(e) = report_progress(&state, &caller, &metadata, &row, completed).await {
            // Not recorded (cancelled or taken over meanwhile): the stored copy is an orphan.
            let _ = state.services.files.delete(key.as_str()).await;
            return Err(e.into());
        }
        let row = access::reexport(&state, &caller, &row.export_id).await?;
        Ok(Json(row.into()))
    }

    /// Cancel a pending re-export job
    ///
    /// From pending or running (a running render stops promptly and leaves no file); 409 once
    /// completed, failed or cancelled.
    #[oai(
        path = "/api/v1/report-reexports/:reexport_id",
        method = "delete",
        operation_id = "cancelReexport"
    )]
    async fn cancel(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        req: &Request,
        reexport_id: Path<String>,
    ) -> Result<Json<ReexportCancelled>, ProblemResponse> {
        let caller = auth.0;
        let row = access::reexport(&state, &caller, &reexport_id.0).await?;
        caller.require_any(WRITERS)?;
        let now = command::cancel(
            &state.commands,
            &metadata(&caller, req),
            &row.export_id,
            format!("cancelled by {}", caller.actor()),
        )
        .await?;
        Ok(Json(ReexportCancelled {
            reexport_id: row.export_id,
            cancelled: true,
            cancelled_at: now.into(),
        }))
    }
}
