//! ApproveReport, WithdrawApproval, VoidApprovals, and the check a submission makes: the people
//! who answer for a report approve the exact payload that would be sent (`domain::signoff`).
//! The facts each needs are looked up here: the payload the figures make now and its digest,
//! who last changed those figures, and the organisation's policy.

use chrono::{Datelike, Utc};
use domain::signoff::{
    self, ApprovalPolicy, SignOff, SignOffCheck, SignOffCommand, SignOffError, SignOffState,
    Signer, SignerRole,
};
use domain::submission::{SubmissionError, payload_digest};
use domain::{OrgId, PeriodId, report_payload, schema};
use projections::organizations::{self, OrganizationRow};
use projections::signoffs::{self, ApprovalRow};
use projections::{ProjectionError, report_queries};
use serde_json::Value;
use store::Metadata;

use crate::{Ctx, Error, id_for, load};

/// The version of the payload a report's figures make, and that approvals name.
pub const PAYLOAD_VERSION: &str = schema::BUFDIR_2025_V2;

/// The Bufdir payload an organisation's period would be submitted with, from its figures as
/// they stand now, and its digest (what an approval names).
pub struct CurrentPayload {
    pub payload: Value,
    pub digest: String,
}

/// The payload the figures of `org`'s `period` make now.
pub async fn current_payload(
    ctx: &Ctx,
    org: &OrganizationRow,
    period: &PeriodId,
) -> Result<CurrentPayload, ProjectionError> {
    let mut tx = ctx.db.read.begin_consistent().await?;
    let sums =
        report_queries::metric_sums_between(&mut tx, &org.org_id, period.start(), period.end())
            .await?;
    tx.commit().await?;
    let payload = report_payload::of_sums(
        schema::bufdir_2025_v2(),
        &org.organisasjonsnummer,
        &period.to_string(),
        &sums,
    );
    let digest = payload_digest(PAYLOAD_VERSION, &payload);
    Ok(CurrentPayload { payload, digest })
}

async fn registered(ctx: &Ctx, org: &OrgId) -> Result<OrganizationRow, Error<SignOffError>> {
    organizations::get(&ctx.db.read, org.as_str())
        .await?
        .ok_or_else(|| Error::NotFound(format!("organisation {org} is not registered")))
}

/// A report's sign-off as it stands: the policy, the payload the figures make now, every
/// approval given (standing, withdrawn, voided), and whether the payload may be submitted.
pub struct SignOffView {
    pub policy: ApprovalPolicy,
    pub current: CurrentPayload,
    pub approvals: Vec<ApprovalRow>,
    pub check: SignOffCheck,
}

pub async fn view(
    ctx: &Ctx,
    org: &OrgId,
    period: &PeriodId,
) -> Result<SignOffView, Error<SignOffError>> {
    let row = registered(ctx, org).await?;
    let policy = row.approval_policy.clone().unwrap_or_default();
    let current = current_payload(ctx, &row, period).await?;
    let state = load::<SignOff, _>(ctx.db.events.as_ref(), &SignOff::stream(org, period)).await?;
    let check = signoff::check(&policy, &state, &current.digest, &current.digest);
    let approvals = signoffs::of_report(&ctx.db.read, org, period).await?;
    Ok(SignOffView {
        policy,
        current,
        approvals,
        check,
    })
}

pub struct ApproveReport {
    pub org_id: OrgId,
    pub period_id: PeriodId,
    pub signer: Signer,
    pub role: SignerRole,
    /// The roles the signer holds.
    pub held: Vec<SignerRole>,
    /// The digest of the payload the signer was shown.
    pub digest: String,
    pub comment: Option<String>,
}

