//! SubmitToBufdir: the one submit path, for `POST /bufdir-api/submit` and for exports with
//! `submit_to_bufdir_api`. The submission is validated, checked against the organisation and
//! its Bufdir credentials, and written to its stream: the log is the outbox a worker delivers
//! from (`workers::bufdir_delivery`).

use chrono::Utc;
use domain::OrgId;
use domain::bufdir_access::BufdirAccess;
use domain::bufdir_payload::{self, Validation};
use domain::submission::{self, Submission, SubmissionCommand, SubmissionError};
use projections::submissions::{self, SubmissionRow};
use projections::{exports, organizations, reports};
use store::{Metadata, StoreError};

use crate::{Ctx, Error, id_for};

pub struct SubmitToBufdir {
    pub org_id: OrgId,
    /// The client's label for what it submits (for exports, the export id).
    pub report_id: String,
    pub payload_version: String,
    pub payload: serde_json::Value,
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
async fn report_of_org(
    ctx: &Ctx,
    org: &OrgId,
    report_id: &str,
) -> Result<(), Error<SubmissionError>> {
    let owner = match reports::get(&ctx.db.read, report_id).await? {
        Some(report) => Some(report.org_id),
        None => exports::get(&ctx.db.read, report_id)
            .await?
            .map(|e| e.org_id),
    };
    match owner {
        Some(owner) if owner != *org => Err(Error::invalid(
            "/report_id",
            "unknown_report",
            format!("{org} has no report or export {report_id}"),
        )),
        _ => Ok(()),
    }
}

pub async fn submit(
    ctx: &Ctx,
    metadata: &Metadata,
    command: SubmitToBufdir,
) -> Result<Submitted, Error<SubmissionError>> {
    let org = command.org_id;
    if !submission::valid_report_id(&command.report_id) {
        return Err(Error::invalid(
            "/report_id",
            "invalid_report_id",
            "report_id is 1 to 128 of A-Z a-z 0-9 _ . -, starting with a letter or digit",
        ));
    }
    // Through the read cache: the route has just read it there to check the caller's access.
    let registered = ctx
        .projections
        .cache()
        .read(
            |c| &c.organizations,
            org.as_str(),
            organizations::get(&ctx.db.read, org.as_str()),
        )
        .await?
        .ok_or_else(|| Error::NotFound(format!("organisation {org} is not registered")))?;
    report_of_org(ctx, &org, &command.report_id).await?;
    let validation = bufdir_payload::validate_for_organisation(
        &command.payload_version,
        &command.payload,
        Utc::now().date_naive(),
        &org,
        &registered.organisasjonsnummer,
    );
    if !validation.is_valid() {
        return Err(Error::Invalid(validation.errors));
    }
    let authenticated = has_credentials(ctx, &org).await?;
    // Checked on the payload as the client sent it: approvals name the clear payload's digest.
    let sign_off = crate::signoff::check_submission(
        ctx,
        &registered,
        &command.payload_version,
        &command.payload,
    )
    .await?;
    // Validated in the clear above; kept in the log only encrypted under its subject's key.
    let payload = crate::privacy::protect(&ctx.db.read, command.payload).await?;
    let submission_id = id_for("sub", metadata);
    let executed = ctx
        .run::<Submission>(
            &Submission::stream(&org, &command.report_id),
            metadata,
            &[submissions::NAME],
            SubmissionCommand::Submit {
                submission_id,
                org_id: org.clone(),
                report_id: command.report_id.clone(),
                payload_version: command.payload_version,
                payload,
                authenticated,
                sign_off,
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
        .ok_or(Error::NotVisibleYet("the submission is being recorded"))?;
    Ok(Submitted {
        submission: delivered(ctx, submission).await?,
        validation,
    })
}

/// The submission once it has left `pending` (delivered, or refused for good), or as it is
/// when the context's delivery wait runs out.
async fn delivered(
    ctx: &Ctx,
    mut row: SubmissionRow,
) -> Result<SubmissionRow, Error<SubmissionError>> {
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
            .ok_or(Error::NotVisibleYet("the submission is being recorded"))?;
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
) -> Result<(), Error<domain::bufdir_access::BufdirAccessError>> {
    ctx.run::<BufdirAccess>(
        &BufdirAccess::stream(org_id),
        metadata,
        // No read model shows it: `submit` reads the access stream itself.
        &[],
        domain::bufdir_access::BufdirAccessCommand::RecordAuthentication {
            org_id: org_id.clone(),
            client_id,
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
) -> Result<(), Error<SubmissionError>> {
    ctx.run::<Submission>(
        &Submission::stream(org_id, report_id),
        metadata,
        &[submissions::NAME],
        command,
    )
    .await?;
    Ok(())
}

/// Submission `id` (of `org`'s report `report_id`) as its status stood `as_of`, folded from its
/// events as the read model folds them; `None` before it was requested.
pub async fn as_of(
    ctx: &Ctx,
    org: &domain::OrgId,
    report_id: &str,
    id: &str,
    as_of: crate::as_of::AsOf,
) -> Result<Option<domain::submission_history::SubmissionAt>, Error<std::convert::Infallible>> {
    let stream = domain::submission::Submission::stream(org, report_id);
    let events: Vec<domain::submission::SubmissionEvent> =
        crate::as_of::events_until(ctx, &stream, as_of).await?;
    Ok(domain::submission_history::submission_at(&events, id))
}
