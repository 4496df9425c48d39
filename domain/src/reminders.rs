//! Deadline reminders, each sent once. Which reminders a deadline is owed now follows from its
//! status and the clock ([`due`]); the log of a deadline's reminders (stream
//! `reminders-{org}:{period}`) records each one sent, once, after its receiver answered. That
//! two workers never send one at the same time is coordination, not a fact: a claim beside the
//! log (`work_claims`), taken by the sending worker.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::calendar::{Deadline, DeadlineStatus};
use crate::{Aggregate, OrgId, PeriodId};

/// How long after its moment a reminder is still worth sending: a service started after a
/// pause catches up on the last week, and does not flood anyone with years of old news.
pub const CATCH_UP: Duration = Duration::days(7);

/// What a reminder says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ReminderKind {
    /// The due day is this many days away.
    Approaching { days_before: u32 },
    /// The deadline is at risk: inside its window, and the report is not ready.
    AtRisk,
    /// The due day passed and Bufdir has not received the report.
    Missed,
}

impl ReminderKind {
    /// The webhook's `event`.
    pub fn event(&self) -> &'static str {
        match self {
            ReminderKind::Approaching { .. } => "deadline.approaching",
            ReminderKind::AtRisk => "deadline.at_risk",
            ReminderKind::Missed => "deadline.missed",
        }
    }

    /// Names the reminder among its deadline's: `approaching-14`, `at_risk`, `missed`.
    pub fn key(&self) -> String {
        match self {
            ReminderKind::Approaching { days_before } => format!("approaching-{days_before}"),
            ReminderKind::AtRisk => "at_risk".into(),
            ReminderKind::Missed => "missed".into(),
        }
    }
}

/// The reminders `deadline`, standing at `status`, is owed at `now`: each only while it is
/// true, and not later than [`CATCH_UP`] after its moment. Of the approaching reminders only the
/// latest that has come counts (a service that slept through the 14-day one sends the 3-day
/// one, not both).
pub fn due(deadline: &Deadline, status: &DeadlineStatus, now: DateTime<Utc>) -> Vec<ReminderKind> {
    let fresh = |moment: DateTime<Utc>| moment <= now && now - moment <= CATCH_UP;
    let mut owed = Vec::new();
    match status {
        DeadlineStatus::SubmittedOnTime | DeadlineStatus::SubmittedLate => return owed,
        DeadlineStatus::Missed => {
            if fresh(deadline.due_at) {
                owed.push(ReminderKind::Missed);
            }
            return owed;
        }
        DeadlineStatus::AtRisk(_) => owed.push(ReminderKind::AtRisk),
        DeadlineStatus::Upcoming => {}
    }
    let latest = deadline.reminders.iter().rev().find(|r| r.at <= now);
    if let Some(reminder) = latest.filter(|r| fresh(r.at) && now <= deadline.due_at) {
        owed.insert(
            0,
            ReminderKind::Approaching {
                days_before: reminder.days_before,
            },
        );
    }
    owed
}

pub struct DeadlineReminders;

impl DeadlineReminders {
    pub fn stream(org: &OrgId, period: &PeriodId) -> String {
        format!("{}-{org}:{period}", Self::CATEGORY)
    }

    /// The id receivers deduplicate on: the same for every attempt at one reminder.
    pub fn webhook_id(org: &OrgId, period: &PeriodId, kind: &ReminderKind) -> String {
        format!("deadline:{org}:{period}:{}", kind.key())
    }
}

/// When each of the deadline's reminders was sent, by key.
pub type RemindersState = BTreeMap<String, DateTime<Utc>>;

