//! SubmitToBufdir: the one submit path, for `POST /bufdir-api/submit` and for exports with
//! `submit_to_bufdir_api`. The submission is validated, checked against the organisation and
//! its Bufdir credentials, and written to its stream: the log is the outbox a worker delivers
//! from (`workers::bufdir_delivery`).

use chrono::Utc;
use domain::OrgId;
use domain::bufdir_access::BufdirAccess;
use domain::bufdir_payload::{self, Issue, Validation};
use domain::submission::{self, Submission, SubmissionCommand, SubmissionError};
use projections::submissions::{self, SubmissionRow};
use projections::{ProjectionError, exports, organizations, reports};
use store::{Metadata, StoreError};

use crate::{CommandError, Ctx, id_for};

pub struct SubmitToBufdir {
    pub org_id: OrgId,
    /// The client's label for what it submits (for exports, the export id).
    pub report_id: String,
    pub payload_version: String,
    pub payload: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The report id is not one a submission can carry.
    #[error("report_id is 1 to 128 of A-Z a-z 0-9 _ . -, starting with a letter or digit")]
    InvalidReportId,
    /// It names one of our reports or exports, of another organisation.
    #[error("{org} has no report or export {report_id}")]
    ForeignReport { org: OrgId, report_id: String },
    /// The validator's errors (and a number that is not the organisation's).
    #[error("the payload is not valid")]
    Invalid(Vec<Issue>),
    /// Bufdir credentials are needed first.
    #[error("{0} has no Bufdir credentials yet: call POST /api/v1/bufdir-api/authenticate first")]
    NoCredentials(OrgId),
    #[error("organisation {0} is not registered")]
    UnknownOrganisation(OrgId),
    #[error(transparent)]
    Command(#[from] CommandError<SubmissionError>),
    #[error(transparent)]
    ReadModel(#[from] ProjectionError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The contact person's key could not be had.
    #[error(transparent)]
    Privacy(#[from] crate::privacy::PrivacyError),
    /// Recorded, but the read model has not shown it within the wait.
    #[error("the submission is being recorded; retry shortly")]
    NotVisibleYet,
}

/// What `submit` did: the report's current submission, and the payload's warnings.
pub struct Submitted {
    pub submission: SubmissionRow,
    pub validation: Validation,
}

/// Whether the organisation gave its Bufdir credentials: its access stream records each time.
async fn has_credentials(ctx: &Ctx, org: &OrgId) -> Result<bool, StoreError> {
    Ok(!ctx
        .db
        .events
        .read_stream(&BufdirAccess::stream(org), 0)
        .await?
        .is_empty())
}

/// A report id that names one of our reports or exports must be the organisation's own.
async fn report_of_org(ctx: &Ctx, org: &OrgId, report_id: &str) -> Result<(), SubmitError> {
    let owner = match reports::get(&ctx.db.read, report_id).await? {
        Some(report) => Some(report.org_id),
        None => exports::get(&ctx.db.read, report_id)
            .await?
            .map(|e| e.org_id),
    };
    match owner {
        Some(owner) if owner != org.as_str() => Err(SubmitError::ForeignReport {
            org: org.clone(),
            report_id: report_id.to_string(),
        }),
        _ => Ok(()),
    }
}

pub async fn submit(
    ctx: &Ctx,
    metadata: &Metadata,
    command: SubmitToBufdir,
) -> Result<Submitted, SubmitError> {
    let org = command.org_id;
    if !submission::valid_report_id(&command.report_id) {
        return Err(SubmitError::InvalidReportId);
    }
    let registered = organizations::get(&ctx.db.read, org.as_str())
        .await?
        .ok_or_else(|| SubmitError::UnknownOrganisation(org.clone()))?;
    report_of_org(ctx, &org, &command.report_id).await?;
    let validation = bufdir_payload::validate_for_organisation(
        &command.payload_version,
        &command.payload,
        Utc::now().date_naive(),
        &org,
        &registered.organisasjonsnummer,
    );
    if !validation.is_valid() {
        return Err(SubmitError::Invalid(validation.errors));
    }
    if !has_credentials(ctx, &org).await? {
        return Err(SubmitError::NoCredentials(org));
    }
    // Validated in the clear above; kept in the log only encrypted under its subject's key.
    let payload = crate::privacy::protect(&ctx.db.read, command.payload).await?;
    let submission_id = id_for("sub", metadata);
    let executed = ctx
        .run::<Submission>(
            &Submission::stream(&org, &command.report_id),
            metadata,
            submissions::NAME,
            SubmissionCommand::Submit {
                submission_id,
                org_id: org.clone(),
                report_id: command.report_id.clone(),
                payload_version: command.payload_version,
                payload,
                now: Utc::now(),
            },
        )
        .await?;
    // Nothing recorded: this report already has a submission of this payload, which the read
    // model shows once it has caught up with the log.
    if executed.outcome.is_none() {
        ctx.settle_all(submissions::NAME).await?;
    }
    let submission = submissions::latest_for_report(&ctx.db.read, org.as_str(), &command.report_id)
        .await?
        .ok_or(SubmitError::NotVisibleYet)?;
    Ok(Submitted {
        submission: delivered(ctx, submission).await?,
        validation,
    })
}

/// The submission once it has left `pending` (delivered, or refused for good), or as it is
/// when the context's delivery wait runs out.
async fn delivered(ctx: &Ctx, mut row: SubmissionRow) -> Result<SubmissionRow, SubmitError> {
    let deadline = tokio::time::Instant::now() + ctx.delivery_wait;
    let changed = ctx.projections.changed();
    loop {
        if row.status != submission::SubmissionStatus::Pending
            || tokio::time::Instant::now() >= deadline
        {
            return Ok(row);
        }
        // Registered before the read, so a change between the read and the wait still wakes.
        let notified = changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        row = submissions::by_id(&ctx.db.read, &row.submission_id)
            .await?
            .ok_or(SubmitError::NotVisibleYet)?;
        if row.status != submission::SubmissionStatus::Pending {
            return Ok(row);
        }
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}

/// Records that the organisation's Bufdir credentials were accepted (the credentials and the
/// token themselves are kept elsewhere: never in the log).
pub async fn record_authentication(
    ctx: &Ctx,
    metadata: &Metadata,
    org_id: &OrgId,
    client_id: String,
    expires_in: u64,
) -> Result<(), CommandError<domain::bufdir_access::BufdirAccessError>> {
    crate::execute::<BufdirAccess>(
        ctx.db.events.as_ref(),
        &BufdirAccess::stream(org_id),
        metadata,
        || domain::bufdir_access::BufdirAccessCommand::RecordAuthentication {
            org_id: org_id.clone(),
            client_id: client_id.clone(),
            expires_in,
            now: Utc::now(),
        },
    )
    .await?;
    Ok(())
}

/// Records a step of a submission's delivery (an attempt, Bufdir's answer, its verdict).
pub async fn record(
    ctx: &Ctx,
    metadata: &Metadata,
    org_id: &OrgId,
    report_id: &str,
    command: SubmissionCommand,
) -> Result<(), CommandError<SubmissionError>> {
    ctx.run::<Submission>(
        &Submission::stream(org_id, report_id),
        metadata,
        submissions::NAME,
        command,
    )
    .await?;
    Ok(())
}
