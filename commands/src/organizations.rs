//! RegisterOrganization, SetApprovalPolicy.

use chrono::{DateTime, SubsecRound, Utc};
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
