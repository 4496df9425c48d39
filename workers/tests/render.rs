//! The renderers, read back: calamine for Excel, a text extractor for PDF, plain text for CSV.

use std::sync::atomic::AtomicBool;

use calamine::{Data, Reader};
use chrono::{NaiveDate, TimeZone, Utc};
use domain::bufdir_payload::{Issue, Validation};
use domain::schema::Unit;
use serde_json::json;
use workers::export::document::{
    ActivityFigures, AnnexRow, FieldFigures, ReportDocument, SectionFigures,
};
use workers::export::render::{Format, RenderError, render};

fn doc() -> ReportDocument {
    let field = |key: &str, label: &str, unit, value, prior| FieldFigures {
        key: key.into(),
        label: label.into(),
        unit,
        value,
        prior_value: prior,
    };
    ReportDocument {
        export_id: "exp_test".into(),
        org_id: "org-test".into(),
        organization_name: "Barnevernet Øst".into(),
        organisasjonsnummer: "986128433".into(),
        period_from: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
        period_to: NaiveDate::from_ymd_opt(2025, 12, 31).unwrap(),
        period_label: "2025".into(),
        generated_at: Utc.with_ymd_and_hms(2026, 1, 15, 9, 30, 0).unwrap(),
        locale: domain::Locale::NbNo,
        payload_version: "bufdir_2025_v2".into(),
        source_position: "42".into(),
        sections: vec![
            SectionFigures {
                section_id: "a".into(),
                title: "Barn under omsorg".into(),
                fields: vec![
                    field(
                        "antall_barn",
                        "Barn; under omsorg",
                        Unit::Count,
                        Some(1234.0),
                        Some(1200.0),
                    ),
                    field("antall_ingen", "Uten data", Unit::Count, None, Some(3.0)),
                ],
            },
            SectionFigures {
                section_id: "b".into(),
                title: "Tiltak: timer/uke [snitt]".into(),
                fields: vec![field(
                    "timer_tiltak",
                    "Timer i tiltak",
                    Unit::Hours,
                    Some(12.5),
                    None,
                )],
            },
        ],
        activities: vec![
            ActivityFigures {
                kategori: "group_session".into(),
                label: "Gruppesamling".into(),
                antall: 12.0,
                timer: 30.0,
            },
            ActivityFigures {
                kategori: "outreach".into(),
                label: "Oppsøkende arbeid".into(),
                antall: 3.0,
                timer: 4.5,
            },
        ],
        payload: json!({"organisasjonsnummer": "986128433", "rapporteringsperiode": "2025"}),
        validation: Validation {
            errors: vec![],
            warnings: vec![Issue {
                pointer: "/payload/kontaktperson".into(),
                code: "recommended_missing",
                message_nb: "Feltet «kontaktperson» anbefales, men mangler.".into(),
                message_en: "Field 'kontaktperson' is recommended but not present.".into(),
            }],
        },
    }
}

fn annex(rows: u64) -> impl Iterator<Item = AnnexRow> {
    (0..rows).map(|i| AnnexRow {
        record_id: format!("r{i}"),
        occurred_on: NaiveDate::from_ymd_opt(2025, 3, 1).unwrap(),
        metric: "children_in_care".into(),
        value: i as f64,
        hours: (i % 2 == 0).then_some(1.5),
        data_source: "cis".into(),
    })
}

fn go(format: Format, annex_rows: Option<u64>) -> (tempfile::TempDir, std::path::PathBuf) {
    go_with(&doc(), format, annex_rows)
}

fn go_with(
    doc: &ReportDocument,
    format: Format,
    annex_rows: Option<u64>,
) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("out.{}", format.extension()));
    let mut rows = annex_rows.map(annex);
    let rows = rows
        .as_mut()
        .map(|r| r as &mut dyn Iterator<Item = AnnexRow>);
    let mut seen = vec![];
    let stats = render(
        format,
        doc,
        rows,
        &path,
        &AtomicBool::new(false),
        &mut |d, t| seen.push((d, t)),
    )
    .unwrap();
    assert_eq!(stats.bytes, std::fs::metadata(&path).unwrap().len());
    assert_eq!(stats.annex_rows, annex_rows.unwrap_or(0));
    let (done, total) = *seen.last().unwrap();
    assert_eq!(done, total, "progress ends complete");
    assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "{seen:?}");
    assert!(seen.iter().all(|(d, t)| d <= t), "{seen:?}");
    (dir, path)
}

