//! An Excel workbook (`.xlsx`) as the CSV its first sheet would be, so organisations can send the
//! sheet they keep without exporting it first, and the CSV parser's header checks, row numbering
//! and validation are the only rules there are for both.
//!
//! A workbook is a zip of XML parts and a crafted one can be tiny on the wire and huge once read,
//! so it is measured unpacked before calamine reads it, and its cells are streamed, never laid
//! out as calamine's dense `Range` (one cell far away would allocate rows × columns).

use std::io::{Cursor, Read};

use calamine::{DataRef, ExcelDateTime, Reader};

/// How much the CSV may hold; the workbook may unpack to [`UNPACKED_PER_CSV_BYTE`] times that.
/// A full batch unpacks to a few MiB; only a zip bomb comes near the bound, which holds what
/// calamine keeps in memory (the shared strings) and how much XML one workbook makes us parse.
pub(crate) const UNPACKED_PER_CSV_BYTE: u64 = 8;

/// The day after Excel's last date (9999-12-31); serials from here on are not dates it can show.
const DAY_AFTER_LAST_EXCEL_DATE: f64 = 2_958_466.0;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WorkbookError {
    #[error("the body is not a readable Excel workbook (.xlsx): {0}")]
    Unreadable(String),
    #[error(
        "the workbook holds more than an import takes ({csv_bytes} bytes as CSV, \
         {unpacked_bytes} bytes unpacked)"
    )]
    TooLarge {
        csv_bytes: usize,
        unpacked_bytes: u64,
    },
}

/// The workbook's first sheet as `;`-separated CSV of at most `max_csv_bytes`, header row first.
/// Never panics: calamine's arithmetic overflows on some malformed cell references (a panic in
/// debug builds), and that is a workbook we cannot read, not our failure.
pub fn first_sheet_as_csv(workbook: &[u8], max_csv_bytes: usize) -> Result<String, WorkbookError> {
    let limit = Limit(max_csv_bytes);
    std::panic::catch_unwind(|| {
        limit.check_unpacked_size(workbook)?;
        limit.csv_of(limit.first_sheet_cells(workbook)?)
    })
    .unwrap_or_else(|_| Err(unreadable("its cells could not be read")))
}

fn unreadable(why: impl std::fmt::Display) -> WorkbookError {
    WorkbookError::Unreadable(why.to_string())
}

#[derive(Clone, Copy)]
struct Limit(usize);

impl Limit {
    fn unpacked(self) -> u64 {
        self.0 as u64 * UNPACKED_PER_CSV_BYTE
    }

    fn too_large(self) -> WorkbookError {
        WorkbookError::TooLarge {
            csv_bytes: self.0,
            unpacked_bytes: self.unpacked(),
        }
    }

    /// Unpacks every part without keeping it: the sizes a zip declares are not to be trusted.
    fn check_unpacked_size(self, workbook: &[u8]) -> Result<(), WorkbookError> {
        let mut zip = zip::ZipArchive::new(Cursor::new(workbook)).map_err(unreadable)?;
        let mut left = self.unpacked();
        for i in 0..zip.len() {
            let part = zip.by_index(i).map_err(unreadable)?;
            let unpacked = std::io::copy(&mut part.take(left + 1), &mut std::io::sink())
                .map_err(unreadable)?;
            left = left.checked_sub(unpacked).ok_or_else(|| self.too_large())?;
        }
        Ok(())
    }

    fn first_sheet_cells(self, workbook: &[u8]) -> Result<Vec<SheetCell>, WorkbookError> {
        let mut book = calamine::Xlsx::new(Cursor::new(workbook)).map_err(unreadable)?;
        let first = book
            .sheet_names()
            .into_iter()
            .next()
            .ok_or_else(|| unreadable("it has no sheets"))?;
        let mut cells_of_sheet = book.worksheet_cells_reader(&first).map_err(unreadable)?;
        let mut cells = Vec::new();
        let mut held = 0usize;
        while let Some(cell) = cells_of_sheet.next_cell().map_err(unreadable)? {
            let text = cell_text(cell.get_value());
            // The CSV parser trims every cell, so blanks are as good as nothing; leaving them out
            // lets a row of them be skipped like an empty row, and not be taken for the header.
            if text.trim().is_empty() {
                continue;
            }
            // What the cells take in memory is held to what a CSV body may be.
            held += text.len() + size_of::<SheetCell>();
            if held > self.0 {
                return Err(self.too_large());
            }
            let (row, col) = cell.get_position();
            cells.push(SheetCell { row, col, text });
        }
        Ok(cells)
    }

    /// Rows in sheet order, the first the header. Each row spans the header's columns, so cells
    /// left empty at its end are still there; a row with a cell outside them is wider, which the
    /// CSV parser refuses as having the wrong number of cells.
    fn csv_of(self, mut cells: Vec<SheetCell>) -> Result<String, WorkbookError> {
        cells.sort_by_key(|c| (c.row, c.col));
        // A malformed sheet may hold a cell twice; the first one stands.
        cells.dedup_by_key(|c| (c.row, c.col));
        let mut rows = cells.chunk_by(|a, b| a.row == b.row);
        let mut csv = String::new();
        let Some(header) = rows.next() else {
            return Ok(csv);
        };
        let columns = (header[0].col, header[header.len() - 1].col);
        self.push_row(&mut csv, header, columns)?;
        for row in rows {
            self.push_row(&mut csv, row, columns)?;
        }
        Ok(csv)
    }

