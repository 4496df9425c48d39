//! RegisterOrganization, SetApprovalPolicy, SetCalendar, and the calendar-feed links.

use chrono::{DateTime, SubsecRound, Utc};
use domain::calendar::Calendar;
use domain::organization::{OrgName, Organization, OrganizationCommand, OrganizationError};
use domain::signoff::ApprovalPolicy;
use domain::{OrgId, OrgNumber};
use projections::organizations as read;
use store::Metadata;

use crate::{Ctx, Error};

pub struct RegisterOrganization {
    pub org_id: OrgId,
    pub name: OrgName,
    pub organisasjonsnummer: OrgNumber,
}

/// Registers the organisation; answers when it was registered.
pub async fn register(
    ctx: &Ctx,
    metadata: &Metadata,
    command: RegisterOrganization,
) -> Result<DateTime<Utc>, Error<OrganizationError>> {
    // Microseconds: what the read model keeps, so the answer equals a later read.
    let now = Utc::now().trunc_subsecs(6);
    ctx.run::<Organization>(
        &Organization::stream(&command.org_id),
        metadata,
        &[read::NAME],
        OrganizationCommand::Register {
            org_id: command.org_id,
            name: command.name,
            organisasjonsnummer: command.organisasjonsnummer,
            now,
        },
    )
    .await?;
    Ok(now)
}

/// Sets who must approve the organisation's reports before they are submitted (an empty policy:
/// nobody).
pub async fn set_approval_policy(
    ctx: &Ctx,
    metadata: &Metadata,
    org_id: &OrgId,
    policy: ApprovalPolicy,
) -> Result<(), Error<OrganizationError>> {
    ctx.run::<Organization>(
        &Organization::stream(org_id),
        metadata,
        &[read::NAME],
        OrganizationCommand::SetApprovalPolicy {
            org_id: org_id.clone(),
            policy,
            now: Utc::now(),
        },
    )
    .await?;
    Ok(())
}

/// Gives the organisation its own reporting calendar; `None` returns it to the service's.
pub async fn set_calendar(
    ctx: &Ctx,
    metadata: &Metadata,
    org_id: &OrgId,
    calendar: Option<Calendar>,
) -> Result<(), Error<OrganizationError>> {
    ctx.run::<Organization>(
        &Organization::stream(org_id),
        metadata,
        &[read::NAME],
        OrganizationCommand::SetCalendar {
            org_id: org_id.clone(),
            calendar,
            now: ctx.clock.now(),
        },
    )
    .await?;
    Ok(())
}

/// Hands out a calendar-feed link; answers its id, random and unguessable.
pub async fn issue_feed_link(
    ctx: &Ctx,
    metadata: &Metadata,
    org_id: &OrgId,
) -> Result<String, Error<OrganizationError>> {
    let feed_id = format!("feed_{}", ulid::Ulid::new().to_string().to_lowercase());
    ctx.run::<Organization>(
        &Organization::stream(org_id),
        metadata,
        &[read::NAME],
        OrganizationCommand::IssueFeedLink {
            org_id: org_id.clone(),
            feed_id: feed_id.clone(),
            now: Utc::now().trunc_subsecs(6),
        },
    )
    .await?;
    Ok(feed_id)
}

/// Revokes a calendar-feed link: from the answer on, it is refused.
pub async fn revoke_feed_link(
    ctx: &Ctx,
    metadata: &Metadata,
    org_id: &OrgId,
    feed_id: &str,
) -> Result<(), Error<OrganizationError>> {
    ctx.run::<Organization>(
        &Organization::stream(org_id),
        metadata,
        &[read::NAME],
        OrganizationCommand::RevokeFeedLink {
            org_id: org_id.clone(),
            feed_id: feed_id.to_string(),
            now: Utc::now().trunc_subsecs(6),
        },
    )
    .await?;
    Ok(())
}
