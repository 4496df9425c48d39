//! Why did this figure change (`/api/v1/organizations/{org_id}/report-diffs/{period_id}`): a
//! report's figures in two versions, field by field, with the imports that moved each.

use chrono::{DateTime, Utc};
use commands::diffs::{self, Contribution, Cut, FieldChange, Version};
use domain::PeriodId;
use domain::schema::Unit;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use crate::http::access::org as visible_org;
use crate::http::auth::BearerAuth;
use crate::http::problem::{ApiError, FieldError, ProblemResponse};
use crate::http::routes::bufdir_api::ValidationIssue;
use crate::http::routes::{ApiTags, PageParams, Pagination};
use crate::http::state::AppState;
use crate::http::wire::Timestamp;

pub struct ReportDiffsApi;

/// A version and where it cuts the log.
#[derive(Debug, Object)]
pub(crate) struct VersionView {
    /// As asked: `current`, `last_submission`, `position:N`, `snapshot:ID`, `submission:ID` or
    /// a time.
    pub version: String,
    /// The log position its figures were read at; `null`: the log as it stands.
    #[oai(nullable)]
    pub position: Option<String>,
}

/// One import's part in a field's change.
#[derive(Debug, Object)]
pub(crate) struct ContributionView {
    /// Where the import is in the log.
    pub position: String,
    pub import_id: String,
    pub data_source: String,
    /// Who sent it (the token's subject).
    #[oai(nullable)]
    pub actor: Option<String>,
    /// The identity provider of `actor`; `null` for local tokens.
    #[oai(nullable)]
    pub issuer: Option<String>,
    pub imported_at: Timestamp,
    /// Its records counted in this field's sum for the period.
    pub records_added: i64,
    /// Earlier versions of records it replaced there (corrections).
    pub records_replaced: i64,
    /// How much it moved the figure.
    pub change: f64,
}

#[derive(Debug, Object)]
pub(crate) struct FieldChangeView {
    pub section_id: String,
    pub key: String,
    pub label_nb: String,
    pub label_nn: String,
    pub label_en: String,
    /// `count` or `hours`.
    pub unit: String,
    /// `null`: not populated in that version.
    #[oai(nullable)]
    pub before: Option<f64>,
    #[oai(nullable)]
    pub after: Option<f64>,
    pub change: f64,
    /// `change / before`; `null` when `before` is absent or zero.
    #[oai(nullable)]
    pub relative_change: Option<f64>,
    /// The imports that moved it, in log order.
    pub lineage: Vec<ContributionView>,
}

#[derive(Debug, Object)]
pub(crate) struct ReportDiffView {
    pub org_id: String,
    pub period_id: String,
    pub from: VersionView,
    pub to: VersionView,
    /// The fields whose figure differs, in the schema's order.
    pub fields: Vec<FieldChangeView>,
    /// Validation findings of `to` that `from` did not have.
    pub findings_appeared: Vec<ValidationIssue>,
    /// Validation findings of `from` that `to` no longer has.
    pub findings_resolved: Vec<ValidationIssue>,
}

/// One record of an import, as the import sent it.
#[derive(Debug, Object)]
pub(crate) struct ImportedRecord {
    pub record_id: String,
    pub occurred_on: String,
    pub value: f64,
    #[oai(nullable)]
    pub hours: Option<f64>,
}

/// An import's records behind a field's change, a page at a time.
#[derive(Debug, Object)]
pub(crate) struct ImportRecordList {
    pub position: String,
    pub import_id: String,
    pub data_source: String,
    #[oai(nullable)]
    pub actor: Option<String>,
    #[oai(nullable)]
    pub issuer: Option<String>,
    pub imported_at: Timestamp,
    /// The field whose metric the records count for.
    pub field: String,
    pub data: Vec<ImportedRecord>,
    pub pagination: Pagination,
}

fn parse_period(text: &str) -> Result<PeriodId, ApiError> {
    PeriodId::parse(text).map_err(|e| {
        ApiError::invalid(vec![FieldError::new(
            "period_id",
            "invalid_period",
            e.to_string(),
        )])
    })
}

fn parse_version(name: &str, text: &str) -> Result<Version, ApiError> {
    let bad = || {
        ApiError::invalid(vec![FieldError::new(
            name,
            "invalid_version",
            format!(
                "{name} is current, last_submission, position:N, snapshot:ID, submission:ID or an RFC 3339 time"
            ),
        )])
    };
    Ok(match text.split_once(':') {
        _ if text == "current" => Version::Current,
        _ if text == "last_submission" => Version::LastSubmission,
        Some(("position", n)) => Version::Position(n.parse().map_err(|_| bad())?),
        Some(("snapshot", id)) if !id.is_empty() => Version::Snapshot(id.to_string()),
        Some(("submission", id)) if !id.is_empty() => Version::Submission(id.to_string()),
        _ => Version::Time(
            DateTime::parse_from_rfc3339(text)
                .map_err(|_| bad())?
                .with_timezone(&Utc),
        ),
    })
}