    /// `cells` is one row, non-empty and in column order.
    fn push_row(
        self,
        csv: &mut String,
        cells: &[SheetCell],
        header: (u32, u32),
    ) -> Result<(), WorkbookError> {
        let first = header.0.min(cells[0].col);
        let last = header.1.max(cells[cells.len() - 1].col);
        // Checked before writing: the delimiters alone of a row reaching far right could be huge.
        if csv.len() + (last - first) as usize > self.0 {
            return Err(self.too_large());
        }
        let mut cells = cells.iter().peekable();
        for col in first..=last {
            if col > first {
                csv.push(';');
            }
            if let Some(cell) = cells.next_if(|c| c.col == col) {
                csv.push('"');
                csv.push_str(&cell.text.replace('"', "\"\""));
                csv.push('"');
            }
        }
        csv.push('\n');
        if csv.len() > self.0 {
            return Err(self.too_large());
        }
        Ok(())
    }
}

/// A cell with something in it, as the text a CSV export would hold.
struct SheetCell {
    row: u32,
    col: u32,
    text: String,
}

/// What Excel shows, in the forms the CSV parser takes: a whole number without decimals (a
/// count of 3 is stored as 3.0), a date as `YYYY-MM-DD`.
fn cell_text(value: &DataRef<'_>) -> String {
    match value {
        DataRef::Empty => String::new(),
        DataRef::String(s) | DataRef::DurationIso(s) => s.clone(),
        DataRef::SharedString(s) => (*s).to_string(),
        DataRef::Int(n) => n.to_string(),
        // Rust writes floats without an exponent and whole ones without `.0`.
        DataRef::Float(n) => n.to_string(),
        DataRef::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        DataRef::DateTime(at) => excel_date_text(at),
        DataRef::DateTimeIso(iso) => iso_date_text(iso),
        DataRef::Error(e) => e.to_string(),
    }
}

/// A date, or a date and time the date check then refuses, as a CSV with that text would be.
fn excel_date_text(at: &ExcelDateTime) -> String {
    let serial = at.as_f64();
    if at.is_duration() {
        return duration_text(serial);
    }
    // Outside Excel's dates calamine's conversion overflows; the bare number is no date either.
    if !(0.0..DAY_AFTER_LAST_EXCEL_DATE).contains(&serial) {
        return serial.to_string();
    }
    let (y, m, d, hour, minute, second, milli) = at.to_ymd_hms_milli();
    if (hour, minute, second, milli) == (0, 0, 0, 0) {
        format!("{y:04}-{m:02}-{d:02}")
    } else {
        format!("{y:04}-{m:02}-{d:02} {hour:02}:{minute:02}:{second:02}")
    }
}

