mod types;

use chrono::{SubsecRound, Utc};
use domain::report_data::{ReportData, ReportDataCommand};
use domain::schema::{self, Requirement, Unit};
use domain::{OrgId, PeriodId};
use poem::Request;
use poem::web::Data;
use poem_openapi::OpenApi;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use projections::organizations::Visible;
use projections::report_data;
use projections::report_queries::{self, SnapshotFilter, SnapshotRow};

use crate::access::org as visible_org;
use crate::auth::{BearerAuth, Caller, Role};
use crate::problem::{ApiError, FieldError, ProblemResponse};
use crate::routes::{ApiTags, PageParams, metadata, new_id};
use crate::state::AppState;
pub use types::*;

pub struct ReportDataApi;

fn summary(row: SnapshotRow) -> Result<SnapshotSummary, ApiError> {
    Ok(SnapshotSummary {
        snapshot_status: SnapshotStatus::parse(&row.status)?,
        field_count: schema::bufdir_2025_v2().fields().count() as u64,
        populated_field_count: row.populated_field_count,
        cache_valid: row.cache_valid,
        snapshot_id: row.snapshot_id,
        organization_id: row.org_id,
        organization_name: row.organization_name,
        period_id: row.period_id,
        aggregated_at: row.aggregated_at.map(Into::into),
        created_at: row.created_at.into(),
    })
}

