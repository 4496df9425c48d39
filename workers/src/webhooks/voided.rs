//! The webhook that tells an organisation its approvals were voided: the figures changed after
//! they were given, so the report must be approved again before it can be submitted. Sent from
//! an outbox (voided approvals whose notification is not recorded), at least once; receivers
//! deduplicate on `Bufdir-Webhook-Id`. A failed attempt waits with the same backoff as the
//! completion webhooks; the waits are kept in memory, the debt in the log.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::SecondsFormat;
use domain::{OrgId, PeriodId};
use projections::Projections;
use projections::signoffs::{self, ApprovalRow};
use serde_json::json;
use store::Database;

use super::Webhooks;
use crate::{Outcome, Worker};

/// Voided approvals looked at per step.
const BATCH: u64 = 50;

pub struct VoidedNotifyWorker {
    db: Database,
    projections: Arc<Projections>,
    webhooks: Arc<Webhooks>,
    /// Per webhook id: failed attempts, and when the next may be made.
    waits: Mutex<HashMap<String, (u32, Instant)>>,
}

impl VoidedNotifyWorker {
    pub fn new(db: Database, projections: Arc<Projections>, webhooks: Arc<Webhooks>) -> Self {
        VoidedNotifyWorker {
            db,
            projections,
            webhooks,
            waits: Mutex::new(HashMap::new()),
        }
    }

    fn due(&self, webhook_id: &str) -> bool {
        let waits = self.waits.lock().expect("waits lock");
        waits
            .get(webhook_id)
            .is_none_or(|(_, next)| *next <= Instant::now())
    }

    fn failed(&self, webhook_id: &str) -> u32 {
        let mut waits = self.waits.lock().expect("waits lock");
        let attempts = waits.get(webhook_id).map_or(0, |(n, _)| *n) + 1;
        let next = Instant::now() + self.webhooks.backoff(attempts);
        waits.insert(webhook_id.to_string(), (attempts, next));
        attempts
    }
}

/// One voiding: the approvals one `ApprovalsVoided` event ended.
type Voiding = (OrgId, PeriodId, String);

fn voidings(rows: Vec<ApprovalRow>) -> BTreeMap<Voiding, Vec<ApprovalRow>> {
    let mut by: BTreeMap<Voiding, Vec<ApprovalRow>> = BTreeMap::new();
    for row in rows {
        let ended = row
            .ended_at
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true))
            .unwrap_or_default();
        by.entry((row.org_id.clone(), row.period_id, ended))
            .or_default()
            .push(row);
    }
    by
}

/// The body: which approvals no longer count, and why.
pub fn body(org: &OrgId, period: &PeriodId, rows: &[ApprovalRow]) -> serde_json::Value {
    let first = &rows[0];
    json!({
        "event": "signoff.approvals_voided",
        "org_id": org,
        "period_id": period.to_string(),
        "reason": first.void_reason,
        "voided_at": first.ended_at.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)),
        "payload_digest": first.current_digest,
        "approvals": rows.iter().map(|r| json!({
            "approval_id": r.approval_id,
            "role": r.role.as_str(),
            "subject": r.subject,
            "issuer": r.issuer,
            "payload_digest": r.digest,
        })).collect::<Vec<_>>(),
    })
}

#[async_trait::async_trait]
impl Worker for VoidedNotifyWorker {
    fn name(&self) -> &'static str {
        "signoff-webhooks"
    }

    async fn run_once(&self) -> anyhow::Result<Outcome> {
        let rows = signoffs::voided_unnotified(&self.db.read, BATCH).await?;
        let mut worked = false;
        for ((org, period, _), rows) in voidings(rows) {
            let webhook_id = format!("voided:{}", rows[0].approval_id);
            if !self.due(&webhook_id) {
                continue;
            }
            match self
                .webhooks
                .deliver(&org, &webhook_id, &body(&org, &period, &rows))
                .await
            {
                Ok(()) => {
                    let ctx = crate::commands_of(&self.db, &self.projections);
                    let ids = rows.iter().map(|r| r.approval_id.clone()).collect();
                    commands::signoff::record_voiding_notified(
                        &ctx,
                        &crate::acting("signoff-webhooks"),
                        &org,
                        &period,
                        ids,
                    )
                    .await?;
                    self.waits.lock().expect("waits lock").remove(&webhook_id);
                    tracing::info!(%org, %period, "voided approvals notified");
                    worked = true;
                }
                Err(error) => {
                    let attempt = self.failed(&webhook_id);
                    tracing::warn!(%org, %period, attempt, error, "voiding webhook not delivered");
                }
            }
        }
        Ok(if worked {
            Outcome::Worked
        } else {
            Outcome::Idle
        })
    }
}
