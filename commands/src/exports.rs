//! InitiateExport, CancelExport, RetryExport, DeleteExport, and the steps of a render: one
//! stream per export (`Export`), whose decide holds the job's state machine. Re-exports are
//! exports too (`crate::reexports`).

use chrono::{DateTime, Utc};
use domain::export::{Export, ExportCommand, ExportError, ExportEvent, ExportRequest};
use projections::exports;
use store::Metadata;

use crate::{Ctx, Error, id_for};

/// Runs one command on export `export_id`'s stream; answers what it recorded.
pub async fn record(
    ctx: &Ctx,
    metadata: &Metadata,
    export_id: &str,
    command: ExportCommand,
) -> Result<Vec<ExportEvent>, Error<ExportError>> {
    Ok(ctx
        .run::<Export>(
            &Export::stream(export_id),
            metadata,
            &[exports::NAME],
            command,
        )
        .await?
        .events)
}

/// Queues an export of `request`; answers its id and when it was queued.
pub async fn initiate(
    ctx: &Ctx,
    metadata: &Metadata,
    request: ExportRequest,
) -> Result<(String, DateTime<Utc>), Error<ExportError>> {
    let export_id = id_for("exp", metadata);
    let now = Utc::now();
    let command = ExportCommand::Request {
        export_id: export_id.clone(),
        request,
        now,
    };
    record(ctx, metadata, &export_id, command).await?;
    Ok((export_id, now))
}

/// Cancels a queued or running export (a running render stops at its next check).
pub async fn cancel(
    ctx: &Ctx,
    metadata: &Metadata,
    export_id: &str,
    reason: String,
) -> Result<DateTime<Utc>, Error<ExportError>> {
    let now = Utc::now();
    record(
        ctx,
        metadata,
        export_id,
        ExportCommand::Cancel { reason, now },
    )
    .await?;
    Ok(now)
}

/// Queues a failed or cancelled export again; answers when.
pub async fn retry(
    ctx: &Ctx,
    metadata: &Metadata,
    export_id: &str,
) -> Result<DateTime<Utc>, Error<ExportError>> {
    let now = Utc::now();
    record(ctx, metadata, export_id, ExportCommand::Retry { now }).await?;
    Ok(now)
}

/// Deletes the export (cancelling it first when it is still running).
pub async fn delete(
    ctx: &Ctx,
    metadata: &Metadata,
    export_id: &str,
) -> Result<(), Error<ExportError>> {
    record(
        ctx,
        metadata,
        export_id,
        ExportCommand::Delete { now: Utc::now() },
    )
    .await?;
    Ok(())
}

/// Records that the export's file is gone from the store.
pub async fn file_removed(
    ctx: &Ctx,
    metadata: &Metadata,
    export_id: &str,
) -> Result<(), Error<ExportError>> {
    record(
        ctx,
        metadata,
        export_id,
        ExportCommand::ExpireFile { now: Utc::now() },
    )
    .await?;
    Ok(())
}
