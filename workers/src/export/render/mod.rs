//! Renders a [`ReportDocument`] to a file. Every format is written from the same document, on a
//! thread of its own at a lower CPU priority ([`in_background`]): rendering is CPU and disk work,
//! and must not take the cores from the requests people are waiting for.
//!
//! The document's locale decides the language of every fixed text (`texts`) and how numbers and
//! dates are written (`format`), in Excel, CSV and PDF alike. The JSON is the Bufdir payload and
//! reads the same in every locale.

mod csv;
mod format;
mod json;
mod pdf;
mod texts;
mod xlsx;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use super::document::{AnnexRow, ReportDocument};

/// How much lower than the service's own threads a render runs (a `nice` increment: the kernel
/// gives a thread at +10 about a tenth of the CPU time of one at 0 when both want it, and all of
/// it when nobody else does).
const RENDER_NICENESS: i32 = 10;

/// Runs `work` on a new thread at a lower CPU priority and waits for it without blocking the
/// runtime. A thread of its own rather than tokio's blocking pool, so the lowered priority never
/// reaches other blocking work. `None` if the thread could not be started or panicked.
pub(crate) async fn in_background<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("export-render".into())
        .spawn(move || {
            lower_priority();
            let _ = done.send(work());
        })
        .ok()?;
    result.await.ok()
}

fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority only reads its arguments; on Linux the nice value is per thread, and
    // `gettid` names this one.
    unsafe {
        let thread = libc::gettid() as libc::id_t;
        if libc::setpriority(libc::PRIO_PROCESS, thread, RENDER_NICENESS) != 0 {
            tracing::debug!("could not lower the render thread's priority");
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Excel,
    Csv,
    Pdf,
    Json,
}

impl From<domain::export::ExportFormat> for Format {
    fn from(format: domain::export::ExportFormat) -> Self {
        use domain::export::ExportFormat as E;
        match format {
            E::Excel => Format::Excel,
            E::Csv => Format::Csv,
            E::Pdf => Format::Pdf,
            E::Json => Format::Json,
        }
    }
}

impl Format {
    fn domain(self) -> domain::export::ExportFormat {
        use domain::export::ExportFormat as E;
        match self {
            Format::Excel => E::Excel,
            Format::Csv => E::Csv,
            Format::Pdf => E::Pdf,
            Format::Json => E::Json,
        }
    }

    pub fn extension(self) -> &'static str {
        self.domain().extension()
    }

    /// By a file name's extension, for files that come with only a name (reports recorded
    /// through the API).
    pub fn from_file_name(name: &str) -> Option<Format> {
        let extension = name.rsplit_once('.')?.1.to_ascii_lowercase();
        [Format::Excel, Format::Csv, Format::Pdf, Format::Json]
            .into_iter()
            .find(|f| f.extension() == extension)
    }

    pub fn content_type(self) -> &'static str {
        self.domain().content_type()
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
const CHECK_EVERY: u64 = 10_000;
/// Annex rows between progress reports.
const REPORT_EVERY: u64 = 100_000;

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

    /// Called after each annex row (`rows` written so far). The annex's length is not known up
    /// front, so every report over it adds a step to the estimated total.
    pub(crate) fn annex_row(&mut self, rows: u64) -> Result<(), RenderError> {
        if rows.is_multiple_of(REPORT_EVERY) {
            self.total = self.total.saturating_add(1);
            self.step()
        } else if rows.is_multiple_of(CHECK_EVERY) {
            self.check()
        } else {
            Ok(())
        }
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
/// collected; the PDF only counts it and the JSON ignores it. `cancelled` is checked between
/// steps and every 10 000 annex rows; when it turns true the render stops and leaves no file.
/// `progress(done, total)` follows each step (cover, each section, activities, every 100 000
/// annex rows, the annex's end, done); the total grows as the annex does.
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
        total: u32::try_from(doc.sections.len())
            .unwrap_or(u32::MAX)
            .saturating_add(3 + u32::from(annex.is_some())),
        report: progress,
        cancelled,
    };
    steps.check()?;
    let written = match format {
        Format::Excel => xlsx::write(doc, annex, path, &mut steps),
        Format::Csv => csv::write(doc, annex, path, &mut steps),
        Format::Pdf => pdf::write(doc, annex, path, &mut steps),
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