fn number(cell: &Data) -> Option<f64> {
    match cell {
        Data::Float(f) => Some(*f),
        Data::Int(i) => Some(*i as f64),
        _ => None,
    }
}

#[test]
fn excel_holds_every_figure_with_an_annex_and_validation() {
    let (_dir, path) = go(Format::Excel, Some(2_500));
    let mut book: calamine::Xlsx<_> = calamine::open_workbook(&path).unwrap();
    let names = book.sheet_names();
    assert_eq!(
        names,
        [
            "Forside",
            "Barn under omsorg",
            "Tiltak timeruke snitt",
            "Aktiviteter",
            "Vedlegg kilderecords",
            "Validering"
        ]
    );
    let cover = book.worksheet_range("Forside").unwrap();
    let from = cover
        .rows()
        .find(|r| r[0] == Data::String("Fra".into()))
        .unwrap();
    assert!(
        matches!(from[1], Data::DateTime(_)),
        "a real date: {:?}",
        from[1]
    );
    assert!(
        cover
            .rows()
            .any(|r| r.iter().any(|c| c == &Data::String("986128433".into())))
    );
    let section = book.worksheet_range("Barn under omsorg").unwrap();
    let row: Vec<&Data> = section.rows().nth(1).unwrap().iter().collect();
    assert_eq!(row[0], &Data::String("Barn; under omsorg".into()));
    assert_eq!(
        (number(row[2]), number(row[3]), number(row[4])),
        (Some(1234.0), Some(1200.0), Some(34.0))
    );
    let empty: Vec<&Data> = section.rows().nth(2).unwrap().iter().collect();
    assert_eq!(number(empty[2]), None, "no data stays empty, not 0");
    let activities = book.worksheet_range("Aktiviteter").unwrap();
    let outreach: Vec<&Data> = activities.rows().nth(2).unwrap().iter().collect();
    assert_eq!(
        (number(outreach[2]), number(outreach[3])),
        (Some(3.0), Some(4.5))
    );
    let annex = book.worksheet_range("Vedlegg kilderecords").unwrap();
    assert_eq!(annex.rows().count(), 2_501);
    let last: Vec<&Data> = annex.rows().next_back().unwrap().iter().collect();
    assert_eq!(
        (last[0], number(last[3])),
        (&Data::String("r2499".into()), Some(2499.0))
    );
    let validation = book.worksheet_range("Validering").unwrap();
    assert!(validation.rows().any(|r| {
        r.iter()
            .any(|c| c == &Data::String("recommended_missing".into()))
    }));
}

#[test]
fn csv_uses_semicolons_decimal_commas_and_quotes() {
    let (_dir, path) = go(Format::Csv, Some(3));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with('\u{feff}'));
    assert!(
        text.contains("\"Barn; under omsorg\";antall_barn;1234;1200;34;antall\r\n"),
        "{text}"
    );
    assert!(text.contains("Timer i tiltak;timer_tiltak;12,5;;;timer"));
    assert!(text.contains("outreach;Oppsøkende arbeid;3;4,5"));
    assert!(text.contains("r0;2025-03-01;children_in_care;0;1,5;cis"));
}

#[test]
fn pdf_text_has_the_figures() {
    let (_dir, path) = go(Format::Pdf, None);
    let bytes = std::fs::read(&path).unwrap();
    let text = pdf_extract::extract_text_from_mem(&bytes).unwrap();
    assert!(text.contains("Barnevernet Øst"), "{text}");
    assert!(text.contains("Barn; under omsorg"));
    assert!(text.contains("1 234"));
    assert!(text.contains("12,5"));
    assert!(text.contains("Oppsøkende arbeid"));
}

#[test]
fn json_is_the_payload() {
    let (_dir, path) = go(Format::Json, None);
    let back: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(back, doc().payload);
}

