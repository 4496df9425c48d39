//! Excel imports of source records: a workbook's first sheet is taken exactly as the same rows
//! sent as CSV, for good records and for bad ones.

use api::http::xlsx_payload::XLSX_CONTENT_TYPE;
use domain::schema;
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
use serde_json::Value;

use crate::helpers::{TestApp, read, spawn_app, spawn_app_on_postgres};

/// A cell as a person fills it in.
enum Cell {
    Text(String),
    Number(f64),
    /// An Excel date, shown as a date.
    Day(u16, u8, u8),
    /// An Excel date and time, half past the hour given.
    DayAt(u16, u8, u8, u16),
}

use Cell::{Day, DayAt, Number};

fn text(s: &str) -> Cell {
    Cell::Text(s.into())
}

/// `rows` from A1 down in the first sheet; an empty row stays empty. A second sheet is there to
/// be ignored.
fn workbook(rows: &[Vec<Cell>]) -> Vec<u8> {
    let mut book = Workbook::new();
    let day = Format::new().set_num_format("yyyy-mm-dd");
    let day_at = Format::new().set_num_format("yyyy-mm-dd hh:mm");
    let sheet = book.add_worksheet();
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            let (r, c) = (r as u32, c as u16);
            match cell {
                Cell::Text(s) => sheet.write_string(r, c, s),
                Number(n) => sheet.write_number(r, c, *n),
                Day(y, m, d) => {
                    let at = ExcelDateTime::from_ymd(*y, *m, *d).unwrap();
                    sheet.write_datetime_with_format(r, c, &at, &day)
                }
                DayAt(y, m, d, hour) => {
                    let at = ExcelDateTime::from_ymd(*y, *m, *d)
                        .unwrap()
                        .and_hms(*hour, 30, 0)
                        .unwrap();
                    sheet.write_datetime_with_format(r, c, &at, &day_at)
                }
            }
            .unwrap();
        }
    }
    book.add_worksheet()
        .write_string(0, 0, "not the records")
        .unwrap();
    book.save_to_buffer().unwrap()
}

fn header() -> Vec<Cell> {
    ["record_id", "occurred_on", "metric", "value", "hours"]
        .map(text)
        .into()
}

/// A metric whose value is a count, so must be whole.
fn counted() -> String {
    let schema = schema::bufdir_2025_v2();
    schema
        .metrics
        .iter()
        .find(|m| schema.counts_value_of(&m.key))
        .expect("a counted metric")
        .key
        .clone()
}

async fn post_body(app: &TestApp, org: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
    let r = app
        .client
        .post(app.url(&format!(
            "/api/v1/source-records?organization_id={org}&data_source=regneark"
        )))
        .bearer_auth(&app.admin)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    read(r).await
}

async fn post_xlsx(app: &TestApp, org: &str, book: Vec<u8>) -> (u16, Value) {
    post_body(app, org, XLSX_CONTENT_TYPE, book).await
}

async fn post_csv(app: &TestApp, org: &str, csv: &str) -> (u16, Value) {
    post_body(app, org, "text/csv", csv.as_bytes().to_vec()).await
}

/// The organisation's records as listed, without what differs between two imports of them.
async fn records_of(app: &TestApp, org: &str) -> Vec<Value> {
    let (status, list) = app
        .get(
            &format!("/api/v1/source-records?organization_id={org}&limit=100"),
            &app.admin,
        )
        .await;
    assert_eq!(status, 200, "{list}");
    let mut records: Vec<Value> = list["data"].as_array().unwrap().clone();
    for r in &mut records {
        r.as_object_mut().unwrap().remove("imported_at");
    }
    records.sort_by_key(|r| r["record_id"].as_str().unwrap().to_string());
    records
}

