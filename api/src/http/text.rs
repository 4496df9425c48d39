//! Request strings whose rules the spec states (pattern, length, allowed values) while the
//! handler still judges them. Checking in the handler keeps the answer a 422 that names every
//! wrong field at once (poem's validators would stop at the first, as a 400 without a field),
//! and stating the rule in the spec lets a client, or a fuzzer, know what is accepted.
//!
//! Each type reads any string; the rule it publishes is the one `check` applies, so a handler
//! asks the type instead of restating the rule. (A pattern beyond "not blank" belongs to a type
//! the text becomes, such as `domain::OrgId`, whose parse is the check.)

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON};
use serde_json::Value;

use crate::http::problem::FieldError;

/// What a text type publishes about its strings.
#[derive(Default)]
struct Rule {
    pattern: Option<&'static str>,
    /// At least one character that is not white space (published as the pattern `\S`).
    non_blank: bool,
    min_length: Option<usize>,
    max_length: Option<usize>,
    format: Option<&'static str>,
    one_of: Vec<String>,
}

impl Rule {
    /// How `value` breaks this rule, as a field error of `field`; lengths count characters.
    fn violation(&self, field: &str, value: &str) -> Option<FieldError> {
        let chars = value.chars().count();
        let (min, max) = (self.min_length.unwrap_or(0), self.max_length);
        if chars < min || max.is_some_and(|max| chars > max) {
            let range = match max {
                Some(max) if min > 0 => format!("{min} to {max} characters"),
                Some(max) => format!("at most {max} characters"),
                None => format!("at least {min} characters"),
            };
            return Some(FieldError::new(
                field,
                "invalid_length",
                format!("{field} is {range}"),
            ));
        }
        if self.non_blank && value.trim().is_empty() {
            return Some(FieldError::new(
                field,
                "blank",
                format!("{field} must not be blank"),
            ));
        }
        if !self.one_of.is_empty() && !self.one_of.iter().any(|v| v == value) {
            let allowed = self.one_of.join(", ");
            return Some(FieldError::new(
                field,
                "not_allowed",
                format!("{field} is one of {allowed}"),
            ));
        }
        None
    }

    fn schema(self) -> MetaSchemaRef {
        let mut schema = MetaSchema::new("string");
        schema.pattern = self
            .pattern
            .or(self.non_blank.then_some(r"\S"))
            .map(str::to_string);
        schema.min_length = self.min_length;
        schema.max_length = self.max_length;
        schema.format = self.format;
        schema.enum_items = self.one_of.into_iter().map(Value::String).collect();
        MetaSchemaRef::Inline(Box::new(schema))
    }
}

