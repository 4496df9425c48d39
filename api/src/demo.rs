//! Demo data: two organisations with two years of source records and their yearly snapshots,
//! so a newcomer sees real figures at once. Deterministic, and loaded only once per database.

use chrono::{NaiveDate, Utc};
use domain::organization::{OrgName, Organization, OrganizationCommand};
use domain::report_data::{ReportData, ReportDataCommand};
use domain::source_import::{self, SourceDataEvent};
use domain::source_records::SourceRecord;
use domain::{OrgId, OrgNumber, PeriodId, encode_event, schema};
use store::{Database, ExpectedVersion, Metadata, NewEvent};

const ORGS: [(&str, &str, &str); 2] = [
    ("org-demo", "Demo barnevern og fritid", "986128433"),
    ("org-demo-ungdom", "Ungdomshuset Sandvika", "991825827"),
];
const YEARS: [i32; 2] = [2024, 2025];

/// Loads the demo unless its first organisation exists already. Returns whether it loaded.
pub async fn load(db: &Database) -> anyhow::Result<bool> {
    let first = OrgId::parse(ORGS[0].0)?;
    if !db
        .events
        .read_stream(&Organization::stream(&first), 0)
        .await?
        .is_empty()
    {
        return Ok(false);
    }
    let metadata = Metadata {
        actor: Some("demo-seed".into()),
        ..Metadata::default()
    };
    for (n, (id, name, number)) in ORGS.iter().enumerate() {
        let org_id = OrgId::parse(id)?;
        commands::execute::<Organization>(
            db.events.as_ref(),
            &Organization::stream(&org_id),
            &metadata,
            || OrganizationCommand::Register {
                org_id: org_id.clone(),
                name: OrgName::parse(name).expect("valid name"),
                organisasjonsnummer: OrgNumber::parse(number).expect("valid number"),
                now: Utc::now(),
            },
        )
        .await?;
        for (data_source, records) in records_for(n as u64) {
            for chunk in records.chunks(domain::source_records::MAX_RECORDS_PER_BATCH) {
                let event = SourceDataEvent::SourceRecordsImported {
                    import_id: format!("imp_demo_{id}_{data_source}"),
                    org_id: org_id.clone(),
                    data_source: data_source.to_string(),
                    records: chunk.to_vec(),
                    imported_at: Utc::now(),
                };
                let (event_type, payload) = encode_event(&event);
                db.events
                    .append(
                        &source_import::stream(&org_id),
                        ExpectedVersion::Any,
                        vec![NewEvent::new(event_type, payload, metadata.clone())],
                    )
                    .await?;
            }
        }
        for year in YEARS {
            let period = PeriodId::Year(year);
            commands::execute::<ReportData>(
                db.events.as_ref(),
                &ReportData::stream(&org_id, &period),
                &metadata,
                || ReportDataCommand::Request {
                    snapshot_id: format!("snap_demo_{id}_{year}").replace('-', "_"),
                    job_id: format!("job_demo_{id}_{year}").replace('-', "_"),
                    org_id: org_id.clone(),
                    period_id: period,
                    force: false,
                    now: Utc::now(),
                },
            )
            .await?;
        }
    }
    Ok(true)
}

/// A small deterministic generator (xorshift), so the demo is the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }
}

/// Monthly records for every metric of the schema, grouped by the system they come from.
/// Child-welfare case counts come from the case system, activities from the activity register.
fn records_for(org: u64) -> Vec<(&'static str, Vec<SourceRecord>)> {
    let schema = schema::bufdir_2025_v2();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (org + 1));
    let mut cases = Vec::new();
    let mut activities = Vec::new();
    for metric in &schema.metrics {
        let is_activity = schema.is_activity_category(&metric.key);
        // A per-metric scale, so figures differ between metrics the way real ones do.
        let scale = rng.between(2, 40);
        for year in YEARS {
            for month in 1..=12u32 {
                let records_this_month = rng.between(1, 3);
                for i in 0..records_this_month {
                    let day = rng.between(1, 28) as u32;
                    let occurred_on =
                        NaiveDate::from_ymd_opt(year, month, day).expect("valid date");
                    let value = rng.between(0, scale) as f64;
                    let hours =
                        is_activity.then(|| (value * rng.between(10, 30) as f64 / 10.0).round());
                    let record = SourceRecord {
                        record_id: format!("demo-{}-{year}{month:02}-{i}", metric.key),
                        occurred_on,
                        metric: metric.key.clone(),
                        value,
                        hours,
                    };
                    if is_activity {
                        activities.push(record)
                    } else {
                        cases.push(record)
                    }
                }
            }
        }
    }
    vec![("fagsystem-cis", cases), ("aktivitetsregister", activities)]
}
