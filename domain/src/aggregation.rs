//! From per-metric sums of source records to the schema's figures.

use std::collections::{BTreeMap, BTreeSet};

use crate::report_data::{FieldValue, SectionValues};
use crate::schema::{Measure, ReportingSchema};

/// The sums of one metric's records from one data source within a period.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSum {
    pub metric: String,
    pub data_source: String,
    pub value: f64,
    /// Sum of the records' hours; records without hours add nothing.
    pub hours: f64,
    pub records: u64,
}

/// Every field whose metric has records in `sums`, by section. A field with no records is left
/// out (it is "not populated"), which is not the same as a figure of 0.
pub fn figures(schema: &ReportingSchema, sums: &[MetricSum]) -> SectionValues {
    let mut by_metric: BTreeMap<&str, (f64, f64, BTreeSet<&str>)> = BTreeMap::new();
    for s in sums.iter().filter(|s| s.records > 0) {
        let entry = by_metric.entry(s.metric.as_str()).or_default();
        entry.0 += s.value;
        entry.1 += s.hours;
        entry.2.insert(s.data_source.as_str());
    }
    let mut out = SectionValues::new();
    for (section, field) in schema.fields() {
        let Some((value, hours, sources)) = by_metric.get(field.metric.as_str()) else {
            continue;
        };
        let figure = match field.measure {
            Measure::Value => *value,
            Measure::Hours => *hours,
        };
        let data_source = Some(sources.iter().copied().collect::<Vec<_>>().join(", "));
        out.entry(section.id.clone()).or_default().insert(
            field.key.clone(),
            FieldValue {
                value: round(figure),
                data_source,
            },
        );
    }
    out
}

/// The prior period's figures, by field key only.
pub fn prior_values(schema: &ReportingSchema, sums: &[MetricSum]) -> BTreeMap<String, f64> {
    figures(schema, sums)
        .into_values()
        .flat_map(|fields| fields.into_iter().map(|(k, v)| (k, v.value)))
        .collect()
}

/// Sums of decimal hours pick up binary noise (0.1 + 0.2); figures are reported to 1/1000.
pub fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
