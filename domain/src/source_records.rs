//! Source records as organisations send them (JSON or CSV), and the one validation every import
//! goes through before anything is recorded. All problems of a batch are reported together, each
//! naming its row and field.

use std::collections::HashSet;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::schema::ReportingSchema;

pub const MAX_RECORDS_PER_BATCH: usize = 10_000;
/// Enough to fix a batch by; a batch with thousands of bad rows does not need them all listed.
const MAX_ERRORS: usize = 100;

/// A number as it arrived: JSON numbers are numbers, CSV cells are text (perhaps `12,5`).
#[derive(Debug, Clone, PartialEq)]
pub enum RawNumber {
    Number(f64),
    Text(String),
}

/// A record before validation.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRecord {
    pub record_id: String,
    pub occurred_on: String,
    pub metric: String,
    pub value: RawNumber,
    pub hours: Option<RawNumber>,
}

/// A valid record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceRecord {
    pub record_id: String,
    pub occurred_on: NaiveDate,
    pub metric: String,
    pub value: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<f64>,
}

/// One problem: `row` is the index in the batch (for CSV, the data row, header excluded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    pub row: usize,
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

impl RecordError {
    fn new(row: usize, field: &str, code: &'static str, message: impl Into<String>) -> Self {
        RecordError {
            row,
            field: field.into(),
            code,
            message: message.into(),
        }
    }
}

/// Validates a whole batch: every record, or the list of what is wrong.
pub fn validate(
    raw: Vec<RawRecord>,
    schema: &ReportingSchema,
) -> Result<Vec<SourceRecord>, Vec<RecordError>> {
    if raw.is_empty() {
        return Err(vec![RecordError::new(
            0,
            "records",
            "empty_batch",
            "a batch needs at least one record",
        )]);
    }
    if raw.len() > MAX_RECORDS_PER_BATCH {
        return Err(vec![RecordError::new(
            0,
            "records",
            "too_many_records",
            format!(
                "a batch holds at most {MAX_RECORDS_PER_BATCH} records, this one {}",
                raw.len()
            ),
        )]);
    }
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    let mut records = Vec::with_capacity(raw.len());
    for (row, r) in raw.into_iter().enumerate() {
        let before = errors.len();
        let id = r.record_id.trim();
        if id.is_empty() || id.len() > 128 || !id.bytes().all(|b| b.is_ascii_graphic()) {
            errors.push(RecordError::new(
                row,
                "record_id",
                "invalid_record_id",
                "record_id is 1 to 128 visible ASCII characters without spaces",
            ));
        } else if !seen.insert(id.to_string()) {
            errors.push(RecordError::new(
                row,
                "record_id",
                "duplicate_record_id",
                format!("record_id {id:?} appears earlier in this batch"),
            ));
        }
        let date = parse_date(r.occurred_on.trim());
        if date.is_none() {
            errors.push(RecordError::new(
                row,
                "occurred_on",
                "invalid_date",
                format!("{:?} is not a date (YYYY-MM-DD)", r.occurred_on),
            ));
        }
        if !schema.is_metric(&r.metric) {
            errors.push(RecordError::new(
                row,
                "metric",
                "unknown_metric",
                format!("metric {:?} is not in schema {}", r.metric, schema.id),
            ));
        }
        let value = number(row, "value", &r.value, &mut errors);
        if let Some(v) = value
            && v.fract() != 0.0
            && schema.counts_value_of(&r.metric)
        {
            errors.push(RecordError::new(
                row,
                "value",
                "not_a_whole_number",
                format!(
                    "the value of {} is a count, so a whole number, got {v}",
                    r.metric
                ),
            ));
        }
        let hours = r
            .hours
            .as_ref()
            .and_then(|h| number(row, "hours", h, &mut errors));
        if errors.len() == before {
            records.push(SourceRecord {
                record_id: id.to_string(),
                occurred_on: date.expect("checked"),
                metric: r.metric,
                value: value.expect("checked"),
                hours,
            });
        }
        if errors.len() >= MAX_ERRORS {
            errors.truncate(MAX_ERRORS);
            break;
        }
    }
    if errors.is_empty() {
        Ok(records)
    } else {
        Err(errors)
    }
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    let shaped = b.len() == 10 && b[4] == b'-' && b[7] == b'-';
    let date = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .filter(|_| shaped)?;
    (1900..=9999)
        .contains(&chrono::Datelike::year(&date))
        .then_some(date)
}

