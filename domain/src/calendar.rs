//! The reporting calendar: when each report is due, and the milestones before it. Rules come from
//! configuration (`calendar.toml`); a date means that day in Norway, and a report is on time
//! when Bufdir received it by the end of its due day, Norwegian time (so summer time and the
//! year end move the instant, never the day).

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Europe::Oslo;
use serde::{Deserialize, Serialize};

use crate::PeriodId;
use crate::bufdir_payload::Issue;

/// Which periods a rule covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cadence {
    /// Calendar years: an annual report.
    Annual,
    /// Calendar quarters: a quarterly report.
    Quarterly,
}

/// When a period's report is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Due {
    /// A fixed day of the year after the period's (an annual report due 1 March).
    FollowingYear { month: u32, day: u32 },
    /// A number of days after the period's last day (a quarterly report 30 days after).
    DaysAfterEnd(u32),
}

/// A step before the due date that someone must reach (draft ready, approvals done).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Milestone {
    pub name: String,
    pub days_before: u32,
}

/// One kind of report and when it is due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub cadence: Cadence,
    pub due: Due,
    #[serde(default)]
    pub milestones: Vec<Milestone>,
    /// How many days before the due date an unready report is at risk.
    #[serde(default = "default_at_risk_days")]
    pub at_risk_days: u32,
    /// How many days before the due date a reminder goes out.
    #[serde(default = "default_reminders")]
    pub reminders_days_before: Vec<u32>,
}

fn default_at_risk_days() -> u32 {
    14
}

fn default_reminders() -> Vec<u32> {
    vec![14, 3]
}

/// The rules of a calendar: the service's default, or an organisation's own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calendar {
    #[serde(default, rename = "rule")]
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidCalendar {
    #[error("the calendar is not valid TOML: {0}")]
    Toml(String),
    #[error("{cadence:?} has a due date {month}-{day} that is no day of the year")]
    NoSuchDay {
        cadence: Cadence,
        month: u32,
        day: u32,
    },
    #[error("{0:?} is named by two rules; give each cadence one rule")]
    Twice(Cadence),
    #[error("milestone {0:?} lies before its period ends")]
    MilestoneTooEarly(String),
    #[error("{0}")]
    OutOfBounds(String),
}

/// The most days any offset of a rule may span: a year and a day.
pub const MAX_DAYS: u32 = 366;
/// The most milestones, and reminders, one rule may have.
pub const MAX_STEPS: usize = 10;

/// A deadline: a period's report, when it is due, and its milestones, as instants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    pub cadence: Cadence,
    pub period: PeriodId,
    /// The due day, in Norway.
    pub due_on: NaiveDate,
    /// The last instant that is still on time: the end of the due day, Norwegian time.
    pub due_at: DateTime<Utc>,
    pub milestones: Vec<(String, DateTime<Utc>)>,
    pub at_risk_from: DateTime<Utc>,
    /// The reminders before the due day, earliest first.
    pub reminders: Vec<Reminder>,
}

/// A reminder before a due day: that many days before, at eight in the morning in Norway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reminder {
    pub days_before: u32,
    pub at: DateTime<Utc>,
}

/// Eight in the morning of `day` in Norway: when a reminder of that day goes out.
pub fn morning_in_norway(day: NaiveDate) -> DateTime<Utc> {
    let eight = day.and_time(NaiveTime::from_hms_opt(8, 0, 0).expect("a time"));
    // Summer time changes at night, so 08:00 exists exactly once on every day.
    Oslo.from_local_datetime(&eight)
        .single()
        .expect("08:00 exists once in Norway")
        .with_timezone(&Utc)
}

/// The end of `day` in Norway, as an instant: 23:59:59 there, CET or CEST as the day has it.
pub fn end_of_day_in_norway(day: NaiveDate) -> DateTime<Utc> {
    let last = day.and_time(NaiveTime::from_hms_opt(23, 59, 59).expect("a time"));
    // 23:59:59 is never skipped nor repeated by a change of summer time (those happen at night).
    Oslo.from_local_datetime(&last)
        .single()
        .expect("23:59:59 exists once in Norway")
        .with_timezone(&Utc)
}

/// `at` as the day and time a reader in Norway sees: `07.12.2026 21:14` and the like.
pub fn in_norway(at: DateTime<Utc>) -> chrono::DateTime<chrono_tz::Tz> {
    at.with_timezone(&Oslo)
}