/// Records the approval; answers its id (the standing one, when this person had approved this
/// payload already).
pub async fn approve(
    ctx: &Ctx,
    metadata: &Metadata,
    command: ApproveReport,
) -> Result<String, Error<SignOffError>> {
    let org = registered(ctx, &command.org_id).await?;
    let current = current_payload(ctx, &org, &command.period_id).await?;
    let changed_by = report_queries::last_change_by(
        &ctx.db.read,
        &command.org_id,
        command.period_id.start().year(),
    )
    .await?
    .map(|(subject, issuer)| Signer { subject, issuer });
    let approval_id = id_for("apr", metadata);
    let stream = SignOff::stream(&command.org_id, &command.period_id);
    let executed = ctx
        .run::<SignOff>(
            &stream,
            metadata,
            &[signoffs::NAME],
            SignOffCommand::Approve {
                approval_id: approval_id.clone(),
                org_id: command.org_id.clone(),
                period_id: command.period_id,
                signer: command.signer.clone(),
                role: command.role,
                held: command.held,
                digest: command.digest.clone(),
                current_digest: current.digest,
                changed_by,
                comment: command.comment,
                now: Utc::now(),
            },
        )
        .await?;
    if executed.outcome.is_some() {
        return Ok(approval_id);
    }
    // Nothing new: this person's standing approval of the same payload is the answer.
    let state: SignOffState = load::<SignOff, _>(ctx.db.events.as_ref(), &stream).await?;
    state
        .live
        .iter()
        .find(|a| a.signer == command.signer && a.digest == command.digest)
        .map(|a| a.approval_id.clone())
        .ok_or(Error::NotVisibleYet("the approval is being recorded"))
}

/// Takes back the signer's own standing approval.
pub async fn withdraw(
    ctx: &Ctx,
    metadata: &Metadata,
    org: &OrgId,
    period: &PeriodId,
    approval_id: &str,
    signer: Signer,
) -> Result<(), Error<SignOffError>> {
    ctx.run::<SignOff>(
        &SignOff::stream(org, period),
        metadata,
        &[signoffs::NAME],
        SignOffCommand::Withdraw {
            approval_id: approval_id.to_string(),
            signer,
            now: Utc::now(),
        },
    )
    .await?;
    Ok(())
}

/// Voids the standing approvals of `org`'s `period` that name a payload other than the one its
/// figures make now; answers how many it voided.
pub async fn void_if_changed(
    ctx: &Ctx,
    metadata: &Metadata,
    org: &OrgId,
    period: &PeriodId,
) -> Result<usize, Error<SignOffError>> {
    let row = registered(ctx, org).await?;
    let current = current_payload(ctx, &row, period).await?;
    let executed = ctx
        .run::<SignOff>(
            &SignOff::stream(org, period),
            metadata,
            &[signoffs::NAME],
            SignOffCommand::Void {
                current_digest: current.digest,
                reason: "the figures changed after approval: records were imported or corrected"
                    .into(),
                now: Utc::now(),
            },
        )
        .await?;
    Ok(executed
        .events
        .iter()
        .map(|e| match e {
            signoff::SignOffEvent::ApprovalsVoided { approval_ids, .. } => approval_ids.len(),
            _ => 0,
        })
        .sum())
}

/// Whether `payload` may be submitted for `org` under its policy: the approvals standing for
/// the report it is of (its `rapporteringsperiode`) must name its digest, and that must be the
/// digest of what the figures make now.
pub(crate) async fn check_submission(
    ctx: &Ctx,
    org: &OrganizationRow,
    payload_version: &str,
    payload: &Value,
) -> Result<SignOffCheck, Error<SubmissionError>> {
    let policy = org.approval_policy.clone().unwrap_or_default();
    if policy.is_empty() {
        return Ok(SignOffCheck::NotRequired);
    }
    let period = payload
        .get("rapporteringsperiode")
        .and_then(Value::as_str)
        .and_then(|p| PeriodId::parse(p).ok());
    let Some(period) = period else {
        return Ok(SignOffCheck::Missing {
            missing: policy.requirements().to_vec(),
            voided: None,
        });
    };
    let digest = payload_digest(payload_version, payload);
    let current = current_payload(ctx, org, &period).await?;
    let state = load::<SignOff, _>(
        ctx.db.events.as_ref(),
        &SignOff::stream(&org.org_id, &period),
    )
    .await?;
    Ok(signoff::check(&policy, &state, &digest, &current.digest))
}

/// Records that the organisation's webhook answered for these voided approvals.
pub async fn record_voiding_notified(
    ctx: &Ctx,
    metadata: &Metadata,
    org: &OrgId,
    period: &PeriodId,
    approval_ids: Vec<String>,
) -> Result<(), Error<SignOffError>> {
    ctx.run::<SignOff>(
        &SignOff::stream(org, period),
        metadata,
        &[signoffs::NAME],
        SignOffCommand::RecordVoidingNotified {
            approval_ids,
            now: Utc::now(),
        },
    )
    .await?;
    Ok(())
}
