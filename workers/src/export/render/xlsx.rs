//! The Excel workbook: a cover sheet, a sheet per schema section, `Aktiviteter`, and for exports
//! with attachments the source records and the validation result. The annex is written in
//! rust_xlsxwriter's constant-memory mode (rows go to disk as they are written), so memory stays
//! flat however many records there are.

use std::collections::HashSet;
use std::path::Path;

use domain::schema::Unit;
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, FormatAlign, Workbook, Worksheet};

use super::{CHECK_EVERY, RenderError, Steps};
use crate::export::document::{AnnexRow, ReportDocument};

/// Excel's last row is 1 048 576; one is the header.
const ROWS_PER_SHEET: u64 = 1_048_575;

struct Formats {
    header: Format,
    count: Format,
    hours: Format,
    date: Format,
    datetime: Format,
    title: Format,
}

impl Formats {
    fn new() -> Self {
        Formats {
            header: Format::new().set_bold().set_background_color("#DDE5F0"),
            count: Format::new().set_num_format("#,##0"),
            hours: Format::new().set_num_format("#,##0.0"),
            date: Format::new()
                .set_num_format("yyyy-mm-dd")
                .set_align(FormatAlign::Left),
            datetime: Format::new()
                .set_num_format("yyyy-mm-dd hh:mm:ss")
                .set_align(FormatAlign::Left),
            title: Format::new().set_bold().set_font_size(14),
        }
    }

    fn figure(&self, unit: Unit) -> &Format {
        match unit {
            Unit::Count => &self.count,
            Unit::Hours => &self.hours,
        }
    }
}

/// A sheet name Excel accepts: at most 31 characters, none of `[]:*?/\`, unique in the book.
fn sheet_name(title: &str, taken: &mut HashSet<String>) -> String {
    let clean: String = title
        .chars()
        .filter(|c| !matches!(c, '[' | ']' | ':' | '*' | '?' | '/' | '\\'))
        .collect();
    let base: String = clean.trim().chars().take(31).collect();
    let base = if base.is_empty() {
        "Ark".to_string()
    } else {
        base
    };
    let mut name = base.clone();
    let mut n = 2;
    while !taken.insert(name.to_lowercase()) {
        let suffix = format!(" {n}");
        name = base.chars().take(31 - suffix.len()).collect::<String>() + &suffix;
        n += 1;
    }
    name
}

fn headers(sheet: &mut Worksheet, names: &[&str], f: &Formats) -> Result<(), RenderError> {
    for (i, name) in names.iter().enumerate() {
        sheet.write_string_with_format(0, i as u16, *name, &f.header)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    Ok(())
}

fn optional(
    sheet: &mut Worksheet,
    row: u32,
    col: u16,
    x: Option<f64>,
    format: &Format,
) -> Result<(), RenderError> {
    if let Some(x) = x {
        sheet.write_number_with_format(row, col, x, format)?;
    }
    Ok(())
}

fn cover(
    book: &mut Workbook,
    doc: &ReportDocument,
    f: &Formats,
    taken: &mut HashSet<String>,
) -> Result<(), RenderError> {
    let sheet = book.add_worksheet();
    sheet.set_name(sheet_name("Forside", taken))?;
    sheet.write_string_with_format(
        0,
        0,
        format!("Rapport til Bufdir – {}", doc.organization_name),
        &f.title,
    )?;
    let text_rows: [(&str, &str); 6] = [
        ("Organisasjon", &doc.organization_name),
        ("Organisasjons-ID", &doc.org_id),
        ("Organisasjonsnummer", &doc.organisasjonsnummer),
        ("Periode", &doc.period_label),
        ("Payload-versjon", &doc.payload_version),
        ("Hendelseslogg-posisjon", &doc.source_position),
    ];
    let mut row = 2;
    for (label, value) in text_rows {
        sheet.write_string_with_format(row, 0, label, &f.header)?;
        sheet.write_string(row, 1, value)?;
        row += 1;
    }
    for (label, date) in [("Fra", doc.period_from), ("Til", doc.period_to)] {
        sheet.write_string_with_format(row, 0, label, &f.header)?;
        sheet.write_date_with_format(row, 1, date, &f.date)?;
        row += 1;
    }
    sheet.write_string_with_format(row, 0, "Generert", &f.header)?;
    sheet.write_datetime_with_format(row, 1, doc.generated_at.naive_utc(), &f.datetime)?;
    row += 1;
    sheet.write_string_with_format(row, 0, "Eksport-ID", &f.header)?;
    sheet.write_string(row, 1, &doc.export_id)?;
    sheet.autofit();
    Ok(())
}

fn section_sheets(
    book: &mut Workbook,
    doc: &ReportDocument,
    f: &Formats,
    taken: &mut HashSet<String>,
    steps: &mut Steps,
) -> Result<(), RenderError> {
    for section in &doc.sections {
        let sheet = book.add_worksheet();
        sheet.set_name(sheet_name(&section.title, taken))?;
        headers(
            sheet,
            &[
                "Felt",
                "Nøkkel",
                "Verdi",
                "Forrige periode",
                "Endring",
                "Enhet",
            ],
            f,
        )?;
        for (i, field) in section.fields.iter().enumerate() {
            let row = i as u32 + 1;
            let number = f.figure(field.unit);
            sheet.write_string(row, 0, &field.label)?;
            sheet.write_string(row, 1, &field.key)?;
            optional(sheet, row, 2, field.value, number)?;
            optional(sheet, row, 3, field.prior_value, number)?;
            optional(sheet, row, 4, field.change(), number)?;
            sheet.write_string(
                row,
                5,
                match field.unit {
                    Unit::Count => "antall",
                    Unit::Hours => "timer",
                },
            )?;
        }
        sheet.autofit();
        steps.step()?;
    }
    Ok(())
}

fn activities(
    book: &mut Workbook,
    doc: &ReportDocument,
    f: &Formats,
    taken: &mut HashSet<String>,
) -> Result<(), RenderError> {
    let sheet = book.add_worksheet();
    sheet.set_name(sheet_name("Aktiviteter", taken))?;
    headers(sheet, &["Kategori", "Aktivitet", "Antall", "Timer"], f)?;
    for (i, a) in doc.activities.iter().enumerate() {
        let row = i as u32 + 1;
        sheet.write_string(row, 0, &a.kategori)?;
        sheet.write_string(row, 1, &a.label)?;
        sheet.write_number_with_format(row, 2, a.antall, &f.count)?;
        sheet.write_number_with_format(row, 3, a.timer, &f.hours)?;
    }
    sheet.autofit();
    Ok(())
}

fn annex_sheet<'a>(
    book: &'a mut Workbook,
    f: &Formats,
    number: u32,
    taken: &mut HashSet<String>,
) -> Result<&'a mut Worksheet, RenderError> {
    let sheet = book.add_worksheet_with_constant_memory()?;
    let title = if number == 1 {
        "Vedlegg kilderecords".to_string()
    } else {
        format!("Vedlegg {number}")
    };
    sheet.set_name(sheet_name(&title, taken))?;
    headers(
        sheet,
        &["record_id", "dato", "metric", "verdi", "timer", "datakilde"],
        f,
    )?;
    // Constant-memory sheets cannot autofit: their rows are already on disk.
    for (col, width) in [
        (0, 24.0),
        (1, 12.0),
        (2, 30.0),
        (3, 12.0),
        (4, 10.0),
        (5, 22.0),
    ] {
        sheet.set_column_width(col, width)?;
    }
    Ok(sheet)
}