/// `[h]:mm:ss` as Excel shows it, so a duration typed into `hours` is refused as not a number
/// rather than read as the fraction of a day it is stored as.
fn duration_text(days: f64) -> String {
    let seconds = (days * 86_400.0).round();
    if !(0.0..1e15).contains(&seconds) {
        return days.to_string();
    }
    let seconds = seconds as u64;
    format!(
        "{}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// ISO date cells (`t="d"`) carry a time even when they are days: midnight is dropped.
fn iso_date_text(iso: &str) -> String {
    match iso.split_once('T') {
        Some((day, time))
            if time
                .trim_end_matches('Z')
                .bytes()
                .all(|b| matches!(b, b'0' | b':' | b'.')) =>
        {
            day.to_string()
        }
        _ => iso.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The service's bound on a request body.
    const MAX: usize = 16 * 1024 * 1024;
    use calamine::ExcelDateTimeType;
    use rust_xlsxwriter::{ExcelDateTime as WriteDate, Format, Workbook};

    fn date(serial: f64) -> String {
        excel_date_text(&ExcelDateTime::new(
            serial,
            ExcelDateTimeType::DateTime,
            false,
        ))
    }

    fn book(fill: impl FnOnce(&mut rust_xlsxwriter::Worksheet)) -> Vec<u8> {
        let mut book = Workbook::new();
        fill(book.add_worksheet());
        book.save_to_buffer().unwrap()
    }

    #[test]
    fn cells_read_as_the_text_a_csv_would_hold() {
        assert_eq!(cell_text(&DataRef::Float(3.0)), "3");
        assert_eq!(cell_text(&DataRef::Float(2.5)), "2.5");
        assert_eq!(cell_text(&DataRef::Float(-1.0)), "-1");
        assert_eq!(cell_text(&DataRef::Float(1e21)), "1000000000000000000000");
        assert_eq!(cell_text(&DataRef::Int(7)), "7");
        assert_eq!(cell_text(&DataRef::SharedString("a\"b")), "a\"b");
        assert_eq!(date(45_658.0), "2025-01-01");
        assert_eq!(date(45_658.5), "2025-01-01 12:00:00");
        assert_eq!(
            cell_text(&DataRef::DateTimeIso("2025-01-01T00:00:00Z".into())),
            "2025-01-01"
        );
        assert_eq!(
            cell_text(&DataRef::DateTimeIso("2025-01-01T08:30:00".into())),
            "2025-01-01T08:30:00"
        );
        let ninety_minutes = ExcelDateTime::new(0.0625, ExcelDateTimeType::TimeDelta, false);
        assert_eq!(excel_date_text(&ninety_minutes), "1:30:00");
    }

    #[test]
    fn serials_outside_excels_dates_never_panic() {
        for serial in [
            -1.0,
            0.0,
            59.0,
            60.0,
            61.0,
            2_958_465.99,
            1e300,
            f64::NAN,
            f64::INFINITY,
        ] {
            date(serial);
            duration_text(serial);
        }
        assert_eq!(date(1e300), 1e300.to_string());
    }

    #[test]
    fn a_sheet_becomes_csv_with_rows_padded_to_the_header() {
        let workbook = book(|sheet| {
            let day = Format::new().set_num_format("yyyy-mm-dd");
            sheet.write(1, 1, "record_id").unwrap();
            sheet.write(1, 2, "occurred_on").unwrap();
            sheet.write(1, 3, "value").unwrap();
            sheet.write(2, 1, "say \"hi\"").unwrap();
            let d = WriteDate::from_ymd(2025, 3, 1).unwrap();
            sheet.write_datetime_with_format(2, 2, &d, &day).unwrap();
            sheet.write(4, 1, "b").unwrap();
            sheet.write(4, 2, "   ").unwrap();
            sheet.write(5, 4, 1.5).unwrap();
        });
        assert_eq!(
            first_sheet_as_csv(&workbook, MAX).unwrap(),
            "\"record_id\";\"occurred_on\";\"value\"\n\
             \"say \"\"hi\"\"\";\"2025-03-01\";\n\
             \"b\";;\n\
             ;;;\"1.5\"\n"
        );
    }

    #[test]
    fn an_empty_sheet_is_an_empty_csv() {
        assert_eq!(first_sheet_as_csv(&book(|_| {}), MAX).unwrap(), "");
    }

    /// `workbook` with `sheet1.xml` rewritten by `edit` and `extra` parts added.
    fn rezip(workbook: &[u8], edit: impl Fn(String) -> String, extra: &[(&str, u64)]) -> Vec<u8> {
        use std::io::Write;
        let mut parts = zip::ZipArchive::new(Cursor::new(workbook)).unwrap();
        let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default();
        for i in 0..parts.len() {
            let mut part = parts.by_index(i).unwrap();
            let mut xml = String::new();
            part.read_to_string(&mut xml).unwrap();
            if part.name().ends_with("sheet1.xml") {
                xml = edit(xml);
            }
            out.start_file(part.name(), options).unwrap();
            out.write_all(xml.as_bytes()).unwrap();
        }
        for (name, zeros) in extra {
            out.start_file(*name, options).unwrap();
            let mib = vec![0u8; 1 << 20];
            for _ in 0..zeros >> 20 {
                out.write_all(&mib).unwrap();
            }
        }
        out.finish().unwrap().into_inner()
    }

    #[test]
    fn a_cell_reference_calamines_arithmetic_overflows_on_is_refused() {
        let good = book(|sheet| {
            sheet.write(0, 0, "record_id").unwrap();
            sheet.write(1, 0, "a").unwrap();
        });
        let crafted = rezip(
            &good,
            |xml| xml.replace("r=\"A2\"", "r=\"A99999999999\""),
            &[],
        );
        let refused = first_sheet_as_csv(&crafted, MAX);
        assert!(matches!(refused, Err(WorkbookError::Unreadable(_))));
    }

    #[test]
    fn a_zip_bomb_is_refused_before_it_is_read() {
        let good = book(|sheet| {
            sheet.write(0, 0, "record_id").unwrap();
        });
        let bomb = rezip(
            &good,
            |xml| xml,
            &[("xl/padding.bin", MAX as u64 * UNPACKED_PER_CSV_BYTE + 1)],
        );
        assert!(bomb.len() < MAX);
        assert!(matches!(
            first_sheet_as_csv(&bomb, MAX),
            Err(WorkbookError::TooLarge { .. })
        ));
    }

    #[test]
    fn garbage_and_damaged_workbooks_are_refused_not_panicked_on() {
        let good = book(|sheet| {
            sheet.write(0, 0, "record_id").unwrap();
            sheet.write(1, 0, "a").unwrap();
        });
        let mut bodies = vec![Vec::new(), b"record_id;value\n".to_vec()];
        bodies.extend((0..good.len()).step_by(97).map(|n| good[..n].to_vec()));
        bodies.extend((0..good.len()).step_by(89).map(|i| {
            let mut damaged = good.clone();
            damaged[i] ^= 0x5a;
            damaged
        }));
        for body in bodies {
            if let Err(e) = first_sheet_as_csv(&body, MAX) {
                assert!(matches!(e, WorkbookError::Unreadable(_)), "{e}");
            }
        }
    }
}
