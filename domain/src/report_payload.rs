//! What an export reports to Bufdir, computed from a period's sums: the totals per activity
//! category, the period's label, and the payload of figures and activities. Pure, so that an
//! export of today's read models and a re-export from the log build the same payload from the
//! same sums.

use chrono::{Datelike, Months, NaiveDate};
use serde_json::{Map, Value, json};

use crate::PeriodId;
use crate::aggregation::MetricSum;
use crate::schema::{ActivityCategory, ReportingSchema};

/// One activity category's totals over the period.
#[derive(Debug, Clone)]
pub struct ActivityTotal<'s> {
    pub category: &'s ActivityCategory,
    pub antall: f64,
    pub timer: f64,
}

/// The categories of `schema` with their totals from `sums`: the ones named in `wanted`, listed
/// even without records; with none named, every category that has records.
pub fn activity_totals<'s>(
    schema: &'s ReportingSchema,
    sums: &[MetricSum],
    wanted: &[String],
) -> Vec<ActivityTotal<'s>> {
    schema
        .activity_categories
        .iter()
        .filter(|c| wanted.is_empty() || wanted.contains(&c.key))
        .filter_map(|category| {
            let of_category = sums
                .iter()
                .filter(|s| s.metric == category.key && s.records > 0);
            let (antall, timer, records) = of_category.fold((0.0, 0.0, 0), |(a, t, n), s| {
                (a + s.value, t + s.hours, n + s.records)
            });
            (records > 0 || !wanted.is_empty()).then_some(ActivityTotal {
                category,
                antall,
                timer,
            })
        })
        .collect()
}

/// The Bufdir payload: `felter` are the fields that have a value. Counts and hours go out as
/// whole numbers.
pub fn payload<'k>(
    organisasjonsnummer: &str,
    period_label: &str,
    felter: impl IntoIterator<Item = (&'k str, f64)>,
    activities: &[ActivityTotal<'_>],
) -> Value {
    let felter: Map<String, Value> = felter
        .into_iter()
        .map(|(key, value)| (key.to_string(), json!(value)))
        .collect();
    let aktiviteter: Vec<Value> = activities
        .iter()
        .map(|a| {
            json!({
                "kategori": a.category.key,
                "antall": a.antall.round() as u64,
                "timer": a.timer.round() as u64,
            })
        })
        .collect();
    json!({
        "organisasjonsnummer": organisasjonsnummer,
        "rapporteringsperiode": period_label,
        "aktiviteter": aktiviteter,
        "felter": felter,
    })
}

/// The payload Bufdir would get for a period from these sums: every figure some record feeds and
/// every activity category with records (what an export of the whole schema sends).
pub fn of_sums(
    schema: &ReportingSchema,
    organisasjonsnummer: &str,
    period_label: &str,
    sums: &[MetricSum],
) -> Value {
    let figures = crate::aggregation::figures(schema, sums);
    let felter = figures
        .values()
        .flat_map(|fields| fields.iter().map(|(key, f)| (key.as_str(), f.value)));
    payload(
        organisasjonsnummer,
        period_label,
        felter,
        &activity_totals(schema, sums, &[]),
    )
}

/// `2025` for a calendar year, `2025-Q2` for a quarter, else the dates.
pub fn period_label(from: NaiveDate, to: NaiveDate) -> String {
    for candidate in [
        PeriodId::Year(from.year()),
        PeriodId::Quarter(from.year(), (from.month0() / 3 + 1) as u8),
    ] {
        if candidate.start() == from && candidate.end() == to {
            return candidate.to_string();
        }
    }
    format!("{from}–{to}")
}

/// The same date a year earlier (28 February for a 29th).
pub fn year_before(date: NaiveDate) -> NaiveDate {
    date.checked_sub_months(Months::new(12)).unwrap_or(date)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn sum(metric: &str, value: f64, hours: f64, records: u64) -> MetricSum {
        MetricSum {
            metric: metric.into(),
            data_source: "manual".into(),
            value,
            hours,
            records,
        }
    }

    #[test]
    fn whole_years_and_quarters_get_their_period_id() {
        assert_eq!(period_label(d(2025, 1, 1), d(2025, 12, 31)), "2025");
        assert_eq!(period_label(d(2025, 4, 1), d(2025, 6, 30)), "2025-Q2");
        assert_eq!(
            period_label(d(2025, 1, 1), d(2025, 6, 30)),
            "2025-01-01–2025-06-30"
        );
        assert_eq!(year_before(d(2024, 2, 29)), d(2023, 2, 28));
    }

    #[test]
    fn a_period_s_payload_holds_its_fed_figures_and_active_categories() {
        let schema = schema::bufdir_2025_v2();
        let category = &schema.activity_categories[0].key;
        let field = &schema.sections[0].fields[0];
        let sums = [sum(category, 3.0, 2.0, 1), sum(&field.metric, 5.0, 5.0, 2)];
        let payload = of_sums(schema, "974760673", "2025", &sums);
        assert_eq!(payload["rapporteringsperiode"], "2025");
        assert_eq!(payload["aktiviteter"][0]["kategori"], category.as_str());
        assert_eq!(payload["aktiviteter"][0]["antall"], 3);
        assert_eq!(payload["aktiviteter"].as_array().unwrap().len(), 1);
        assert!(payload["felter"][&field.key].is_number());
    }

    #[test]
    fn activities_are_those_with_records_unless_some_are_named() {
        let schema = schema::bufdir_2025_v2();
        let first = &schema.activity_categories[0].key;
        let second = &schema.activity_categories[1].key;
        let sums = [sum(first, 3.0, 1.5, 2), sum(first, 4.0, 0.0, 1)];
        let all = activity_totals(schema, &sums, &[]);
        assert_eq!(all.len(), 1);
        assert_eq!((all[0].antall, all[0].timer), (7.0, 1.5));
        let named = activity_totals(schema, &sums, std::slice::from_ref(second));
        assert_eq!(named.len(), 1);
        assert_eq!((&named[0].category.key, named[0].antall), (second, 0.0));
    }

    #[test]
    fn the_payload_rounds_counts_and_hours_to_whole_numbers() {
        let schema = schema::bufdir_2025_v2();
        let first = &schema.activity_categories[0].key;
        let sums = [sum(first, 3.0, 2.6, 1)];
        let activities = activity_totals(schema, &sums, &[]);
        let payload = payload("986128433", "2025", [("deltakere", 12.0)], &activities);
        assert_eq!(
            payload,
            json!({
                "organisasjonsnummer": "986128433",
                "rapporteringsperiode": "2025",
                "aktiviteter": [{"kategori": first, "antall": 3, "timer": 3}],
                "felter": {"deltakere": 12.0},
            })
        );
    }
}
