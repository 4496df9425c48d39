//! `audit replay --from FILE --as-of POSITION`: what the service showed at a position, rebuilt
//! from an export alone. The export is verified first (a tampered file is a finding, not an
//! answer); its events up to the position go into a fresh SQLite database exactly as exported,
//! every read model is rebuilt from them, and a report's figures are read from the log as its
//! export read them (`crate::export::as_of`), a snapshot's from its read model.

use std::path::Path;

use anyhow::Context;
use serde_json::{Value, json};
use store::Database;
use store::chain::{Verdict, load_export, verify_export};
use tokio::sync::oneshot;

/// What to show as it stood.
pub enum Subject {
    Report(String),
    Snapshot(String),
}

pub enum Replayed {
    Shown(Value),
    /// The export is not intact: what verification found.
    Tampered(String),
}

pub async fn replay(file: &Path, as_of: i64, subject: &Subject) -> anyhow::Result<Replayed> {
    if let Verdict::Tampered(broken) = verify_export(file, &[])? {
        return Ok(Replayed::Tampered(broken));
    }
    let dir =
        std::env::temp_dir().join(format!("bufdir-offline-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let shown = async {
        let url = format!("sqlite://{}", dir.join("replay.db").display());
        let db = store::connect(&url).await?;
        let imported = load_export(&db, file, as_of).await?;
        anyhow::ensure!(
            imported > 0,
            "the export has no event up to position {as_of}"
        );
        let projections = projections::Projections::new(db.clone(), projections::all());
        for name in projections.names() {
            projections
                .rebuild_observed(name.as_str(), &mut |_, _| {})
                .await?;
        }
        let shown = show(&db, as_of, subject).await;
        db.read.close().await;
        shown
    }
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Replayed::Shown(shown?))
}

async fn show(db: &Database, as_of: i64, subject: &Subject) -> anyhow::Result<Value> {
    match subject {
        Subject::Report(id) => {
            let report = projections::reports::get(&db.read, id)
                .await?
                .with_context(|| format!("no report {id} up to position {as_of}"))?;
            let export_id = report.export_id.clone().with_context(|| {
                format!("report {id} was recorded by hand: it has no figures here")
            })?;
            let export = projections::exports::get(&db.read, &export_id)
                .await?
                .with_context(|| {
                    format!("the export {export_id} of report {id} is not in the log")
                })?;
            let at = report
                .source_position
                .with_context(|| format!("report {id} does not say where its figures were read"))?;
            let (tx, rx) = oneshot::channel();
            crate::export::as_of::read(db, &export, at, chrono::Utc::now(), None, tx).await?;
            let doc = rx.await.context("the figures were not read")?;
            let sections: Vec<Value> = doc
                .sections
                .iter()
                .map(|s| {
                    json!({
                        "section_id": s.section_id,
                        "fields": s.fields.iter().map(|f| json!({
                            "key": f.key, "value": f.value, "prior_value": f.prior_value,
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let label = domain::report_payload::period_label(report.period_from, report.period_to);
            let approvals = match domain::PeriodId::parse(&label) {
                Ok(period) => approvals(db, &report.org_id, &period).await?,
                Err(_) => vec![],
            };
            Ok(json!({
                "as_of": as_of.to_string(),
                "report_id": id,
                "export_id": export_id,
                "org_id": report.org_id,
                "period_from": report.period_from,
                "period_to": report.period_to,
                "read_at": at.to_string(),
                "sections": sections,
                "payload": doc.payload,
                "approvals": approvals,
            }))
        }
        Subject::Snapshot(id) => {
            let snapshot = projections::report_queries::snapshot(&db.read, id)
                .await?
                .with_context(|| format!("no snapshot {id} up to position {as_of}"))?;
            Ok(json!({
                "as_of": as_of.to_string(),
                "snapshot_id": id,
                "org_id": snapshot.org_id,
                "period_id": snapshot.period_id,
                "status": snapshot.status,
                "aggregated_at": snapshot.aggregated_at,
                "sections": snapshot.sections,
                "prior_values": snapshot.prior_values,
                "approvals": approvals(db, &snapshot.org_id, &snapshot.period_id).await?,
            }))
        }
    }
}

/// The approvals of an organisation's period as they stood: who approved which payload, and
/// which no longer counted (withdrawn, or voided by a change) by then.
async fn approvals(
    db: &Database,
    org: &domain::OrgId,
    period: &domain::PeriodId,
) -> anyhow::Result<Vec<Value>> {
    let rows = projections::signoffs::of_report(&db.read, org, period).await?;
    Ok(rows
        .into_iter()
        .map(|a| {
            json!({
                "approval_id": a.approval_id,
                "role": a.role.as_str(),
                "subject": a.subject,
                "issuer": a.issuer,
                "payload_digest": a.digest,
                "approved_at": a.approved_at,
                "status": a.status.as_str(),
                "ended_at": a.ended_at,
                "void_reason": a.void_reason,
            })
        })
        .collect())
}
