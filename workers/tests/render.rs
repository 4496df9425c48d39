//! The renderers, read back: calamine for Excel, a text extractor for PDF, plain text for CSV.

use std::sync::atomic::AtomicBool;

use calamine::{Data, Reader};
use chrono::{NaiveDate, TimeZone, Utc};
use domain::Locale;
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
                message_nn: "Feltet «kontaktperson» er tilrådd, men manglar.".into(),
                message_en: "Field 'kontaktperson' is recommended but not present.".into(),
            }],
        },
        changes: None,
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

/// A document with one changed figure and the two imports that moved it.
fn doc_with_changes() -> ReportDocument {
    let mut d = doc();
    let at = |s: &str| s.parse::<chrono::DateTime<Utc>>().unwrap();
    let source = |actor: &str, data_source: &str, added, replaced, change, when| {
        commands::diffs::Contribution {
            position: 7,
            import_id: "imp".into(),
            data_source: data_source.into(),
            actor: Some(actor.into()),
            issuer: None,
            imported_at: at(when),
            records_added: added,
            records_replaced: replaced,
            change,
        }
    };
    d.changes = Some(workers::export::document::Changes {
        submitted_at: at("2026-03-01T09:00:00Z"),
        fields: vec![commands::diffs::FieldChange {
            section_id: "s".into(),
            key: "children_in_care".into(),
            labels: domain::schema::Labels {
                nb: "Barn i omsorg".into(),
                nn: "Born i omsorg".into(),
                en: "Children in care".into(),
            },
            unit: Unit::Count,
            before: Some(8.0),
            after: Some(1048.0),
            change: 1040.0,
            relative_change: Some(130.0),
            lineage: vec![
                source(
                    "case-system",
                    "fagsystem",
                    1043,
                    0,
                    1043.0,
                    "2026-03-12T10:00:00Z",
                ),
                source("kari", "korrigering", 3, 3, -3.0, "2026-03-14T12:30:00Z"),
            ],
        }],
    });
    d
}

