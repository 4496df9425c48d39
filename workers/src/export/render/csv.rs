//! CSV for Norwegian spreadsheets: UTF-8 with a byte-order mark (so Excel reads æøå right),
//! `;` between fields, decimal comma, CRLF line ends.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use domain::schema::Unit;

use super::numbers::decimal_comma;
use super::{RenderError, Steps};
use crate::export::document::{AnnexRow, ReportDocument};

fn field(text: &str) -> Cow<'_, str> {
    if text.contains([';', '"', '\r', '\n']) {
        Cow::Owned(format!("\"{}\"", text.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(text)
    }
}

fn number(x: Option<f64>) -> String {
    x.map(decimal_comma).unwrap_or_default()
}

fn line<S: AsRef<str>>(out: &mut impl Write, cells: &[S]) -> std::io::Result<()> {
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.write_all(b";")?;
        }
        out.write_all(field(cell.as_ref()).as_bytes())?;
    }
    out.write_all(b"\r\n")
}

fn unit(unit: Unit) -> &'static str {
    match unit {
        Unit::Count => "antall",
        Unit::Hours => "timer",
    }
}

pub fn write(
    doc: &ReportDocument,
    annex: Option<&mut dyn Iterator<Item = AnnexRow>>,
    path: &Path,
    steps: &mut Steps,
) -> Result<u64, RenderError> {
    let mut out = BufWriter::new(File::create(path)?);
    out.write_all("\u{feff}".as_bytes())?;
    line(
        &mut out,
        &[
            "seksjon",
            "felt",
            "nøkkel",
            "verdi",
            "forrige_periode",
            "endring",
            "enhet",
        ],
    )?;
    steps.step()?;
    for section in &doc.sections {
        for f in &section.fields {
            line(
                &mut out,
                &[
                    section.title.as_str(),
                    &f.label,
                    &f.key,
                    &number(f.value),
                    &number(f.prior_value),
                    &number(f.change()),
                    unit(f.unit),
                ],
            )?;
        }
        steps.step()?;
    }
    out.write_all(b"\r\n")?;
    line(&mut out, &["kategori", "aktivitet", "antall", "timer"])?;
    for a in &doc.activities {
        line(
            &mut out,
            &[
                a.kategori.as_str(),
                &a.label,
                &decimal_comma(a.antall),
                &decimal_comma(a.timer),
            ],
        )?;
    }
    steps.step()?;
    let mut rows = 0u64;
    if let Some(annex) = annex {
        out.write_all(b"\r\n")?;
        line(
            &mut out,
            &["record_id", "dato", "metric", "verdi", "timer", "datakilde"],
        )?;
        for r in annex {
            line(
                &mut out,
                &[
                    r.record_id.as_str(),
                    &r.occurred_on.to_string(),
                    &r.metric,
                    &decimal_comma(r.value),
                    &number(r.hours),
                    &r.data_source,
                ],
            )?;
            rows += 1;
            steps.annex_row(rows)?;
        }
        steps.step()?;
    }
    out.flush()?;
    Ok(rows)
}
