//! Renders a [`ReportDocument`] to a file. Every format is written from the same document, and
//! runs on a blocking thread (`spawn_blocking`): rendering is CPU and disk work.

mod csv;
mod json;
mod numbers;
mod pdf;
mod xlsx;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use super::document::{AnnexRow, ReportDocument};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Excel,
    Csv,
    Pdf,
    Json,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Excel => "xlsx",
            Format::Csv => "csv",
            Format::Pdf => "pdf",
            Format::Json => "json",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Excel => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Pdf => "application/pdf",
            Format::Json => "application/json",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("cancelled")]
    Cancelled,
    #[error("rendering failed: {0}")]
    Failed(String),
}

impl From<std::io::Error> for RenderError {
    fn from(e: std::io::Error) -> Self {
        RenderError::Failed(e.to_string())
    }
}

impl From<rust_xlsxwriter::XlsxError> for RenderError {
    fn from(e: rust_xlsxwriter::XlsxError) -> Self {
        RenderError::Failed(e.to_string())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderStats {
    pub bytes: u64,
    pub annex_rows: u64,
}

/// Annex rows between checks for cancellation.
pub(crate) const CHECK_EVERY: u64 = 10_000;

/// Steps for progress reports: the cover, each section, the activities, and finishing.
pub(crate) struct Steps<'a> {
    done: u32,
    total: u32,
    report: &'a mut dyn FnMut(u32, u32),
    cancelled: &'a AtomicBool,
}

impl Steps<'_> {
    pub(crate) fn step(&mut self) -> Result<(), RenderError> {
        self.done = (self.done + 1).min(self.total);
        (self.report)(self.done, self.total);
        self.check()
    }

    pub(crate) fn check(&self) -> Result<(), RenderError> {
        if self.cancelled.load(Ordering::SeqCst) {
            Err(RenderError::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// Writes the whole file at `path`. `annex` (exports with attachments) is streamed, never
/// collected. When `cancelled` turns true the render stops at its next check and leaves no file.
pub fn render(
    format: Format,
    doc: &ReportDocument,
    annex: Option<&mut dyn Iterator<Item = AnnexRow>>,
    path: &Path,
    cancelled: &AtomicBool,
    progress: &mut dyn FnMut(u32, u32),
) -> Result<RenderStats, RenderError> {
    let mut steps = Steps {
        done: 0,
        total: doc.sections.len() as u32 + 3 + u32::from(annex.is_some()),
        report: progress,
        cancelled,
    };
    steps.check()?;
    let written = match format {
        Format::Excel => xlsx::write(doc, annex, path, &mut steps),
        Format::Csv => csv::write(doc, annex, path, &mut steps),
        Format::Pdf => pdf::write(doc, path, &mut steps),
        Format::Json => json::write(doc, path, &mut steps),
    };
    match written {
        Ok(annex_rows) => {
            let bytes = std::fs::metadata(path)?.len();
            steps.done = steps.total;
            (steps.report)(steps.total, steps.total);
            Ok(RenderStats { bytes, annex_rows })
        }
        Err(e) => {
            let _ = std::fs::remove_file(path);
            Err(e)
        }
    }
}
