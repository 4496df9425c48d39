//! A PDF summary: per section, each field's label, value, prior value and change, then the
//! activities. Written with pdf-writer and the standard Helvetica font (WinAnsi encoding covers
//! æøå), so no font files are embedded and the text stays extractable.

use std::path::Path;

use domain::Locale;
use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

use super::format::{self, grouped};
use super::texts::{Texts, change_source_line, fill, texts};
use super::{RenderError, Steps};
use crate::export::document::{AnnexRow, Changes, ReportDocument};

/// A4 in points.
const PAGE: (f32, f32) = (595.0, 842.0);
const MARGIN: f32 = 50.0;
const WIDTH: f32 = PAGE.0 - 2.0 * MARGIN;
/// Line height at 10 pt; other sizes scale it.
const LINE: f32 = 14.0;
const BODY: f32 = 9.0;
/// The lines under a changed figure that say which imports moved it.
const SMALL: f32 = 8.0;
/// Where the label column ends and the right edges of the three figure columns.
const LABEL_END: f32 = 330.0;
const RIGHT: [f32; 3] = [405.0, 475.0, PAGE.0 - MARGIN];

/// WinAnsi (Windows-1252), the encoding of the standard fonts. Characters outside it become
/// `?`, control characters a space.
fn win_ansi_byte(c: char) -> u8 {
    const HIGH: [(char, u8); 27] = [
        ('€', 0x80),
        ('‚', 0x82),
        ('ƒ', 0x83),
        ('„', 0x84),
        ('…', 0x85),
        ('†', 0x86),
        ('‡', 0x87),
        ('ˆ', 0x88),
        ('‰', 0x89),
        ('Š', 0x8A),
        ('‹', 0x8B),
        ('Œ', 0x8C),
        ('Ž', 0x8E),
        ('‘', 0x91),
        ('’', 0x92),
        ('“', 0x93),
        ('”', 0x94),
        ('•', 0x95),
        ('–', 0x96),
        ('—', 0x97),
        ('˜', 0x98),
        ('™', 0x99),
        ('š', 0x9A),
        ('›', 0x9B),
        ('œ', 0x9C),
        ('ž', 0x9E),
        ('Ÿ', 0x9F),
    ];
    match u32::from(c) {
        0..=0x1F | 0x7F..=0x9F => b' ',
        code @ (0x20..=0x7E | 0xA0..=0xFF) => code as u8,
        _ => HIGH.iter().find(|(h, _)| *h == c).map_or(b'?', |(_, b)| *b),
    }
}

fn win_ansi(text: &str) -> Vec<u8> {
    text.chars().map(win_ansi_byte).collect()
}

/// Helvetica's advance widths (thousandths of the font size) for ASCII 32..=126.
const ASCII_WIDTHS: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556,
    556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667,
    611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667,
    667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500,
    222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
];

/// Width of `text` in points; bold is taken as a tenth wider, which is close enough to wrap by.
fn width(text: &str, size: f32, bold: bool) -> f32 {
    let units: u32 = text
        .chars()
        .map(|c| match c {
            ' '..='~' => u32::from(ASCII_WIDTHS[(u32::from(c) - 32) as usize]),
            'Æ' | 'æ' => 1000,
            'Ø' => 778,
            'Å' => 667,
            'ø' => 611,
            'å' => 556,
            _ => 778,
        })
        .sum();
    let factor = if bold { 1.1 } else { 1.0 };
    units as f32 * size / 1000.0 * factor
}

/// Breaks `text` into lines no wider than `max` points: at spaces, and inside a word only when
/// the word alone is too wide.
fn wrap(text: &str, max: f32, size: f32, bold: bool) -> Vec<String> {
    let fits = |s: &str| width(s, size, bold) <= max;
    let mut lines = vec![];
    let mut current = String::new();
    for word in text.split_whitespace() {
        let candidate = if current.is_empty() {
            word.to_string()
        } else {
            format!("{current} {word}")
        };
        if fits(&candidate) {
            current = candidate;
            continue;
        }
        if !current.is_empty() {
            lines.push(std::mem::take(&mut current));
        }
        for c in word.chars() {
            current.push(c);
            if !fits(&current) && current.chars().count() > 1 {
                current.pop();
                lines.push(std::mem::replace(&mut current, c.to_string()));
            }
        }
    }
    if !current.is_empty() || lines.is_empty() {
        lines.push(current);
    }
    lines
}

/// Where a cell's text starts.
#[derive(Clone, Copy)]
enum At {
    Left(f32),
    /// The text ends here (figures line up on their last digit).
    Right(f32),
}

/// Lines laid out top to bottom, broken into A4 pages.
struct Pages {
    done: Vec<Content>,
    current: Content,
    y: f32,
}

impl Pages {
    fn new() -> Self {
        Pages {
            done: vec![],
            current: Content::new(),
            y: PAGE.1 - MARGIN,
        }
    }

    /// Starts a new page unless `height` points still fit on this one.
    fn room(&mut self, height: f32) {
        let fresh = self.y >= PAGE.1 - MARGIN;
        if self.y - height < MARGIN && !fresh {
            let full = std::mem::replace(&mut self.current, Content::new());
            self.done.push(full);
            self.y = PAGE.1 - MARGIN;
        }
    }

