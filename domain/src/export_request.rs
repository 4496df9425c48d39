//! An export as a client asks for it, parsed once into an [`ExportRequest`] with every rule
//! checked (format, locale, range, categories), so that every caller of the export command
//! meets the same rules and every problem of a request is named at once.

use chrono::{Months, NaiveDate};

use crate::export::{ExportFormat, ExportRequest, MAX_RANGE_YEARS};
use crate::{Locale, OrgId, schema};

/// The request as it came, before any rule is applied.
#[derive(Debug, Clone)]
pub struct ExportForm {
    pub org_id: OrgId,
    pub format: String,
    pub period_from: NaiveDate,
    pub period_to: NaiveDate,
    pub activity_types: Vec<String>,
    pub include_attachments: bool,
    pub submit_to_bufdir_api: bool,
    /// `None`: the default locale.
    pub locale: Option<String>,
}

/// One broken rule, with the field it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormProblem {
    /// A JSON-pointer-like path into the request (`activity_types/2`).
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

fn problem(field: &str, code: &'static str, message: String) -> FormProblem {
    FormProblem {
        field: field.into(),
        code,
        message,
    }
}

impl ExportFormat {
    /// The file name extension of a file in this format.
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Excel => "xlsx",
            ExportFormat::Csv => "csv",
            ExportFormat::Pdf => "pdf",
            ExportFormat::Json => "json",
        }
    }

    /// The media type a file in this format is served with.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Excel => {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Pdf => "application/pdf",
            ExportFormat::Json => "application/json",
        }
    }
}

impl ExportRequest {
    /// The request, if it keeps every rule; else every rule it breaks.
    pub fn parse(form: ExportForm) -> Result<ExportRequest, Vec<FormProblem>> {
        let mut problems = vec![];
        let locale = match &form.locale {
            None => Some(Locale::default()),
            Some(tag) => Locale::parse(tag),
        };
        if locale.is_none() {
            problems.push(problem(
                "locale",
                "unknown_locale",
                format!(
                    "{:?} is not a locale: use nb-NO, nn-NO or en-GB",
                    form.locale.as_deref().unwrap_or_default()
                ),
            ));
        }
        let format = ExportFormat::parse(&form.format);
        if format.is_none() {
            problems.push(problem(
                "format",
                "unknown_format",
                format!(
                    "{:?} is not a format: use excel (or xlsx), csv, pdf or json",
                    form.format
                ),
            ));
        }
        if form.period_from > form.period_to {
            problems.push(problem(
                "period_to",
                "period_order",
                "period_to is before period_from".into(),
            ));
        } else if form
            .period_from
            .checked_add_months(Months::new(12 * MAX_RANGE_YEARS as u32))
            .is_none_or(|limit| form.period_to >= limit)
        {
            problems.push(problem(
                "period_to",
                "range_too_long",
                format!("an export covers at most {MAX_RANGE_YEARS} years"),
            ));
        }
        let schema = schema::bufdir_2025_v2();
        for (i, kind) in form.activity_types.iter().enumerate() {
            if !schema.is_activity_category(kind) {
                let known: Vec<&str> = schema
                    .activity_categories
                    .iter()
                    .map(|c| c.key.as_str())
                    .collect();
                problems.push(problem(
                    &format!("activity_types/{i}"),
                    "unknown_activity_type",
                    format!(
                        "{kind:?} is not an activity type; known: {}",
                        known.join(", ")
                    ),
                ));
            }
        }
        match (format, locale) {
            (Some(format), Some(locale)) if problems.is_empty() => Ok(ExportRequest {
                org_id: form.org_id,
                format,
                period_from: form.period_from,
                period_to: form.period_to,
                activity_types: form.activity_types,
                include_attachments: form.include_attachments,
                submit_to_bufdir_api: form.submit_to_bufdir_api,
                locale,
                reexport: None,
            }),
            _ => Err(problems),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> ExportForm {
        ExportForm {
            org_id: OrgId::parse("org-1").unwrap(),
            format: "xlsx".into(),
            period_from: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
            period_to: NaiveDate::from_ymd_opt(2025, 12, 31).unwrap(),
            activity_types: vec!["group_session".into()],
            include_attachments: false,
            submit_to_bufdir_api: false,
            locale: None,
        }
    }

    #[test]
    fn a_good_request_parses_with_the_default_locale() {
        let request = ExportRequest::parse(form()).unwrap();
        assert_eq!(request.format, ExportFormat::Excel);
        assert_eq!(request.locale, Locale::NbNo);
    }

    #[test]
    fn every_broken_rule_is_named_at_once() {
        let mut bad = form();
        bad.format = "docx".into();
        bad.locale = Some("de-DE".into());
        bad.period_to = NaiveDate::from_ymd_opt(2031, 1, 1).unwrap();
        bad.activity_types = vec!["group_session".into(), "dragons".into()];
        let codes: Vec<(String, &str)> = ExportRequest::parse(bad)
            .unwrap_err()
            .into_iter()
            .map(|p| (p.field, p.code))
            .collect();
        assert_eq!(
            codes,
            [
                ("locale".to_string(), "unknown_locale"),
                ("format".to_string(), "unknown_format"),
                ("period_to".to_string(), "range_too_long"),
                ("activity_types/1".to_string(), "unknown_activity_type"),
            ]
        );
        let mut backwards = form();
        backwards.period_to = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
        assert_eq!(
            ExportRequest::parse(backwards).unwrap_err()[0].code,
            "period_order"
        );
    }
}
