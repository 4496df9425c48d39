//! Reads what an export renders: figures, prior figures, the organisation and, for attachments,
//! the source records, all inside one read transaction, so every part of the file reflects the
//! same log position (the one written on its cover).

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use domain::bufdir_payload;
use domain::schema::{self, BUFDIR_2025_V2};
use domain::{OrgId, PeriodId, aggregation};
use futures::StreamExt;
use projections::exports::ExportRow;
use projections::{report_data, report_queries};
use serde_json::{Map, Value, json};
use sqlx::Row;
use store::Database;
use tokio::sync::mpsc;

use super::document::{ActivityFigures, AnnexRow, FieldFigures, ReportDocument, SectionFigures};

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

/// The same range a year earlier.
pub(super) fn year_before(date: NaiveDate) -> NaiveDate {
    date.checked_sub_months(Months::new(12)).unwrap_or(date)
}

/// Reads the document and, when `annex` is given, streams the range's source records into it
/// from the same transaction. Returns once every annex row has been sent (or the receiver hung up).
pub async fn read(
    db: &Database,
    export: &ExportRow,
    now: DateTime<Utc>,
    annex: Option<mpsc::Sender<AnnexRow>>,
    document: tokio::sync::oneshot::Sender<ReportDocument>,
) -> anyhow::Result<()> {
    let begin = match db.backend {
        store::Backend::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        store::Backend::Sqlite => "BEGIN",
    };
    let mut tx = db.read.begin_with(begin).await?;
    let position = projections::read_checkpoint(&mut tx, report_data::NAME)
        .await?
        .map(|p| p.to_string())
        .unwrap_or_else(|| "0".into());
    let org = OrgId::parse(&export.org_id)?;
    let org_row =
        sqlx::query("SELECT name, organisasjonsnummer FROM organizations WHERE org_id = $1")
            .bind(org.as_str().to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| anyhow::anyhow!("organisation {org} is not registered"))?;
    let (from, to) = (export.period_from, export.period_to);
    let sums = report_queries::metric_sums_between(&mut tx, &org, from, to).await?;
    let prior =
        report_queries::metric_sums_between(&mut tx, &org, year_before(from), year_before(to))
            .await?;
    let doc = document_from(
        export,
        org_row.try_get("name")?,
        org_row.try_get("organisasjonsnummer")?,
        &sums,
        &prior,
        position,
        now,
    );
    if document.send(doc).is_err() {
        return Ok(());
    }
    if let Some(annex) = annex {
        let mut rows = sqlx::query(
            "SELECT record_id, occurred_on, metric, value, hours, data_source FROM source_records \
             WHERE org_id = $1 AND occurred_on >= $2 AND occurred_on <= $3 \
             ORDER BY occurred_on, record_id",
        )
        .bind(org.as_str().to_string())
        .bind(from.to_string())
        .bind(to.to_string())
        .fetch(&mut *tx);
        while let Some(r) = rows.next().await {
            let r = r?;
            let occurred_on: String = r.try_get(1)?;
            let row = AnnexRow {
                record_id: r.try_get(0)?,
                occurred_on: occurred_on.parse()?,
                metric: r.try_get(2)?,
                value: r.try_get(3)?,
                hours: r.try_get(4)?,
                data_source: r.try_get(5)?,
            };
            if annex.send(row).await.is_err() {
                break;
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

pub(super) fn document_from(
    export: &ExportRow,
    organization_name: String,
    organisasjonsnummer: String,
    sums: &[aggregation::MetricSum],
    prior: &[aggregation::MetricSum],
    source_position: String,
    now: DateTime<Utc>,
) -> ReportDocument {
    let schema = schema::bufdir_2025_v2();
    let figures = aggregation::figures(schema, sums);
    let prior_values = aggregation::prior_values(schema, prior);
    let sections: Vec<SectionFigures> = schema
        .sections
        .iter()
        .map(|section| SectionFigures {
            section_id: section.id.clone(),
            title: export.locale.label(&section.labels).to_string(),
            fields: section
                .fields
                .iter()
                .map(|field| FieldFigures {
                    key: field.key.clone(),
                    label: export.locale.label(&field.labels).to_string(),
                    unit: field.unit,
                    value: figures
                        .get(&section.id)
                        .and_then(|f| f.get(&field.key))
                        .map(|v| v.value),
                    prior_value: prior_values.get(&field.key).copied(),
                })
                .collect(),
        })
        .collect();
    let wanted = |key: &str| {
        export.activity_types.is_empty() || export.activity_types.iter().any(|a| a == key)
    };
    let activities: Vec<ActivityFigures> = schema
        .activity_categories
        .iter()
        .filter(|c| wanted(&c.key))
        .filter_map(|c| {
            let of_category = sums.iter().filter(|s| s.metric == c.key && s.records > 0);
            let (antall, timer, records) = of_category.fold((0.0, 0.0, 0), |(a, t, n), s| {
                (a + s.value, t + s.hours, n + s.records)
            });
            // Asked for by name: listed even without records. Otherwise only what happened.
            (records > 0 || !export.activity_types.is_empty()).then(|| ActivityFigures {
                kategori: c.key.clone(),
                label: export.locale.label(&c.labels).to_string(),
                antall,
                timer,
            })
        })
        .collect();
    let period_label = period_label(export.period_from, export.period_to);
    let payload = payload(&organisasjonsnummer, &period_label, &sections, &activities);
    let validation = bufdir_payload::validate(BUFDIR_2025_V2, &payload, now.date_naive());
    ReportDocument {
        export_id: export.export_id.clone(),
        org_id: export.org_id.clone(),
        organization_name,
        organisasjonsnummer,
        period_from: export.period_from,
        period_to: export.period_to,
        period_label,
        generated_at: now,
        locale: export.locale,
        payload_version: BUFDIR_2025_V2.into(),
        source_position,
        sections,
        activities,
        payload,
        validation,
    }
}

/// The Bufdir payload of these figures. Counts and hours go out as whole numbers.
fn payload(
    organisasjonsnummer: &str,
    period_label: &str,
    sections: &[SectionFigures],
    activities: &[ActivityFigures],
) -> Value {
    let felter: Map<String, Value> = sections
        .iter()
        .flat_map(|s| &s.fields)
        .filter_map(|f| Some((f.key.clone(), json!(f.value?))))
        .collect();
    let aktiviteter: Vec<Value> = activities
        .iter()
        .map(|a| json!({"kategori": a.kategori, "antall": a.antall.round() as u64, "timer": a.timer.round() as u64}))
        .collect();
    json!({
        "organisasjonsnummer": organisasjonsnummer,
        "rapporteringsperiode": period_label,
        "aktiviteter": aktiviteter,
        "felter": felter,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
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
}
