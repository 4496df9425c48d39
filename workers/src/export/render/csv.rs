//! CSV for Norwegian spreadsheets: UTF-8 with a byte-order mark (so Excel reads æøå right),
//! `;` between fields, decimal comma, CRLF line ends.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use domain::schema::Unit;

use super::numbers::decimal_comma;
use super::{CHECK_EVERY, RenderError, Steps};
use crate::export::document::{AnnexRow, ReportDocument};

fn field(text: &str) -> String {
    if text.contains([';', '"', '\r', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

fn number(x: Option<f64>) -> String {
    x.map(decimal_comma).unwrap_or_default()
}

fn line(out: &mut impl Write, cells: &[String]) -> std::io::Result<()> {
    let joined: Vec<String> = cells.iter().map(|c| field(c)).collect();
    out.write_all(joined.join(";").as_bytes())?;
    out.write_all(b"\r\n")
}

pub fn write(
    doc: &ReportDocument,
    annex: Option<&mut dyn Iterator<Item = AnnexRow>>,
    path: &Path,
    steps: &mut Steps,
) -> Result<u64, RenderError> {
    let mut out = BufWriter::new(File::create(path)?);
    out.write_all("\u{feff}".as_bytes())?;
    let header = [
        "seksjon",
        "felt",
        "nøkkel",
        "verdi",
        "forrige_periode",
        "endring",
        "enhet",
    ];
    line(&mut out, &header.map(String::from))?;
    steps.step()?;
    for section in &doc.sections {
        for f in &section.fields {
            let unit = match f.unit {
                Unit::Count => "antall",
                Unit::Hours => "timer",
            };
            line(
                &mut out,
                &[
                    section.title.clone(),
                    f.label.clone(),
                    f.key.clone(),
                    number(f.value),
                    number(f.prior_value),
                    number(f.change()),
                    unit.into(),
                ],
            )?;
        }
        steps.step()?;
    }
    out.write_all(b"\r\n")?;
    line(
        &mut out,
        &["kategori", "aktivitet", "antall", "timer"].map(String::from),
    )?;
    for a in &doc.activities {
        line(
            &mut out,
            &[
                a.kategori.clone(),
                a.label.clone(),
                decimal_comma(a.antall),
                decimal_comma(a.timer),
            ],
        )?;
    }
    steps.step()?;
    let mut rows = 0u64;
    if let Some(annex) = annex {
        out.write_all(b"\r\n")?;
        line(
            &mut out,
            &["record_id", "dato", "metric", "verdi", "timer", "datakilde"].map(String::from),
        )?;
        for r in annex {
            line(
                &mut out,
                &[
                    r.record_id,
                    r.occurred_on.to_string(),
                    r.metric,
                    decimal_comma(r.value),
                    number(r.hours),
                    r.data_source,
                ],
            )?;
            rows += 1;
            if rows.is_multiple_of(CHECK_EVERY) {
                steps.check()?;
            }
        }
        steps.step()?;
    }
    out.flush()?;
    Ok(rows)
}
