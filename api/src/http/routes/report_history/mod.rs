//! The report history (`/api/v1/report-history`): every report made, with its file, kept for the
//! retention period. Completed exports and re-exports record themselves (the history worker,
//! `workers::history`); clients may also record reports made elsewhere and attach their files.

mod types;

use chrono::{Duration, Utc};
use commands::reports::{self as command, UpdateReport as ReportUpdate};
use domain::report::{NewReport, ReportFile, ReportStatus as Status, ReportType as Kind};
use poem::web::Data;
use poem::{Body, Request};
use poem_openapi::OpenApi;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::{Binary, Json};
use projections::reports::{self, ReportFilter};

use crate::http::access::{self, ADMINS, WRITERS};
use crate::http::auth::BearerAuth;
use crate::http::file_refs::{
    remove_report_file, report_file, store_upload, upload_key, upload_name,
};
use crate::http::problem::{ApiError, ProblemResponse};
use crate::http::routes::{ApiTags, PageParams, base_url, metadata};
use crate::http::state::AppState;
use crate::http::text::{FileNameText, IdempotencyKeyText};
use crate::http::wire::Date;
pub use types::*;

pub struct ReportHistoryApi;

/// How long a download link of a report file works.
const LINK_LIFETIME_MINUTES: i64 = 60;

fn location(report_id: &str) -> String {
    format!("/api/v1/report-history/{report_id}")
}

/// The path a report's download link signs.
pub(crate) fn file_path(report_id: &str) -> String {
    format!("/api/v1/report-history/{report_id}/file")
}

