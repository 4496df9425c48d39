//! The Norwegian organisasjonsnummer with its MOD11 check, because Bufdir refuses a payload whose
//! number is not a real one.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A Norwegian organisasjonsnummer: nine digits whose last is a MOD11 check digit over the first
/// eight with weights 3, 2, 7, 6, 5, 4, 3, 2. A remainder of 0 gives check digit 0; a remainder
/// of 1 would need check digit 10, so such numbers are never issued.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OrgNumber(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidOrgNumber {
    #[error("an organisasjonsnummer is exactly nine digits")]
    Format,
    #[error("the check digit (MOD11) does not match")]
    CheckDigit,
}

const WEIGHTS: [u32; 8] = [3, 2, 7, 6, 5, 4, 3, 2];

impl OrgNumber {
    pub fn parse(s: &str) -> Result<Self, InvalidOrgNumber> {
        if s.len() != 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidOrgNumber::Format);
        }
        let digits: Vec<u32> = s.bytes().map(|b| u32::from(b - b'0')).collect();
        let sum: u32 = digits.iter().zip(WEIGHTS).map(|(d, w)| d * w).sum();
        let check = match sum % 11 {
            0 => 0,
            1 => return Err(InvalidOrgNumber::CheckDigit),
            r => 11 - r,
        };
        if digits[8] != check {
            return Err(InvalidOrgNumber::CheckDigit);
        }
        Ok(OrgNumber(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for OrgNumber {
    type Error = InvalidOrgNumber;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        OrgNumber::parse(&s)
    }
}

impl From<OrgNumber> for String {
    fn from(n: OrgNumber) -> String {
        n.0
    }
}

impl fmt::Display for OrgNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_valid_numbers_parse() {
        for ok in ["986128433", "991825827", "123456785"] {
            assert!(OrgNumber::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn a_wrong_check_digit_is_refused() {
        assert_eq!(
            OrgNumber::parse("988077918"),
            Err(InvalidOrgNumber::CheckDigit)
        );
        assert_eq!(
            OrgNumber::parse("986128434"),
            Err(InvalidOrgNumber::CheckDigit)
        );
    }

    #[test]
    fn a_remainder_of_one_has_no_valid_check_digit() {
        // 00000005x: 5 * 3 = 15, 15 % 11 == 4; 10000000x: 1 * 3 = 3; find one with remainder 1:
        // 4 * 3 = 12, 12 % 11 == 1, so 40000000 has no valid check digit at all.
        for last in 0..=9 {
            assert_eq!(
                OrgNumber::parse(&format!("40000000{last}")),
                Err(InvalidOrgNumber::CheckDigit)
            );
        }
    }

    #[test]
    fn anything_but_nine_digits_is_refused() {
        for bad in [
            "",
            "98612843",
            "9861284330",
            "98612843a",
            " 86128433",
            "986 128 433",
        ] {
            assert_eq!(
                OrgNumber::parse(bad),
                Err(InvalidOrgNumber::Format),
                "{bad}"
            );
        }
    }

    #[test]
    fn no_prefix_has_two_valid_check_digits() {
        // Over a range of prefixes, at most one of the ten candidates parses.
        for prefix in 10_000_000..10_000_200u32 {
            let valid = (0..=9)
                .filter(|d| OrgNumber::parse(&format!("{prefix}{d}")).is_ok())
                .count();
            assert!(valid <= 1, "{prefix}");
        }
    }
}
