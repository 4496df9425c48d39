//! Re-exports (`/api/v1/report-reexports`): a report regenerated from the event log as it stood
//! when the report was made, in another format or language if asked. A re-export is an export
//! job (same worker, leases and files) that reads the log up to the report's position instead of
//! today's read models; it records a report of its own when it completes, and may send a signed
//! webhook (`workers::webhooks`).

mod types;

use chrono::{DateTime, Utc};
use domain::Locale;
use domain::export::{
    Export, ExportCommand, ExportError, ExportFile, ExportFormat, ExportRequest, ReexportOf,
};
use domain::{FileKey, OrgId};
use poem::web::Data;
use poem::{Body, Request};
use poem_openapi::OpenApi;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::{Binary, Json};
use projections::exports::{self, ExportFilter, ExportRow};
use workers::export::render::Format;

use crate::auth::{BearerAuth, Caller, Role};
use crate::file_refs::{owned_file, store_upload, upload_key, upload_name};
use crate::problem::{ApiError, FieldError, ProblemResponse};
use crate::routes::report_history::visible_report;
use crate::routes::{ApiTags, PageParams, new_id};
use crate::state::AppState;
use crate::text::FileNameText;
pub use types::*;

pub struct ReexportsApi;

const WRITERS: &[Role] = &[Role::Reporter, Role::Admin, Role::Service];

fn location(id: &str) -> String {
    format!("/api/v1/report-reexports/{id}")
}

/// A re-export's refusals, in its own words (a queued job is `pending` here).
fn rejected(e: ExportError) -> ApiError {
    match e {
        ExportError::Unknown => ApiError::NotFound("re-export not found".into()),
        ExportError::NotCancellable(status) => ApiError::Conflict(format!(
            "the re-export is {}; only a pending or running re-export can be cancelled",
            status_name(status)
        )),
        ExportError::NotFinished(status) => ApiError::Conflict(format!(
            "the re-export is {}; a notification follows a completed or failed re-export",
            status_name(status)
        )),
        ExportError::LostClaim(_) | ExportError::NotClaimable => ApiError::Conflict(
            "another renderer holds this re-export, or it is no longer running".into(),
        ),
        other => other.into(),
    }
}

