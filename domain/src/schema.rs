//! The reporting schema: which figures a report holds, how each is aggregated from source
//! records, and how it is labelled. The schema is data (`domain/schema/*.toml`), not code, so a
//! new reporting year is a new file; it is parsed and checked once, at start-up.

use std::collections::HashSet;
use std::sync::OnceLock;

use serde::Deserialize;

/// The schema id of the current payload version.
pub const BUFDIR_2025_V2: &str = "bufdir_2025_v2";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportingSchema {
    pub id: String,
    pub labels: Labels,
    /// Everything a source record may measure. Activity categories are metrics too.
    pub metrics: Vec<Metric>,
    /// The activity categories of the payload's `aktiviteter` (`kategori`); each names a metric
    /// whose records' value counts activities (`antall`) and whose hours are `timer`.
    pub activity_categories: Vec<ActivityCategory>,
    pub sections: Vec<Section>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Labels {
    pub nb: String,
    pub nn: String,
    pub en: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metric {
    pub key: String,
    pub labels: Labels,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityCategory {
    pub key: String,
    pub labels: Labels,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    pub id: String,
    pub labels: Labels,
    pub fields: Vec<Field>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    pub key: String,
    pub labels: Labels,
    pub unit: Unit,
    /// The metric whose records are summed.
    pub metric: String,
    /// Which number of those records is summed.
    pub measure: Measure,
    pub requirement: Requirement,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Count,
    Hours,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Sum of the records' `value`.
    Value,
    /// Sum of the records' `hours`.
    Hours,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Requirement {
    /// Must be present for a payload to be valid.
    Required,
    /// Missing is a warning.
    Recommended,
    Optional,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error("schema file does not parse: {0}")]
    Parse(String),
    #[error("schema is inconsistent: {0}")]
    Inconsistent(String),
}

impl ReportingSchema {
    pub fn parse(toml_text: &str) -> Result<Self, SchemaError> {
        let schema: ReportingSchema =
            toml::from_str(toml_text).map_err(|e| SchemaError::Parse(e.to_string()))?;
        schema.check()?;
        Ok(schema)
    }

    /// The rules a schema file must keep: unique keys, fields that name known metrics with a
    /// unit that fits their measure, every activity category a metric with a count and an hours
    /// field, labels in every language.
    pub fn check(&self) -> Result<(), SchemaError> {
        let bad = |m: String| Err(SchemaError::Inconsistent(m));
        let mut metrics = HashSet::new();
        for m in &self.metrics {
            if !metrics.insert(m.key.as_str()) {
                return bad(format!("metric {} is defined twice", m.key));
            }
        }
        for c in &self.activity_categories {
            if !metrics.contains(c.key.as_str()) {
                return bad(format!("activity category {} is not a metric", c.key));
            }
        }
        let mut sections = HashSet::new();
        let mut fields = HashSet::new();
        for s in &self.sections {
            if !sections.insert(s.id.as_str()) {
                return bad(format!("section {} is defined twice", s.id));
            }
            if s.fields.is_empty() {
                return bad(format!("section {} has no fields", s.id));
            }
            for f in &s.fields {
                if !fields.insert(f.key.as_str()) {
                    return bad(format!("field {} is defined twice", f.key));
                }
                if !metrics.contains(f.metric.as_str()) {
                    return bad(format!("field {} names unknown metric {}", f.key, f.metric));
                }
                let fits = matches!(
                    (f.unit, f.measure),
                    (Unit::Count, Measure::Value)
                        | (Unit::Hours, Measure::Hours)
                        | (Unit::Hours, Measure::Value)
                );
                if !fits {
                    return bad(format!("field {} counts hours as a count", f.key));
                }
            }
        }
        for c in &self.activity_categories {
            let has = |measure| {
                self.fields()
                    .any(|(_, f)| f.metric == c.key && f.measure == measure)
            };
            if !has(Measure::Value) || !has(Measure::Hours) {
                return bad(format!(
                    "activity category {} needs a count field and an hours field",
                    c.key
                ));
            }
        }
        let labels = std::iter::once(&self.labels)
            .chain(self.metrics.iter().map(|m| &m.labels))
            .chain(self.activity_categories.iter().map(|c| &c.labels))
            .chain(self.sections.iter().map(|s| &s.labels))
            .chain(self.fields().map(|(_, f)| &f.labels));
        for l in labels {
            if l.nb.trim().is_empty() || l.nn.trim().is_empty() || l.en.trim().is_empty() {
                return bad(format!("a label is missing a language: {l:?}"));
            }
        }
        Ok(())
    }

    /// Every field with its section, in schema order.
    pub fn fields(&self) -> impl Iterator<Item = (&Section, &Field)> {
        self.sections
            .iter()
            .flat_map(|s| s.fields.iter().map(move |f| (s, f)))
    }

    pub fn field(&self, key: &str) -> Option<(&Section, &Field)> {
        self.fields().find(|(_, f)| f.key == key)
    }

    pub fn is_metric(&self, key: &str) -> bool {
        self.metrics.iter().any(|m| m.key == key)
    }

    /// Whether records of `metric` are counted by their `value` in some field, so that value
    /// must be a whole number.
    pub fn counts_value_of(&self, metric: &str) -> bool {
        self.fields().any(|(_, f)| {
            f.metric == metric && f.unit == Unit::Count && f.measure == Measure::Value
        })
    }

    pub fn is_activity_category(&self, key: &str) -> bool {
        self.activity_categories.iter().any(|c| c.key == key)
    }
}

/// The schema of payload version `bufdir_2025_v2`, parsed and checked on first use.
pub fn bufdir_2025_v2() -> &'static ReportingSchema {
    static SCHEMA: OnceLock<ReportingSchema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        ReportingSchema::parse(include_str!("../schema/bufdir_2025_v2.toml"))
            .expect("the shipped schema is checked by its tests")
    })
}

