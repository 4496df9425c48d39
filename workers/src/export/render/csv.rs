//! CSV for spreadsheets: UTF-8 with a byte-order mark (so Excel reads æøå right) and CRLF line
//! ends in every locale. Norwegian files (nb, nn) have `;` between fields and a decimal comma,
//! as a Norwegian Excel expects; British ones `,` and a decimal point. Dates stay ISO 8601
//! (`2025-03-01`), which every spreadsheet reads as a date whatever its locale.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use domain::Locale;

use super::format;
use super::texts::texts;
use super::{RenderError, Steps};
use crate::export::document::{AnnexRow, ReportDocument};

struct Csv<W> {
    out: W,
    locale: Locale,
    /// A decimal comma cannot also separate fields, so the separator follows the decimal mark.
    separator: char,
}

impl<W: Write> Csv<W> {
    fn new(out: W, locale: Locale) -> Self {
        let separator = match format::decimal_mark(locale) {
            ',' => ';',
            _ => ',',
        };
        Csv {
            out,
            locale,
            separator,
        }
    }

    fn field<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if text.contains([self.separator, '"', '\r', '\n']) {
            Cow::Owned(format!("\"{}\"", text.replace('"', "\"\"")))
        } else {
            Cow::Borrowed(text)
        }
    }

    fn number(&self, x: f64) -> String {
        format::plain(self.locale, x)
    }

    /// No figure is an empty field, not 0.
    fn optional(&self, x: Option<f64>) -> String {
        x.map(|x| self.number(x)).unwrap_or_default()
    }

    fn line<S: AsRef<str>>(&mut self, cells: &[S]) -> std::io::Result<()> {
        let mut separator = [0u8; 4];
        let separator = self.separator.encode_utf8(&mut separator).as_bytes();
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                self.out.write_all(separator)?;
            }
            let text = self.field(cell.as_ref());
            self.out.write_all(text.as_bytes())?;
        }
        self.out.write_all(b"\r\n")
    }

    fn blank(&mut self) -> std::io::Result<()> {
        self.out.write_all(b"\r\n")
    }
}

pub fn write(
    doc: &ReportDocument,
    annex: Option<&mut dyn Iterator<Item = AnnexRow>>,
    path: &Path,
    steps: &mut Steps,
) -> Result<u64, RenderError> {
    let t = texts(doc.locale);
    let mut file = BufWriter::new(File::create(path)?);
    file.write_all("\u{feff}".as_bytes())?;
    let mut csv = Csv::new(file, doc.locale);
    csv.line(&t.csv_section_columns)?;
    steps.step()?;
    for section in &doc.sections {
        for f in &section.fields {
            csv.line(&[
                section.title.as_str(),
                &f.label,
                &f.key,
                &csv.optional(f.value),
                &csv.optional(f.prior_value),
                &csv.optional(f.change()),
                t.unit(f.unit),
            ])?;
        }
        steps.step()?;
    }
    csv.blank()?;
    csv.line(&t.csv_activity_columns)?;
    for a in &doc.activities {
        csv.line(&[
            a.kategori.as_str(),
            &a.label,
            &csv.number(a.antall),
            &csv.number(a.timer),
        ])?;
    }
    if let Some(changes) = &doc.changes {
        // One row per import behind each changed field: the field's totals repeat on each, so
        // every row stands alone when filtered; the imports' own contributions are `change`.
        csv.blank()?;
        csv.line(&t.csv_change_columns)?;
        for field in &changes.fields {
            let label = doc.locale.label(&field.labels);
            for source in &field.lineage {
                csv.line(&[
                    label,
                    &field.key,
                    &csv.optional(field.before),
                    &csv.optional(field.after),
                    &csv.number(source.change),
                    &source.position.to_string(),
                    &source
                        .imported_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    source.actor.as_deref().unwrap_or(""),
                    &source.data_source,
                    &source.records_added.to_string(),
                    &source.records_replaced.to_string(),
                ])?;
            }
        }
    }
    steps.step()?;
    let mut rows = 0u64;
    if let Some(annex) = annex {
        csv.blank()?;
        csv.line(&t.annex_columns)?;
        for r in annex {
            csv.line(&[
                r.record_id.as_str(),
                &r.occurred_on.to_string(),
                &r.metric,
                &csv.number(r.value),
                &csv.optional(r.hours),
                &r.data_source,
            ])?;
            rows += 1;
            steps.annex_row(rows)?;
        }
        steps.step()?;
    }
    csv.out.flush()?;
    Ok(rows)
}
