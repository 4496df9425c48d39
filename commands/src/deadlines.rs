//! An organisation's deadlines and where each stands, from the calendar and what the log knows:
//! when Bufdir received the period's submission, and, inside the at-risk window, why the report
//! is not ready (no data, the validator's errors, approvals the policy still needs), in the
//! validator's words and pointers.

use chrono::{DateTime, NaiveDate, Utc};
use domain::calendar::{Deadline, DeadlineStatus, ReportFacts, status};
use domain::signoff::{SignOffCheck, describe_missing};
use domain::{Issue, OrgId, PeriodId, bufdir_payload};
use projections::organizations::{self, OrganizationRow};
use projections::submissions;

use crate::{Ctx, Error};

/// Reading deadlines refuses nothing; it only fails to read.
type Failed = Error<std::convert::Infallible>;

/// A deadline, its status now, and when Bufdir received the period's report (if it did).
pub struct DeadlineView {
    pub deadline: Deadline,
    pub status: DeadlineStatus,
    pub received_at: Option<DateTime<Utc>>,
}

/// The deadlines of `org` whose periods end within `from..=to`, by due date, judged at the
/// context's clock.
pub async fn list(
    ctx: &Ctx,
    org: &OrgId,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<DeadlineView>, Failed> {
    let Some(row) = organizations::get(&ctx.db.read, org.as_str()).await? else {
        return Ok(vec![]);
    };
    let now = ctx.clock.now();
    let received = submissions::received_of_org(&ctx.db.read, org.as_str()).await?;
    let mut out = Vec::new();
    let calendar = row.calendar.as_ref().unwrap_or(ctx.calendar.as_ref());
    for deadline in calendar.deadlines(from, to) {
        let period = deadline.period.to_string();
        let received_at = received
            .iter()
            .filter(|s| s.payload["rapporteringsperiode"].as_str() == Some(period.as_str()))
            .filter_map(|s| s.submitted_at)
            .min();
        let mut facts = ReportFacts {
            received_at,
            problems: vec![],
        };
        // Why it is not ready matters only while it can still be saved.
        let unsent_and_due_soon =
            received_at.is_none() && now >= deadline.at_risk_from && now <= deadline.due_at;
        if unsent_and_due_soon {
            facts.problems = problems(ctx, &row, &deadline.period, now).await?;
        }
        out.push(DeadlineView {
            status: status(&deadline, &facts, now),
            deadline,
            received_at,
        });
    }
    Ok(out)
}

/// What keeps the period's report from going: no records, the validator's errors, approvals the
/// organisation's policy still needs.
async fn problems(
    ctx: &Ctx,
    org: &OrganizationRow,
    period: &PeriodId,
    now: DateTime<Utc>,
) -> Result<Vec<Issue>, Failed> {
    let current = crate::signoff::current_payload(ctx, org, period).await?;
    let mut problems = Vec::new();
    let has_data = current.payload["felter"]
        .as_object()
        .is_some_and(|f| !f.is_empty());
    if !has_data {
        problems.push(Issue {
            pointer: "/payload/felter".into(),
            code: "no_data",
            message_nb: format!("Ingen kildedata for {period} ennå."),
            message_nn: format!("Ingen kjeldedata for {period} enno."),
            message_en: format!("No source data for {period} yet."),
        });
    }
    let validation = bufdir_payload::validate_for_organisation(
        crate::signoff::PAYLOAD_VERSION,
        &current.payload,
        now.date_naive(),
        &org.org_id,
        &org.organisasjonsnummer,
    );
    problems.extend(validation.errors);
    let policy = org.approval_policy.clone().unwrap_or_default();
    let state = crate::load::<domain::signoff::SignOff, _>(
        ctx.db.events.as_ref(),
        &domain::signoff::SignOff::stream(&org.org_id, period),
    )
    .await?;
    if let SignOffCheck::Missing { missing, .. } =
        domain::signoff::check(&policy, &state, &current.digest, &current.digest)
    {
        let who = describe_missing(&missing);
        problems.push(Issue {
            pointer: String::new(),
            code: "approvals_missing",
            message_nb: format!("Rapporten mangler godkjenning: {who}."),
            message_nn: format!("Rapporten manglar godkjenning: {who}."),
            message_en: format!("The report still needs approval: {who}."),
        });
    }
    Ok(problems)
}