fn number(row: usize, field: &str, raw: &RawNumber, errors: &mut Vec<RecordError>) -> Option<f64> {
    let parsed = match raw {
        RawNumber::Number(n) => Some(*n),
        RawNumber::Text(t) => parse_decimal(t.trim()),
    };
    match parsed {
        Some(n) if n.is_finite() && n >= 0.0 => Some(n),
        Some(n) if n.is_finite() => {
            errors.push(RecordError::new(
                row,
                field,
                "negative_value",
                format!("{field} must not be negative, got {n}"),
            ));
            None
        }
        _ => {
            errors.push(RecordError::new(
                row,
                field,
                "not_a_number",
                format!("{field} must be a number like 12 or 12,5"),
            ));
            None
        }
    }
}

/// `12`, `12.5` and `12,5`: one optional decimal separator, digits only otherwise, so a
/// thousands separator (`1 000`, `1.000,5`) is refused rather than misread.
fn parse_decimal(s: &str) -> Option<f64> {
    let (body, negative) = match s.strip_prefix('-') {
        Some(rest) => (rest, true),
        None => (s, false),
    };
    let (whole, fraction) = match body.find([',', '.']) {
        Some(i) => (&body[..i], &body[i + 1..]),
        None => (body, ""),
    };
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty()
        || !digits(whole)
        || !digits(fraction)
        || (body.len() > whole.len() && fraction.is_empty())
    {
        return None;
    }
    let n: f64 = format!(
        "{whole}.{}",
        if fraction.is_empty() { "0" } else { fraction }
    )
    .parse()
    .ok()?;
    Some(if negative { -n } else { n })
}

const COLUMNS: [&str; 5] = ["record_id", "occurred_on", "metric", "value", "hours"];