fn annex(
    book: &mut Workbook,
    rows: &mut dyn Iterator<Item = AnnexRow>,
    f: &Formats,
    taken: &mut HashSet<String>,
    steps: &mut Steps,
) -> Result<u64, RenderError> {
    let mut written = 0u64;
    let mut sheet_number = 1;
    let mut sheet = annex_sheet(book, f, sheet_number, taken)?;
    let mut row = 0u32;
    for record in rows {
        if u64::from(row) == ROWS_PER_SHEET {
            sheet_number += 1;
            sheet = annex_sheet(book, f, sheet_number, taken)?;
            row = 0;
        }
        row += 1;
        sheet.write_string(row, 0, &record.record_id)?;
        sheet.write_date_with_format(row, 1, record.occurred_on, &f.date)?;
        sheet.write_string(row, 2, &record.metric)?;
        sheet.write_number(row, 3, record.value)?;
        if let Some(hours) = record.hours {
            sheet.write_number(row, 4, hours)?;
        }
        sheet.write_string(row, 5, &record.data_source)?;
        written += 1;
        if written.is_multiple_of(CHECK_EVERY) {
            steps.check()?;
        }
    }
    steps.step()?;
    Ok(written)
}

fn validation(
    book: &mut Workbook,
    doc: &ReportDocument,
    f: &Formats,
    taken: &mut HashSet<String>,
) -> Result<(), RenderError> {
    let sheet = book.add_worksheet();
    sheet.set_name(sheet_name("Validering", taken))?;
    headers(sheet, &["Type", "Peker", "Kode", "Melding", "Message"], f)?;
    let v = &doc.validation;
    if v.errors.is_empty() && v.warnings.is_empty() {
        sheet.write_string(1, 0, "Payloaden er gyldig, uten advarsler.")?;
    }
    let issues = v
        .errors
        .iter()
        .map(|i| ("feil", i))
        .chain(v.warnings.iter().map(|i| ("advarsel", i)));
    for (n, (kind, issue)) in issues.enumerate() {
        let row = n as u32 + 1;
        sheet.write_string(row, 0, kind)?;
        sheet.write_string(row, 1, &issue.pointer)?;
        sheet.write_string(row, 2, issue.code)?;
        sheet.write_string(row, 3, &issue.message_nb)?;
        sheet.write_string(row, 4, &issue.message_en)?;
    }
    sheet.autofit();
    Ok(())
}

pub fn write(
    doc: &ReportDocument,
    annex_rows: Option<&mut dyn Iterator<Item = AnnexRow>>,
    path: &Path,
    steps: &mut Steps,
) -> Result<u64, RenderError> {
    let f = Formats::new();
    let mut book = Workbook::new();
    let mut taken = HashSet::new();
    let created = ExcelDateTime::from_timestamp(doc.generated_at.timestamp())?;
    book.set_properties(
        &DocProperties::new()
            .set_title(format!(
                "Rapport til Bufdir {} {}",
                doc.organization_name, doc.period_label
            ))
            .set_author("Bufdir reporting")
            .set_company("Bufdir reporting")
            .set_creation_datetime(&created)
            .set_comment(format!(
                "Eksport {}; hendelseslogg-posisjon {}",
                doc.export_id, doc.source_position
            )),
    );
    cover(&mut book, doc, &f, &mut taken)?;
    steps.step()?;
    section_sheets(&mut book, doc, &f, &mut taken, steps)?;
    activities(&mut book, doc, &f, &mut taken)?;
    steps.step()?;
    let mut written = 0;
    if let Some(rows) = annex_rows {
        written = annex(&mut book, rows, &f, &mut taken, steps)?;
        validation(&mut book, doc, &f, &mut taken)?;
    }
    steps.check()?;
    book.save(path)?;
    Ok(written)
}