    fn text(&mut self, at: At, y: f32, text: &str, size: f32, bold: bool) {
        let x = match at {
            At::Left(x) => x,
            At::Right(edge) => edge - width(text, size, bold),
        };
        let font = if bold { Name(b"F2") } else { Name(b"F1") };
        self.current
            .begin_text()
            .set_font(font, size)
            .next_line(x, y)
            .show(Str(&win_ansi(text)))
            .end_text();
    }

    /// One row: the first cell may wrap over several lines, the others stay on the first.
    fn row(&mut self, first: &str, rest: &[(At, &str)], size: f32, bold: bool) {
        let height = LINE * size / 10.0;
        let lines = wrap(first, LABEL_END - MARGIN, size, bold);
        self.room(height * lines.len() as f32);
        let y = self.y - size;
        for (at, text) in rest {
            self.text(*at, y, text, size, bold);
        }
        for line in lines {
            self.text(At::Left(MARGIN), self.y - size, &line, size, bold);
            self.y -= height;
        }
    }

    /// A paragraph across the whole width.
    fn paragraph(&mut self, text: &str, size: f32, bold: bool) {
        let height = LINE * size / 10.0;
        for line in wrap(text, WIDTH, size, bold) {
            self.room(height);
            self.text(At::Left(MARGIN), self.y - size, &line, size, bold);
            self.y -= height;
        }
    }

    fn gap(&mut self) {
        self.y -= LINE / 2.0;
    }

    fn finish(mut self) -> Vec<Content> {
        self.done.push(self.current);
        self.done
    }
}

/// No figure is a dash, not 0.
fn figure(locale: Locale, x: Option<f64>) -> String {
    x.map(|x| grouped(locale, x)).unwrap_or_else(|| "–".into())
}

fn count(locale: Locale, n: u64) -> String {
    grouped(locale, n as f64)
}

fn validation_line(doc: &ReportDocument, t: &Texts) -> String {
    let n = |n: usize| count(doc.locale, n as u64);
    match (doc.validation.errors.len(), doc.validation.warnings.len()) {
        (0, 0) => t.pdf_valid.to_string(),
        (0, w) => fill(t.pdf_valid_with_warnings, &[("warnings", &n(w))]),
        (e, w) => fill(t.pdf_invalid, &[("errors", &n(e)), ("warnings", &n(w))]),
    }
}

/// The figures that changed since the last submission, each with the imports that moved it
/// on the lines below: a blackline for numbers.
fn changes_section(pages: &mut Pages, doc: &ReportDocument, changes: &Changes, t: &Texts) {
    let locale = doc.locale;
    pages.gap();
    pages.room(LINE * 4.0);
    let when = format::timestamp(locale, changes.submitted_at);
    pages.paragraph(&fill(t.changes_title, &[("when", &when)]), 12.0, true);
    let [field_column, _, before, now, change, _] = t.changes_columns;
    let header = [
        (At::Right(RIGHT[0]), now),
        (At::Right(RIGHT[1]), before),
        (At::Right(RIGHT[2]), change),
    ];
    pages.row(field_column, &header, BODY, true);
    for field in &changes.fields {
        let label = locale.label(&field.labels);
        let (after, before, change) = (
            figure(locale, field.after),
            figure(locale, field.before),
            figure(locale, Some(field.change)),
        );
        let cells = [
            (At::Right(RIGHT[0]), after.as_str()),
            (At::Right(RIGHT[1]), &before),
            (At::Right(RIGHT[2]), &change),
        ];
        pages.row(label, &cells, BODY, false);
        for source in &field.lineage {
            let line = change_source_line(locale, t, source);
            let contribution = figure(locale, Some(source.change));
            pages.row(
                &format!("   {line}"),
                &[(At::Right(RIGHT[2]), &contribution)],
                SMALL,
                false,
            );
        }
    }
}

/// Counts the annex without keeping it: the PDF is a summary and only says how many there are.
fn count_annex(
    annex: &mut dyn Iterator<Item = AnnexRow>,
    steps: &mut Steps,
) -> Result<u64, RenderError> {
    let mut rows = 0u64;
    for _ in annex {
        rows += 1;
        steps.annex_row(rows)?;
    }
    Ok(rows)
}

