//! Aggregated report data (`/api/v1/aggregated-report-data`): snapshots of an organisation's
//! figures per period, with the prior period's beside them; aggregation runs in a worker.

mod types;

use commands::snapshots::{self, InvalidateSnapshot, RequestSnapshot, Requested};
use domain::PeriodId;
use domain::schema;
use poem::Request;
use poem::web::Data;
use poem_openapi::OpenApi;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use projections::report_queries::{self, SnapshotFilter, SnapshotRow};

use crate::http::access::{self, WRITERS};
use crate::http::auth::BearerAuth;
use crate::http::problem::{ApiError, FieldError, ProblemResponse};
use crate::http::routes::{ApiTags, PageParams, metadata};
use crate::http::state::AppState;
use crate::http::text::IdempotencyKeyText;
pub use types::*;

pub struct ReportDataApi;

fn location(snapshot_id: &str) -> String {
    format!("/api/v1/aggregated-report-data/{snapshot_id}")
}

async fn estimate_seconds(state: &AppState) -> Result<Option<u64>, ApiError> {
    let ms = report_queries::recent_aggregation_ms(&state.db.read).await?;
    Ok(ms.map(|ms| ((ms / 1000.0).ceil() as u64).max(1)))
}

#[OpenApi(tag = "ApiTags::AggregatedReportData")]
impl ReportDataApi {
    /// List aggregated report data snapshots
    ///
    /// Any role; only the caller's organisations' snapshots. Newest first; `{data, pagination}`.
    #[oai(
        path = "/api/v1/aggregated-report-data",
        method = "get",
        operation_id = "listSnapshots"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        organization_id: Query<Option<String>>,
        period_id: Query<Option<String>>,
        snapshot_status: Query<Option<SnapshotStatus>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))] page: Query<
            Option<u32>,
        >,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] limit: Query<Option<u32>>,
    ) -> Result<Json<SnapshotList>, ProblemResponse> {
        let caller = auth.0;
        let params = PageParams::new(page.0, limit.0);
        let filter = SnapshotFilter {
            org_id: organization_id.0,
            period_id: period_id.0,
            status: snapshot_status.0.map(Into::into),
        };
        let visible = caller.visible();
        let found =
            report_queries::snapshots(&state.db.read, &filter, visible, params.rows()).await?;
        let (data, pagination) = params.page_of(found);
        Ok(Json(SnapshotList { data, pagination }))
    }

    /// Get a snapshot with every figure and the prior period's
    ///
    /// Any role of the organisation. Each field says its `unit`: `count` figures are integers,
    /// `hours` may have a fraction. `value` and `prior_period_value` are null where no source
    /// record feeds the field; `prior_period.snapshot_id` is null while the prior period has no
    /// snapshot. `lang` (`nb`, `nn`, `en`) picks the labels.
    #[oai(
        path = "/api/v1/aggregated-report-data/:id",
        method = "get",
        operation_id = "getSnapshot"
    )]
    async fn get(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        id: Path<String>,
        /// Language of titles and labels.
        lang: Query<Option<Lang>>,
        /// The snapshot as the service showed it at a log position (`position:N`, as
        /// `audit replay --as-of` takes it) or a moment (RFC 3339): read from the log.
        as_of: Query<Option<String>>,
    ) -> Result<Json<SnapshotDetail>, ProblemResponse> {
        let row = access::snapshot(&state, &auth.0, &id.0).await?;
        let row = match as_of.0.as_deref() {
            None => row,
            Some(text) => then(&state, row, crate::http::routes::parse_as_of(text)?, text).await?,
        };
        let lang = lang.0.unwrap_or_default();
        let prior_period = row.period_id.prior().to_string();
        let prior_snapshot =
            report_queries::current(&state.db.read, row.org_id.as_str(), &prior_period).await?;
        let schema = schema::bufdir_2025_v2();
        let sections = sections_of(&row, lang);
        Ok(Json(SnapshotDetail {
            snapshot_status: row.status.into(),
            field_count: schema.fields().count() as u64,
            populated_field_count: row.populated_field_count,
            cache_valid: row.cache_valid,
            aggregated_at: row.aggregated_at.map(Into::into),
            prior_period: PriorPeriod {
                period_id: prior_period,
                snapshot_id: prior_snapshot.as_ref().map(|s| s.snapshot_id.clone()),
                aggregated_at: prior_snapshot.and_then(|s| s.aggregated_at).map(Into::into),
            },
            sections,
            job_id: row.job_id,
            created_at: row.created_at.into(),
            error_message: row.error,
            snapshot_id: row.snapshot_id,
            organization_id: row.org_id.into(),
            organization_name: row.organization_name,
            period_id: row.period_id.into(),
        }))
    }

    /// The Bufdir payload of a snapshot's organisation and period
    ///
    /// Any role; only the caller's organisations. The payload Bufdir would get for the period
    /// from the figures as they stand now (what an export of the whole schema sends), ready for
    /// `POST /api/v1/bufdir-api/validate-payload`. An addition to the contracts: the live preview
    /// checks the report with it before it goes out.
    #[oai(
        path = "/api/v1/aggregated-report-data/:id/bufdir-payload",
        method = "get",
        operation_id = "getSnapshotPayload"
    )]
    async fn payload(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        id: Path<String>,
    ) -> Result<Json<serde_json::Value>, ProblemResponse> {
        let row = access::snapshot(&state, &auth.0, &id.0).await?;
        let org = access::organization(&state, row.org_id.as_str())
            .await?
            .ok_or_else(|| {
                ApiError::internal(anyhow::anyhow!("snapshot of an unknown organisation"))
            })?;
        let (period, org_id) = (row.period_id, row.org_id.clone());
        let mut tx = state
            .db
            .read
            .begin_consistent()
            .await
            .map_err(crate::http::rejections::database_failed)?;
        let sums =
            report_queries::metric_sums_between(&mut tx, &org_id, period.start(), period.end())
                .await?;
        tx.commit()
            .await
            .map_err(crate::http::rejections::database_failed)?;
        Ok(Json(domain::report_payload::of_sums(
            schema::bufdir_2025_v2(),
            &org.organisasjonsnummer,
            &period.to_string(),
            &sums,
        )))
    }

    /// Trigger aggregation for an organisation and period
    ///
    /// With `force_reaggregate=false`, an existing snapshot (current, or still processing) is
    /// returned instead of starting new work.
    #[oai(
        path = "/api/v1/aggregated-report-data",
        method = "post",
        operation_id = "triggerAggregation"
    )]
    async fn trigger(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        req: &Request,
        /// Makes a retry safe: the same key and body get the first answer.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<IdempotencyKeyText>>,
        body: Json<TriggerAggregation>,
    ) -> Result<TriggerResponse, ProblemResponse> {
        let caller = auth.0;
        caller.require_any(WRITERS)?;
        let period = PeriodId::parse(&body.period_id).map_err(|e| {
            ApiError::invalid(vec![FieldError::new(
                "period_id",
                "invalid_period",
                e.to_string(),
            )])
        })?;
        let org_id = access::org(&state, &caller, &body.organization_id).await?;
        let requested = snapshots::request(
            &state.commands,
            &metadata(&caller, req),
            RequestSnapshot {
                org_id: org_id.clone(),
                period_id: period,
                force: body.force_reaggregate,
            },
        )
        .await?;
        let estimate = estimate_seconds(&state).await?;
        Ok(match requested {
            Requested::Started {
                snapshot_id,
                job_id,
                requested_at,
            } => TriggerResponse::Started(
                Json(SnapshotJob {
                    snapshot_id: snapshot_id.clone(),
                    organization_id: org_id.to_string(),
                    period_id: period.to_string(),
                    snapshot_status: SnapshotStatus::Processing,
                    job_id,
                    estimated_completion_seconds: estimate,
                    aggregated_at: None,
                    created_at: requested_at.into(),
                }),
                location(&snapshot_id),
            ),
            Requested::Existing(existing) => {
                let processing = existing.status == domain::report_data::SnapshotStatus::Processing;
                let job = SnapshotJob {
                    snapshot_status: existing.status.into(),
                    estimated_completion_seconds: estimate.filter(|_| processing),
                    snapshot_id: existing.snapshot_id.clone(),
                    organization_id: existing.org_id.into(),
                    period_id: existing.period_id.into(),
                    job_id: existing.job_id,
                    aggregated_at: existing.aggregated_at.map(Into::into),
                    created_at: existing.created_at.into(),
                };
                if processing {
                    TriggerResponse::Started(Json(job), location(&existing.snapshot_id))
                } else {
                    TriggerResponse::Existing(Json(job))
                }
            }
        })
    }

    /// Invalidate a snapshot's cache and re-aggregate it
    ///
    /// Needs `reporter`, `admin` or `service`. `invalidate_cache` must be true; a historical
    /// snapshot is a 409.
    #[oai(
        path = "/api/v1/aggregated-report-data/:id",
        method = "put",
        operation_id = "invalidateSnapshot"
    )]
    async fn invalidate(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        req: &Request,
        id: Path<String>,
        body: Json<Invalidate>,
    ) -> Result<InvalidateResponse, ProblemResponse> {
        let caller = auth.0;
        caller.require_any(WRITERS)?;
        let row = access::snapshot(&state, &caller, &id.0).await?;
        let reason = body.reason.trim().to_string();
        let mut errors = Vec::new();
        if !body.invalidate_cache {
            errors.push(FieldError::new(
                "invalidate_cache",
                "must_be_true",
                "invalidate_cache must be true to re-aggregate",
            ));
        }
        body.reason.check("reason", &mut errors);
        if !errors.is_empty() {
            return Err(ApiError::invalid(errors).into());
        }
        let (job_id, now) = snapshots::invalidate(
            &state.commands,
            &metadata(&caller, req),
            &row,
            InvalidateSnapshot {
                reason: reason.clone(),
            },
        )
        .await?;
        let location = location(&row.snapshot_id);
        Ok(InvalidateResponse::Accepted(
            Json(Invalidated {
                snapshot_id: row.snapshot_id,
                organization_id: row.org_id.into(),
                period_id: row.period_id.into(),
                snapshot_status: SnapshotStatus::Processing,
                cache_valid: false,
                invalidation_reason: reason,
                job_id,
                invalidated_at: now.into(),
            }),
            location,
        ))
    }

    /// Delete a snapshot and clear its cache
    ///
    /// The snapshot is gone from the API; its events stay in the log for audit.
    #[oai(
        path = "/api/v1/aggregated-report-data/:id",
        method = "delete",
        operation_id = "deleteSnapshot"
    )]
    async fn delete(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        req: &Request,
        id: Path<String>,
    ) -> Result<Json<Deleted>, ProblemResponse> {
        let caller = auth.0;
        caller.require_any(WRITERS)?;
        let row = access::snapshot(&state, &caller, &id.0).await?;
        snapshots::delete(&state.commands, &metadata(&caller, req), &row).await?;
        Ok(Json(Deleted {
            deleted: true,
            snapshot_id: row.snapshot_id,
            cache_cleared: true,
        }))
    }
}

/// `row` as it stood `as_of`, from the log; a 404 when it did not exist then.
async fn then(
    state: &AppState,
    row: SnapshotRow,
    as_of: commands::as_of::AsOf,
    asked: &str,
) -> Result<SnapshotRow, ApiError> {
    let at = commands::snapshots::as_of(
        &state.commands,
        &row.org_id,
        &row.period_id,
        &row.snapshot_id,
        as_of,
    )
    .await?
    .ok_or_else(|| {
        ApiError::NotFound(format!(
            "snapshot {} did not exist at {asked}",
            row.snapshot_id
        ))
    })?;
    Ok(SnapshotRow {
        // Whether it was the current one then.
        cache_valid: at.status == domain::report_data::SnapshotStatus::Current,
        status: at.status,
        job_id: at.job_id,
        invalidation_reason: at.invalidation_reason,
        invalidated_at: at.invalidated_at,
        sections: at.sections,
        prior_values: at.prior_values,
        populated_field_count: at.populated_field_count,
        aggregated_at: at.aggregated_at,
        created_at: at.created_at,
        error: at.error,
        ..row
    })
}