async fn visible_snapshot(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<SnapshotRow, ApiError> {
    let found = report_queries::snapshot(&state.db.read, id)
        .await
        .map_err(ApiError::internal)?;
    let org = found.as_ref().map(|s| s.org_id.clone()).unwrap_or_default();
    caller.scope(&org, found, "snapshot")
}

async fn estimate_seconds(state: &AppState) -> Result<Option<u64>, ApiError> {
    let ms = report_queries::recent_aggregation_ms(&state.db.read)
        .await
        .map_err(ApiError::internal)?;
    Ok(ms.map(|ms| ((ms / 1000.0).ceil() as u64).max(1)))
}

fn stream_of(row: &SnapshotRow) -> Result<String, ApiError> {
    let org = OrgId::parse(&row.org_id).map_err(ApiError::internal)?;
    let period = PeriodId::parse(&row.period_id).map_err(ApiError::internal)?;
    Ok(ReportData::stream(&org, &period))
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
            status: snapshot_status.0.map(|s| s.as_str().to_string()),
        };
        let visible = caller.visible();
        let (rows, total) = report_queries::snapshots(
            &state.db.read,
            &filter,
            visible,
            params.offset(),
            u64::from(params.limit),
        )
        .await
        .map_err(ApiError::internal)?;
        let data = rows.into_iter().map(summary).collect::<Result<_, _>>()?;
        Ok(Json(SnapshotList {
            data,
            pagination: params.pagination(total),
        }))
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
    ) -> Result<Json<SnapshotDetail>, ProblemResponse> {
        let row = visible_snapshot(&state, &auth.0, &id.0).await?;
        let lang = lang.0.unwrap_or_default();
        let period = PeriodId::parse(&row.period_id).map_err(ApiError::internal)?;
        let prior_period = period.prior().to_string();
        let prior_snapshot = report_queries::current(&state.db.read, &row.org_id, &prior_period)
            .await
            .map_err(ApiError::internal)?;
        let schema = schema::bufdir_2025_v2();
        let values = row.sections.clone().unwrap_or_default();
        let prior = row.prior_values.clone().unwrap_or_default();
        let sections = schema
            .sections
            .iter()
            .map(|section| SectionView {
                section_id: section.id.clone(),
                section_title: lang.pick(&section.labels),
                fields: section
                    .fields
                    .iter()
                    .map(|f| {
                        let current = values.get(&section.id).and_then(|s| s.get(&f.key));
                        let value = current.map(|v| v.value);
                        let prior_value = prior.get(&f.key).copied();
                        let data_source = current.and_then(|v| v.data_source.clone());
                        let requirement = match f.requirement {
                            Requirement::Required => "required",
                            Requirement::Recommended => "recommended",
                            Requirement::Optional => "optional",
                        }
                        .to_string();
                        match f.unit {
                            // Counts are sums of whole numbers (imports refuse fractions).
                            Unit::Count => FieldView::Count(CountField {
                                field_key: f.key.clone(),
                                value: value.map(|v| v.round() as i64),
                                prior_period_value: prior_value.map(|v| v.round() as i64),
                                data_source,
                                label: lang.pick(&f.labels),
                                requirement,
                            }),
                            Unit::Hours => FieldView::Hours(HoursField {
                                field_key: f.key.clone(),
                                value,
                                prior_period_value: prior_value,
                                data_source,
                                label: lang.pick(&f.labels),
                                requirement,
                            }),
                        }
                    })
                    .collect(),
            })
            .collect();
        Ok(Json(SnapshotDetail {
            snapshot_status: SnapshotStatus::parse(&row.status)?,
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
            organization_id: row.org_id,
            organization_name: row.organization_name,
            period_id: row.period_id,
        }))
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
        #[oai(
            name = "Idempotency-Key",
            validator(min_length = 1, max_length = 255, pattern = r"^[!-~]{1,255}$")
        )]
        _idempotency_key: Header<Option<String>>,
        body: Json<TriggerAggregation>,
    ) -> Result<TriggerResponse, ProblemResponse> {
        let caller = auth.0;
        caller.require_any(&[Role::Reporter, Role::Admin, Role::Service])?;
        let period = PeriodId::parse(&body.period_id).map_err(|e| {
            ApiError::invalid(vec![FieldError::new(
                "period_id",
                "invalid_period",
                e.to_string(),
            )])
        })?;
        let org_id = visible_org(&state, &caller, &body.organization_id).await?;
        let snapshot_id = new_id("snap");
        let job_id = new_id("job");
        let now = Utc::now().trunc_subsecs(6);
        let executed = commands::execute::<ReportData>(
            state.db.events.as_ref(),
            &ReportData::stream(&org_id, &period),
            &metadata(&caller, req),
            || ReportDataCommand::Request {
                snapshot_id: snapshot_id.clone(),
                job_id: job_id.clone(),
                org_id: org_id.clone(),
                period_id: period,
                force: body.force_reaggregate,
                now,
            },
        )
        .await
        .map_err(ApiError::from)?;
        let estimate = estimate_seconds(&state).await?;
        let Some(outcome) = executed.outcome else {
            // Nothing new: answer with the snapshot that made the request unnecessary.
            let existing = report_queries::snapshots(
                &state.db.read,
                &SnapshotFilter {
                    org_id: Some(org_id.to_string()),
                    period_id: Some(period.to_string()),
                    status: None,
                },
                Visible::All,
                0,
                100,
            )
            .await
            .map_err(ApiError::internal)?
            .0
            .into_iter()
            .find(|s| s.status == "current" || s.status == "processing")
            .ok_or_else(|| {
                ApiError::Unavailable("the existing snapshot is not visible yet; retry".into())
            })?;
            let job = SnapshotJob {
                snapshot_status: SnapshotStatus::parse(&existing.status)?,
                estimated_completion_seconds: (existing.status == "processing")
                    .then_some(estimate)
                    .flatten(),
                snapshot_id: existing.snapshot_id.clone(),
                organization_id: existing.org_id,
                period_id: existing.period_id,
                job_id: existing.job_id,
                aggregated_at: existing.aggregated_at.map(Into::into),
                created_at: existing.created_at.into(),
            };
            return Ok(if existing.status == "current" {
                TriggerResponse::Existing(Json(job))
            } else {
                TriggerResponse::Started(
                    Json(job),
                    format!("/api/v1/aggregated-report-data/{}", existing.snapshot_id),
                )
            });
        };
        state.wait_for(report_data::NAME, &outcome.position).await?;
        let location = format!("/api/v1/aggregated-report-data/{snapshot_id}");
        Ok(TriggerResponse::Started(
            Json(SnapshotJob {
                snapshot_id,
                organization_id: org_id.to_string(),
                period_id: period.to_string(),
                snapshot_status: SnapshotStatus::Processing,
                job_id,
                estimated_completion_seconds: estimate,
                aggregated_at: None,
                created_at: now.into(),
            }),
            location,
        ))
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
        caller.require_any(&[Role::Reporter, Role::Admin, Role::Service])?;
        let row = visible_snapshot(&state, &caller, &id.0).await?;
        let reason = body.reason.trim().to_string();
        let mut errors = Vec::new();
        if !body.invalidate_cache {
            errors.push(FieldError::new(
                "invalidate_cache",
                "must_be_true",
                "invalidate_cache must be true to re-aggregate",
            ));
        }
        if reason.is_empty() || reason.chars().count() > 500 {
            errors.push(FieldError::new(
                "reason",
                "invalid_reason",
                "reason is 1 to 500 characters",
            ));
        }
        if !errors.is_empty() {
            return Err(ApiError::invalid(errors).into());
        }
        let job_id = new_id("job");
        let now = Utc::now().trunc_subsecs(6);
        let executed = commands::execute::<ReportData>(
            state.db.events.as_ref(),
            &stream_of(&row)?,
            &metadata(&caller, req),
            || ReportDataCommand::Invalidate {
                snapshot_id: row.snapshot_id.clone(),
                job_id: job_id.clone(),
                reason: reason.clone(),
                now,
            },
        )
        .await
        .map_err(ApiError::from)?;
        if let Some(outcome) = executed.outcome {
            state.wait_for(report_data::NAME, &outcome.position).await?;
        }
        let location = format!("/api/v1/aggregated-report-data/{}", row.snapshot_id);
        Ok(InvalidateResponse::Accepted(
            Json(Invalidated {
                snapshot_id: row.snapshot_id,
                organization_id: row.org_id,
                period_id: row.period_id,
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
        caller.require_any(&[Role::Reporter, Role::Admin])?;
        let row = visible_snapshot(&state, &caller, &id.0).await?;
        let now = Utc::now();
        let executed = commands::execute::<ReportData>(
            state.db.events.as_ref(),
            &stream_of(&row)?,
            &metadata(&caller, req),
            || ReportDataCommand::Delete {
                snapshot_id: row.snapshot_id.clone(),
                now,
            },
        )
        .await
        .map_err(ApiError::from)?;
        if let Some(outcome) = executed.outcome {
            state.wait_for(report_data::NAME, &outcome.position).await?;
        }
        Ok(Json(Deleted {
            deleted: true,
            snapshot_id: row.snapshot_id,
            cache_cleared: true,
        }))
    }
}