async fn same_records_as_csv(app: TestApp) {
    app.create_org("org-x", "986128433").await;
    app.create_org("org-c", "974760673").await;
    let m = counted();
    let book = workbook(&[
        header(),
        vec![
            text("a"),
            Day(2024, 5, 17),
            text(&m),
            Number(3.0),
            Number(1.5),
        ],
        vec![
            text("b"),
            text("2024-02-29"),
            text(&m),
            text("4"),
            text("2,5"),
        ],
        vec![],
        vec![Number(1001.0), Day(2024, 12, 31), text(&m), Number(2.0)],
        vec![
            text("c"),
            Day(2023, 1, 2),
            text(&m),
            Number(0.0),
            Number(0.25),
        ],
    ]);
    let csv = format!(
        "record_id;occurred_on;metric;value;hours\n\
         a;2024-05-17;{m};3;1,5\n\
         b;2024-02-29;{m};4;2,5\n\
         \n\
         1001;2024-12-31;{m};2;\n\
         c;2023-01-02;{m};0;0.25\n"
    );
    let (status, from_book) = post_xlsx(&app, "org-x", book).await;
    assert_eq!(status, 200, "{from_book}");
    let (status, from_csv) = post_csv(&app, "org-c", &csv).await;
    assert_eq!(status, 200, "{from_csv}");
    assert_eq!(from_book["records_imported"], 4);
    assert_eq!(from_book["periods"], from_csv["periods"]);
    let (book_records, csv_records) = (
        records_of(&app, "org-x").await,
        records_of(&app, "org-c").await,
    );
    assert_eq!(book_records, csv_records);
    assert_eq!(book_records[0]["record_id"], "1001");
    assert_eq!(book_records[1]["occurred_on"], "2024-05-17");
    assert_eq!(book_records[1]["value"], 3.0);
}