macro_rules! text {
    ($(#[$doc:meta])* $name:ident, $rule:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name(pub String);

        impl std::ops::Deref for $name {
            type Target = String;
            fn deref(&self) -> &String {
                &self.0
            }
        }

        impl $name {
            /// Adds to `errors` how this value breaks the rule the spec publishes for it.
            pub fn check(&self, field: &str, errors: &mut Vec<FieldError>) {
                let rule: Rule = $rule;
                errors.extend(rule.violation(field, &self.0));
            }
        }

        impl From<$name> for String {
            fn from(t: $name) -> String {
                t.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        crate::http::wire::value_type!(
            $name,
            concat!("string_", stringify!($name)),
            {
                let rule: Rule = $rule;
                rule.schema()
            }
        );

        impl ParseFromJSON for $name {
            fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
                match value.unwrap_or_default() {
                    Value::String(s) => Ok($name(s)),
                    other => Err(ParseError::expected_type(other)),
                }
            }
        }

        impl ParseFromParameter for $name {
            fn parse_from_parameter(value: &str) -> ParseResult<Self> {
                Ok($name(value.to_string()))
            }
        }

        impl ToJSON for $name {
            fn to_json(&self) -> Option<Value> {
                Some(Value::String(self.0.clone()))
            }
        }
    };
}

/// The longest idempotency key; the spec says the same (`KEY_PATTERN`).
pub(crate) const MAX_KEY_LEN: usize = 255;
/// What an idempotency key may be, as the spec states it: visible ASCII, 1 to 255 characters.
pub(crate) const KEY_PATTERN: &str = r"^[!-~]{1,255}$";

text!(
    /// 1 to 255 visible ASCII characters; the idempotency layer checks it before the handler runs.
    IdempotencyKeyText,
    Rule {
        pattern: Some(KEY_PATTERN),
        min_length: Some(1),
        max_length: Some(MAX_KEY_LEN),
        ..Rule::default()
    }
);

/// Organisation ids (`domain::OrgId`).
pub(crate) const ORG_ID: &str = "^[a-z0-9][a-z0-9_-]{1,63}$";

text!(
    /// An organisation's id: 2 to 64 of `a-z`, `0-9`, `_`, `-`, starting with a letter or digit.
    OrgIdText,
    Rule {
        pattern: Some(ORG_ID),
        ..Rule::default()
    }
);

text!(
    /// Nine digits (with a valid MOD11 check digit, which the handler checks).
    OrgNumberText,
    Rule {
        pattern: Some("^[0-9]{9}$"),
        ..Rule::default()
    }
);

text!(
    /// A year from 1900 (`2024`) or a quarter (`2024-Q1`).
    PeriodIdText,
    Rule {
        pattern: Some("^(19[0-9]{2}|[2-9][0-9]{3})(-Q[1-4])?$"),
        ..Rule::default()
    }
);

text!(
    /// 1 to 200 characters, not only spaces, no control characters.
    NameText,
    Rule {
        pattern: Some(r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"),
        min_length: Some(1),
        max_length: Some(200),
        ..Rule::default()
    }
);

text!(
    /// 1 to 128 visible ASCII characters (surrounding spaces are trimmed).
    RecordIdText,
    Rule {
        pattern: Some(r"^\s*[!-~]{1,128}\s*$"),
        ..Rule::default()
    }
);

text!(
    /// 1 to 128 of `A-Z a-z 0-9 _ . -`, starting with a letter or digit.
    ReportIdText,
    Rule {
        pattern: Some("^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"),
        ..Rule::default()
    }
);

text!(
    /// A day, `YYYY-MM-DD`, years 1900 to 9999 (surrounding spaces are trimmed).
    DayText,
    Rule {
        pattern: Some(r"^\s*(19[0-9]{2}|[2-9][0-9]{3})-[0-9]{2}-[0-9]{2}\s*$"),
        ..Rule::default()
    }
);

text!(
    /// A file store key: relative, `/`-separated segments of `A-Z a-z 0-9 . _ -`.
    FileRefText,
    Rule {
        pattern: Some("^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$"),
        max_length: Some(512),
        ..Rule::default()
    }
);

text!(
    /// An absolute `http` or `https` URL.
    UrlText,
    Rule {
        pattern: Some(r"^https?://[^\s/?#@]+[^\s]*$"),
        max_length: Some(2000),
        format: Some("uri"),
        ..Rule::default()
    }
);

text!(
    /// `excel` (or `xlsx`), `csv`, `pdf` or `json`.
    ExportFormatText,
    Rule {
        one_of: ["excel", "xlsx", "csv", "pdf", "json"].map(String::from).to_vec(),
        ..Rule::default()
    }
);

text!(
    /// `xlsx`, `csv` or `pdf`.
    ReexportFormatText,
    Rule {
        one_of: ["xlsx", "csv", "pdf"].map(String::from).to_vec(),
        ..Rule::default()
    }
);

text!(
    /// `nb-NO`, `nn-NO` or `en-GB`.
    LocaleText,
    Rule {
        one_of: domain::Locale::ALL.iter().map(|l| l.as_str().to_string()).collect(),
        ..Rule::default()
    }
);

text!(
    /// An activity category of the reporting schema.
    CategoryText,
    Rule {
        one_of: domain::schema::bufdir_2025_v2()
            .activity_categories
            .iter()
            .map(|c| c.key.clone())
            .collect(),
        ..Rule::default()
    }
);

text!(
    /// A metric of the reporting schema.
    MetricText,
    Rule {
        one_of: domain::schema::bufdir_2025_v2()
            .metrics
            .iter()
            .map(|m| m.key.clone())
            .collect(),
        ..Rule::default()
    }
);

text!(
    /// A payload version this service knows.
    PayloadVersionText,
    Rule {
        one_of: domain::bufdir_payload::KNOWN_VERSIONS
            .iter()
            .map(|v| v.to_string())
            .collect(),
        ..Rule::default()
    }
);

text!(
    /// A file name: 1 to 128 of `A-Z a-z 0-9 . _ -` (not `.` or `..`).
    FileNameText,
    Rule {
        pattern: Some("^[A-Za-z0-9._-]{1,128}$"),
        ..Rule::default()
    }
);

text!(
    /// A position in the event log: a number, or `commit/prepare` on EventStoreDB.
    PositionText,
    Rule {
        pattern: Some("^[0-9]{1,18}(/[0-9]{1,18})?$"),
        ..Rule::default()
    }
);

text!(
    /// Any string: a text whose judging is the operation's own answer (`validate-payload`).
    AnyText,
    Rule::default()
);

text!(
    /// At most 1000 characters.
    UpTo1000,
    Rule {
        max_length: Some(1000),
        ..Rule::default()
    }
);

/// Strings of bounded length, for free text with only a length rule.
macro_rules! bounded {
    ($(#[$doc:meta])* $name:ident, $min:expr, $max:expr) => {
        text!(
            $(#[$doc])*
            $name,
            Rule {
                min_length: Some($min),
                max_length: Some($max),
                non_blank: true,
                ..Rule::default()
            }
        );
    };
}

bounded!(
    /// 1 to 128 characters.
    Text128,
    1,
    128
);
bounded!(
    /// 1 to 200 characters.
    Text200,
    1,
    200
);
bounded!(
    /// 1 to 500 characters.
    Text500,
    1,
    500
);
bounded!(
    /// 1 to 1000 characters.
    Text1000,
    1,
    1000
);

#[cfg(test)]
mod tests {
    use poem_openapi::types::Type;

    use super::*;

    #[test]
    fn the_published_rules_are_the_domains() {
        for (id, ok) in [("org-a", true), ("a", false), ("Org", false), ("-a", false)] {
            assert_eq!(domain::OrgId::parse(id).is_ok(), ok, "{id}");
        }
        let MetaSchemaRef::Inline(schema) = OrgIdText::schema_ref() else {
            panic!()
        };
        assert_eq!(schema.pattern.as_deref(), Some(ORG_ID));
        let MetaSchemaRef::Inline(schema) = LocaleText::schema_ref() else {
            panic!()
        };
        assert_eq!(schema.enum_items.len(), 3);
        assert_eq!(
            OrgIdText::parse_from_json(Some(Value::String("Not Valid".into()))).unwrap(),
            OrgIdText("Not Valid".into()),
            "read as it is; the handler judges it"
        );
    }

    #[test]
    fn a_text_checks_the_rule_it_publishes() {
        let mut errors = vec![];
        Text200("a".repeat(200)).check("client_id", &mut errors);
        UpTo1000(String::new()).check("reason", &mut errors);
        assert!(errors.is_empty());
        Text200("é".repeat(201)).check("client_id", &mut errors);
        Text500("   ".into()).check("reason", &mut errors);
        UpTo1000("x".repeat(1001)).check("reason", &mut errors);
        let codes: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.field.as_str(), e.code.as_str()))
            .collect();
        assert_eq!(
            codes,
            [
                ("client_id", "invalid_length"),
                ("reason", "blank"),
                ("reason", "invalid_length")
            ]
        );
        let MetaSchemaRef::Inline(schema) = Text500::schema_ref() else {
            panic!()
        };
        assert_eq!(
            (
                schema.pattern.as_deref(),
                schema.min_length,
                schema.max_length
            ),
            (Some(r"\S"), Some(1), Some(500))
        );
    }
}
