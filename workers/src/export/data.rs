//! Reads what an export renders: figures, prior figures, the organisation and, for attachments,
//! the source records, all inside one read transaction, so every part of the file reflects the
//! same log position (the one written on its cover).

use chrono::{DateTime, Utc};
use domain::aggregation;
use domain::schema::{self, BUFDIR_2025_V2};
use domain::{bufdir_payload, report_payload};
use futures::StreamExt;
use projections::exports::ExportRow;
use projections::{annex, organizations, report_data, report_queries};
use store::Database;
use tokio::sync::mpsc;

use super::document::{ActivityFigures, AnnexRow, FieldFigures, ReportDocument, SectionFigures};

pub use domain::report_payload::{period_label, year_before};

/// Reads the document and, when `annex` is given, streams the range's source records into it
/// from the same transaction. Returns once every annex row has been sent (or the receiver hung up).
pub async fn read(
    db: &Database,
    export: &ExportRow,
    now: DateTime<Utc>,
    annex: Option<mpsc::Sender<AnnexRow>>,
    document: tokio::sync::oneshot::Sender<ReportDocument>,
) -> anyhow::Result<()> {
    let mut tx = db.read.begin_consistent().await?;
    let position = projections::read_checkpoint(&mut tx, report_data::NAME)
        .await?
        .map(|p| p.to_string())
        .unwrap_or_else(|| "0".into());
    let org = export.org_id.clone();
    let org_row = organizations::get_in(&mut tx, org.as_str())
        .await?
        .ok_or_else(|| anyhow::anyhow!("organisation {org} is not registered"))?;
    let (from, to) = (export.period_from, export.period_to);
    let sums = report_queries::metric_sums_between(&mut tx, &org, from, to).await?;
    let prior =
        report_queries::metric_sums_between(&mut tx, &org, year_before(from), year_before(to))
            .await?;
    let doc = document_from(
        export,
        org_row.name,
        org_row.organisasjonsnummer,
        &sums,
        &prior,
        position,
        now,
    );
    if document.send(doc).is_err() {
        return Ok(());
    }
    if let Some(annex) = annex {
        let mut rows = annex::stream(&mut tx, &org, from, to);
        while let Some(row) = rows.next().await {
            if annex.send(row?).await.is_err() {
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
    let totals = report_payload::activity_totals(schema, sums, &export.activity_types);
    let activities: Vec<ActivityFigures> = totals
        .iter()
        .map(|t| ActivityFigures {
            kategori: t.category.key.clone(),
            label: export.locale.label(&t.category.labels).to_string(),
            antall: t.antall,
            timer: t.timer,
        })
        .collect();
    let period_label = period_label(export.period_from, export.period_to);
    let felter = sections
        .iter()
        .flat_map(|s| &s.fields)
        .filter_map(|f| Some((f.key.as_str(), f.value?)));
    let payload = report_payload::payload(&organisasjonsnummer, &period_label, felter, &totals);
    let validation = bufdir_payload::validate(BUFDIR_2025_V2, &payload, now.date_naive());
    ReportDocument {
        export_id: export.export_id.clone(),
        org_id: export.org_id.to_string(),
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
        changes: None,
    }
}
