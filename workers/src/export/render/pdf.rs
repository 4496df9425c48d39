//! A PDF summary: per section, each field's label, value, prior value and change, then the
//! activities. Written with pdf-writer and the standard Helvetica font (WinAnsi encoding covers
//! æøå), so no font files are embedded and the text stays extractable.

use std::path::Path;

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};

use super::numbers::grouped;
use super::{RenderError, Steps};
use crate::export::document::ReportDocument;

const PAGE: (f32, f32) = (595.0, 842.0);
const MARGIN: f32 = 50.0;
const LINE: f32 = 15.0;
/// Columns: label, value, prior, change.
const COLUMNS: [f32; 4] = [MARGIN, 340.0, 420.0, 500.0];

/// Text in WinAnsi (Windows-1252), the encoding of the standard fonts. Characters outside it
/// become `?`.
fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            '–' => 0x96,
            '—' => 0x97,
            '€' => 0x80,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            c if (c as u32) < 0x80 || (0xA0..=0xFF).contains(&(c as u32)) => c as u32 as u8,
            _ => b'?',
        })
        .collect()
}

/// Lines laid out top to bottom, broken into pages.
struct Pages {
    pages: Vec<Content>,
    y: f32,
}

impl Pages {
    fn new() -> Self {
        let mut pages = Pages {
            pages: vec![],
            y: 0.0,
        };
        pages.new_page();
        pages
    }

    fn new_page(&mut self) {
        self.pages.push(Content::new());
        self.y = PAGE.1 - MARGIN;
    }

    fn room(&mut self, lines: f32) {
        if self.y - lines * LINE < MARGIN {
            self.new_page();
        }
    }

    /// One line of cells at the given x positions.
    fn line(&mut self, cells: &[(f32, &str)], size: f32, bold: bool) {
        self.room(1.0);
        let font = if bold { Name(b"F2") } else { Name(b"F1") };
        let y = self.y;
        let content = self.pages.last_mut().expect("there is always a page");
        for (x, text) in cells {
            content.begin_text();
            content.set_font(font, size);
            content.next_line(*x, y);
            content.show(Str(&win_ansi(text)));
            content.end_text();
        }
        self.y -= LINE * size / 10.0;
    }

    fn gap(&mut self) {
        self.y -= LINE / 2.0;
    }
}

fn figure(x: Option<f64>) -> String {
    x.map(grouped).unwrap_or_else(|| "–".into())
}

pub fn write(doc: &ReportDocument, path: &Path, steps: &mut Steps) -> Result<u64, RenderError> {
    let mut pages = Pages::new();
    pages.line(
        &[(
            MARGIN,
            &format!("Rapport til Bufdir – {}", doc.organization_name),
        )],
        16.0,
        true,
    );
    pages.line(
        &[(
            MARGIN,
            &format!(
                "Organisasjonsnummer {} · periode {} · generert {}",
                doc.organisasjonsnummer,
                doc.period_label,
                doc.generated_at.format("%Y-%m-%d %H:%M UTC")
            ),
        )],
        9.0,
        false,
    );
    pages.gap();
    steps.step()?;
    for section in &doc.sections {
        pages.room(3.0);
        pages.line(&[(MARGIN, &section.title)], 12.0, true);
        let header = ["Felt", "Verdi", "Forrige", "Endring"];
        let cells: Vec<(f32, &str)> = COLUMNS.iter().copied().zip(header).collect();
        pages.line(&cells, 9.0, true);
        for field in &section.fields {
            let (value, prior, change) = (
                figure(field.value),
                figure(field.prior_value),
                figure(field.change()),
            );
            let label: String = field.label.chars().take(60).collect();
            pages.line(
                &[
                    (COLUMNS[0], &label),
                    (COLUMNS[1], &value),
                    (COLUMNS[2], &prior),
                    (COLUMNS[3], &change),
                ],
                9.0,
                false,
            );
        }
        pages.gap();
        steps.step()?;
    }
    pages.room(3.0);
    pages.line(&[(MARGIN, "Aktiviteter")], 12.0, true);
    pages.line(
        &[
            (COLUMNS[0], "Kategori"),
            (COLUMNS[1], "Antall"),
            (COLUMNS[2], "Timer"),
        ],
        9.0,
        true,
    );
    for a in &doc.activities {
        let (antall, timer) = (grouped(a.antall), grouped(a.timer));
        pages.line(
            &[
                (COLUMNS[0], &a.label),
                (COLUMNS[1], &antall),
                (COLUMNS[2], &timer),
            ],
            9.0,
            false,
        );
    }
    steps.step()?;
    std::fs::write(path, finish(pages.pages))?;
    Ok(0)
}

/// Assembles the document: catalog, page tree, the two fonts and one content stream per page.
fn finish(contents: Vec<Content>) -> Vec<u8> {
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let (regular, bold) = (Ref::new(3), Ref::new(4));
    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    let page_ids: Vec<Ref> = (0..contents.len())
        .map(|i| Ref::new(5 + 2 * i as i32))
        .collect();
    pdf.pages(tree)
        .kids(page_ids.iter().copied())
        .count(contents.len() as i32);
    for (i, content) in contents.into_iter().enumerate() {
        let (page_id, content_id) = (page_ids[i], Ref::new(6 + 2 * i as i32));
        let mut page = pdf.page(page_id);
        page.media_box(Rect::new(0.0, 0.0, PAGE.0, PAGE.1));
        page.parent(tree);
        page.contents(content_id);
        let mut resources = page.resources();
        let mut fonts = resources.fonts();
        fonts.pair(Name(b"F1"), regular);
        fonts.pair(Name(b"F2"), bold);
        fonts.finish();
        resources.finish();
        page.finish();
        pdf.stream(content_id, &content.finish());
    }
    for (id, name) in [(regular, "Helvetica"), (bold, "Helvetica-Bold")] {
        pdf.type1_font(id)
            .base_font(Name(name.as_bytes()))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
    }
    pdf.finish()
}