#[tokio::test]
async fn a_workbook_gives_the_same_records_as_the_same_rows_in_csv() {
    same_records_as_csv(spawn_app().await).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run ci/test, or set TEST_DATABASE_URL and pass --run-ignored all"]
async fn a_workbook_gives_the_same_records_as_the_same_rows_in_csv_on_postgres() {
    same_records_as_csv(spawn_app_on_postgres().await).await;
}

/// Both answers are the same 422 (request ids apart), and nothing of either was stored.
async fn assert_refused_alike(app: &TestApp, book: Vec<u8>, csv: &str) -> Value {
    let head = app.state.db.events.head().await.unwrap();
    let (status, from_book) = post_xlsx(app, "org-1", book).await;
    assert_eq!(status, 422, "{from_book}");
    let (status, from_csv) = post_csv(app, "org-1", csv).await;
    assert_eq!(status, 422, "{from_csv}");
    assert_eq!(from_book["detail"], from_csv["detail"]);
    assert_eq!(from_book["errors"], from_csv["errors"]);
    assert_eq!(app.state.db.events.head().await.unwrap(), head);
    assert_eq!(records_of(app, "org-1").await, Vec::<Value>::new());
    from_book["errors"].clone()
}

fn fields(errors: &Value) -> Vec<(String, String)> {
    errors
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().into(),
                e["code"].as_str().unwrap().into(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_bad_workbook_is_the_csvs_422_naming_the_rows_and_stores_nothing() {
    let app = spawn_app().await;
    app.create_org("org-1", "986128433").await;
    let m = counted();
    let book = workbook(&[
        header(),
        vec![text("ok"), Day(2024, 5, 17), text(&m), Number(1.0)],
        vec![],
        vec![text("half"), Day(2024, 5, 17), text(&m), Number(2.5)],
        vec![text("dotted"), text("17.05.2024"), text(&m), Number(1.0)],
        vec![text("timed"), DayAt(2024, 5, 17, 10), text(&m), Number(1.0)],
        vec![
            text("neg"),
            Day(2024, 5, 17),
            text("no_such_metric"),
            Number(-1.0),
        ],
        vec![text("ok"), Day(2024, 5, 18), text(&m), Number(1.0)],
    ]);
    let csv = format!(
        "record_id;occurred_on;metric;value;hours\n\
         ok;2024-05-17;{m};1;\n\
         \n\
         half;2024-05-17;{m};2,5;\n\
         dotted;17.05.2024;{m};1;\n\
         timed;2024-05-17 10:30:00;{m};1;\n\
         neg;2024-05-17;no_such_metric;-1;\n\
         ok;2024-05-18;{m};1;\n"
    );
    let errors = assert_refused_alike(&app, book, &csv).await;
    // Rows count from 0 after the header, the empty row not counted, as for CSV.
    let expected = [
        ("records/1/value", "not_a_whole_number"),
        ("records/2/occurred_on", "invalid_date"),
        ("records/3/occurred_on", "invalid_date"),
        ("records/4/metric", "unknown_metric"),
        ("records/4/value", "negative_value"),
        ("records/5/record_id", "duplicate_record_id"),
    ]
    .map(|(f, c)| (f.to_string(), c.to_string()));
    assert_eq!(fields(&errors), expected);
}

#[tokio::test]
async fn a_workbook_with_a_bad_header_is_refused_as_the_csv_is() {
    let app = spawn_app().await;
    app.create_org("org-1", "986128433").await;
    let book = workbook(&[
        vec![
            text("record_id"),
            text("Dato"),
            text("metric"),
            text("value"),
        ],
        vec![text("a"), Day(2024, 5, 17), text(&counted()), Number(1.0)],
    ]);
    let csv = format!(
        "record_id;Dato;metric;value\na;2024-05-17;{};1\n",
        counted()
    );
    let errors = assert_refused_alike(&app, book, &csv).await;
    assert_eq!(
        fields(&errors),
        [
            ("records/0/dato", "unknown_column"),
            ("records/0/occurred_on", "missing_column"),
        ]
        .map(|(f, c)| (f.to_string(), c.to_string()))
    );
}

/// Any bytes are a body the spec allows, so one that is no workbook is refused as invalid (422),
/// not as malformed.
#[tokio::test]
async fn a_body_that_is_not_a_workbook_is_a_422_naming_the_body() {
    let app = spawn_app().await;
    app.create_org("org-1", "986128433").await;
    let head = app.state.db.events.head().await.unwrap();
    let good = workbook(&[header()]);
    for body in [
        b"record_id;occurred_on\n".to_vec(),
        Vec::new(),
        good[..good.len() / 2].to_vec(),
    ] {
        let (status, problem) = post_xlsx(&app, "org-1", body).await;
        assert_eq!(status, 422, "{problem}");
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.starts_with("the body is not a readable Excel workbook (.xlsx)"),
            "{detail}"
        );
        assert_eq!(
            fields(&problem["errors"]),
            [("body".to_string(), "unreadable_workbook".to_string())]
        );
    }
    assert_eq!(app.state.db.events.head().await.unwrap(), head);
}

#[tokio::test]
async fn a_workbook_needs_the_organisation_and_source_as_query_parameters() {
    let app = spawn_app().await;
    let r = app
        .client
        .post(app.url("/api/v1/source-records"))
        .bearer_auth(&app.admin)
        .header("content-type", XLSX_CONTENT_TYPE)
        .body(workbook(&[header()]))
        .send()
        .await
        .unwrap();
    let (status, problem) = read(r).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(
        fields(&problem["errors"]),
        [("organization_id", "required"), ("data_source", "required")]
            .map(|(f, c)| (f.to_string(), c.to_string()))
    );
}

/// A few hundred KiB of workbook can stand for far more than a CSV body may be: it is refused
/// with the body limit's 413, not read into memory.
#[tokio::test]
async fn a_sheet_larger_than_a_csv_body_may_be_is_a_413() {
    let app = spawn_app().await;
    app.create_org("org-1", "986128433").await;
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    for row in 0..1100 {
        sheet.write_string(row, 0, "x").unwrap();
        sheet.write_string(row, 16_383, "far right").unwrap();
    }
    let book = book.save_to_buffer().unwrap();
    assert!(book.len() < api::http::body_limit::MAX_BODY_BYTES);
    let (status, problem) = post_xlsx(&app, "org-1", book).await;
    assert_eq!(status, 413, "{problem}");
}

#[tokio::test]
async fn the_openapi_spec_lists_excel_as_a_request_type_of_the_import() {
    let app = spawn_app().await;
    let spec: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let content = &spec["paths"]["/api/v1/source-records"]["post"]["requestBody"]["content"];
    assert_eq!(
        content[XLSX_CONTENT_TYPE]["schema"],
        serde_json::json!({"type": "string", "format": "binary"})
    );
    assert!(content["text/csv"].is_object());
}