#[derive(Debug, Clone, PartialEq)]
pub enum ReminderCommand {
    /// The receiver answered: the reminder is sent.
    MarkSent {
        org_id: OrgId,
        period: PeriodId,
        kind: ReminderKind,
        now: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event_type", content = "payload")]
pub enum ReminderEvent {
    ReminderSent {
        org_id: OrgId,
        period: PeriodId,
        kind: ReminderKind,
        webhook_id: String,
        sent_at: DateTime<Utc>,
    },
}

impl Aggregate for DeadlineReminders {
    type State = RemindersState;
    type Command = ReminderCommand;
    type Event = ReminderEvent;
    type Error = std::convert::Infallible;
    const CATEGORY: &'static str = "reminders";

    fn decide(
        state: &Self::State,
        command: Self::Command,
    ) -> Result<Vec<Self::Event>, Self::Error> {
        let ReminderCommand::MarkSent {
            org_id,
            period,
            kind,
            now,
        } = command;
        // A worker whose claim ran out while its receiver was still answering may hear a yes
        // after another worker did: once is enough.
        if state.contains_key(&kind.key()) {
            return Ok(vec![]);
        }
        Ok(vec![ReminderEvent::ReminderSent {
            webhook_id: DeadlineReminders::webhook_id(&org_id, &period, &kind),
            org_id,
            period,
            kind,
            sent_at: now,
        }])
    }

    fn evolve(mut state: Self::State, event: &Self::Event) -> Self::State {
        let ReminderEvent::ReminderSent { kind, sent_at, .. } = event;
        state.insert(kind.key(), *sent_at);
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::{Cadence, Due, Rule};
    use crate::testing::given;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn annual() -> Deadline {
        Rule {
            cadence: Cadence::Annual,
            due: Due::FollowingYear { month: 3, day: 1 },
            milestones: vec![],
            at_risk_days: 14,
            reminders_days_before: vec![14, 3],
        }
        .deadline(PeriodId::Year(2025))
        .unwrap()
    }

    #[test]
    fn each_reminder_is_owed_while_it_is_true_and_for_a_week_at_most() {
        let d = annual();
        let up = DeadlineStatus::Upcoming;
        // 14 days before 1 March 2026 is 15 February, 08:00 in Oslo (07:00 UTC).
        assert_eq!(due(&d, &up, utc("2026-02-15T06:59:59Z")), vec![]);
        assert_eq!(
            due(&d, &up, utc("2026-02-15T07:00:00Z")),
            vec![ReminderKind::Approaching { days_before: 14 }]
        );
        // Once the 3-day reminder has come, the 14-day one is old news.
        assert_eq!(
            due(&d, &up, utc("2026-02-26T07:00:00Z")),
            vec![ReminderKind::Approaching { days_before: 3 }]
        );
        let risk = DeadlineStatus::AtRisk(vec![]);
        assert_eq!(
            due(&d, &risk, utc("2026-02-27T12:00:00Z")),
            vec![
                ReminderKind::Approaching { days_before: 3 },
                ReminderKind::AtRisk
            ]
        );
        // Submitted meanwhile: nothing is true any more.
        assert_eq!(
            due(
                &d,
                &DeadlineStatus::SubmittedOnTime,
                utc("2026-02-27T12:00:00Z")
            ),
            vec![]
        );
        let missed = DeadlineStatus::Missed;
        assert_eq!(
            due(&d, &missed, utc("2026-03-02T08:00:00Z")),
            vec![ReminderKind::Missed]
        );
        // A week after the due day ended, a missed deadline is not news.
        assert_eq!(due(&d, &missed, utc("2026-03-09T00:00:00Z")), vec![]);
    }

    #[test]
    fn a_reminder_is_recorded_sent_once() {
        let sent = ReminderCommand::MarkSent {
            org_id: OrgId::parse("org-1").unwrap(),
            period: PeriodId::Year(2025),
            kind: ReminderKind::Missed,
            now: utc("2026-03-02T08:01:02Z"),
        };
        let history = given::<DeadlineReminders>(&[]).when(sent.clone()).events();
        let ReminderEvent::ReminderSent { webhook_id, .. } = &history[0];
        assert_eq!(webhook_id, "deadline:org-1:2025:missed");
        given::<DeadlineReminders>(&history).when(sent).then(vec![]);
    }
}