pub fn write(
    doc: &ReportDocument,
    annex: Option<&mut dyn Iterator<Item = AnnexRow>>,
    path: &Path,
    steps: &mut Steps,
) -> Result<u64, RenderError> {
    let locale = doc.locale;
    let t = texts(locale);
    let mut pages = Pages::new();
    let title = fill(t.report_title, &[("org", &doc.organization_name)]);
    pages.paragraph(&title, 16.0, true);
    let period = format::period(locale, &doc.period_label, doc.period_from, doc.period_to);
    let generated = format::timestamp(locale, doc.generated_at);
    let meta = fill(
        t.pdf_meta,
        &[
            ("number", &doc.organisasjonsnummer),
            ("period", &period),
            ("generated", &generated),
        ],
    );
    pages.paragraph(&meta, BODY, false);
    pages.paragraph(&validation_line(doc, t), BODY, false);
    pages.gap();
    steps.step()?;
    let [value, prior, change] = t.pdf_figure_columns;
    let header = [
        (At::Right(RIGHT[0]), value),
        (At::Right(RIGHT[1]), prior),
        (At::Right(RIGHT[2]), change),
    ];
    let field_column = t.section_columns[0];
    for section in &doc.sections {
        // Keep a section's title with its header and first row.
        pages.room(LINE * 4.0);
        pages.paragraph(&section.title, 12.0, true);
        pages.row(field_column, &header, BODY, true);
        for field in &section.fields {
            let (value, prior, change) = (
                figure(locale, field.value),
                figure(locale, field.prior_value),
                figure(locale, field.change()),
            );
            let cells = [
                (At::Right(RIGHT[0]), value.as_str()),
                (At::Right(RIGHT[1]), &prior),
                (At::Right(RIGHT[2]), &change),
            ];
            pages.row(&field.label, &cells, BODY, false);
        }
        pages.gap();
        steps.step()?;
    }
    pages.room(LINE * 4.0);
    pages.paragraph(t.activities, 12.0, true);
    let [_, activity, antall, timer] = t.activity_columns;
    let header = [(At::Right(RIGHT[0]), antall), (At::Right(RIGHT[1]), timer)];
    pages.row(activity, &header, BODY, true);
    for a in &doc.activities {
        let (antall, timer) = (grouped(locale, a.antall), grouped(locale, a.timer));
        let cells = [
            (At::Right(RIGHT[0]), antall.as_str()),
            (At::Right(RIGHT[1]), &timer),
        ];
        pages.row(&a.label, &cells, BODY, false);
    }
    steps.step()?;
    if let Some(changes) = &doc.changes {
        changes_section(&mut pages, doc, changes, t);
    }
    let mut rows = 0;
    if let Some(annex) = annex {
        rows = count_annex(annex, steps)?;
        pages.gap();
        let note = fill(t.pdf_annex_note, &[("records", &count(locale, rows))]);
        pages.paragraph(&note, BODY, false);
        steps.step()?;
    }
    steps.check()?;
    std::fs::write(path, assemble(pages.finish(), locale, t))?;
    Ok(rows)
}

/// The document: catalog, page tree, the two fonts, and per page its content with a page number.
/// The catalog names the language, so screen readers read the text in the right one.
fn assemble(contents: Vec<Content>, locale: Locale, t: &Texts) -> Vec<u8> {
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let (regular, bold) = (Ref::new(3), Ref::new(4));
    let mut pdf = Pdf::new();
    pdf.catalog(catalog)
        .pages(tree)
        .lang(TextStr(locale.as_str()));
    let total = contents.len();
    let ids: Vec<(Ref, Ref)> = (0..total as i32)
        .map(|i| (Ref::new(5 + 2 * i), Ref::new(6 + 2 * i)))
        .collect();
    pdf.pages(tree)
        .kids(ids.iter().map(|(page, _)| *page))
        .count(total as i32);
    for (i, (mut content, (page_id, content_id))) in contents.into_iter().zip(&ids).enumerate() {
        let footer = fill(
            t.page_footer,
            &[
                ("page", &count(locale, i as u64 + 1)),
                ("pages", &count(locale, total as u64)),
            ],
        );
        let x = PAGE.0 - MARGIN - width(&footer, 8.0, false);
        content
            .begin_text()
            .set_font(Name(b"F1"), 8.0)
            .next_line(x, MARGIN / 2.0)
            .show(Str(&win_ansi(&footer)))
            .end_text();
        let mut page = pdf.page(*page_id);
        page.media_box(Rect::new(0.0, 0.0, PAGE.0, PAGE.1));
        page.parent(tree);
        page.contents(*content_id);
        let mut resources = page.resources();
        let mut fonts = resources.fonts();
        fonts.pair(Name(b"F1"), regular);
        fonts.pair(Name(b"F2"), bold);
        fonts.finish();
        resources.finish();
        page.finish();
        pdf.stream(*content_id, &content.finish());
    }
    for (id, name) in [(regular, "Helvetica"), (bold, "Helvetica-Bold")] {
        pdf.type1_font(id)
            .base_font(Name(name.as_bytes()))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
    }
    pdf.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_keeps_every_word_within_the_width() {
        let text = "Antall barn og unge som har fått oppfølging i hjemmet etter akuttplassering";
        let lines = wrap(text, 150.0, 9.0, false);
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| width(l, 9.0, false) <= 150.0));
        assert_eq!(lines.join(" "), text);
        let word = "x".repeat(200);
        assert_eq!(wrap(&word, 100.0, 9.0, false).concat(), word);
        assert_eq!(wrap("", 100.0, 9.0, false), [""]);
    }

    #[test]
    fn norwegian_letters_are_win_ansi() {
        assert_eq!(
            win_ansi("æøåÆØÅ–€\n😀"),
            b"\xe6\xf8\xe5\xc6\xd8\xc5\x96\x80 ?"
        );
    }
}