/// The calendar the service starts with (`domain/calendar.toml`).
pub const STANDARD: &str = include_str!("../calendar.toml");

impl Calendar {
    /// [`STANDARD`].
    pub fn standard() -> Calendar {
        Calendar::parse(STANDARD).expect("the shipped calendar is valid")
    }

    pub fn parse(text: &str) -> Result<Calendar, InvalidCalendar> {
        let calendar: Calendar =
            toml::from_str(text).map_err(|e| InvalidCalendar::Toml(e.to_string()))?;
        calendar.check()?;
        Ok(calendar)
    }

    /// A calendar of `rules`, if they can be.
    pub fn new(rules: Vec<Rule>) -> Result<Calendar, InvalidCalendar> {
        let calendar = Calendar { rules };
        calendar.check()?;
        Ok(calendar)
    }

    fn check(&self) -> Result<(), InvalidCalendar> {
        let mut seen = Vec::new();
        for rule in &self.rules {
            rule.check_bounds()?;
            if seen.contains(&rule.cadence) {
                return Err(InvalidCalendar::Twice(rule.cadence));
            }
            seen.push(rule.cadence);
            if let Due::FollowingYear { month, day } = rule.due {
                // A day every year has (29 February is not).
                if NaiveDate::from_ymd_opt(2025, month, day).is_none() {
                    return Err(InvalidCalendar::NoSuchDay {
                        cadence: rule.cadence,
                        month,
                        day,
                    });
                }
            }
        }
        Ok(())
    }

    /// The deadlines of every period of every rule that ends within `from..=to`, by due date.
    pub fn deadlines(&self, from: NaiveDate, to: NaiveDate) -> Vec<Deadline> {
        let mut out = Vec::new();
        for rule in &self.rules {
            for year in from.year()..=to.year() {
                let periods: Vec<PeriodId> = match rule.cadence {
                    Cadence::Annual => vec![PeriodId::Year(year)],
                    Cadence::Quarterly => (1..=4).map(|q| PeriodId::Quarter(year, q)).collect(),
                };
                for period in periods {
                    if (from..=to).contains(&period.end()) {
                        out.extend(rule.deadline(period));
                    }
                }
            }
        }
        out.sort_by_key(|d| (d.due_at, d.cadence));
        out
    }
}

impl Rule {
    fn check_bounds(&self) -> Result<(), InvalidCalendar> {
        let out = |what: String| Err(InvalidCalendar::OutOfBounds(what));
        if let Due::DaysAfterEnd(days) = self.due
            && days > MAX_DAYS
        {
            return out(format!("days_after_end is at most {MAX_DAYS}"));
        }
        if self.at_risk_days > MAX_DAYS {
            return out(format!("at_risk_days is at most {MAX_DAYS}"));
        }
        if self.milestones.len() > MAX_STEPS || self.reminders_days_before.len() > MAX_STEPS {
            return out(format!(
                "a rule has at most {MAX_STEPS} milestones and {MAX_STEPS} reminders"
            ));
        }
        if self.reminders_days_before.iter().any(|d| *d > MAX_DAYS) {
            return out(format!("reminders_days_before are at most {MAX_DAYS}"));
        }
        for m in &self.milestones {
            let named = (1..=40).contains(&m.name.len())
                && m.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !named {
                return out(format!(
                    "milestone name {:?} is 1 to 40 of a-z, 0-9 and _",
                    m.name
                ));
            }
            if m.days_before > MAX_DAYS {
                return out(format!("a milestone's days_before is at most {MAX_DAYS}"));
            }
        }
        Ok(())
    }

    /// The deadline of `period`'s report under this rule (`None` for a period it does not cover).
    pub fn deadline(&self, period: PeriodId) -> Option<Deadline> {
        let covered = matches!(
            (self.cadence, period),
            (Cadence::Annual, PeriodId::Year(_)) | (Cadence::Quarterly, PeriodId::Quarter(..))
        );
        if !covered {
            return None;
        }
        let due_on = match self.due {
            Due::FollowingYear { month, day } => {
                NaiveDate::from_ymd_opt(period.year() + 1, month, day)?
            }
            Due::DaysAfterEnd(days) => period.end().checked_add_days(Days::new(days.into()))?,
        };
        let before = |days: u32| {
            due_on
                .checked_sub_days(Days::new(days.into()))
                .map(end_of_day_in_norway)
        };
        Some(Deadline {
            cadence: self.cadence,
            period,
            due_on,
            due_at: end_of_day_in_norway(due_on),
            milestones: self
                .milestones
                .iter()
                .filter_map(|m| Some((m.name.clone(), before(m.days_before)?)))
                .collect(),
            at_risk_from: before(self.at_risk_days)?,
            reminders: {
                let mut reminders: Vec<Reminder> = self
                    .reminders_days_before
                    .iter()
                    .filter_map(|&days_before| {
                        let day = due_on.checked_sub_days(Days::new(days_before.into()))?;
                        Some(Reminder {
                            days_before,
                            at: morning_in_norway(day),
                        })
                    })
                    .collect();
                reminders.sort_by_key(|r| r.at);
                reminders.dedup();
                reminders
            },
        })
    }
}

