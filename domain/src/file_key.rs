//! Keys of files in the file store, and which organisation owns one.
//!
//! A key names a file to every backend the same way (a local path under the store's root, an S3
//! object under its prefix), so it is narrow: relative, `/`-separated segments of
//! `[A-Za-z0-9._-]`, no `.` or `..`. Ownership is read from the key itself, so that a reference
//! a client hands us can be checked without trusting anything else it says:
//!
//! - `reports/{org}/…` belongs to `{org}`: report files, and files clients upload or name;
//! - `exports/{export_id}/…` belongs to that one export (its worker writes it there).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::OrgId;

/// The longest key accepted; far above what we write, well below S3's 1024-byte limit so a
/// store prefix still fits.
const MAX_LEN: usize = 512;

/// The longest file name (the last segment) accepted from a client.
const MAX_NAME_LEN: usize = 128;

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FileKey(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a file key is a relative path of segments made of letters, digits, '.', '_' and '-' (at most {MAX_LEN} characters)"
)]
pub struct InvalidFileKey;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a file name is 1 to {MAX_NAME_LEN} of letters, digits, '.', '_' and '-', not '.' or '..'")]
pub struct InvalidFileName;

fn is_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment != "."
        && segment != ".."
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A file name a client chose (`report.xlsx`), checked to be one safe key segment.
pub fn check_file_name(name: &str) -> Result<&str, InvalidFileName> {
    if name.len() <= MAX_NAME_LEN && is_segment(name) {
        Ok(name)
    } else {
        Err(InvalidFileName)
    }
}

impl FileKey {
    pub fn parse(s: &str) -> Result<Self, InvalidFileKey> {
        if !s.is_empty() && s.len() <= MAX_LEN && s.split('/').all(is_segment) {
            Ok(FileKey(s.to_string()))
        } else {
            Err(InvalidFileKey)
        }
    }

    /// The prefix under which an organisation's own files lie: `reports/{org}/`.
    pub fn org_prefix(org: &OrgId) -> String {
        format!("reports/{org}/")
    }

    /// `reports/{org}/{report_id}/{name}`: where a report's file is kept.
    pub fn for_report(org: &OrgId, report_id: &str, name: &str) -> Result<Self, InvalidFileKey> {
        FileKey::parse(&format!("{}{report_id}/{name}", Self::org_prefix(org)))
    }

    /// `exports/{export_id}/{attempt}/{name}`: where an export's worker writes its file.
    pub fn for_export(export_id: &str, attempt: u32, name: &str) -> Result<Self, InvalidFileKey> {
        FileKey::parse(&format!("exports/{export_id}/{attempt}/{name}"))
    }

    /// Whether the key lies under the organisation's own prefix (and names something in it).
    pub fn is_owned_by(&self, org: &OrgId) -> bool {
        self.0
            .strip_prefix(&Self::org_prefix(org))
            .is_some_and(|rest| !rest.is_empty())
    }

    /// Whether the key is one an export's own worker writes (`exports/{export_id}/…`).
    pub fn is_of_export(&self, export_id: &str) -> bool {
        self.0
            .strip_prefix("exports/")
            .and_then(|rest| rest.strip_prefix(export_id))
            .and_then(|rest| rest.strip_prefix('/'))
            .is_some_and(|rest| !rest.is_empty())
    }

    /// The last segment: the file's name.
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for FileKey {
    type Error = InvalidFileKey;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        FileKey::parse(&s)
    }
}

impl From<FileKey> for String {
    fn from(key: FileKey) -> String {
        key.0
    }
}

impl fmt::Display for FileKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org(s: &str) -> OrgId {
        OrgId::parse(s).unwrap()
    }

    #[test]
    fn keys_that_could_leave_the_root_or_mean_two_things_are_refused() {
        for bad in [
            "",
            "/abs",
            "a//b",
            "a/../b",
            "./a",
            "a/",
            "a b",
            "a\\b",
            "æ.xlsx",
            &"x".repeat(513),
        ] {
            assert!(FileKey::parse(bad).is_err(), "{bad:?}");
        }
        assert!(FileKey::parse("reports/org-a/2026-Q1/report.xlsx").is_ok());
    }

    #[test]
    fn a_key_belongs_to_the_organisation_whose_prefix_it_lies_under() {
        let key = FileKey::parse("reports/org-a/rpt_1/report.xlsx").unwrap();
        assert!(key.is_owned_by(&org("org-a")));
        assert!(!key.is_owned_by(&org("org-b")));
        // A prefix of another organisation's id is not that organisation.
        assert!(!key.is_owned_by(&org("org")));
        let other = FileKey::parse("reports/org-ab/rpt_1/report.xlsx").unwrap();
        assert!(!other.is_owned_by(&org("org-a")));
        // The prefix itself names no file.
        assert!(
            !FileKey::parse("reports/org-a")
                .unwrap()
                .is_owned_by(&org("org-a"))
        );
        assert!(
            !FileKey::parse("exports/exp_1/1/a.csv")
                .unwrap()
                .is_owned_by(&org("org-a"))
        );
    }

    #[test]
    fn an_export_owns_only_its_own_directory() {
        let key = FileKey::for_export("exp_1", 2, "a.csv").unwrap();
        assert_eq!(key.as_str(), "exports/exp_1/2/a.csv");
        assert!(key.is_of_export("exp_1"));
        assert!(!key.is_of_export("exp_"));
        assert!(!key.is_of_export("exp_10"));
        assert!(
            !FileKey::parse("exports/exp_1")
                .unwrap()
                .is_of_export("exp_1")
        );
    }

    #[test]
    fn report_keys_are_built_under_the_organisation() {
        let key = FileKey::for_report(&org("org-a"), "rpt_1", "report.pdf").unwrap();
        assert_eq!(key.as_str(), "reports/org-a/rpt_1/report.pdf");
        assert_eq!(key.file_name(), "report.pdf");
        assert!(FileKey::for_report(&org("org-a"), "rpt_1", "../x").is_err());
    }

    #[test]
    fn file_names_are_one_safe_segment() {
        assert!(check_file_name("report.xlsx").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", &"x".repeat(129)] {
            assert!(check_file_name(bad).is_err(), "{bad:?}");
        }
    }
}
