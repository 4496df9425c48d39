//! RequestReexport, and the steps of an external renderer: a re-export is an export job
//! (`Export`) that reads the log as of its report's position, so its state machine is the
//! export's, decided in the domain.

use chrono::{DateTime, Utc};
use domain::export::{
    ExportCommand, ExportEvent, ExportFile, ExportFormat, ExportRequest, ExternalResult, ReexportOf,
};
use domain::reexport::ReexportRefusal;
use domain::{FileKey, Locale};
use projections::exports::ExportRow;
use projections::reports::ReportRow;
use store::Metadata;

use crate::{Ctx, Error, id_for};

pub struct RequestReexport {
    /// A format asked for; `None`: the original's.
    pub format: ExportFormat,
    pub locale: Locale,
    pub include_annexes: bool,
    pub notify_on_completion: bool,
}

/// Queues a re-export of `report` (whose original export, if any, is `original`); answers its
/// id.
pub async fn request(
    ctx: &Ctx,
    metadata: &Metadata,
    report: &ReportRow,
    original: Option<&ExportRow>,
    command: RequestReexport,
) -> Result<String, Error<ReexportRefusal>> {
    domain::reexport::may_reexport(&report.report_id, report.status).map_err(Error::Rejected)?;
    let reexport_id = id_for("reexp", metadata);
    let request = ExportRequest {
        org_id: report.org_id.clone(),
        format: command.format,
        period_from: report.period_from,
        period_to: report.period_to,
        // The same report: the categories the original export was limited to.
        activity_types: original
            .map(|o| o.activity_types.clone())
            .unwrap_or_default(),
        include_attachments: command.include_annexes,
        submit_to_bufdir_api: false,
        locale: command.locale,
        reexport: Some(ReexportOf {
            report_id: report.report_id.clone(),
            as_of_position: report.as_of_position.to_string(),
            notify_on_completion: command.notify_on_completion,
        }),
    };
    let command = ExportCommand::Request {
        export_id: reexport_id.clone(),
        request,
        now: Utc::now(),
    };
    record(ctx, metadata, &reexport_id, command).await?;
    Ok(reexport_id)
}

/// What an external renderer reports.
pub enum RendererUpdate {
    /// Still waiting: true only while it is pending.
    Pending,
    /// Take the job, or keep it (renewing the lease).
    Running,
    /// Done: the organisation's file at `key`, of `size` bytes (already checked to be there).
    Completed {
        key: FileKey,
        size: u64,
        completed_at: DateTime<Utc>,
    },
    Failed {
        error: String,
    },
    Cancelled {
        reason: String,
    },
}

/// Records what the external renderer `renderer` (`external:{caller}`, the caller with its
/// issuer for a provider's token) reports of `row`.
pub async fn report_progress(
    ctx: &Ctx,
    metadata: &Metadata,
    row: &ExportRow,
    renderer: String,
    update: RendererUpdate,
    lease: std::time::Duration,
    file_ttl: chrono::Duration,
) -> Result<(), Error<ReexportRefusal>> {
    let now = Utc::now();
    let lease_until = now + chrono::Duration::from_std(lease).unwrap_or_default();
    let command = match update {
        RendererUpdate::Pending => ExportCommand::ExternalPending,
        RendererUpdate::Running => ExportCommand::ExternalHold {
            renderer,
            lease_until,
            now,
        },
        RendererUpdate::Completed {
            key,
            size,
            completed_at,
        } => {
            let format = row.format;
            ExportCommand::ExternalFinish {
                renderer,
                result: ExternalResult::Completed {
                    file: ExportFile {
                        name: key.file_name().to_string(),
                        key: key.into(),
                        content_type: format.content_type().into(),
                        size_bytes: size,
                        expires_at: now + file_ttl,
                    },
                    source_position: row
                        .as_of_position
                        .map(|p| p.to_string())
                        .unwrap_or_default(),
                    duration_ms: (now - row.created_at).num_milliseconds().max(0) as u64,
                    completed_at,
                },
                lease_until,
                now,
            }
        }
        RendererUpdate::Failed { error } => ExportCommand::ExternalFinish {
            renderer,
            result: ExternalResult::Failed { error },
            lease_until,
            now,
        },
        RendererUpdate::Cancelled { reason } => ExportCommand::Cancel { reason, now },
    };
    record(ctx, metadata, &row.export_id, command).await?;
    Ok(())
}

/// Records that the completion was notified (by the renderer itself, or our webhook).
pub async fn mark_notified(
    ctx: &Ctx,
    metadata: &Metadata,
    export_id: &str,
    attempts: u32,
) -> Result<(), Error<ReexportRefusal>> {
    record(
        ctx,
        metadata,
        export_id,
        ExportCommand::MarkNotified {
            attempts,
            now: Utc::now(),
        },
    )
    .await?;
    Ok(())
}

/// Cancels a re-export's job; answers when.
pub async fn cancel(
    ctx: &Ctx,
    metadata: &Metadata,
    reexport_id: &str,
    reason: String,
) -> Result<DateTime<Utc>, Error<ReexportRefusal>> {
    crate::exports::cancel(ctx, metadata, reexport_id, reason)
        .await
        .map_err(|e| e.map_rejected(ReexportRefusal::from))
}

/// Runs one command on the re-export's job, its refusals worded for a re-export.
async fn record(
    ctx: &Ctx,
    metadata: &Metadata,
    reexport_id: &str,
    command: ExportCommand,
) -> Result<Vec<ExportEvent>, Error<ReexportRefusal>> {
    crate::exports::record(ctx, metadata, reexport_id, command)
        .await
        .map_err(|e| e.map_rejected(ReexportRefusal::from))
}