/// Where a deadline stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadlineStatus {
    Upcoming,
    /// Inside the at-risk window, and the report is not ready: why, in validation's words.
    AtRisk(Vec<Issue>),
    SubmittedOnTime,
    SubmittedLate,
    Missed,
}

impl DeadlineStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            DeadlineStatus::Upcoming => "upcoming",
            DeadlineStatus::AtRisk(_) => "at_risk",
            DeadlineStatus::SubmittedOnTime => "submitted_on_time",
            DeadlineStatus::SubmittedLate => "submitted_late",
            DeadlineStatus::Missed => "missed",
        }
    }
}

/// What the log knows of a deadline's report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportFacts {
    /// When Bufdir received its submission, if it did.
    pub received_at: Option<DateTime<Utc>>,
    /// Why it is not ready to go: validation errors, missing data, missing approvals.
    pub problems: Vec<Issue>,
}

/// The status of `deadline` at `now`, from `facts`.
pub fn status(deadline: &Deadline, facts: &ReportFacts, now: DateTime<Utc>) -> DeadlineStatus {
    match facts.received_at {
        Some(at) if at <= deadline.due_at => DeadlineStatus::SubmittedOnTime,
        Some(_) => DeadlineStatus::SubmittedLate,
        None if now > deadline.due_at => DeadlineStatus::Missed,
        None if now >= deadline.at_risk_from && !facts.problems.is_empty() => {
            DeadlineStatus::AtRisk(facts.problems.clone())
        }
        None => DeadlineStatus::Upcoming,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
[[rule]]
cadence = "annual"
due = { following_year = { month = 3, day = 1 } }
milestones = [{ name = "draft_ready", days_before = 21 }, { name = "approvals_done", days_before = 7 }]

[[rule]]
cadence = "quarterly"
due = { days_after_end = 30 }
at_risk_days = 10
reminders_days_before = [7, 1]
"#;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_calendar_gives_each_period_its_due_day_and_milestones() {
        let calendar = Calendar::parse(EXAMPLE).unwrap();
        let deadlines = calendar.deadlines(day("2025-01-01"), day("2025-12-31"));
        let due: Vec<(String, NaiveDate)> = deadlines
            .iter()
            .map(|d| (d.period.to_string(), d.due_on))
            .collect();
        assert_eq!(
            due,
            [
                ("2025-Q1".to_string(), day("2025-04-30")),
                ("2025-Q2".into(), day("2025-07-30")),
                ("2025-Q3".into(), day("2025-10-30")),
                ("2025-Q4".into(), day("2026-01-30")),
                ("2025".into(), day("2026-03-01")),
            ]
        );
        let annual = &deadlines[4];
        assert_eq!(
            annual.milestones,
            [
                ("draft_ready".to_string(), utc("2026-02-08T22:59:59Z")),
                ("approvals_done".into(), utc("2026-02-22T22:59:59Z")),
            ]
        );
        assert_eq!(annual.at_risk_from, utc("2026-02-15T22:59:59Z"));
        // Reminders go out at eight in the morning, Norwegian summer time in April.
        assert_eq!(
            deadlines[0].reminders,
            [
                Reminder {
                    days_before: 7,
                    at: utc("2025-04-23T06:00:00Z")
                },
                Reminder {
                    days_before: 1,
                    at: utc("2025-04-29T06:00:00Z")
                }
            ]
        );
    }

    #[test]
    fn the_due_day_ends_at_midnight_in_norway_in_winter_and_summer_time() {
        // Summer time began on 29 March 2026: that day ends at 21:59:59 UTC, the day before at
        // 22:59:59 UTC.
        assert_eq!(
            end_of_day_in_norway(day("2026-03-28")),
            utc("2026-03-28T22:59:59Z")
        );
        assert_eq!(
            end_of_day_in_norway(day("2026-03-29")),
            utc("2026-03-29T21:59:59Z")
        );
        // And it ended on 25 October 2026.
        assert_eq!(
            end_of_day_in_norway(day("2026-10-25")),
            utc("2026-10-25T22:59:59Z")
        );
    }

    #[test]
    fn a_submission_at_the_turn_of_the_year_is_on_time_or_late_by_norwegian_midnight() {
        let rule = Rule {
            cadence: Cadence::Quarterly,
            due: Due::DaysAfterEnd(0),
            milestones: vec![],
            at_risk_days: 14,
            reminders_days_before: vec![],
        };
        let q4 = rule.deadline(PeriodId::Quarter(2025, 4)).unwrap();
        assert_eq!(q4.due_at, utc("2025-12-31T22:59:59Z"));
        let received = |at: &str| ReportFacts {
            received_at: Some(utc(at)),
            problems: vec![],
        };
        // 23:30 on New Year's Eve in Oslo is still 2025 there.
        assert_eq!(
            status(
                &q4,
                &received("2025-12-31T22:30:00Z"),
                utc("2026-01-02T00:00:00Z")
            ),
            DeadlineStatus::SubmittedOnTime
        );
        // 00:30 on New Year's Day in Oslo is 23:30 UTC on the 31st, and late.
        assert_eq!(
            status(
                &q4,
                &received("2025-12-31T23:30:00Z"),
                utc("2026-01-02T00:00:00Z")
            ),
            DeadlineStatus::SubmittedLate
        );
    }

    #[test]
    fn a_deadline_is_upcoming_then_at_risk_while_unready_then_missed() {
        let rule = Calendar::parse(EXAMPLE).unwrap().rules[1].clone();
        let q1 = rule.deadline(PeriodId::Quarter(2026, 1)).unwrap();
        let problem = Issue {
            pointer: "/payload/aktiviteter".into(),
            code: "empty",
            message_nb: "Rapporten må ha minst én aktivitet.".into(),
            message_nn: "Rapporten må ha minst éin aktivitet.".into(),
            message_en: "The report must list at least one activity.".into(),
        };
        let unready = ReportFacts {
            received_at: None,
            problems: vec![problem.clone()],
        };
        let ready = ReportFacts::default();
        assert_eq!(q1.due_at, utc("2026-04-30T21:59:59Z"));
        assert_eq!(
            status(&q1, &unready, utc("2026-04-19T12:00:00Z")),
            DeadlineStatus::Upcoming
        );
        assert_eq!(
            status(&q1, &unready, utc("2026-04-21T12:00:00Z")),
            DeadlineStatus::AtRisk(vec![problem])
        );
        assert_eq!(
            status(&q1, &ready, utc("2026-04-21T12:00:00Z")),
            DeadlineStatus::Upcoming
        );
        assert_eq!(
            status(&q1, &ready, utc("2026-04-30T21:59:59Z")),
            DeadlineStatus::Upcoming
        );
        assert_eq!(
            status(&q1, &ready, utc("2026-04-30T22:00:00Z")),
            DeadlineStatus::Missed
        );
    }

    #[test]
    fn the_shipped_calendar_parses() {
        let standard = Calendar::standard();
        assert_eq!(standard.rules.len(), 2);
        let d = standard.deadlines(day("2025-12-31"), day("2025-12-31"));
        assert_eq!(
            d.iter().map(|d| d.due_on).collect::<Vec<_>>(),
            [day("2026-01-30"), day("2026-03-01")]
        );
    }

    #[test]
    fn a_calendar_that_cannot_be_is_refused() {
        assert!(matches!(
            Calendar::parse(
                "[[rule]]\ncadence = \"annual\"\ndue = { following_year = { month = 2, day = 30 } }\n"
            ),
            Err(InvalidCalendar::NoSuchDay { .. })
        ));
        assert!(matches!(
            Calendar::parse(
                "[[rule]]\ncadence = \"annual\"\ndue = { days_after_end = 1 }\n[[rule]]\ncadence = \"annual\"\ndue = { days_after_end = 2 }\n"
            ),
            Err(InvalidCalendar::Twice(Cadence::Annual))
        ));
        assert!(matches!(
            Calendar::parse("[[rule]]\ncadence = \"weekly\"\ndue = { days_after_end = 1 }\n"),
            Err(InvalidCalendar::Toml(_))
        ));
    }
}
