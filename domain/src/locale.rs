//! The languages a rendered report can be written in. A locale picks the schema's labels and the
//! way numbers and dates are written; the figures are the same in every locale.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Locale {
    /// Norwegian bokmål: `1 234,5`, `31.12.2025`.
    #[default]
    #[serde(rename = "nb-NO")]
    NbNo,
    /// Norwegian nynorsk: written like bokmål, with nynorsk words.
    #[serde(rename = "nn-NO")]
    NnNo,
    /// British English: `1,234.5`, `31/12/2025`.
    #[serde(rename = "en-GB")]
    EnGb,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a locale: use nb-NO, nn-NO or en-GB")]
pub struct UnknownLocale(pub String);

/// A stored tag: one we wrote, so anything else is a bad row, not the default.
impl TryFrom<String> for Locale {
    type Error = UnknownLocale;
    fn try_from(tag: String) -> Result<Self, Self::Error> {
        Locale::parse(&tag).ok_or(UnknownLocale(tag))
    }
}

impl Locale {
    pub const ALL: [Locale; 3] = [Locale::NbNo, Locale::NnNo, Locale::EnGb];

    /// Accepts the BCP 47 tag in any letter case, with `-` or `_`.
    pub fn parse(tag: &str) -> Option<Self> {
        match tag.to_ascii_lowercase().replace('_', "-").as_str() {
            "nb-no" => Some(Self::NbNo),
            "nn-no" => Some(Self::NnNo),
            "en-gb" => Some(Self::EnGb),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NbNo => "nb-NO",
            Self::NnNo => "nn-NO",
            Self::EnGb => "en-GB",
        }
    }

    /// The schema label in this locale's language.
    pub fn label(self, labels: &crate::schema::Labels) -> &str {
        match self {
            Self::NbNo => &labels.nb,
            Self::NnNo => &labels.nn,
            Self::EnGb => &labels.en,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip_and_parse_leniently() {
        for locale in Locale::ALL {
            assert_eq!(Locale::parse(locale.as_str()), Some(locale));
            let json = serde_json::to_string(&locale).unwrap();
            assert_eq!(json, format!("\"{}\"", locale.as_str()));
        }
        assert_eq!(Locale::parse("EN_gb"), Some(Locale::EnGb));
        assert_eq!(Locale::parse("de-DE"), None);
        assert_eq!(Locale::parse(""), None);
    }
}
