//! The Excel workbook: a cover sheet, a sheet per schema section, the activities, and for exports
//! with attachments the source records and the validation result. The annex is written in
//! rust_xlsxwriter's constant-memory mode (rows go to disk as they are written), so memory stays
//! flat however many records there are.
//!
//! Figures and dates are real numbers and dates in every locale. Only the date formats differ:
//! number format codes such as `#,##0.0` are stored in one notation and Excel shows them with the
//! viewer's own separators, so writing them per locale would break them rather than translate
//! them.

use std::collections::HashSet;
use std::path::Path;

use domain::Locale;
use domain::schema::Unit;
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, FormatAlign, Workbook, Worksheet};

use super::format;
use super::texts::{Texts, change_source_line, fill, texts};
use super::{RenderError, Steps};
use crate::export::document::{AnnexRow, ReportDocument};

/// Excel's last row is 1 048 576; one is the header.
const ROWS_PER_SHEET: u32 = 1_048_575;

struct Formats {
    header: Format,
    count: Format,
    hours: Format,
    date: Format,
    datetime: Format,
    title: Format,
}

impl Formats {
    fn new(locale: Locale) -> Self {
        Formats {
            header: Format::new().set_bold().set_background_color("#DDE5F0"),
            count: Format::new().set_num_format("#,##0"),
            hours: Format::new().set_num_format("#,##0.0"),
            date: Format::new()
                .set_num_format(format::excel_date(locale))
                .set_align(FormatAlign::Left),
            datetime: Format::new()
                .set_num_format(format::excel_timestamp(locale))
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

/// Excel's longest cell text, in characters.
const MAX_TEXT: usize = 32_767;

/// Text Excel accepts in a cell: longer text is cut rather than failing the whole export.
fn text(s: &str) -> &str {
    match s.char_indices().nth(MAX_TEXT) {
        Some((end, _)) => &s[..end],
        None => s,
    }
}

/// At most `units` UTF-16 code units, which is how Excel counts a sheet name's length.
fn utf16_prefix(s: &str, units: usize) -> String {
    let mut used = 0;
    s.chars()
        .take_while(|c| {
            used += c.len_utf16();
            used <= units
        })
        .collect()
}

/// A sheet name Excel accepts: at most 31 characters, none of `[]:*?/\`, not starting or ending
/// with an apostrophe, unique in the book (Excel compares names case-insensitively). A title with
/// nothing left becomes `fallback`.
fn sheet_name(title: &str, fallback: &str, taken: &mut HashSet<String>) -> String {
    let clean: String = title
        .chars()
        .filter(|c| !matches!(c, '[' | ']' | ':' | '*' | '?' | '/' | '\\') && !c.is_control())
        .collect();
    let base = utf16_prefix(clean.trim().trim_matches('\''), 31);
    let base = match base.trim_end().trim_end_matches('\'') {
        "" => utf16_prefix(fallback, 31),
        b => b.to_string(),
    };
    let mut name = base.clone();
    let mut n = 2u32;
    while !taken.insert(name.to_lowercase()) {
        let suffix = format!(" {n}");
        let stem = utf16_prefix(&base, 31 - suffix.len());
        name = stem.trim_end().trim_end_matches('\'').to_string() + &suffix;
        n += 1;
    }
    name
}

/// Names Excel will not take for a sheet, lower-cased as [`sheet_name`] keeps them.
fn reserved() -> HashSet<String> {
    HashSet::from(["history".to_string()])
}

/// The book's sheet names so far, and the locale's name for a sheet whose title has none left.
struct SheetNames {
    taken: HashSet<String>,
    fallback: &'static str,
}

impl SheetNames {
    fn new(t: &Texts) -> Self {
        SheetNames {
            taken: reserved(),
            fallback: t.fallback_sheet,
        }
    }

    fn name(&mut self, title: &str) -> String {
        sheet_name(title, self.fallback, &mut self.taken)
    }
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
    t: &Texts,
    names: &mut SheetNames,
) -> Result<(), RenderError> {
    let sheet = book.add_worksheet();
    sheet.set_name(names.name(t.cover_sheet))?;
    let title = fill(t.report_title, &[("org", &doc.organization_name)]);
    sheet.write_string_with_format(0, 0, text(&title), &f.title)?;
    let period = format::period(
        doc.locale,
        &doc.period_label,
        doc.period_from,
        doc.period_to,
    );
    let text_rows: [(&str, &str); 6] = [
        (t.organisation, &doc.organization_name),
        (t.organisation_id, &doc.org_id),
        (t.organisation_number, &doc.organisasjonsnummer),
        (t.period, &period),
        (t.payload_version, &doc.payload_version),
        (t.log_position, &doc.source_position),
    ];
    let mut row = 2;
    for (label, value) in text_rows {
        sheet.write_string_with_format(row, 0, label, &f.header)?;
        sheet.write_string(row, 1, text(value))?;
        row += 1;
    }
    for (label, date) in [(t.from, doc.period_from), (t.to, doc.period_to)] {
        sheet.write_string_with_format(row, 0, label, &f.header)?;
        sheet.write_date_with_format(row, 1, date, &f.date)?;
        row += 1;
    }
    sheet.write_string_with_format(row, 0, t.generated, &f.header)?;
    sheet.write_datetime_with_format(row, 1, format::excel_local(doc.generated_at), &f.datetime)?;
    row += 1;
    sheet.write_string_with_format(row, 0, t.export_id, &f.header)?;
    sheet.write_string(row, 1, text(&doc.export_id))?;
    sheet.autofit();
    Ok(())
}

fn section_sheets(
    book: &mut Workbook,
    doc: &ReportDocument,
    f: &Formats,
    t: &Texts,
    names: &mut SheetNames,
    steps: &mut Steps,
) -> Result<(), RenderError> {
    for section in &doc.sections {
        let sheet = book.add_worksheet();
        sheet.set_name(names.name(&section.title))?;
        headers(sheet, &t.section_columns, f)?;
        for (i, field) in section.fields.iter().enumerate() {
            let row = i as u32 + 1;
            let number = f.figure(field.unit);
            sheet.write_string(row, 0, text(&field.label))?;
            sheet.write_string(row, 1, text(&field.key))?;
            optional(sheet, row, 2, field.value, number)?;
            optional(sheet, row, 3, field.prior_value, number)?;
            optional(sheet, row, 4, field.change(), number)?;
            sheet.write_string(row, 5, t.unit(field.unit))?;
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
    t: &Texts,
    names: &mut SheetNames,
) -> Result<(), RenderError> {
    let sheet = book.add_worksheet();
    sheet.set_name(names.name(t.activities))?;
    headers(sheet, &t.activity_columns, f)?;
    for (i, a) in doc.activities.iter().enumerate() {
        let row = i as u32 + 1;
        sheet.write_string(row, 0, text(&a.kategori))?;
        sheet.write_string(row, 1, text(&a.label))?;
        sheet.write_number_with_format(row, 2, a.antall, &f.count)?;
        sheet.write_number_with_format(row, 3, a.timer, &f.hours)?;
    }
    sheet.autofit();
    Ok(())
}

fn annex_sheet<'a>(
    book: &'a mut Workbook,
    f: &Formats,
    t: &Texts,
    number: u32,
    names: &mut SheetNames,
) -> Result<&'a mut Worksheet, RenderError> {
    let sheet = book.add_worksheet_with_constant_memory()?;
    let title = if number == 1 {
        t.first_annex_sheet.to_string()
    } else {
        fill(t.further_annex_sheet, &[("n", &number.to_string())])
    };
    sheet.set_name(names.name(&title))?;
    headers(sheet, &t.annex_columns, f)?;
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
    t: &Texts,
    names: &mut SheetNames,
    steps: &mut Steps,
    rows_per_sheet: u32,
) -> Result<u64, RenderError> {
    let mut written = 0u64;
    let mut sheet_number = 1;
    let mut sheet = annex_sheet(book, f, t, sheet_number, names)?;
    let mut row = 0u32;
    for record in rows {
        if row == rows_per_sheet {
            sheet_number += 1;
            sheet = annex_sheet(book, f, t, sheet_number, names)?;
            row = 0;
        }
        row += 1;
        sheet.write_string(row, 0, text(&record.record_id))?;
        sheet.write_date_with_format(row, 1, record.occurred_on, &f.date)?;
        sheet.write_string(row, 2, text(&record.metric))?;
        sheet.write_number(row, 3, record.value)?;
        if let Some(hours) = record.hours {
            sheet.write_number(row, 4, hours)?;
        }
        sheet.write_string(row, 5, text(&record.data_source))?;
        written += 1;
        steps.annex_row(written)?;
    }
    steps.step()?;
    Ok(written)
}

/// The figures that changed since the last submission, each followed by the imports that moved
/// it: a blackline for numbers.
fn changes(
    book: &mut Workbook,
    doc: &ReportDocument,
    f: &Formats,
    t: &Texts,
    names: &mut SheetNames,
) -> Result<(), RenderError> {
    let Some(changes) = &doc.changes else {
        return Ok(());
    };
    let sheet = book.add_worksheet();
    sheet.set_name(names.name(t.changes_sheet))?;
    let when = format::timestamp(doc.locale, changes.submitted_at);
    sheet.write_string_with_format(0, 0, fill(t.changes_title, &[("when", &when)]), &f.title)?;
    let mut row = 2;
    for (col, name) in t.changes_columns.iter().enumerate() {
        sheet.write_string_with_format(row, col as u16, *name, &f.header)?;
    }
    for field in &changes.fields {
        row += 1;
        let label = doc.locale.label(&field.labels);
        let figure = f.figure(field.unit);
        sheet.write_string(row, 0, text(label))?;
        sheet.write_string(row, 1, text(&field.key))?;
        if let Some(before) = field.before {
            sheet.write_number_with_format(row, 2, before, figure)?;
        }
        if let Some(after) = field.after {
            sheet.write_number_with_format(row, 3, after, figure)?;
        }
        sheet.write_number_with_format(row, 4, field.change, figure)?;
        for source in &field.lineage {
            row += 1;
            let line = change_source_line(doc.locale, t, source);
            sheet.write_number_with_format(row, 4, source.change, figure)?;
            sheet.write_string(row, 5, text(&line))?;
        }
    }
    sheet.autofit();
    Ok(())
}

fn validation(
    book: &mut Workbook,
    doc: &ReportDocument,
    f: &Formats,
    t: &Texts,
    names: &mut SheetNames,
) -> Result<(), RenderError> {
    let sheet = book.add_worksheet();
    sheet.set_name(names.name(t.validation_sheet))?;
    headers(sheet, &t.validation_columns, f)?;
    let v = &doc.validation;
    let issues = v
        .errors
        .iter()
        .map(|i| (t.error, i))
        .chain(v.warnings.iter().map(|i| (t.warning, i)));
    for (n, (kind, issue)) in issues.enumerate() {
        let row = n as u32 + 1;
        sheet.write_string(row, 0, kind)?;
        sheet.write_string(row, 1, text(&issue.pointer))?;
        sheet.write_string(row, 2, issue.code)?;
        sheet.write_string(row, 3, text(&issue.message_nb))?;
        sheet.write_string(row, 4, text(&issue.message_en))?;
    }
    // The verdict goes below the list, so the list keeps one row per issue under its header.
    let count = |n: usize| format::grouped(doc.locale, n as f64);
    let verdict = match (v.errors.len(), v.warnings.len()) {
        (0, 0) => t.valid.to_string(),
        (0, w) => fill(t.valid_with_warnings, &[("warnings", &count(w))]),
        (e, _) => fill(t.invalid, &[("errors", &count(e))]),
    };
    let below = u32::try_from(v.errors.len() + v.warnings.len()).unwrap_or(u32::MAX - 2);
    sheet.write_string_with_format(below.saturating_add(2), 0, verdict, &f.title)?;
    sheet.autofit();
    Ok(())
}

pub fn write(
    doc: &ReportDocument,
    annex_rows: Option<&mut dyn Iterator<Item = AnnexRow>>,
    path: &Path,
    steps: &mut Steps,
) -> Result<u64, RenderError> {
    let f = Formats::new(doc.locale);
    let t = texts(doc.locale);
    let mut book = Workbook::new();
    let mut names = SheetNames::new(t);
    let created = ExcelDateTime::from_timestamp(doc.generated_at.timestamp())?;
    let period = format::period(
        doc.locale,
        &doc.period_label,
        doc.period_from,
        doc.period_to,
    );
    book.set_properties(
        &DocProperties::new()
            .set_title(format!(
                "{} {period}",
                fill(t.report_title, &[("org", &doc.organization_name)])
            ))
            .set_author("Bufdir reporting")
            .set_company("Bufdir reporting")
            .set_creation_datetime(&created)
            .set_comment(fill(
                t.workbook_comment,
                &[
                    ("export", &doc.export_id),
                    ("position", &doc.source_position),
                ],
            )),
    );
    cover(&mut book, doc, &f, t, &mut names)?;
    steps.step()?;
    section_sheets(&mut book, doc, &f, t, &mut names, steps)?;
    activities(&mut book, doc, &f, t, &mut names)?;
    changes(&mut book, doc, &f, t, &mut names)?;
    steps.step()?;
    let mut written = 0;
    if let Some(rows) = annex_rows {
        written = annex(&mut book, rows, &f, t, &mut names, steps, ROWS_PER_SHEET)?;
        validation(&mut book, doc, &f, t, &mut names)?;
    }
    steps.check()?;
    book.save(path)?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use calamine::{Data, Reader};
    use chrono::NaiveDate;

    use super::*;

    #[test]
    fn sheet_names_are_ones_excel_accepts() {
        let mut taken = reserved();
        let mut name = |t: &str| sheet_name(t, "Ark", &mut taken);
        assert_eq!(name("Tiltak: timer/uke [snitt]"), "Tiltak timeruke snitt");
        assert_eq!(name("'sitat'"), "sitat");
        assert_eq!(name("History"), "History 2");
        assert_eq!(name("***"), "Ark");
        assert_eq!(name("ark"), "ark 2");
        let long = "Barn og unge i fosterhjem og på institusjon";
        assert_eq!(name(long), "Barn og unge i fosterhjem og på");
        assert_eq!(name(long), "Barn og unge i fosterhjem og 2");
        assert_eq!(name(&"😀".repeat(20)).encode_utf16().count(), 30);
        let mut book = Workbook::new();
        for t in ["a'", "History", "x".repeat(40).as_str(), "a'"] {
            let n = sheet_name(t, "Ark", &mut taken);
            book.add_worksheet().set_name(&n).unwrap();
        }
    }

    #[test]
    fn every_locale_names_its_sheets_within_excel_rules() {
        for locale in Locale::ALL {
            let t = texts(locale);
            let mut names = SheetNames::new(t);
            assert_eq!(names.name("[]"), t.fallback_sheet);
            assert_eq!(names.name("?"), format!("{} 2", t.fallback_sheet));
            let fixed = [
                t.cover_sheet,
                t.activities,
                t.validation_sheet,
                t.first_annex_sheet,
                &fill(t.further_annex_sheet, &[("n", "1048576")]),
            ];
            let mut book = Workbook::new();
            for title in fixed {
                // A fixed name must come through the rules untouched.
                let name = names.name(title);
                assert_eq!(name, title, "{locale:?}");
                book.add_worksheet().set_name(&name).unwrap();
            }
        }
    }

    #[test]
    fn dates_are_formatted_the_locale_s_way() {
        let left = |code: &str| {
            Format::new()
                .set_num_format(code)
                .set_align(FormatAlign::Left)
        };
        for locale in [Locale::NbNo, Locale::NnNo] {
            let f = Formats::new(locale);
            assert_eq!(f.date, left("dd.mm.yyyy"));
            assert_eq!(f.datetime, left("dd.mm.yyyy hh:mm"));
        }
        let f = Formats::new(Locale::EnGb);
        assert_eq!(f.date, left("dd\\/mm\\/yyyy"));
        assert_eq!(f.datetime, left("dd\\/mm\\/yyyy hh:mm"));
        for locale in Locale::ALL {
            let f = Formats::new(locale);
            assert_eq!(f.count, Format::new().set_num_format("#,##0"));
            assert_eq!(f.hours, Format::new().set_num_format("#,##0.0"));
        }
    }

    #[test]
    fn the_annex_goes_on_to_further_sheets_when_one_is_full() {
        let expected = [
            (
                Locale::NbNo,
                ["Vedlegg kilderecords", "Vedlegg 2", "Vedlegg 3"],
                "dato",
            ),
            (
                Locale::NnNo,
                ["Vedlegg kjeldepostar", "Vedlegg 2", "Vedlegg 3"],
                "dato",
            ),
            (
                Locale::EnGb,
                ["Annex source records", "Annex 2", "Annex 3"],
                "date",
            ),
        ];
        for (locale, sheets, date_column) in expected {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("annex.xlsx");
            let cancelled = AtomicBool::new(false);
            let mut steps = Steps {
                done: 0,
                total: 1,
                report: &mut |_, _| {},
                cancelled: &cancelled,
            };
            let mut rows = (0..25).map(|i| AnnexRow {
                record_id: format!("r{i}"),
                occurred_on: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
                metric: "m".into(),
                value: f64::from(i),
                hours: None,
                data_source: "s".into(),
            });
            let mut book = Workbook::new();
            let t = texts(locale);
            let mut names = SheetNames::new(t);
            let f = Formats::new(locale);
            let written = annex(&mut book, &mut rows, &f, t, &mut names, &mut steps, 10);
            assert_eq!(written.unwrap(), 25);
            book.save(&path).unwrap();
            let mut back: calamine::Xlsx<_> = calamine::open_workbook(&path).unwrap();
            let names = back.sheet_names();
            assert_eq!(names, sheets);
            let counts: Vec<usize> = names
                .iter()
                .map(|n| back.worksheet_range(n).unwrap().rows().count())
                .collect();
            assert_eq!(counts, [11, 11, 6]);
            let third = back.worksheet_range(sheets[2]).unwrap();
            assert_eq!(third.get((1, 0)), Some(&Data::String("r20".into())));
            assert_eq!(third.get((0, 0)), Some(&Data::String("record_id".into())));
            assert_eq!(third.get((0, 1)), Some(&Data::String(date_column.into())));
            assert!(matches!(third.get((1, 1)), Some(Data::DateTime(_))));
        }
    }
}
