//! Why did this figure change: a report's figures in two versions, field by field, the
//! validation findings that appeared or went away, and for each changed field the imports that
//! moved it, with who and when. Read from the figure_changes read model: the figures of a
//! version are the sums of the deltas up to its position, the way aggregation sums records.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;

use chrono::{DateTime, Utc};
use domain::aggregation::{figures, round};
use domain::schema::{self, Measure, Unit};
use domain::{Issue, OrgId, PeriodId, bufdir_payload, report_payload};
use projections::figure_changes::{self, BatchRow, LineageRow};
use projections::{organizations, submissions};

use crate::{Ctx, Error};

type Failed = Error<Infallible>;

/// A version of a report's figures.
#[derive(Debug, Clone, PartialEq)]
pub enum Version {
    /// As the log stands now.
    Current,
    /// As of a log position (its numeric key, as in `audit replay --as-of`).
    Position(i64),
    /// As of a moment: the imports recorded by then.
    Time(DateTime<Utc>),
    /// What a snapshot was aggregated from.
    Snapshot(String),
    /// What a submission was made from: the imports recorded when it was requested.
    Submission(String),
    /// The newest submission of the period Bufdir received.
    LastSubmission,
}

/// Where a version cuts the log.
#[derive(Debug, Clone)]
pub struct Cut {
    pub version: Version,
    /// `None`: now.
    pub position: Option<i64>,
    /// When that version was made, where it names a moment (a submission's request, a time).
    pub at: Option<DateTime<Utc>>,
}

/// One import's part in a field's change.
#[derive(Debug, Clone)]
pub struct Contribution {
    pub position: i64,
    pub import_id: String,
    pub data_source: String,
    pub actor: Option<String>,
    pub issuer: Option<String>,
    pub imported_at: DateTime<Utc>,
    /// Its records that count for the field's metric in the period.
    pub records_added: i64,
    /// Earlier versions of records it replaced there (corrections).
    pub records_replaced: i64,
    pub change: f64,
}

#[derive(Debug, Clone)]
pub struct FieldChange {
    pub section_id: String,
    pub key: String,
    pub labels: schema::Labels,
    pub unit: Unit,
    /// `None`: not populated in that version.
    pub before: Option<f64>,
    pub after: Option<f64>,
    pub change: f64,
    /// `change / before`; `None` when `before` is absent or zero.
    pub relative_change: Option<f64>,
    pub lineage: Vec<Contribution>,
}

pub struct ReportDiff {
    pub from: Cut,
    pub to: Cut,
    pub fields: Vec<FieldChange>,
    /// Validation findings in `to` that `from` did not have, and the reverse.
    pub findings_appeared: Vec<Issue>,
    pub findings_resolved: Vec<Issue>,
}

