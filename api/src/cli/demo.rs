//! Demo data: two organisations with two years of source records and their yearly snapshots,
//! so a newcomer sees real figures at once. Deterministic, and loaded only once per database.

use std::time::Duration;

use chrono::NaiveDate;
use commands::organizations::RegisterOrganization;
use commands::snapshots::RequestSnapshot;
use commands::source_records::{Answer, ImportSourceRecords};
use domain::organization::{OrgName, Organization};
use domain::source_records::SourceRecord;
use domain::{OrgId, OrgNumber, PeriodId, schema};
use store::{Database, Metadata};

const ORGS: [(&str, &str, &str); 2] = [
    ("org-demo", "Demo barnevern og fritid", "986128433"),
    ("org-demo-ungdom", "Ungdomshuset Sandvika", "991825827"),
];
const YEARS: [i32; 2] = [2024, 2025];

/// Loads the demo unless its first organisation exists already. Returns whether it loaded.
/// It goes through the same commands as any client; it reads nothing back, so it does not wait
/// for the read models (the projections may not be running yet).
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
    let projections = projections::Projections::new(db.clone(), projections::all());
    let ctx = commands::Ctx::new(db.clone(), projections, Duration::ZERO);
    for (n, (id, name, number)) in ORGS.iter().enumerate() {
        let org_id = OrgId::parse(id)?;
        let register = RegisterOrganization {
            org_id: org_id.clone(),
            name: OrgName::parse(name)?,
            organisasjonsnummer: OrgNumber::parse(number)?,
        };
        commands::organizations::register(&ctx, &acting(&format!("org-{id}")), register).await?;
        for (data_source, records) in records_for(n as u64) {
            for (i, chunk) in records
                .chunks(domain::source_records::MAX_RECORDS_PER_BATCH)
                .enumerate()
            {
                let import = ImportSourceRecords {
                    org_id: org_id.clone(),
                    data_source: data_source.to_string(),
                    records: chunk.to_vec(),
                };
                let metadata = acting(&format!("import-{id}-{data_source}-{i}"));
                commands::source_records::import(&ctx, &metadata, import, Answer::AtCommit).await?;
            }
        }
        for year in YEARS {
            let request = RequestSnapshot {
                org_id: org_id.clone(),
                period_id: PeriodId::Year(year),
                force: false,
            };
            let metadata = acting(&format!("snapshot-{id}-{year}"));
            commands::snapshots::request(&ctx, &metadata, request).await?;
        }
    }
    Ok(true)
}

/// The demo's actor, with a seed per request so that the ids it creates are the same on every
/// machine (as a client's idempotency key makes them).
fn acting(seed: &str) -> Metadata {
    Metadata {
        actor: Some("demo-seed".into()),
        idempotency: Some(format!("demo:{seed}")),
        ..Metadata::default()
    }
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
