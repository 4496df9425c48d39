//! Times and dates as the contracts write them. poem-openapi would write a `DateTime<Utc>` as
//! `2026-03-26T10:00:00+00:00` and describe a `NaiveDate` as `format: naive-date`, which no
//! client generator knows; the contracts write `2026-03-26T10:00:00Z` and `2025-01-01` with
//! `format: date`.

use chrono::{DateTime, NaiveDate, SecondsFormat, Timelike, Utc};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON};
use serde_json::Value;

/// An instant, written in UTC with `Z`: whole seconds when the time has no fraction, else
/// milliseconds (`2026-03-26T10:00:00Z`, `2026-03-26T10:00:00.250Z`). Any RFC 3339 offset is
/// read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub DateTime<Utc>);

/// A calendar day, `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub NaiveDate);

impl Timestamp {
    pub(crate) fn to_wire(self) -> String {
        let format = if self.0.nanosecond() == 0 {
            SecondsFormat::Secs
        } else {
            SecondsFormat::Millis
        };
        self.0.to_rfc3339_opts(format, true)
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(t: DateTime<Utc>) -> Self {
        Timestamp(t)
    }
}

impl From<Timestamp> for DateTime<Utc> {
    fn from(t: Timestamp) -> Self {
        t.0
    }
}

impl From<NaiveDate> for Date {
    fn from(d: NaiveDate) -> Self {
        Date(d)
    }
}

impl From<Date> for NaiveDate {
    fn from(d: Date) -> Self {
        d.0
    }
}

impl std::ops::Deref for Timestamp {
    type Target = DateTime<Utc>;
    fn deref(&self) -> &DateTime<Utc> {
        &self.0
    }
}

impl std::ops::Deref for Date {
    type Target = NaiveDate;
    fn deref(&self) -> &NaiveDate {
        &self.0
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_wire())
    }
}

impl std::str::FromStr for Timestamp {
    type Err = chrono::ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Timestamp(
            DateTime::parse_from_rfc3339(s)?.with_timezone(&Utc),
        ))
    }
}

impl std::str::FromStr for Date {
    type Err = chrono::ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Date(NaiveDate::parse_from_str(s, "%Y-%m-%d")?))
    }
}

/// The parts of poem-openapi's `Type` that are the same for every value type of ours: a
/// required value that is its own raw value, with the schema `$schema`.
macro_rules! value_type {
    ($ty:ty, $name:expr, $schema:expr) => {
        impl poem_openapi::types::Type for $ty {
            const IS_REQUIRED: bool = true;
            type RawValueType = Self;
            type RawElementValueType = Self;

            fn name() -> std::borrow::Cow<'static, str> {
                $name.into()
            }

            fn schema_ref() -> poem_openapi::registry::MetaSchemaRef {
                $schema
            }

            fn as_raw_value(&self) -> Option<&Self::RawValueType> {
                Some(self)
            }

            fn raw_element_iter<'a>(
                &'a self,
            ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
                Box::new(self.as_raw_value().into_iter())
            }
        }
    };
}
pub(crate) use value_type;

macro_rules! string_type {
    ($ty:ty, $format:literal, $write:expr) => {
        value_type!(
            $ty,
            concat!("string_", $format),
            MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("string", $format)))
        );

        impl ParseFromJSON for $ty {
            fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
                match value.unwrap_or_default() {
                    Value::String(s) => s.parse().map_err(ParseError::custom),
                    other => Err(ParseError::expected_type(other)),
                }
            }
        }

        impl ParseFromParameter for $ty {
            fn parse_from_parameter(value: &str) -> ParseResult<Self> {
                value.parse().map_err(ParseError::custom)
            }
        }

        impl ToJSON for $ty {
            fn to_json(&self) -> Option<Value> {
                let write: fn(&$ty) -> String = $write;
                Some(Value::String(write(self)))
            }
        }
    };
}

string_type!(Timestamp, "date-time", |t| t.to_wire());
string_type!(Date, "date", |d| d.0.format("%Y-%m-%d").to_string());

#[cfg(test)]
mod tests {
    use poem_openapi::types::Type;

    use super::*;

    #[test]
    fn times_are_written_in_utc_with_z() {
        let t: Timestamp = "2026-03-26T12:00:00+02:00".parse().unwrap();
        assert_eq!(t.to_wire(), "2026-03-26T10:00:00Z");
        let t: Timestamp = "2026-03-26T10:00:00.250123Z".parse().unwrap();
        assert_eq!(t.to_wire(), "2026-03-26T10:00:00.250Z");
        assert_eq!(
            t.to_json(),
            Some(Value::String("2026-03-26T10:00:00.250Z".into()))
        );
    }

    #[test]
    fn dates_are_days() {
        let d = Date::parse_from_json(Some(Value::String("2025-01-01".into()))).unwrap();
        assert_eq!(d.to_json(), Some(Value::String("2025-01-01".into())));
        assert!(Date::parse_from_parameter("2025-13-01").is_err());
        assert!(Date::parse_from_parameter("").is_err());
        assert_eq!(
            Date::schema_ref(),
            MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("string", "date")))
        );
    }
}

/// Any JSON value that must be present: `serde_json::Value` alone reads a missing member as
/// `null`, so a body without a required `payload` would pass as one with `"payload": null`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RequiredJson(pub Value);

value_type!(
    RequiredJson,
    "any",
    MetaSchemaRef::Inline(Box::new(MetaSchema::ANY))
);

impl ParseFromJSON for RequiredJson {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        value
            .map(RequiredJson)
            .ok_or_else(ParseError::expected_input)
    }
}

impl ToJSON for RequiredJson {
    fn to_json(&self) -> Option<Value> {
        Some(self.0.clone())
    }
}