/// Compares `org`'s figures of `period` between two versions.
pub async fn diff(
    ctx: &Ctx,
    org: &OrgId,
    period: &PeriodId,
    from: Version,
    to: Version,
) -> Result<ReportDiff, Failed> {
    let row = organizations::get(&ctx.db.read, org.as_str())
        .await?
        .ok_or_else(|| Error::NotFound(format!("organisation {org} is not registered")))?;
    let from = cut(ctx, org, period, from).await?;
    let to = cut(ctx, org, period, to).await?;
    let pool = &ctx.db.read;
    let schema = schema::bufdir_2025_v2();
    let sums_from = figure_changes::sums_as_of(pool, org, period, from.position).await?;
    let sums_to = figure_changes::sums_as_of(pool, org, period, to.position).await?;
    let before = flat(&figures(schema, &sums_from));
    let after = flat(&figures(schema, &sums_to));
    // Lineage runs forwards; a diff asked backwards reads the same imports, negated.
    let (low, high, sign) = if from.position.unwrap_or(i64::MAX) <= to.position.unwrap_or(i64::MAX)
    {
        (from.position, to.position, 1.0)
    } else {
        (to.position, from.position, -1.0)
    };
    let moved = figure_changes::lineage(pool, org, period, low, high).await?;
    let mut fields = Vec::new();
    for (section, field) in schema.fields() {
        let (b, a) = (
            before.get(&field.key).copied(),
            after.get(&field.key).copied(),
        );
        let change = round(a.unwrap_or(0.0) - b.unwrap_or(0.0));
        if b == a {
            continue;
        }
        let lineage = moved
            .iter()
            .filter(|m| m.metric == field.metric)
            .map(|m| contribution(m, field.measure, sign))
            .filter(|c| c.change != 0.0 || c.records_added > 0 || c.records_replaced > 0)
            .collect();
        fields.push(FieldChange {
            section_id: section.id.clone(),
            key: field.key.clone(),
            labels: field.labels.clone(),
            unit: field.unit,
            before: b,
            after: a,
            change,
            relative_change: b.filter(|b| *b != 0.0).map(|b| change / b),
            lineage,
        });
    }
    let findings = |sums| {
        let payload =
            report_payload::of_sums(schema, &row.organisasjonsnummer, &period.to_string(), sums);
        let v = bufdir_payload::validate_for_organisation(
            crate::signoff::PAYLOAD_VERSION,
            &payload,
            ctx.clock.now().date_naive(),
            org,
            &row.organisasjonsnummer,
        );
        v.errors.into_iter().chain(v.warnings).collect::<Vec<_>>()
    };
    let (was, is) = (findings(&sums_from), findings(&sums_to));
    let named = |list: &[Issue]| -> BTreeSet<(String, &'static str)> {
        list.iter().map(|i| (i.pointer.clone(), i.code)).collect()
    };
    let (was_named, is_named) = (named(&was), named(&is));
    Ok(ReportDiff {
        findings_appeared: is
            .into_iter()
            .filter(|i| !was_named.contains(&(i.pointer.clone(), i.code)))
            .collect(),
        findings_resolved: was
            .into_iter()
            .filter(|i| !is_named.contains(&(i.pointer.clone(), i.code)))
            .collect(),
        from,
        to,
        fields,
    })
}

fn contribution(m: &LineageRow, measure: Measure, sign: f64) -> Contribution {
    let moved = match measure {
        Measure::Value => m.value,
        Measure::Hours => m.hours,
    };
    Contribution {
        position: m.position,
        import_id: m.import_id.clone(),
        data_source: m.data_source.clone(),
        actor: m.actor.clone(),
        issuer: m.issuer.clone(),
        imported_at: m.imported_at,
        records_added: m.added,
        records_replaced: m.replaced,
        change: round(sign * moved),
    }
}

fn flat(values: &domain::report_data::SectionValues) -> BTreeMap<String, f64> {
    values
        .values()
        .flat_map(|fields| fields.iter().map(|(k, v)| (k.clone(), v.value)))
        .collect()
}

fn invalid(pointer: &str, code: &'static str, nb: String, nn: String, en: String) -> Failed {
    Error::Invalid(vec![Issue {
        pointer: pointer.into(),
        code,
        message_nb: nb,
        message_nn: nn,
        message_en: en,
    }])
}