/// Parses CSV with a header row. The delimiter is `;` (what Norwegian Excel writes) or `,`,
/// whichever the header line uses.
pub fn parse_csv(text: &str) -> Result<Vec<RawRecord>, Vec<RecordError>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let header_line = text.lines().next().unwrap_or("");
    let delimiter = if header_line.contains(';') {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|c| c.trim().to_lowercase()).collect(),
        Err(e) => {
            return Err(vec![RecordError::new(
                0,
                "header",
                "invalid_csv",
                e.to_string(),
            )]);
        }
    };
    let mut errors = Vec::new();
    for h in &headers {
        if !COLUMNS.contains(&h.as_str()) {
            errors.push(RecordError::new(
                0,
                h,
                "unknown_column",
                format!("column {h:?} is not one of {}", COLUMNS.join(", ")),
            ));
        }
    }
    let index = |name: &str| headers.iter().position(|h| h == name);
    for required in &COLUMNS[..4] {
        if index(required).is_none() {
            errors.push(RecordError::new(
                0,
                required,
                "missing_column",
                format!("the header has no {required:?} column"),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let [id, date, metric, value] = [0, 1, 2, 3].map(|i| index(COLUMNS[i]).expect("checked"));
    let hours = index("hours");
    let mut records = Vec::new();
    for (row, result) in reader.records().enumerate() {
        let record = match result {
            Ok(r) => r,
            Err(e) => {
                errors.push(RecordError::new(row, "row", "invalid_csv", e.to_string()));
                continue;
            }
        };
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        if record.len() != headers.len() {
            errors.push(RecordError::new(
                row,
                "row",
                "wrong_column_count",
                format!(
                    "{} cells where the header has {}",
                    record.len(),
                    headers.len()
                ),
            ));
            continue;
        }
        let cell = |i: usize| record.get(i).unwrap_or("").trim().to_string();
        records.push(RawRecord {
            record_id: cell(id),
            occurred_on: cell(date),
            metric: cell(metric),
            value: RawNumber::Text(cell(value)),
            hours: hours
                .map(cell)
                .filter(|h| !h.is_empty())
                .map(RawNumber::Text),
        });
        if errors.len() >= MAX_ERRORS {
            break;
        }
    }
    if errors.is_empty() {
        Ok(records)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> &'static ReportingSchema {
        crate::schema::bufdir_2025_v2()
    }

    fn raw(id: &str, date: &str, metric: &str, value: RawNumber) -> RawRecord {
        RawRecord {
            record_id: id.into(),
            occurred_on: date.into(),
            metric: metric.into(),
            value,
            hours: None,
        }
    }

    #[test]
    fn good_records_validate() {
        let records = validate(
            vec![raw("a", "2024-05-17", "volunteers", RawNumber::Number(3.0))],
            schema(),
        )
        .unwrap();
        assert_eq!(
            records[0].occurred_on,
            NaiveDate::from_ymd_opt(2024, 5, 17).unwrap()
        );
        assert_eq!(records[0].value, 3.0);
    }

    #[test]
    fn a_counted_value_is_whole_and_hours_may_have_fractions() {
        let errors = validate(
            vec![
                raw("a", "2024-05-17", "volunteers", RawNumber::Number(2.5)),
                raw(
                    "b",
                    "2024-05-17",
                    "volunteers",
                    RawNumber::Text("2,0".into()),
                ),
                raw("c", "2024-05-17", "volunteer_hours", RawNumber::Number(2.5)),
            ],
            schema(),
        )
        .unwrap_err();
        let got: Vec<(usize, &str, &str)> = errors
            .iter()
            .map(|e| (e.row, e.field.as_str(), e.code))
            .collect();
        assert_eq!(got, vec![(0, "value", "not_a_whole_number")]);
    }

    #[test]
    fn every_problem_of_a_batch_is_reported_with_row_and_field() {
        let errors = validate(
            vec![
                raw("a", "2024-05-17", "volunteers", RawNumber::Number(1.0)),
                raw("b", "2024-02-30", "nope", RawNumber::Number(-1.0)),
                raw(
                    "a",
                    "17.05.2024",
                    "volunteers",
                    RawNumber::Text("1 000".into()),
                ),
            ],
            schema(),
        )
        .unwrap_err();
        let got: Vec<(usize, &str, &str)> = errors
            .iter()
            .map(|e| (e.row, e.field.as_str(), e.code))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, "occurred_on", "invalid_date"),
                (1, "metric", "unknown_metric"),
                (1, "value", "negative_value"),
                (2, "record_id", "duplicate_record_id"),
                (2, "occurred_on", "invalid_date"),
                (2, "value", "not_a_number"),
            ]
        );
    }

    #[test]
    fn empty_and_oversized_batches_are_refused() {
        assert_eq!(
            validate(vec![], schema()).unwrap_err()[0].code,
            "empty_batch"
        );
        let many = (0..=MAX_RECORDS_PER_BATCH)
            .map(|i| {
                raw(
                    &i.to_string(),
                    "2024-01-01",
                    "volunteers",
                    RawNumber::Number(1.0),
                )
            })
            .collect();
        assert_eq!(
            validate(many, schema()).unwrap_err()[0].code,
            "too_many_records"
        );
    }

    #[test]
    fn decimals_take_a_point_or_a_comma_and_nothing_else() {
        for (text, want) in [
            ("12", Some(12.0)),
            ("12.5", Some(12.5)),
            ("12,5", Some(12.5)),
            (" 7 ", Some(7.0)),
        ] {
            assert_eq!(parse_decimal(text.trim()), want, "{text}");
        }
        for text in [
            "1 000", "1.000,5", "abc", "", "NaN", "inf", "1.", ".5", "1,2,3", "+1", "1e3",
        ] {
            assert_eq!(parse_decimal(text), None, "{text}");
        }
    }

    #[test]
    fn csv_with_semicolons_decimal_commas_a_bom_and_crlf_parses() {
        let text = "\u{feff}record_id;occurred_on;metric;value;hours\r\na;2024-01-05;group_session;2;1,5\r\nb;2024-01-06;volunteers;3;\r\n\r\n";
        let rows = parse_csv(text).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].hours, Some(RawNumber::Text("1,5".into())));
        assert_eq!(rows[1].hours, None);
        let records = validate(rows, schema()).unwrap();
        assert_eq!(records[0].hours, Some(1.5));
    }

    #[test]
    fn csv_with_commas_quotes_and_columns_in_any_order_parses() {
        let text =
            "metric,value,record_id,occurred_on\nvolunteers,\"4,5\",\"id,\"\"x\"\"\",2024-03-01\n";
        let rows = parse_csv(text).unwrap();
        assert_eq!(rows[0].record_id, "id,\"x\"");
        assert_eq!(rows[0].value, RawNumber::Text("4,5".into()));
        assert_eq!(rows[0].hours, None);
    }

    #[test]
    fn csv_header_and_row_problems_are_named() {
        let errors = parse_csv("record_id;date;metric;value\n").unwrap_err();
        let codes: Vec<_> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            codes,
            vec![
                ("date", "unknown_column"),
                ("occurred_on", "missing_column")
            ]
        );
        let errors =
            parse_csv("record_id;occurred_on;metric;value\na;2024-01-01;volunteers\n").unwrap_err();
        assert_eq!((errors[0].row, errors[0].code), (0, "wrong_column_count"));
    }

    /// Whatever arrives, parsing and validation answer; they never panic.
    #[test]
    fn garbage_never_panics() {
        let alphabet: Vec<char> = "ab;,\"\n\r 0123456789.-:æøå\u{feff}\u{0}".chars().collect();
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..3000 {
            let mut text = String::from(if state.is_multiple_of(2) {
                "record_id;occurred_on;metric;value;hours\n"
            } else {
                ""
            });
            let len = (state % 120) as usize;
            for _ in 0..len {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                text.push(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            if let Ok(rows) = parse_csv(&text) {
                let _ = validate(rows, schema());
            }
        }
    }
}
