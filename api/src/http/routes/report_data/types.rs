//! What the snapshot operations take and answer.

use domain::schema::Labels;
use domain::schema::{self, Requirement, Unit};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, Union};
use projections::report_queries::SnapshotRow;

use crate::http::routes::Pagination;
use crate::http::text::{OrgIdText, PeriodIdText, Text500};
use crate::http::wire::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum SnapshotStatus {
    Processing,
    Current,
    Historical,
    Failed,
}

impl From<SnapshotStatus> for domain::report_data::SnapshotStatus {
    fn from(s: SnapshotStatus) -> Self {
        use domain::report_data::SnapshotStatus as Stored;
        match s {
            SnapshotStatus::Processing => Stored::Processing,
            SnapshotStatus::Current => Stored::Current,
            SnapshotStatus::Historical => Stored::Historical,
            SnapshotStatus::Failed => Stored::Failed,
        }
    }
}

impl From<domain::report_data::SnapshotStatus> for SnapshotStatus {
    fn from(s: domain::report_data::SnapshotStatus) -> Self {
        use domain::report_data::SnapshotStatus as Stored;
        match s {
            Stored::Processing => Self::Processing,
            Stored::Current => Self::Current,
            Stored::Historical => Self::Historical,
            Stored::Failed => Self::Failed,
        }
    }
}

/// The language of labels and titles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Default)]
#[oai(rename_all = "lowercase")]
pub(crate) enum Lang {
    #[default]
    Nb,
    Nn,
    En,
}

impl Lang {
    pub fn pick(self, labels: &Labels) -> String {
        match self {
            Lang::Nb => labels.nb.clone(),
            Lang::Nn => labels.nn.clone(),
            Lang::En => labels.en.clone(),
        }
    }
}