#[test]
fn a_cancelled_render_stops_and_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.xlsx");
    let cancelled = AtomicBool::new(false);
    let mut pulled = 0u64;
    let mut rows = annex(10_000_000).inspect(|_| {
        pulled += 1;
        if pulled == 25_000 {
            cancelled.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let result = render(
        Format::Excel,
        &doc(),
        Some(&mut rows),
        &path,
        &cancelled,
        &mut |_, _| {},
    );
    drop(rows);
    assert!(matches!(result, Err(RenderError::Cancelled)));
    assert!(
        pulled <= 30_000,
        "stopped within one check interval, after {pulled} rows"
    );
    assert!(!path.exists());
}

#[test]
fn csv_quotes_quotes_and_line_breaks_and_ends_lines_with_crlf() {
    let mut doc = doc();
    doc.sections[1].fields[0].label = "Sa \"hei\"\nog gikk".into();
    let (_dir, path) = go_with(&doc, Format::Csv, None);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("\"Sa \"\"hei\"\"\nog gikk\";timer_tiltak;"),
        "{text}"
    );
    assert!(text.contains("\r\n\r\nkategori;aktivitet;antall;timer\r\n"));
    assert!(
        !text.contains("record_id"),
        "no annex block without an annex"
    );
    let outside_quotes = text.replace("\"Sa \"\"hei\"\"\nog gikk\"", "");
    assert!(outside_quotes.replace("\r\n", "").find('\n').is_none());
}

#[test]
fn a_long_pdf_breaks_into_pages_and_counts_the_annex() {
    let mut doc = doc();
    doc.sections[0].fields = (0..150)
        .map(|i| FieldFigures {
            key: format!("felt_{i}"),
            label: format!("Felt nummer {i} med en lang forklaring av hva som telles her, og hvorfor det telles slik (æøå)"),
            unit: Unit::Count,
            value: Some(1000.0 + f64::from(i)),
            prior_value: None,
        })
        .collect();
    let (_dir, path) = go_with(&doc, Format::Pdf, Some(12_345));
    let text = pdf_extract::extract_text_from_mem(&std::fs::read(&path).unwrap()).unwrap();
    assert!(text.contains("Side 2 av"), "{text}");
    assert!(text.contains("Felt nummer 149"));
    assert!(text.contains("1 149"));
    assert!(text.contains("(æøå)"));
    assert!(text.contains("12 345 kilderecords"));
}

#[test]
fn progress_grows_with_a_long_annex() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.csv");
    let mut seen = vec![];
    let stats = render(
        Format::Csv,
        &doc(),
        Some(&mut annex(250_000)),
        &path,
        &AtomicBool::new(false),
        &mut |d, t| seen.push((d, t)),
    )
    .unwrap();
    assert_eq!(stats.annex_rows, 250_000);
    // Cover, two sections, activities, two reports over the annex, its end, done.
    assert_eq!(seen.len(), 8, "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "{seen:?}");
    assert_eq!(seen.last(), Some(&(8, 8)));
}

#[test]
fn a_render_cancelled_before_it_starts_writes_nothing() {
    for format in [Format::Excel, Format::Csv, Format::Pdf, Format::Json] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("out.{}", format.extension()));
        let result = render(
            format,
            &doc(),
            Some(&mut annex(10)),
            &path,
            &AtomicBool::new(true),
            &mut |_, _| {},
        );
        assert!(matches!(result, Err(RenderError::Cancelled)), "{format:?}");
        assert!(!path.exists(), "{format:?}");
    }
}

#[test]
fn a_csv_cancelled_from_progress_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.csv");
    let cancelled = AtomicBool::new(false);
    let result = render(
        Format::Csv,
        &doc(),
        Some(&mut annex(200_000)),
        &path,
        &cancelled,
        &mut |done, _| {
            // The first report over the annex comes after 100 000 rows.
            if done == 5 {
                cancelled.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        },
    );
    assert!(matches!(result, Err(RenderError::Cancelled)));
    assert!(!path.exists());
}

#[test]
fn formats_name_their_files() {
    let all = [Format::Excel, Format::Csv, Format::Pdf, Format::Json];
    let extensions: Vec<_> = all.iter().map(|f| f.extension()).collect();
    assert_eq!(extensions, ["xlsx", "csv", "pdf", "json"]);
    assert_eq!(Format::Csv.content_type(), "text/csv; charset=utf-8");
    assert_eq!(
        Format::Excel.content_type(),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
}
