//! An organisation's id, checked once where it enters: it becomes part of stream names, file keys
//! and URLs, where a stray character would be a hole.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An organisation's id: `^[a-z0-9][a-z0-9_-]{1,63}$`. It becomes part of stream names and URLs,
/// hence the narrow alphabet.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OrgId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "org_id must be 2 to 64 characters of a-z, 0-9, '_' and '-', starting with a letter or digit"
)]
pub struct InvalidOrgId;

impl OrgId {
    pub fn parse(s: &str) -> Result<Self, InvalidOrgId> {
        let bytes = s.as_bytes();
        let first_ok = bytes
            .first()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let rest_ok = bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-');
        if first_ok && rest_ok && (2..=64).contains(&bytes.len()) {
            Ok(OrgId(s.to_string()))
        } else {
            Err(InvalidOrgId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for OrgId {
    type Error = InvalidOrgId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        OrgId::parse(&s)
    }
}

impl From<OrgId> for String {
    fn from(id: OrgId) -> String {
        id.0
    }
}

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_of_the_allowed_alphabet_parse() {
        for ok in ["org-bufdir-042", "a1", "0_x", &"a".repeat(64)] {
            assert!(OrgId::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn other_ids_are_refused() {
        for bad in [
            "",
            "a",
            "-abc",
            "_abc",
            "Org",
            "org bufdir",
            "org/1",
            "ørg",
            &"a".repeat(65),
        ] {
            assert_eq!(OrgId::parse(bad), Err(InvalidOrgId), "{bad}");
        }
    }
}
