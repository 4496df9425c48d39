//! An organisation's deadlines as an RFC 5545 calendar, for calendar programs: an all-day event
//! on each due day and each milestone's day, alarms at the reminders' moments, and UIDs made of
//! the organisation, the period and the step alone, so a program that fetches the feed again
//! replaces its events instead of doubling them. Texts follow the chosen locale.

use chrono::{DateTime, Days, NaiveDate, Utc};
use commands::deadlines::DeadlineView;
use domain::Locale;
use domain::calendar::{Cadence, DeadlineStatus, in_norway, morning_in_norway};
use icalendar::{Alarm, Calendar, Component, Event, EventLike, Property};

/// The calendar, generated at `now`.
pub fn render(
    org_id: &str,
    org_name: &str,
    views: &[DeadlineView],
    locale: Locale,
    now: DateTime<Utc>,
) -> String {
    let words = Words::of(locale);
    let mut calendar = Calendar::new();
    calendar
        .append_property(Property::new(
            "PRODID",
            "-//Bufdir reporting//Deadlines//NO",
        ))
        .append_property(Property::new("METHOD", "PUBLISH"))
        .name(&format!("{}: {org_name}", words.calendar))
        .ttl(&chrono::Duration::hours(1));
    for view in views {
        let d = &view.deadline;
        let report = words.report(d.cadence, &d.period.to_string());
        let summary = format!("{}: {report}", words.due);
        let mut event = day_event(
            &format!("deadline-{org_id}-{}@bufdir-reporting", d.period),
            d.due_on,
            &summary,
            &words.describe(view),
            now,
        );
        for reminder in &d.reminders {
            event.alarm(Alarm::display(&summary, reminder.at));
        }
        calendar.push(event.done());
        for (name, at) in &d.milestones {
            let day = in_norway(*at).date_naive();
            let summary = format!("{}: {report}", words.milestone(name));
            let mut event = day_event(
                &format!("milestone-{org_id}-{}-{name}@bufdir-reporting", d.period),
                day,
                &summary,
                &format!("{} {}", words.before_due, d.due_on.format("%d.%m.%Y")),
                now,
            );
            event.alarm(Alarm::display(&summary, morning_in_norway(day)));
            calendar.push(event.done());
        }
    }
    calendar.done().to_string()
}

/// An all-day event on `day`, in Norway.
fn day_event(
    uid: &str,
    day: NaiveDate,
    summary: &str,
    description: &str,
    now: DateTime<Utc>,
) -> Event {
    let mut event = Event::new();
    event
        .uid(uid)
        .timestamp(now)
        .summary(summary)
        .description(description)
        .starts(day)
        // All-day events end on the next day, which is not part of them.
        .ends(day.checked_add_days(Days::new(1)).unwrap_or(day));
    event
}

/// The calendar's words in one locale.
struct Words {
    locale: Locale,
    calendar: &'static str,
    due: &'static str,
    before_due: &'static str,
}

impl Words {
    fn of(locale: Locale) -> Words {
        match locale {
            Locale::NbNo => Words {
                locale,
                calendar: "Bufdir-frister",
                due: "Frist",
                before_due: "Før fristen",
            },
            Locale::NnNo => Words {
                locale,
                calendar: "Bufdir-fristar",
                due: "Frist",
                before_due: "Før fristen",
            },
            Locale::EnGb => Words {
                locale,
                calendar: "Bufdir deadlines",
                due: "Due",
                before_due: "Before the deadline of",
            },
        }
    }

    fn report(&self, cadence: Cadence, period: &str) -> String {
        let kind = match (cadence, self.locale) {
            (Cadence::Annual, Locale::EnGb) => "annual report",
            (Cadence::Annual, _) => "årsrapport",
            (Cadence::Quarterly, Locale::EnGb) => "quarterly report",
            (Cadence::Quarterly, _) => "kvartalsrapport",
        };
        match self.locale {
            Locale::EnGb => format!("{kind} {period} to Bufdir"),
            _ => format!("{kind} {period} til Bufdir"),
        }
    }

    fn milestone(&self, name: &str) -> String {
        let known = match (name, self.locale) {
            ("draft_ready", Locale::EnGb) => "Draft ready",
            ("draft_ready", _) => "Utkast klart",
            ("approvals_done", Locale::NbNo) => "Godkjenninger ferdige",
            ("approvals_done", Locale::NnNo) => "Godkjenningar ferdige",
            ("approvals_done", Locale::EnGb) => "Approvals done",
            _ => return name.replace('_', " "),
        };
        known.to_string()
    }

    /// Where the deadline stands, and why it is at risk.
    fn describe(&self, view: &DeadlineView) -> String {
        let status = match (&view.status, self.locale) {
            (DeadlineStatus::Upcoming, Locale::NbNo) => "kommende",
            (DeadlineStatus::Upcoming, Locale::NnNo) => "kjem",
            (DeadlineStatus::Upcoming, Locale::EnGb) => "upcoming",
            (DeadlineStatus::AtRisk(_), Locale::EnGb) => "at risk",
            (DeadlineStatus::AtRisk(_), _) => "i fare",
            (DeadlineStatus::SubmittedOnTime, Locale::EnGb) => "submitted on time",
            (DeadlineStatus::SubmittedOnTime, _) => "sendt i tide",
            (DeadlineStatus::SubmittedLate, Locale::NbNo) => "sendt for sent",
            (DeadlineStatus::SubmittedLate, Locale::NnNo) => "sendt for seint",
            (DeadlineStatus::SubmittedLate, Locale::EnGb) => "submitted late",
            (DeadlineStatus::Missed, Locale::NbNo) => "ikke sendt, fristen er ute",
            (DeadlineStatus::Missed, Locale::NnNo) => "ikkje sendt, fristen er ute",
            (DeadlineStatus::Missed, Locale::EnGb) => "not submitted, and past due",
        };
        let mut text = format!("Status: {status}.");
        if let DeadlineStatus::AtRisk(why) = &view.status {
            for issue in why {
                let message = match self.locale {
                    Locale::NbNo => &issue.message_nb,
                    Locale::NnNo => &issue.message_nn,
                    Locale::EnGb => &issue.message_en,
                };
                text.push_str("\n- ");
                text.push_str(message);
            }
        }
        text
    }
}