/// Every known schema by id, for payload versions.
pub fn by_id(id: &str) -> Option<&'static ReportingSchema> {
    (id == BUFDIR_2025_V2).then(bufdir_2025_v2)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECTIONS: [&str; 6] = [
        "barn-under-omsorg",
        "undersokelser",
        "tiltak",
        "aktiviteter",
        "deltakere",
        "frivillige",
    ];

    #[test]
    fn the_shipped_schema_parses_and_passes_its_checks() {
        let schema = bufdir_2025_v2();
        assert_eq!(schema.id, BUFDIR_2025_V2);
        assert!(schema.sections.len() >= 6);
        assert!(
            schema.fields().count() >= 30,
            "{} fields",
            schema.fields().count()
        );
        for id in SECTIONS {
            assert!(schema.sections.iter().any(|s| s.id == id), "section {id}");
        }
        for category in [
            "group_session",
            "individual_counseling",
            "individual_mentoring",
        ] {
            assert!(schema.is_activity_category(category), "{category}");
        }
        assert!(
            schema
                .fields()
                .any(|(_, f)| f.requirement == Requirement::Required)
        );
        assert!(
            schema
                .fields()
                .any(|(_, f)| f.requirement == Requirement::Recommended)
        );
        assert!(by_id("bufdir_2025_v2").is_some() && by_id("bufdir_2024_v1").is_none());
    }

    fn with(fields: &str) -> String {
        format!(
            r#"id = "t"
labels = {{ nb = "a", nn = "a", en = "a" }}
[[metrics]]
key = "m"
labels = {{ nb = "a", nn = "a", en = "a" }}
[[metrics]]
key = "group_session"
labels = {{ nb = "a", nn = "a", en = "a" }}
[[activity_categories]]
key = "group_session"
labels = {{ nb = "a", nn = "a", en = "a" }}
[[sections]]
id = "s"
labels = {{ nb = "a", nn = "a", en = "a" }}
{fields}"#
        )
    }

    fn field(key: &str, metric: &str, unit: &str, measure: &str) -> String {
        format!(
            "[[sections.fields]]\nkey = \"{key}\"\nlabels = {{ nb = \"a\", nn = \"a\", en = \"a\" }}\nunit = \"{unit}\"\nmetric = \"{metric}\"\nmeasure = \"{measure}\"\nrequirement = \"required\"\n"
        )
    }

    #[test]
    fn a_consistent_small_schema_is_accepted() {
        let text = with(
            &(field("a", "m", "count", "value")
                + &field("g_n", "group_session", "count", "value")
                + &field("g_t", "group_session", "hours", "hours")),
        );
        ReportingSchema::parse(&text).unwrap();
    }

    #[test]
    fn inconsistent_schemas_are_refused() {
        let categories = field("g_n", "group_session", "count", "value")
            + &field("g_t", "group_session", "hours", "hours");
        let duplicate = with(
            &(field("a", "m", "count", "value") + &field("a", "m", "count", "value") + &categories),
        );
        let unknown_metric = with(&(field("a", "nope", "count", "value") + &categories));
        let hours_as_count = with(&(field("a", "m", "count", "hours") + &categories));
        let no_hours_field = with(&field("g_n", "group_session", "count", "value"));
        for text in [duplicate, unknown_metric, hours_as_count, no_hours_field] {
            assert!(
                matches!(
                    ReportingSchema::parse(&text),
                    Err(SchemaError::Inconsistent(_))
                ),
                "{text}"
            );
        }
        assert!(matches!(
            ReportingSchema::parse("id = 3"),
            Err(SchemaError::Parse(_))
        ));
    }
}
