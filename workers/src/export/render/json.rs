//! The JSON export is the Bufdir payload itself.

use std::path::Path;

use super::{RenderError, Steps};
use crate::export::document::ReportDocument;

pub fn write(doc: &ReportDocument, path: &Path, steps: &mut Steps) -> Result<u64, RenderError> {
    let text =
        serde_json::to_vec_pretty(&doc.payload).map_err(|e| RenderError::Failed(e.to_string()))?;
    std::fs::write(path, text)?;
    steps.step()?;
    Ok(0)
}