#[test]
fn a_pdf_shows_the_changes_since_the_submission_with_the_imports_that_moved_them() {
    let (_dir, path) = go_with(&doc_with_changes(), Format::Pdf, None);
    let text = pdf_extract::extract_text_from_mem(&std::fs::read(&path).unwrap()).unwrap();
    // In Norwegian time (CET in March), Norwegian numbers.
    assert!(
        text.contains("Endringer siden siste innsending (01.03.2026 10:00)"),
        "{text}"
    );
    assert!(text.contains("Barn i omsorg"), "{text}");
    assert!(text.contains("1 048") && text.contains("1 040"), "{text}");
    assert!(
        text.contains("Import 12.03.2026 11:00 av case-system (fagsystem), 1 043 poster"),
        "{text}"
    );
    assert!(
        text.contains("kari (korrigering), 3 poster, 3 korrigert"),
        "{text}"
    );
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

// The same document in every locale. Its labels stay as they are (the document brings them
// already translated); what has to change is everything the renderers write themselves.

fn doc_in(locale: Locale) -> ReportDocument {
    let mut doc = doc();
    doc.locale = locale;
    doc
}

fn cell(range: &calamine::Range<Data>, row: usize, col: usize) -> String {
    range
        .get((row, col))
        .map(|c| c.to_string())
        .unwrap_or_default()
}

fn row_texts(range: &calamine::Range<Data>, row: usize) -> Vec<String> {
    let width = range.width();
    (0..width)
        .map(|col| cell(range, row, col))
        .filter(|c| !c.is_empty())
        .collect()
}

#[test]
fn excel_writes_its_own_texts_in_the_document_s_locale() {
    struct Expect {
        sheets: [&'static str; 6],
        title: &'static str,
        cover_labels: [&'static str; 10],
        section_columns: [&'static str; 6],
        units: [&'static str; 2],
        activity_columns: [&'static str; 4],
        annex_columns: [&'static str; 6],
        validation_columns: [&'static str; 5],
        warning: &'static str,
        verdict: &'static str,
    }
    let expected = [
        (
            Locale::NbNo,
            Expect {
                sheets: [
                    "Forside",
                    "Barn under omsorg",
                    "Tiltak timeruke snitt",
                    "Aktiviteter",
                    "Vedlegg kilderecords",
                    "Validering",
                ],
                title: "Rapport til Bufdir – Barnevernet Øst",
                cover_labels: [
                    "Organisasjon",
                    "Organisasjons-ID",
                    "Organisasjonsnummer",
                    "Periode",
                    "Payload-versjon",
                    "Hendelseslogg-posisjon",
                    "Fra",
                    "Til",
                    "Generert",
                    "Eksport-ID",
                ],
                section_columns: [
                    "Felt",
                    "Nøkkel",
                    "Verdi",
                    "Forrige periode",
                    "Endring",
                    "Enhet",
                ],
                units: ["antall", "timer"],
                activity_columns: ["Kategori", "Aktivitet", "Antall", "Timer"],
                annex_columns: ["record_id", "dato", "metric", "verdi", "timer", "datakilde"],
                validation_columns: ["Type", "Peker", "Kode", "Melding", "Message"],
                warning: "advarsel",
                verdict: "Payloaden er gyldig, med 1 advarsel(er).",
            },
        ),
        (
            Locale::NnNo,
            Expect {
                sheets: [
                    "Framside",
                    "Barn under omsorg",
                    "Tiltak timeruke snitt",
                    "Aktivitetar",
                    "Vedlegg kjeldepostar",
                    "Validering",
                ],
                title: "Rapport til Bufdir – Barnevernet Øst",
                cover_labels: [
                    "Organisasjon",
                    "Organisasjons-ID",
                    "Organisasjonsnummer",
                    "Periode",
                    "Payload-versjon",
                    "Hendingslogg-posisjon",
                    "Frå",
                    "Til",
                    "Generert",
                    "Eksport-ID",
                ],
                section_columns: [
                    "Felt",
                    "Nøkkel",
                    "Verdi",
                    "Førre periode",
                    "Endring",
                    "Eining",
                ],
                units: ["antal", "timar"],
                activity_columns: ["Kategori", "Aktivitet", "Antal", "Timar"],
                annex_columns: [
                    "record_id",
                    "dato",
                    "metric",
                    "verdi",
                    "timar",
                    "datakjelde",
                ],
                validation_columns: [
                    "Type",
                    "Peikar",
                    "Kode",
                    "Melding (bokmål)",
                    "Melding (engelsk)",
                ],
                warning: "åtvaring",
                verdict: "Payloaden er gyldig, med 1 åtvaring(ar).",
            },
        ),
        (
            Locale::EnGb,
            Expect {
                sheets: [
                    "Cover",
                    "Barn under omsorg",
                    "Tiltak timeruke snitt",
                    "Activities",
                    "Annex source records",
                    "Validation",
                ],
                title: "Report to Bufdir – Barnevernet Øst",
                cover_labels: [
                    "Organisation",
                    "Organisation ID",
                    "Organisation number",
                    "Period",
                    "Payload version",
                    "Event log position",
                    "From",
                    "To",
                    "Generated",
                    "Export ID",
                ],
                section_columns: ["Field", "Key", "Value", "Previous period", "Change", "Unit"],
                units: ["count", "hours"],
                activity_columns: ["Category", "Activity", "Count", "Hours"],
                annex_columns: [
                    "record_id",
                    "date",
                    "metric",
                    "value",
                    "hours",
                    "data_source",
                ],
                validation_columns: ["Type", "Pointer", "Code", "Message (Norwegian)", "Message"],
                warning: "warning",
                verdict: "The payload is valid, with 1 warning(s).",
            },
        ),
    ];
    for (locale, e) in expected {
        let (_dir, path) = go_with(&doc_in(locale), Format::Excel, Some(3));
        let mut book: calamine::Xlsx<_> = calamine::open_workbook(&path).unwrap();
        assert_eq!(book.sheet_names(), e.sheets, "{locale:?}");

        let cover = book.worksheet_range(e.sheets[0]).unwrap();
        assert_eq!(cell(&cover, 0, 0), e.title);
        let labels: Vec<String> = (2..12).map(|row| cell(&cover, row, 0)).collect();
        assert_eq!(labels, e.cover_labels, "{locale:?}");
        // The dates stay real dates, the same in every locale; only their format differs.
        // 45 658 is 1 January 2025 in Excel's day count.
        let from = cover.get((8, 1)).unwrap();
        assert!(
            matches!(from, Data::DateTime(d) if d.as_f64() == 45_658.0),
            "{locale:?}: {from:?}"
        );
        assert!(matches!(cover.get((10, 1)), Some(Data::DateTime(_))));

        let section = book.worksheet_range(e.sheets[1]).unwrap();
        assert_eq!(row_texts(&section, 0), e.section_columns, "{locale:?}");
        let figures: Vec<Option<f64>> = (2..5)
            .map(|col| section.get((1, col)).and_then(number))
            .collect();
        assert_eq!(figures, [Some(1234.0), Some(1200.0), Some(34.0)]);
        assert_eq!(cell(&section, 1, 5), e.units[0]);
        let hours = book.worksheet_range(e.sheets[2]).unwrap();
        assert_eq!(hours.get((1, 2)).and_then(number), Some(12.5));
        assert_eq!(cell(&hours, 1, 5), e.units[1]);

        let activities = book.worksheet_range(e.sheets[3]).unwrap();
        assert_eq!(row_texts(&activities, 0), e.activity_columns);
        assert_eq!(activities.get((2, 3)).and_then(number), Some(4.5));

        let annex = book.worksheet_range(e.sheets[4]).unwrap();
        assert_eq!(row_texts(&annex, 0), e.annex_columns, "{locale:?}");
        assert!(matches!(annex.get((1, 1)), Some(Data::DateTime(_))));

        let validation = book.worksheet_range(e.sheets[5]).unwrap();
        assert_eq!(row_texts(&validation, 0), e.validation_columns);
        assert_eq!(cell(&validation, 1, 0), e.warning);
        assert_eq!(cell(&validation, 1, 2), "recommended_missing");
        assert_eq!(cell(&validation, 3, 0), e.verdict, "{locale:?}");
    }
}

/// Splits CSV text into records of fields: `separator` between fields, CRLF between records,
/// `"` quoting with `""` for a quote inside.
fn parse_csv(text: &str, separator: char) -> Vec<Vec<String>> {
    let text = text.strip_prefix('\u{feff}').expect("a byte-order mark");
    let mut records = vec![];
    let mut record = vec![];
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            '"' if quoted => quoted = false,
            '"' if field.is_empty() => quoted = true,
            c if quoted => field.push(c),
            c if c == separator => record.push(std::mem::take(&mut field)),
            '\r' => {
                assert_eq!(chars.next(), Some('\n'), "CR only before LF");
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            '\n' => panic!("a bare LF outside quotes"),
            c => field.push(c),
        }
    }
    assert!(field.is_empty() && record.is_empty(), "the last line ends");
    records
}

#[test]
fn csv_separator_decimal_mark_and_headers_follow_the_locale() {
    let expected = [
        (
            Locale::NbNo,
            ';',
            ',',
            [
                "seksjon",
                "felt",
                "nøkkel",
                "verdi",
                "forrige_periode",
                "endring",
                "enhet",
            ],
            ["kategori", "aktivitet", "antall", "timer"],
            ["record_id", "dato", "metric", "verdi", "timer", "datakilde"],
            ["antall", "timer"],
        ),
        (
            Locale::NnNo,
            ';',
            ',',
            [
                "seksjon",
                "felt",
                "nøkkel",
                "verdi",
                "førre_periode",
                "endring",
                "eining",
            ],
            ["kategori", "aktivitet", "antal", "timar"],
            [
                "record_id",
                "dato",
                "metric",
                "verdi",
                "timar",
                "datakjelde",
            ],
            ["antal", "timar"],
        ),
        (
            Locale::EnGb,
            ',',
            '.',
            [
                "section",
                "field",
                "key",
                "value",
                "previous_period",
                "change",
                "unit",
            ],
            ["category", "activity", "count", "hours"],
            [
                "record_id",
                "date",
                "metric",
                "value",
                "hours",
                "data_source",
            ],
            ["count", "hours"],
        ),
    ];
    let mut figures_by_locale = vec![];
    for (locale, separator, decimal, sections, activities, annex, units) in expected {
        let mut doc = doc_in(locale);
        // One label with each separator, so each locale has one to quote.
        doc.sections[1].fields[0].label = "Timer i tiltak, snitt".into();
        let (_dir, path) = go_with(&doc, Format::Csv, Some(3));
        let text = std::fs::read_to_string(&path).unwrap();
        let records = parse_csv(&text, separator);
        let blocks: Vec<&[Vec<String>]> =
            records.split(|r| r.len() == 1 && r[0].is_empty()).collect();
        assert_eq!(blocks.len(), 3, "{locale:?}: {text}");
        for block in &blocks {
            assert!(
                block.iter().all(|r| r.len() == block[0].len()),
                "{locale:?}: every record as wide as its header: {block:?}"
            );
        }
        assert_eq!(blocks[0][0], sections, "{locale:?}");
        assert_eq!(blocks[1][0], activities, "{locale:?}");
        assert_eq!(blocks[2][0], annex, "{locale:?}");
        assert_eq!(blocks[0][1][1], "Barn; under omsorg");
        assert_eq!(blocks[0][3][1], "Timer i tiltak, snitt");
        assert_eq!(
            (blocks[0][1][6].as_str(), blocks[0][3][6].as_str()),
            (units[0], units[1])
        );
        assert_eq!(blocks[0][3][3], format!("12{decimal}5"), "{locale:?}");
        assert_eq!(blocks[1][2][3], format!("4{decimal}5"));
        assert_eq!(blocks[2][1][4], format!("1{decimal}5"));
        // ISO dates in every locale: spreadsheets read them as dates whatever their settings.
        assert_eq!(blocks[2][1][1], "2025-03-01");
        // Read back with the locale's decimal mark, the figures are the same in every locale.
        let figures: Vec<Vec<Option<f64>>> = records
            .iter()
            .map(|r| {
                r.iter()
                    .map(|f| f.replace(decimal, ".").parse::<f64>().ok())
                    .collect()
            })
            .collect();
        figures_by_locale.push(figures);
    }
    assert_eq!(figures_by_locale[0], figures_by_locale[1]);
    assert_eq!(figures_by_locale[0], figures_by_locale[2]);
}

#[test]
fn pdf_texts_numbers_and_dates_follow_the_locale() {
    let expected = [
        (
            Locale::NbNo,
            vec![
                "Rapport til Bufdir – Barnevernet Øst",
                "Organisasjonsnummer 986128433",
                "periode 01.01.2025–30.06.2025",
                "generert 15.01.2026 10:30",
                "Validering: payloaden er gyldig, med 1 advarsel(er).",
                "Forrige",
                "Aktiviteter",
                "Antall",
                "1 234",
                "12,5",
                "4,5",
                "Vedlegg: 12 345 kilderecords (de står i Excel- og CSV-eksporten, ikke i denne PDF-en).",
                "Side 1 av 1",
            ],
            vec!["Førre", "Aktivitetar", "Page", "1,234", "12.5"],
        ),
        (
            Locale::NnNo,
            vec![
                "Rapport til Bufdir – Barnevernet Øst",
                "Organisasjonsnummer 986128433",
                "periode 01.01.2025–30.06.2025",
                "generert 15.01.2026 10:30",
                "Validering: payloaden er gyldig, med 1 åtvaring(ar).",
                "Førre",
                "Aktivitetar",
                "Antal",
                "Timar",
                "1 234",
                "12,5",
                "4,5",
                "Vedlegg: 12 345 kjeldepostar (dei står i Excel- og CSV-eksporten, ikkje i denne PDF-en).",
                "Side 1 av 1",
            ],
            vec![
                "Forrige",
                "Aktiviteter",
                "advarsel",
                "kilderecords",
                "ikke",
                "1,234",
            ],
        ),
        (
            Locale::EnGb,
            vec![
                "Report to Bufdir – Barnevernet Øst",
                "Organisation number 986128433",
                "period 01/01/2025–30/06/2025",
                "generated 15/01/2026 10:30",
                "Validation: the payload is valid, with 1 warning(s).",
                "Field",
                "Value",
                "Previous",
                "Change",
                "Activities",
                "Activity",
                "Count",
                "Hours",
                "1,234",
                "12.5",
                "4.5",
                "Annex: 12,345 source records (they are in the Excel and CSV exports, not in this PDF).",
                "Page 1 of 1",
            ],
            vec![
                "Side",
                "Verdi",
                "Forrige",
                "Felt",
                "1 234",
                "12,5",
                "2025-01-01",
            ],
        ),
    ];
    for (locale, present, absent) in expected {
        let mut doc = doc_in(locale);
        doc.period_to = NaiveDate::from_ymd_opt(2025, 6, 30).unwrap();
        doc.period_label = "2025-01-01–2025-06-30".into();
        let (_dir, path) = go_with(&doc, Format::Pdf, Some(12_345));
        let text = pdf_extract::extract_text_from_mem(&std::fs::read(&path).unwrap()).unwrap();
        for wanted in present {
            assert!(text.contains(wanted), "{locale:?} lacks «{wanted}»: {text}");
        }
        for unwanted in absent {
            assert!(
                !text.contains(unwanted),
                "{locale:?} has «{unwanted}»: {text}"
            );
        }
        // The labels come from the document, in whatever language it has them.
        assert!(text.contains("Barn; under omsorg") && text.contains("Oppsøkende arbeid"));
    }
}

#[test]
fn json_is_byte_for_byte_the_same_in_every_locale() {
    let files: Vec<Vec<u8>> = Locale::ALL
        .into_iter()
        .map(|locale| {
            let (_dir, path) = go_with(&doc_in(locale), Format::Json, None);
            std::fs::read(&path).unwrap()
        })
        .collect();
    assert_eq!(files[0], files[1], "nb-NO and nn-NO");
    assert_eq!(files[0], files[2], "nb-NO and en-GB");
    let back: serde_json::Value = serde_json::from_slice(&files[0]).unwrap();
    assert_eq!(back, doc().payload);
}
