//! Reads what a re-export renders from the event log itself, up to the original report's
//! position, instead of from today's read models: a re-export shows what we knew then, even
//! after corrections and late imports changed the figures since.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use domain::aggregation::MetricSum;
use domain::organization::{Organization, OrganizationEvent};
use domain::source_import::{self, SourceDataEvent};
use domain::source_records::SourceRecord;
use domain::{OrgId, decode_event};
use projections::exports::ExportRow;
use store::{Database, Position, RecordedEvent};
use tokio::sync::{mpsc, oneshot};

use super::data::{document_from, year_before};
use super::document::{AnnexRow, ReportDocument};

/// A record as it stood, and the system it came from.
struct Known {
    record: SourceRecord,
    data_source: String,
}

/// The stream's events recorded at or before `position`.
async fn stream_until(
    db: &Database,
    stream: &str,
    position: &Position,
) -> anyhow::Result<Vec<RecordedEvent>> {
    let mut events = db.events.read_stream(stream, 0).await?;
    // Versions grow with positions, so everything after the first later event is later too.
    if let Some(cut) = events.iter().position(|e| e.position > *position) {
        events.truncate(cut);
    }
    Ok(events)
}

/// Every record of the organisation as it stood at `position`: later corrections of a
/// `record_id` replace earlier ones, exactly as the read model does.
async fn records_at(
    db: &Database,
    org: &OrgId,
    position: &Position,
) -> anyhow::Result<HashMap<String, Known>> {
    let mut known = HashMap::new();
    for event in stream_until(db, &source_import::stream(org), position).await? {
        let SourceDataEvent::SourceRecordsImported {
            records,
            data_source,
            ..
        } = decode_event(&event.event_type, &event.payload)?;
        for record in records {
            let data_source = data_source.clone();
            known.insert(
                record.record_id.clone(),
                Known {
                    record,
                    data_source,
                },
            );
        }
    }
    Ok(known)
}

/// Per (metric, data source) sums of the records dated `from` to `to`, both included.
fn sums_between(known: &HashMap<String, Known>, from: NaiveDate, to: NaiveDate) -> Vec<MetricSum> {
    let mut sums: HashMap<(&str, &str), MetricSum> = HashMap::new();
    let within = known
        .values()
        .filter(|k| k.record.occurred_on >= from && k.record.occurred_on <= to);
    for k in within {
        let sum = sums
            .entry((&k.record.metric, &k.data_source))
            .or_insert_with(|| MetricSum {
                metric: k.record.metric.clone(),
                data_source: k.data_source.clone(),
                value: 0.0,
                hours: 0.0,
                records: 0,
            });
        sum.value += k.record.value;
        sum.hours += k.record.hours.unwrap_or(0.0);
        sum.records += 1;
    }
    let mut sums: Vec<MetricSum> = sums.into_values().collect();
    sums.sort_by(|a, b| (&a.metric, &a.data_source).cmp(&(&b.metric, &b.data_source)));
    sums
}

/// The organisation's name and number, from its registration (its first event; a policy set
/// later changes neither). It is read whenever it happened: a read model's position can lie
/// before the registration of an organisation that has no records yet.
async fn organization(db: &Database, org: &OrgId) -> anyhow::Result<(String, String)> {
    let events = db.events.read_stream(&Organization::stream(org), 0).await?;
    let Some(event) = events.first() else {
        anyhow::bail!("organisation {org} is not registered")
    };
    let OrganizationEvent::OrganizationRegistered {
        name,
        organisasjonsnummer,
        ..
    } = decode_event(&event.event_type, &event.payload)?
    else {
        anyhow::bail!("the first event of organisation {org} is not its registration")
    };
    Ok((name, organisasjonsnummer.to_string()))
}

/// Like [`super::data::read`], but from the log up to `position`.
pub async fn read(
    db: &Database,
    export: &ExportRow,
    position: Position,
    now: DateTime<Utc>,
    annex: Option<mpsc::Sender<AnnexRow>>,
    document: oneshot::Sender<ReportDocument>,
) -> anyhow::Result<()> {
    let org = export.org_id.clone();
    let (name, number) = organization(db, &org).await?;
    let known = records_at(db, &org, &position).await?;
    let (from, to) = (export.period_from, export.period_to);
    let sums = sums_between(&known, from, to);
    let prior = sums_between(&known, year_before(from), year_before(to));
    let doc = document_from(
        export,
        name,
        number,
        &sums,
        &prior,
        position.to_string(),
        now,
    );
    if document.send(doc).is_err() {
        return Ok(());
    }
    if let Some(annex) = annex {
        let mut rows: Vec<&Known> = known
            .values()
            .filter(|k| k.record.occurred_on >= from && k.record.occurred_on <= to)
            .collect();
        rows.sort_by(|a, b| {
            (a.record.occurred_on, &a.record.record_id)
                .cmp(&(b.record.occurred_on, &b.record.record_id))
        });
        for k in rows {
            let row = AnnexRow {
                record_id: k.record.record_id.clone(),
                occurred_on: k.record.occurred_on,
                metric: k.record.metric.clone(),
                value: k.record.value,
                hours: k.record.hours,
                data_source: k.data_source.clone(),
            };
            if annex.send(row).await.is_err() {
                break;
            }
        }
    }
    Ok(())
}
