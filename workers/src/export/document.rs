//! What an export renders: one organisation's figures for a date range, read from the log at one
//! position, with the prior year's beside them. Every format (Excel, CSV, PDF, JSON) renders the
//! same [`ReportDocument`], so they can never disagree about a figure.

use chrono::{DateTime, NaiveDate, Utc};
use domain::Locale;
use domain::bufdir_payload::Validation;
use domain::schema::Unit;

#[derive(Debug, Clone)]
pub struct ReportDocument {
    pub export_id: String,
    pub org_id: String,
    pub organization_name: String,
    pub organisasjonsnummer: String,
    pub period_from: NaiveDate,
    pub period_to: NaiveDate,
    /// `2025` for a whole year, `2025-Q1` for a quarter, else `2025-01-01–2025-06-30`.
    pub period_label: String,
    pub generated_at: DateTime<Utc>,
    /// The language and number/date conventions the file is written in. Labels and titles
    /// below are already in it.
    pub locale: Locale,
    pub payload_version: String,
    /// The event-log position the data was read at (opaque text).
    pub source_position: String,
    /// In schema order, titles and labels in `locale`.
    pub sections: Vec<SectionFigures>,
    /// In schema order, only the categories the export asked for.
    pub activities: Vec<ActivityFigures>,
    /// The Bufdir payload built from these figures (the JSON format is exactly this).
    pub payload: serde_json::Value,
    /// The payload's validation result.
    pub validation: Validation,
    /// What changed since the last submission Bufdir received, when there is one.
    pub changes: Option<Changes>,
}

/// The figures that changed since the last submission, and the imports that moved them.
#[derive(Debug, Clone)]
pub struct Changes {
    /// When that submission was made.
    pub submitted_at: DateTime<Utc>,
    pub fields: Vec<commands::diffs::FieldChange>,
}

#[derive(Debug, Clone)]
pub struct SectionFigures {
    pub section_id: String,
    pub title: String,
    pub fields: Vec<FieldFigures>,
}

#[derive(Debug, Clone)]
pub struct FieldFigures {
    pub key: String,
    pub label: String,
    pub unit: Unit,
    /// `None`: no source record feeds the field (not the same as 0).
    pub value: Option<f64>,
    pub prior_value: Option<f64>,
}

impl FieldFigures {
    /// Value minus prior value, when both exist.
    pub fn change(&self) -> Option<f64> {
        Some(self.value? - self.prior_value?)
    }
}

#[derive(Debug, Clone)]
pub struct ActivityFigures {
    pub kategori: String,
    pub label: String,
    pub antall: f64,
    pub timer: f64,
}

/// One source record of the annex.
pub use projections::annex::AnnexRow;
