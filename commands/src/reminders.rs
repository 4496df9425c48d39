//! Deadline reminders: which are owed now, across every organisation; whether one was sent; and
//! recording it sent when its receiver answered (`domain::reminders`). The sending, and the
//! claim that keeps two workers from sending at once, are the worker's.

use chrono::{DateTime, Days, Utc};
use domain::calendar::in_norway;
use domain::reminders::{DeadlineReminders, ReminderCommand, ReminderKind, due};
use domain::{OrgId, PeriodId};
use projections::organizations;
use store::Metadata;

use crate::deadlines::DeadlineView;
use crate::{Ctx, Error};

/// A deadline and the reminders it is owed now.
pub struct Owed {
    pub org: OrgId,
    pub view: DeadlineView,
    pub kinds: Vec<ReminderKind>,
}

/// How far back a period may have ended and still have a reminder owed: an annual report is due
/// up to fourteen months after its year, and a missed one is news for a week more.
const LOOK_BACK: Days = Days::new(500);
/// How far ahead: a reminder may come before its period has even ended.
const LOOK_AHEAD: Days = Days::new(100);

/// Every reminder owed now, by the context's clock, whether sent already or not (the claim
/// tells).
pub async fn owed(ctx: &Ctx) -> Result<Vec<Owed>, Error<std::convert::Infallible>> {
    let now = ctx.clock.now();
    let today = in_norway(now).date_naive();
    let from = today - LOOK_BACK;
    let to = today + LOOK_AHEAD;
    let mut out = Vec::new();
    for org in organizations::all_ids(&ctx.db.read).await? {
        for view in crate::deadlines::list(ctx, &org, from, to).await? {
            let kinds = due(&view.deadline, &view.status, now);
            if !kinds.is_empty() {
                out.push(Owed {
                    org: org.clone(),
                    view,
                    kinds,
                });
            }
        }
    }
    Ok(out)
}

/// When the reminder was sent, if it was.
pub async fn sent_at(
    ctx: &Ctx,
    org: &OrgId,
    period: &PeriodId,
    kind: ReminderKind,
) -> Result<Option<DateTime<Utc>>, Error<std::convert::Infallible>> {
    let state = crate::load::<DeadlineReminders, _>(
        ctx.db.events.as_ref(),
        &DeadlineReminders::stream(org, period),
    )
    .await?;
    Ok(state.get(&kind.key()).copied())
}

/// Records the reminder sent (once, however many workers heard a yes).
pub async fn mark_sent(
    ctx: &Ctx,
    metadata: &Metadata,
    org: &OrgId,
    period: &PeriodId,
    kind: ReminderKind,
    now: DateTime<Utc>,
) -> Result<(), Error<std::convert::Infallible>> {
    ctx.run::<DeadlineReminders>(
        &DeadlineReminders::stream(org, period),
        metadata,
        &[],
        ReminderCommand::MarkSent {
            org_id: org.clone(),
            period: *period,
            kind,
            now,
        },
    )
    .await?;
    Ok(())
}