#[derive(Debug, Object)]
pub(crate) struct SnapshotSummary {
    pub snapshot_id: String,
    pub organization_id: String,
    #[oai(nullable)]
    pub organization_name: Option<String>,
    pub period_id: String,
    pub snapshot_status: SnapshotStatus,
    /// Fields in the reporting schema.
    pub field_count: u64,
    /// Fields with at least one source record.
    pub populated_field_count: u64,
    /// False while new source data or an invalidation has not been aggregated yet.
    pub cache_valid: bool,
    #[oai(nullable)]
    pub aggregated_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

impl From<SnapshotRow> for SnapshotSummary {
    fn from(row: SnapshotRow) -> Self {
        SnapshotSummary {
            snapshot_status: row.status.into(),
            field_count: schema::bufdir_2025_v2().fields().count() as u64,
            populated_field_count: row.populated_field_count,
            cache_valid: row.cache_valid,
            snapshot_id: row.snapshot_id,
            organization_id: row.org_id.into(),
            organization_name: row.organization_name,
            period_id: row.period_id.into(),
            aggregated_at: row.aggregated_at.map(Into::into),
            created_at: row.created_at.into(),
        }
    }
}

#[derive(Debug, Object)]
pub(crate) struct SnapshotList {
    pub data: Vec<SnapshotSummary>,
    pub pagination: Pagination,
}

/// A figure counted in whole numbers (`unit: count`).
#[derive(Debug, Object)]
pub(crate) struct CountField {
    pub field_key: String,
    /// Null when no source record feeds the field.
    #[oai(nullable)]
    pub value: Option<i64>,
    #[oai(nullable)]
    pub prior_period_value: Option<i64>,
    #[oai(nullable)]
    pub data_source: Option<String>,
    pub label: String,
    /// `required`, `recommended` or `optional`.
    pub requirement: String,
}

/// A figure in hours (`unit: hours`), which may have a fraction.
#[derive(Debug, Object)]
pub(crate) struct HoursField {
    pub field_key: String,
    /// Null when no source record feeds the field.
    #[oai(nullable)]
    pub value: Option<f64>,
    #[oai(nullable)]
    pub prior_period_value: Option<f64>,
    #[oai(nullable)]
    pub data_source: Option<String>,
    pub label: String,
    /// `required`, `recommended` or `optional`.
    pub requirement: String,
}

/// One field of a section; `unit` says whether its figures are whole counts or hours.
#[derive(Debug, Union)]
#[oai(discriminator_name = "unit", one_of)]
pub(crate) enum FieldView {
    #[oai(mapping = "count")]
    Count(CountField),
    #[oai(mapping = "hours")]
    Hours(HoursField),
}

#[derive(Debug, Object)]
pub(crate) struct SectionView {
    pub section_id: String,
    pub section_title: String,
    pub fields: Vec<FieldView>,
}

#[derive(Debug, Object)]
pub(crate) struct PriorPeriod {
    pub period_id: String,
    /// The prior period's current snapshot, if one exists.
    #[oai(nullable)]
    pub snapshot_id: Option<String>,
    #[oai(nullable)]
    pub aggregated_at: Option<Timestamp>,
}

#[derive(Debug, Object)]
pub(crate) struct SnapshotDetail {
    pub snapshot_id: String,
    pub organization_id: String,
    #[oai(nullable)]
    pub organization_name: Option<String>,
    pub period_id: String,
    pub snapshot_status: SnapshotStatus,
    pub cache_valid: bool,
    #[oai(nullable)]
    pub aggregated_at: Option<Timestamp>,
    pub sections: Vec<SectionView>,
    pub prior_period: PriorPeriod,
    pub field_count: u64,
    pub populated_field_count: u64,
    pub job_id: String,
    pub created_at: Timestamp,
    #[oai(nullable)]
    pub error_message: Option<String>,
}

#[derive(Debug, Object)]
pub(crate) struct TriggerAggregation {
    pub organization_id: OrgIdText,
    /// A year (`2024`) or a quarter (`2024-Q1`).
    pub period_id: PeriodIdText,
    /// Start a new snapshot even when a valid one exists.
    #[oai(default)]
    pub force_reaggregate: bool,
}

#[derive(Debug, Object)]
pub(crate) struct SnapshotJob {
    pub snapshot_id: String,
    pub organization_id: String,
    pub period_id: String,
    pub snapshot_status: SnapshotStatus,
    pub job_id: String,
    /// From the durations of recent aggregations.
    #[oai(nullable)]
    pub estimated_completion_seconds: Option<u64>,
    #[oai(nullable)]
    pub aggregated_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

#[derive(ApiResponse)]
pub(crate) enum TriggerResponse {
    /// A valid snapshot exists and `force_reaggregate` was false: this is it.
    #[oai(status = 200)]
    Existing(Json<SnapshotJob>),
    /// Aggregation started (or was already running); follow `Location`.
    #[oai(status = 202)]
    Started(Json<SnapshotJob>, #[oai(header = "Location")] String),
}

#[derive(Debug, Object)]
pub struct Invalidate {
    /// Must be true: invalidation drops the cached figures and re-aggregates.
    pub invalidate_cache: bool,
    pub reason: Text500,
}

#[derive(Debug, Object)]
pub(crate) struct Invalidated {
    pub snapshot_id: String,
    pub organization_id: String,
    pub period_id: String,
    pub snapshot_status: SnapshotStatus,
    pub cache_valid: bool,
    pub invalidation_reason: String,
    pub job_id: String,
    pub invalidated_at: Timestamp,
}

#[derive(ApiResponse)]
pub(crate) enum InvalidateResponse {
    /// Re-aggregation started.
    #[oai(status = 202)]
    Accepted(Json<Invalidated>, #[oai(header = "Location")] String),
}

#[derive(Debug, Object)]
pub struct Deleted {
    pub deleted: bool,
    pub snapshot_id: String,
    pub cache_cleared: bool,
}

/// A snapshot's figures by the schema's sections, labelled in `lang`; each field a count or
/// hours, as the schema's unit says.
pub(crate) fn sections_of(row: &SnapshotRow, lang: Lang) -> Vec<SectionView> {
    let values = row.sections.clone().unwrap_or_default();
    let prior = row.prior_values.clone().unwrap_or_default();
    schema::bufdir_2025_v2()
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
        .collect()
}