fn version_view(asked: &str, cut: &Cut) -> VersionView {
    VersionView {
        version: asked.to_string(),
        position: cut.position.map(|p| p.max(0).to_string()),
    }
}

fn field_view(f: FieldChange) -> FieldChangeView {
    FieldChangeView {
        section_id: f.section_id,
        key: f.key,
        label_nb: f.labels.nb,
        label_nn: f.labels.nn,
        label_en: f.labels.en,
        unit: match f.unit {
            Unit::Count => "count",
            Unit::Hours => "hours",
        }
        .into(),
        before: f.before,
        after: f.after,
        change: f.change,
        relative_change: f.relative_change,
        lineage: f.lineage.into_iter().map(contribution_view).collect(),
    }
}

fn contribution_view(c: Contribution) -> ContributionView {
    ContributionView {
        position: c.position.to_string(),
        import_id: c.import_id,
        data_source: c.data_source,
        actor: c.actor,
        issuer: c.issuer,
        imported_at: c.imported_at.into(),
        records_added: c.records_added,
        records_replaced: c.records_replaced,
        change: c.change,
    }
}

#[OpenApi(tag = "ApiTags::AggregatedReportData")]
impl ReportDiffsApi {
    /// What changed in a report's figures between two versions, and why
    ///
    /// Any role of the organisation. `from_version` and `to_version` are each `current` (the log as it stands),
    /// `last_submission` (what the newest submission Bufdir received was made from),
    /// `submission:ID`, `snapshot:ID`, `position:N` (a log position, as `audit replay --as-of`
    /// takes) or an RFC 3339 time (the imports recorded by then). Defaults: from the last
    /// submission to now. Each changed field has its label, unit, before and after, and its
    /// lineage: every import that moved it, with who, when, its log position, its records and
    /// how much it contributed.
    #[oai(
        path = "/api/v1/organizations/:org_id/report-diffs/:period_id",
        method = "get",
        operation_id = "diffReport"
    )]
    async fn diff(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        org_id: Path<String>,
        period_id: Path<String>,
        /// The earlier version (default `last_submission`).
        from_version: Query<Option<String>>,
        /// The later version (default `current`).
        to_version: Query<Option<String>>,
    ) -> Result<Json<ReportDiffView>, ProblemResponse> {
        let org = visible_org(&state, &auth.0, &org_id.0).await?;
        let period = parse_period(&period_id.0)?;
        let from_text = from_version.0.unwrap_or_else(|| "last_submission".into());
        let to_text = to_version.0.unwrap_or_else(|| "current".into());
        let from = parse_version("from_version", &from_text)?;
        let to = parse_version("to_version", &to_text)?;
        let diff = diffs::diff(&state.commands, &org, &period, from, to).await?;
        Ok(Json(ReportDiffView {
            org_id: org.to_string(),
            period_id: period.to_string(),
            from: version_view(&from_text, &diff.from),
            to: version_view(&to_text, &diff.to),
            fields: diff.fields.into_iter().map(field_view).collect(),
            findings_appeared: diff.findings_appeared.iter().map(Into::into).collect(),
            findings_resolved: diff.findings_resolved.iter().map(Into::into).collect(),
        }))
    }

    /// The records of one import behind a field's change
    ///
    /// Any role of the organisation. The records of the import at `position` (a `lineage`
    /// entry's) that count for field `field_key` in the period, as the import sent them, a page at a
    /// time. Another organisation's import is a 404.
    #[oai(
        path = "/api/v1/organizations/:org_id/report-diffs/:period_id/imports/:position/records",
        method = "get",
        operation_id = "listImportRecords"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn import_records(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        org_id: Path<String>,
        period_id: Path<String>,
        /// The import's log position.
        position: Path<i64>,
        /// The field's key.
        field_key: Query<String>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))] page: Query<
            Option<u32>,
        >,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] limit: Query<Option<u32>>,
    ) -> Result<Json<ImportRecordList>, ProblemResponse> {
        let org = visible_org(&state, &auth.0, &org_id.0).await?;
        let period = parse_period(&period_id.0)?;
        let params = PageParams::new(page.0, limit.0);
        let found = diffs::import_records(
            &state.commands,
            &org,
            &period,
            position.0,
            &field_key.0,
            params.rows(),
        )
        .await?;
        Ok(Json(ImportRecordList {
            position: found.batch.position.to_string(),
            import_id: found.batch.import_id,
            data_source: found.batch.data_source,
            actor: found.batch.actor,
            issuer: found.batch.issuer,
            imported_at: found.batch.imported_at.into(),
            field: field_key.0,
            data: found
                .records
                .into_iter()
                .map(|r| ImportedRecord {
                    record_id: r.record_id,
                    occurred_on: r.occurred_on.to_string(),
                    value: r.value,
                    hours: r.hours,
                })
                .collect(),
            pagination: params.pagination(found.total),
        }))
    }
}
