//! Deadline reminders as webhooks: `deadline.approaching`, `deadline.at_risk` and
//! `deadline.missed`, each sent once per deadline and kind. Time passing is no event, so the
//! worker looks through the deadlines every `scan_every` by its clock (a test's clock moves).
//! A worker claims an owed reminder (`work_claims`, for `lease`), checks the log that it was not
//! sent meanwhile, sends it, and records it sent after a 2xx answer (`ReminderSent`, once per
//! deadline and kind). A second worker process finds it claimed or sent; a worker killed
//! mid-send leaves its claim to run out, after which another sends it again under the same
//! `Bufdir-Webhook-Id`, which receivers deduplicate on. A failed attempt gives the claim back and
//! is tried at the next look; it records nothing, so a receiver that is down for days does not
//! fill the log. A reminder is only owed while it is true: once the report is received none is
//! sent. An organisation with no endpoint is told nothing and nothing is recorded; its
//! reminders go out when it gets one, if they are still true.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, SecondsFormat, Utc};
use commands::clock::Clock;
use commands::reminders::{self, Owed};
use domain::calendar::{Cadence, Calendar, DeadlineStatus};
use domain::reminders::{DeadlineReminders, ReminderKind};
use projections::Projections;
use serde_json::json;
use store::Database;
use store::tables::work_claims::{ClaimKind, WorkClaims};

use super::Webhooks;
use crate::{Outcome, Worker};

/// What the reminders go by.
#[derive(Debug, Clone)]
pub struct DeadlineSettings {
    /// The calendar of organisations without their own (`CALENDAR_FILE`).
    pub calendar: Calendar,
    pub clock: Arc<dyn Clock>,
    /// How long a claim on a reminder holds: a worker that dies mid-send delays it this long.
    pub lease: chrono::Duration,
    /// How often the deadlines are looked through.
    pub scan_every: chrono::Duration,
}

impl Default for DeadlineSettings {
    fn default() -> Self {
        DeadlineSettings {
            calendar: Calendar::standard(),
            clock: Arc::new(commands::clock::SystemClock),
            lease: chrono::Duration::seconds(60),
            scan_every: chrono::Duration::seconds(60),
        }
    }
}

pub struct ReminderWorker {
    ctx: commands::Ctx,
    webhooks: Arc<Webhooks>,
    settings: DeadlineSettings,
    claims: WorkClaims,
    /// When this worker last looked, by its clock.
    last_scan: Mutex<Option<DateTime<Utc>>>,
}

impl ReminderWorker {
    pub fn new(
        db: Database,
        projections: Arc<Projections>,
        webhooks: Arc<Webhooks>,
        settings: DeadlineSettings,
    ) -> Self {
        ReminderWorker {
            ctx: crate::commands_of(&db, &projections)
                .with_calendar(settings.calendar.clone(), settings.clock.clone()),
            claims: WorkClaims::new(db.read.clone(), crate::holder_id()),
            webhooks,
            settings,
            last_scan: Mutex::new(None),
        }
    }

    /// Whether it is time to look again; a clock set back looks at once.
    fn time_to_scan(&self, now: DateTime<Utc>) -> bool {
        let mut last = self.last_scan.lock().expect("scan lock");
        let due = last.is_none_or(|at| now < at || now - at >= self.settings.scan_every);
        if due {
            *last = Some(now);
        }
        due
    }

    /// Claims, sends and records one reminder; whether it went out now.
    async fn remind(&self, owed: &Owed, kind: ReminderKind) -> anyhow::Result<bool> {
        let period = owed.view.deadline.period;
        let sent = || reminders::sent_at(&self.ctx, &owed.org, &period, kind);
        if sent().await?.is_some() {
            return Ok(false);
        }
        let webhook_id = DeadlineReminders::webhook_id(&owed.org, &period, &kind);
        let now = self.settings.clock.now();
        let until = now + self.settings.lease;
        if !self
            .claims
            .take(ClaimKind::Reminder, &webhook_id, until, now)
            .await?
        {
            return Ok(false);
        }
        // Sent by the worker whose claim ended just before ours began.
        if sent().await?.is_some() {
            self.claims
                .release(ClaimKind::Reminder, &webhook_id)
                .await?;
            return Ok(false);
        }
        let sent_at = self.settings.clock.now();
        let delivered = self
            .webhooks
            .deliver(&owed.org, &webhook_id, &body(owed, kind, sent_at))
            .await;
        match delivered {
            Ok(()) => {
                let acting = crate::acting("deadline-reminders");
                reminders::mark_sent(&self.ctx, &acting, &owed.org, &period, kind, sent_at).await?;
                self.claims.forget(ClaimKind::Reminder, &webhook_id).await?;
                tracing::info!(org = %owed.org, %period, reminder = kind.key(), "deadline reminder sent");
                Ok(true)
            }
            Err(error) => {
                self.claims
                    .release(ClaimKind::Reminder, &webhook_id)
                    .await?;
                tracing::warn!(org = %owed.org, %period, reminder = kind.key(), error, "deadline reminder not delivered; tried again at the next look");
                Ok(false)
            }
        }
    }
}

/// The body: the reminder, its deadline, and why it is at risk.
pub fn body(owed: &Owed, kind: ReminderKind, sent_at: DateTime<Utc>) -> serde_json::Value {
    let d = &owed.view.deadline;
    let time = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let reasons = match &owed.view.status {
        DeadlineStatus::AtRisk(why) => why
            .iter()
            .map(|i| {
                json!({"pointer": i.pointer, "code": i.code, "message_nb": i.message_nb,
                            "message_nn": i.message_nn, "message_en": i.message_en})
            })
            .collect(),
        _ => vec![],
    };
    json!({
        "event": kind.event(),
        "org_id": owed.org,
        "period_id": d.period.to_string(),
        "cadence": match d.cadence { Cadence::Annual => "annual", Cadence::Quarterly => "quarterly" },
        "due_on": d.due_on.to_string(),
        "due_at": time(d.due_at),
        "days_before": match kind { ReminderKind::Approaching { days_before } => Some(days_before), _ => None },
        "status": owed.view.status.as_str(),
        "reasons": reasons,
        "sent_at": time(sent_at),
    })
}

#[async_trait::async_trait]
impl Worker for ReminderWorker {
    fn name(&self) -> &'static str {
        "deadline-reminders"
    }

    async fn run_once(&self) -> anyhow::Result<Outcome> {
        if !self.time_to_scan(self.settings.clock.now()) {
            return Ok(Outcome::Idle);
        }
        let mut sent = 0;
        for owed in reminders::owed(&self.ctx).await? {
            if !self.webhooks.reach(&owed.org).await? {
                continue;
            }
            for kind in &owed.kinds {
                sent += usize::from(self.remind(&owed, *kind).await?);
            }
        }
        Ok(if sent > 0 {
            Outcome::Worked
        } else {
            Outcome::Idle
        })
    }
}