/// Where `version` cuts the log, for `org`'s `period`. Another organisation's snapshot or
/// submission is not found, whatever its id.
async fn cut(ctx: &Ctx, org: &OrgId, period: &PeriodId, version: Version) -> Result<Cut, Failed> {
    let pool = &ctx.db.read;
    let mut at = None;
    let position = match &version {
        Version::Current => None,
        Version::Position(p) => Some(*p),
        Version::Time(time) => {
            at = Some(*time);
            Some(figure_changes::position_at(pool, org, *time).await?)
        }
        Version::Snapshot(id) => {
            let (_, of, at) = figure_changes::snapshot_cut(pool, id)
                .await?
                .filter(|(owner, ..)| owner == org.as_str())
                .ok_or_else(|| Error::NotFound(format!("snapshot {id} not found")))?;
            if of != period.to_string() {
                return Err(invalid(
                    "/snapshot",
                    "other_period",
                    format!("Øyeblikksbildet {id} gjelder {of}, ikke {period}."),
                    format!("Augneblinksbiletet {id} gjeld {of}, ikkje {period}."),
                    format!("Snapshot {id} is of {of}, not {period}."),
                ));
            }
            Some(at)
        }
        Version::Submission(id) => {
            let found = submissions::by_id(pool, id)
                .await?
                .filter(|s| &s.org_id == org)
                .ok_or_else(|| Error::NotFound(format!("submission {id} not found")))?;
            let of = found.payload["rapporteringsperiode"].as_str().unwrap_or("");
            if of != period.to_string() {
                return Err(invalid(
                    "/submission",
                    "other_period",
                    format!("Innsendingen {id} gjelder {of}, ikke {period}."),
                    format!("Innsendinga {id} gjeld {of}, ikkje {period}."),
                    format!("Submission {id} is of {of}, not {period}."),
                ));
            }
            at = Some(found.requested_at);
            Some(figure_changes::position_at(pool, org, found.requested_at).await?)
        }
        Version::LastSubmission => {
            let label = period.to_string();
            let last = submissions::received_of_org(pool, org.as_str())
                .await?
                .into_iter()
                .filter(|s| s.payload["rapporteringsperiode"].as_str() == Some(label.as_str()))
                .max_by_key(|s| s.requested_at)
                .ok_or_else(|| {
                    Error::NotFound(format!("no submission of {period} was received yet"))
                })?;
            at = Some(last.requested_at);
            Some(figure_changes::position_at(pool, org, last.requested_at).await?)
        }
    };
    Ok(Cut {
        version,
        position,
        at,
    })
}

/// One import's records behind a field's change: those of the field's metric in the period.
pub struct ImportRecords {
    pub batch: BatchRow,
    /// A page of them, in the import's order, and how many there are.
    pub records: Vec<domain::source_records::SourceRecord>,
    pub total: u64,
}

/// The records of `org`'s import at `position` that count for field `key` in `period`, read
/// from the log: what the import said, whatever corrected it since.
pub async fn import_records(
    ctx: &Ctx,
    org: &OrgId,
    period: &PeriodId,
    position: i64,
    key: &str,
    page: projections::Page,
) -> Result<ImportRecords, Failed> {
    let Some((_, field)) = schema::bufdir_2025_v2()
        .fields()
        .find(|(_, f)| f.key == key)
    else {
        return Err(invalid(
            "/field",
            "unknown_field",
            format!("Feltet {key} finnes ikke i skjemaet."),
            format!("Feltet {key} finst ikkje i skjemaet."),
            format!("The schema has no field {key}."),
        ));
    };
    let not_found = || {
        Error::NotFound(format!(
            "no import of the organisation at position {position}"
        ))
    };
    let batch = figure_changes::batch(&ctx.db.read, org, position)
        .await?
        .ok_or_else(not_found)?;
    let after = u64::try_from(position - 1)
        .ok()
        .map(|p| store::Position::from_commit_prepare(p, p));
    let filter = store::Filter::categories([domain::source_import::CATEGORY]);
    let events = ctx.db.events.read_all(after.as_ref(), &filter, 1).await?;
    let event = events
        .into_iter()
        .next()
        .filter(|e| projections::report_data::position_key(&e.position) == position)
        .ok_or_else(not_found)?;
    let domain::source_import::SourceDataEvent::SourceRecordsImported {
        org_id, records, ..
    } = domain::decode_event(&event.event_type, &event.payload)?;
    if &org_id != org {
        return Err(not_found());
    }
    let (start, end) = (period.start(), period.end());
    let matching: Vec<_> = records
        .into_iter()
        .filter(|r| r.metric == field.metric && r.occurred_on >= start && r.occurred_on <= end)
        .collect();
    let total = matching.len() as u64;
    let records = matching
        .into_iter()
        .skip(page.offset as usize)
        .take(page.limit as usize)
        .collect();
    Ok(ImportRecords {
        batch,
        records,
        total,
    })
}
