//! Reporting periods: a calendar year (`2024`) or a quarter (`2024-Q1`).

use std::fmt;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum PeriodId {
    Year(i32),
    Quarter(i32, u8),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("period_id must be a year (2024) or a quarter (2024-Q1), years 1900 to 9999")]
pub struct InvalidPeriod;

impl PeriodId {
    pub fn parse(s: &str) -> Result<Self, InvalidPeriod> {
        let year = |y: &str| {
            if y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()) {
                y.parse::<i32>()
                    .ok()
                    .filter(|y| *y >= 1900)
                    .ok_or(InvalidPeriod)
            } else {
                Err(InvalidPeriod)
            }
        };
        match s.split_once("-Q") {
            None => Ok(PeriodId::Year(year(s)?)),
            Some((y, q)) => match q {
                "1" | "2" | "3" | "4" => Ok(PeriodId::Quarter(year(y)?, q.parse().expect("digit"))),
                _ => Err(InvalidPeriod),
            },
        }
    }

    pub fn year(&self) -> i32 {
        match self {
            PeriodId::Year(y) | PeriodId::Quarter(y, _) => *y,
        }
    }

    /// The first day of the period.
    pub fn start(&self) -> NaiveDate {
        match self {
            PeriodId::Year(y) => NaiveDate::from_ymd_opt(*y, 1, 1),
            PeriodId::Quarter(y, q) => NaiveDate::from_ymd_opt(*y, u32::from(*q - 1) * 3 + 1, 1),
        }
        .expect("valid period start")
    }

    /// The last day of the period (inclusive).
    pub fn end(&self) -> NaiveDate {
        let next = match self {
            PeriodId::Year(y) => NaiveDate::from_ymd_opt(*y + 1, 1, 1),
            PeriodId::Quarter(y, 4) => NaiveDate::from_ymd_opt(*y + 1, 1, 1),
            PeriodId::Quarter(y, q) => NaiveDate::from_ymd_opt(*y, u32::from(*q) * 3 + 1, 1),
        }
        .expect("valid period end");
        next.pred_opt().expect("a day before")
    }

    /// The year before; for a quarter, the same quarter a year before.
    pub fn prior(&self) -> PeriodId {
        match self {
            PeriodId::Year(y) => PeriodId::Year(y - 1),
            PeriodId::Quarter(y, q) => PeriodId::Quarter(y - 1, *q),
        }
    }

    pub fn contains(&self, date: NaiveDate) -> bool {
        self.start() <= date && date <= self.end()
    }

    /// Every period (the year and its quarter) that contains `date`.
    pub fn containing(date: NaiveDate) -> [PeriodId; 2] {
        let quarter = ((date.month() - 1) / 3 + 1) as u8;
        [
            PeriodId::Year(date.year()),
            PeriodId::Quarter(date.year(), quarter),
        ]
    }
}

/// Chronological by start, a year before its quarters: 2023, 2023-Q4, 2024, 2024-Q1.
impl Ord for PeriodId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let key = |p: &PeriodId| match p {
            PeriodId::Year(y) => (*y, 0),
            PeriodId::Quarter(y, q) => (*y, *q),
        };
        key(self).cmp(&key(other))
    }
}

impl PartialOrd for PeriodId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl TryFrom<String> for PeriodId {
    type Error = InvalidPeriod;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        PeriodId::parse(&s)
    }
}

impl From<PeriodId> for String {
    fn from(p: PeriodId) -> String {
        p.to_string()
    }
}

impl fmt::Display for PeriodId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeriodId::Year(y) => write!(f, "{y}"),
            PeriodId::Quarter(y, q) => write!(f, "{y}-Q{q}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn years_and_quarters_parse_and_print_back() {
        for s in ["2024", "2024-Q1", "2025-Q4", "1900"] {
            assert_eq!(PeriodId::parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn other_periods_are_refused() {
        for s in [
            "", "24", "2024-Q0", "2024-Q5", "2024-q1", "2024-H1", "02024", "1899", "2024-Q1x",
            "+202",
        ] {
            assert_eq!(PeriodId::parse(s), Err(InvalidPeriod), "{s}");
        }
    }

    #[test]
    fn periods_know_their_bounds() {
        let q1 = PeriodId::parse("2024-Q1").unwrap();
        assert_eq!((q1.start(), q1.end()), (d("2024-01-01"), d("2024-03-31")));
        let q4 = PeriodId::parse("2024-Q4").unwrap();
        assert_eq!((q4.start(), q4.end()), (d("2024-10-01"), d("2024-12-31")));
        let y = PeriodId::parse("2024").unwrap();
        assert_eq!((y.start(), y.end()), (d("2024-01-01"), d("2024-12-31")));
        assert!(y.contains(d("2024-02-29")) && !y.contains(d("2025-01-01")));
    }

    #[test]
    fn the_prior_period_is_a_year_before() {
        assert_eq!(
            PeriodId::parse("2024").unwrap().prior(),
            PeriodId::Year(2023)
        );
        assert_eq!(
            PeriodId::parse("2024-Q3").unwrap().prior(),
            PeriodId::Quarter(2023, 3)
        );
    }

    #[test]
    fn a_date_lies_in_its_year_and_its_quarter() {
        assert_eq!(
            PeriodId::containing(d("2024-05-17")),
            [PeriodId::Year(2024), PeriodId::Quarter(2024, 2)]
        );
        assert_eq!(
            PeriodId::containing(d("2024-12-31")),
            [PeriodId::Year(2024), PeriodId::Quarter(2024, 4)]
        );
    }
}