async fn visible_reexport(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<ExportRow, ApiError> {
    let found = exports::get(&state.db.read, id)
        .await
        .map_err(ApiError::internal)?
        .filter(|e| !e.deleted && e.reexport_of.is_some());
    let org = found.as_ref().map(|e| e.org_id.clone()).unwrap_or_default();
    caller.scope(&org, found, "re-export")
}

/// Runs one command; returns what it recorded.
async fn run(
    state: &AppState,
    caller: &Caller,
    req: &Request,
    id: &str,
    command: ExportCommand,
) -> Result<Vec<domain::export::ExportEvent>, ApiError> {
    crate::routes::execute::<Export>(
        state,
        caller,
        req,
        &Export::stream(id),
        exports::NAME,
        command,
        rejected,
    )
    .await
}

/// The format a re-export is written in: as asked, else the original report's.
fn resolve_format(asked: Option<&str>, original: Option<&str>) -> Result<ExportFormat, ApiError> {
    let name = asked.or(original).unwrap_or("xlsx");
    match ExportFormat::parse(name) {
        Some(f @ (ExportFormat::Excel | ExportFormat::Csv | ExportFormat::Pdf)) => Ok(f),
        // The original was the JSON payload: re-exports are documents, so Excel.
        _ if asked.is_none() => Ok(ExportFormat::Excel),
        _ => Err(ApiError::invalid(vec![FieldError::new(
            "export_params/format",
            "unknown_format",
            format!("{name:?} is not a re-export format: use xlsx, csv or pdf"),
        )])),
    }
}

fn resolve_locale(asked: Option<&str>) -> Result<Locale, ApiError> {
    match asked {
        None => Ok(Locale::default()),
        Some(tag) => Locale::parse(tag).ok_or_else(|| {
            ApiError::invalid(vec![FieldError::new(
                "export_params/locale",
                "unknown_locale",
                format!("{tag:?} is not a locale: use nb-NO, nn-NO or en-GB"),
            )])
        }),
    }
}

/// 409 unless the re-export is pending or running: only those can complete.
fn finishable(row: &ExportRow) -> Result<(), ApiError> {
    if matches!(row.status.as_str(), "queued" | "running") {
        Ok(())
    } else {
        Err(ApiError::Conflict(format!(
            "the re-export is {}; only a pending or running one can complete",
            status_name(&row.status)
        )))
    }
}

/// Records attempt `attempt`'s result: the organisation's file at `key`, of `size` bytes.
#[allow(clippy::too_many_arguments)]
async fn complete(
    state: &AppState,
    caller: &Caller,
    req: &Request,
    row: &ExportRow,
    attempt: u32,
    key: FileKey,
    size: u64,
    completed_at: DateTime<Utc>,
) -> Result<(), ApiError> {
    let now = Utc::now();
    let format = ExportFormat::parse(&row.format).unwrap_or(ExportFormat::Excel);
    let complete = ExportCommand::Complete {
        attempt,
        file: ExportFile {
            name: key.file_name().to_string(),
            key: key.into(),
            content_type: Format::from(format).content_type().into(),
            size_bytes: size,
            expires_at: now + state.services.exports.file_ttl,
        },
        source_position: row.as_of_position.clone().unwrap_or_default(),
        submission: None,
        duration_ms: (now - row.created_at).num_milliseconds().max(0) as u64,
        steps: 0,
        now: completed_at,
    };
    run(state, caller, req, &row.export_id, complete).await?;
    Ok(())
}

/// Takes a waiting re-export for an external renderer; returns the attempt that holds it.
async fn take(
    state: &AppState,
    caller: &Caller,
    req: &Request,
    row: &ExportRow,
) -> Result<u32, ApiError> {
    if row.status != "queued" {
        return Ok(row.attempt);
    }
    let now = Utc::now();
    let claim = ExportCommand::Claim {
        worker: format!("external:{}", caller.actor()),
        lease_until: now
            + chrono::Duration::from_std(state.services.exports.lease)
                .map_err(ApiError::internal)?,
        now,
    };
    let events = run(state, caller, req, &row.export_id, claim).await?;
    match events.first() {
        Some(domain::export::ExportEvent::ExportClaimed { attempt, .. }) => Ok(*attempt),
        _ => Err(ApiError::Conflict(
            "the re-export could not be taken".into(),
        )),
    }
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
            status: status.0.map(|s| export_status(s).to_string()),
            ..ExportFilter::default()
        };
        let visible = caller.visible();
        let (rows, total) = exports::list(
            &state.db.read,
            &filter,
            visible,
            params.offset(),
            u64::from(params.limit),
        )
        .await
        .map_err(ApiError::internal)?;
        Ok(Json(ReexportList {
            data: rows.into_iter().map(Reexport::from).collect(),
            pagination: params.pagination(total),
        }))
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
        let row = visible_reexport(&state, &auth.0, &reexport_id.0).await?;
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
        #[oai(
            name = "Idempotency-Key",
            validator(min_length = 1, max_length = 255, pattern = r"^[!-~]{1,255}$")
        )]
        _idempotency_key: Header<Option<String>>,
        body: Json<CreateReexport>,
    ) -> Result<CreateResponse, ProblemResponse> {
        let caller = auth.0;
        let report = visible_report(&state, &caller, &body.report_id).await?;
        caller.require_any(WRITERS)?;
        if report.status != "completed" {
            return Err(ApiError::Conflict(format!(
                "report {} is {}; only a completed report can be re-exported",
                report.report_id, report.status
            ))
            .into());
        }
        let original = match &report.export_id {
            Some(id) => exports::get(&state.db.read, id)
                .await
                .map_err(ApiError::internal)?,
            None => None,
        };
        let params = body.export_params.clone();
        let params = params.as_ref();
        let original_format = original.as_ref().map(|o| o.format.clone()).or_else(|| {
            report
                .file_name
                .as_ref()
                .and_then(|n| n.rsplit('.').next().map(str::to_string))
        });
        let format = resolve_format(
            params.and_then(|p| p.format.as_ref()).map(|f| f.as_str()),
            original_format.as_deref(),
        )?;
        let locale = resolve_locale(params.and_then(|p| p.locale.as_ref()).map(|l| l.as_str()))?;
        let org = domain::OrgId::parse(&report.org_id).map_err(ApiError::internal)?;
        let reexport_id = new_id("reexp");
        let request = ExportRequest {
            org_id: org,
            format,
            period_from: report.period_from,
            period_to: report.period_to,
            // The same report: the categories the original export was limited to.
            activity_types: original
                .as_ref()
                .map(|o| o.activity_types.clone())
                .unwrap_or_default(),
            include_attachments: params.and_then(|p| p.include_annexes).unwrap_or(false),
            submit_to_bufdir_api: false,
            locale,
            reexport: Some(ReexportOf {
                report_id: report.report_id.clone(),
                as_of_position: report.as_of_position.clone(),
                notify_on_completion: body.notify_on_completion.unwrap_or(false),
            }),
        };
        let command = ExportCommand::Request {
            export_id: reexport_id.clone(),
            request,
            now: Utc::now(),
        };
        run(&state, &caller, req, &reexport_id, command).await?;
        let row = visible_reexport(&state, &caller, &reexport_id).await?;
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
        let row = visible_reexport(&state, &caller, &reexport_id.0).await?;
        caller.require_any(&[Role::Service])?;
        let body = body.0;
        let id = row.export_id.clone();
        let now = Utc::now();
        let lease_until = now
            + chrono::Duration::from_std(state.services.exports.lease)
                .map_err(ApiError::internal)?;
        match body.status {
            None => {}
            Some(ReexportStatus::Pending) if row.status != "queued" => {
                return Err(ApiError::Conflict(format!(
                    "the re-export is {}; it cannot become pending again",
                    status_name(&row.status)
                ))
                .into());
            }
            Some(ReexportStatus::Pending) => {}
            Some(ReexportStatus::Running) => {
                let attempt = match row.status.as_str() {
                    "queued" | "running" => take(&state, &caller, req, &row).await?,
                    other => {
                        return Err(ApiError::Conflict(format!(
                            "the re-export is {}; it cannot run again",
                            status_name(other)
                        ))
                        .into());
                    }
                };
                if row.status == "running" {
                    let renew = ExportCommand::Progress {
                        attempt,
                        done: row.progress_done,
                        total: row.progress_total,
                        lease_until,
                    };
                    run(&state, &caller, req, &id, renew).await?;
                }
            }
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
                let org = OrgId::parse(&row.org_id).map_err(ApiError::internal)?;
                let key = owned_file(&state, &org, "output_file_ref", &file_ref, size).await?;
                finishable(&row)?;
                let attempt = take(&state, &caller, req, &row).await?;
                let completed_at = body.completed_at.map_or(now, Into::into);
                complete(&state, &caller, req, &row, attempt, key, size, completed_at).await?;
            }
            Some(ReexportStatus::Failed) => {
                if !matches!(row.status.as_str(), "queued" | "running") {
                    return Err(ApiError::Conflict(format!(
                        "the re-export is {}; only a pending or running one can fail",
                        status_name(&row.status)
                    ))
                    .into());
                }
                let attempt = take(&state, &caller, req, &row).await?;
                let fail = ExportCommand::Fail {
                    attempt,
                    error: body
                        .error_message
                        .clone()
                        .map(String::from)
                        .unwrap_or_else(|| format!("reported failed by {}", caller.actor())),
                    now,
                };
                run(&state, &caller, req, &id, fail).await?;
            }
            Some(ReexportStatus::Cancelled) => {
                let cancel = ExportCommand::Cancel {
                    reason: format!("cancelled by {}", caller.actor()),
                    now,
                };
                run(&state, &caller, req, &id, cancel).await?;
            }
        }
        match body.notified {
            Some(true) => {
                let current = visible_reexport(&state, &caller, &id).await?;
                let mark = ExportCommand::MarkNotified {
                    attempts: current.notify_attempts,
                    now: Utc::now(),
                };
                run(&state, &caller, req, &id, mark).await?;
            }
            Some(false) if row.notified => {
                return Err(ApiError::Conflict(
                    "the notification was sent; that cannot be undone".into(),
                )
                .into());
            }
            _ => {}
        }
        let row = visible_reexport(&state, &caller, &id).await?;
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
        let row = visible_reexport(&state, &caller, &reexport_id.0).await?;
        caller.require_any(&[Role::Service])?;
        finishable(&row)?;
        let name = upload_name(
            file_name.0.as_ref().map(|n| n.as_str()),
            req.content_type(),
            "reexport",
        )?;
        let org = OrgId::parse(&row.org_id).map_err(ApiError::internal)?;
        let key = upload_key(
            &format!("{}reexports/{}", FileKey::org_prefix(&org), row.export_id),
            &name,
        )?;
        let attempt = take(&state, &caller, req, &row).await?;
        let size = store_upload(&state, body.0, &key).await?;
        if let Err(e) = complete(
            &state,
            &caller,
            req,
            &row,
            attempt,
            key.clone(),
            size,
            Utc::now(),
        )
        .await
        {
            // Not recorded (cancelled or taken over meanwhile): the stored copy is an orphan.
            let _ = state.services.files.delete(key.as_str()).await;
            return Err(e.into());
        }
        let row = visible_reexport(&state, &caller, &row.export_id).await?;
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
        let row = visible_reexport(&state, &caller, &reexport_id.0).await?;
        caller.require_any(WRITERS)?;
        let now = Utc::now();
        let cancel = ExportCommand::Cancel {
            reason: format!("cancelled by {}", caller.actor()),
            now,
        };
        run(&state, &caller, req, &row.export_id, cancel).await?;
        Ok(Json(ReexportCancelled {
            reexport_id: row.export_id,
            cancelled: true,
            cancelled_at: now.into(),
        }))
    }
}