#[OpenApi(tag = "ApiTags::ReportHistory")]
impl ReportHistoryApi {
    /// List report history for an organisation with optional period filtering
    ///
    /// Newest first. `period_from`/`period_to` keep reports whose period overlaps that range.
    #[oai(
        path = "/api/v1/report-history",
        method = "get",
        operation_id = "listReportHistory"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        org_id: Query<Option<String>>,
        /// Reports whose period ends on or after this day.
        period_from: Query<Option<Date>>,
        /// Reports whose period starts on or before this day.
        period_to: Query<Option<Date>>,
        report_type: Query<Option<ReportType>>,
        status: Query<Option<ReportStatus>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))] page: Query<
            Option<u32>,
        >,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] limit: Query<Option<u32>>,
    ) -> Result<Json<ReportList>, ProblemResponse> {
        let caller = auth.0;
        let params = PageParams::new(page.0, limit.0);
        let filter = ReportFilter {
            org_id: org_id.0,
            report_type: report_type.0.map(Into::into),
            status: status.0.map(Into::into),
            period_from: period_from.0.map(Into::into),
            period_to: period_to.0.map(Into::into),
        };
        let found = reports::list(&state.db.read, &filter, caller.visible(), params.rows()).await?;
        let (data, pagination) = params.page_of(found);
        Ok(Json(ReportList { data, pagination }))
    }

    /// Retrieve a single historical report record
    ///
    /// Any role of the organisation. `file_ref`, `file_size_bytes`, `generated_at`,
    /// `source_position` and `export_id` are null until they apply.
    #[oai(
        path = "/api/v1/report-history/:report_id",
        method = "get",
        operation_id = "getReportHistory"
    )]
    async fn get(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        report_id: Path<String>,
        /// The record as it stood at a log position (`position:N`) or a moment (RFC 3339):
        /// read from the log.
        as_of: Query<Option<String>>,
    ) -> Result<Json<ReportRecord>, ProblemResponse> {
        let mut row = access::report(&state, &auth.0, &report_id.0).await?;
        if let Some(text) = as_of.0.as_deref() {
            let then = commands::reports::as_of(
                &state.commands,
                &row.report_id,
                crate::http::routes::parse_as_of(text)?,
            )
            .await?
            .filter(|r| !r.deleted)
            .ok_or_else(|| {
                ApiError::NotFound(format!("report {} did not exist at {text}", row.report_id))
            })?;
            row.status = then.status;
            row.file_name = then
                .file
                .as_ref()
                .map(|f| projections::reports::file_name_of(&f.file_ref).to_string());
            row.file_size_bytes = then.file.as_ref().map(|f| f.file_size_bytes);
            row.file_ref = then.file.map(|f| f.file_ref);
            row.generated_at = then.generated_at;
            row.updated_at = then.updated_at;
            row.file_removed = then.file_removed;
        }
        Ok(Json(row.into()))
    }

    /// Create a new report history record
    ///
    /// For reports made outside this service. Exports and re-exports record their reports by
    /// themselves.
    #[oai(
        path = "/api/v1/report-history",
        method = "post",
        operation_id = "createReportHistory"
    )]
    async fn create(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        req: &Request,
        /// Makes a retry safe: the same key and body get the first answer.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<IdempotencyKeyText>>,
        body: Json<CreateReport>,
    ) -> Result<CreateResponse, ProblemResponse> {
        let caller = auth.0;
        caller.require_any(WRITERS)?;
        let org = access::org(&state, &caller, &body.org_id).await?;
        let body = body.0;
        let kind = Kind::from(body.report_type);
        let errors = body.problems();
        let named = (body.file_ref.map(String::from), body.file_size_bytes);
        let file = report_file(&state, &org, named, errors).await?;
        let metadata = metadata(&caller, req);
        let report_id = commands::id_for("rpt", &metadata);
        let report = NewReport {
            report_id: report_id.clone(),
            org_id: org,
            report_type: kind,
            period_from: body.period_from.into(),
            period_to: body.period_to.into(),
            status: body.status.map(Status::from).unwrap_or_default(),
            file,
            generated_by: body
                .generated_by
                .map(String::from)
                .or_else(|| Some(caller.actor())),
            generated_at: body.generated_at.map(Into::into),
            source_position: None,
            export_id: None,
        };
        command::record(&state.commands, &metadata, report).await?;
        let row = access::report(&state, &caller, &report_id).await?;
        Ok(CreateResponse::Created(
            Json(row.into()),
            location(&report_id),
        ))
    }

    /// Update an existing report history record (e.g. attach file_ref on completion)
    ///
    /// Only valid status changes are taken (409 otherwise); a completed report is final.
    #[oai(
        path = "/api/v1/report-history/:report_id",
        method = "put",
        operation_id = "updateReportHistory"
    )]
    async fn update(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        req: &Request,
        report_id: Path<String>,
        body: Json<UpdateReport>,
    ) -> Result<Json<ReportRecord>, ProblemResponse> {
        let caller = auth.0;
        let row = access::report(&state, &caller, &report_id.0).await?;
        caller.require_any(WRITERS)?;
        let body = body.0;
        let named = (body.file_ref.map(String::from), body.file_size_bytes);
        let file = report_file(&state, &row.org_id, named, vec![]).await?;
        let update = ReportUpdate {
            status: body.status.map(Status::from),
            file,
            generated_at: body.generated_at.map(Into::into),
        };
        command::update(
            &state.commands,
            &metadata(&caller, req),
            &report_id.0,
            update,
        )
        .await?;
        let row = access::report(&state, &caller, &report_id.0).await?;
        Ok(Json(row.into()))
    }

    /// Upload a report's file
    ///
    /// The finished file's bytes (any content type; at most 256 MiB). It is kept under the
    /// organisation's own prefix, attached to the report, and the report becomes `completed`.
    /// So a renderer outside this service never names a file store key. 409 once the report is
    /// completed. `file_name` (one segment of letters, digits, `.`, `_`, `-`) defaults to
    /// `report` with the extension of the content type.
    #[oai(
        path = "/api/v1/report-history/:report_id/upload",
        method = "put",
        operation_id = "uploadReportFile"
    )]
    async fn upload(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        req: &Request,
        report_id: Path<String>,
        file_name: Query<Option<FileNameText>>,
        body: Binary<Body>,
    ) -> Result<Json<ReportRecord>, ProblemResponse> {
        let caller = auth.0;
        let row = access::report(&state, &caller, &report_id.0).await?;
        caller.require_any(WRITERS)?;
        if row.status == Status::Completed {
            return Err(ApiError::Conflict(format!(
                "report {} is completed; its file is final",
                row.report_id
            ))
            .into());
        }
        let name = upload_name(
            file_name.0.as_ref().map(|n| n.as_str()),
            req.content_type(),
            "report",
        )?;
        let key = upload_key(&row.org_id, &row.report_id, &name)?;
        let size = store_upload(&state, body.0, &key).await?;
        let update = ReportUpdate {
            status: Some(Status::Completed),
            file: Some(ReportFile {
                file_ref: key.to_string(),
                file_size_bytes: size,
            }),
            generated_at: None,
        };
        let metadata = metadata(&caller, req);
        if let Err(e) = command::update(&state.commands, &metadata, &row.report_id, update).await {
            // Not recorded (completed meanwhile, say): the stored copy would be an orphan.
            let _ = state.services.files.delete(key.as_str()).await;
            return Err(e.into());
        }
        let row = access::report(&state, &caller, &row.report_id).await?;
        Ok(Json(row.into()))
    }

    /// Generate a signed download URL for a report file
    ///
    /// The link works for an hour without a bearer token. 409 while the report has no file.
    #[oai(
        path = "/api/v1/report-history/:report_id/download-url",
        method = "get",
        operation_id = "getReportDownloadUrl"
    )]
    async fn download_url(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        req: &Request,
        report_id: Path<String>,
    ) -> Result<Json<DownloadUrl>, ProblemResponse> {
        let row = access::report(&state, &auth.0, &report_id.0).await?;
        let (Some(_), Some(file_name), "completed") =
            (&row.file_ref, row.file_name.clone(), row.status.as_str())
        else {
            return Err(ApiError::Conflict(format!(
                "report {} is {} and has no file yet",
                row.report_id,
                row.status.as_str()
            ))
            .into());
        };
        let expires_at = Utc::now() + Duration::minutes(LINK_LIFETIME_MINUTES);
        let path = file_path(&row.report_id);
        Ok(Json(DownloadUrl {
            download_url: format!(
                "{}{path}?{}",
                base_url(&state, req),
                state.links.sign(&path, expires_at)
            ),
            expires_at: expires_at.into(),
            file_name,
            file_size_bytes: row.file_size_bytes,
            report_id: row.report_id,
        }))
    }

    /// Delete a report history record (retention policy enforcement applies)
    ///
    /// Refused with 409 until five years after the end of the calendar year the report's period
    /// ends in (bokføringsloven § 13); the problem says until when. Afterwards the record and
    /// its file go; the log keeps the deletion and who did it. Needs the `admin` role.
    #[oai(
        path = "/api/v1/report-history/:report_id",
        method = "delete",
        operation_id = "deleteReportHistory"
    )]
    async fn delete(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        req: &Request,
        report_id: Path<String>,
    ) -> Result<Json<ReportDeleted>, ProblemResponse> {
        let caller = auth.0;
        let row = access::report(&state, &caller, &report_id.0).await?;
        caller.require_any(ADMINS)?;
        let metadata = metadata(&caller, req);
        let today = Utc::now().date_naive();
        let now = command::delete(&state.commands, &metadata, &row.report_id, today).await?;
        if let Some(file_ref) = &row.file_ref {
            remove_report_file(&state, &row.org_id, &row.report_id, file_ref).await?;
            // Recording it keeps the history worker from trying again.
            if let Err(e) = command::file_removed(&state.commands, &metadata, &row.report_id).await
            {
                tracing::warn!(error = %store::causes(&e), "could not record the removal of a deleted report's file");
            }
        }
        Ok(Json(ReportDeleted {
            report_id: row.report_id,
            deleted: true,
            deleted_at: now.into(),
        }))
    }
}
