//! Numbers and dates as a locale's readers write them. Norwegian (bokmål and nynorsk alike):
//! `1 234,5` and `31.12.2025`; British English: `1,234.5` and `31/12/2025`. At most three
//! decimals everywhere: the figures are counts and hours, and float noise must not show.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, Utc};
use domain::Locale;

struct Conventions {
    decimal: char,
    thousands: char,
    /// chrono's strftime pattern.
    date: &'static str,
    /// The same date as an Excel number format code.
    excel_date: &'static str,
}

const NORWEGIAN: Conventions = Conventions {
    decimal: ',',
    thousands: ' ',
    date: "%d.%m.%Y",
    excel_date: "dd.mm.yyyy",
};

const BRITISH: Conventions = Conventions {
    decimal: '.',
    thousands: ',',
    date: "%d/%m/%Y",
    // Excel may read a bare `/` in a format code as the viewer's own date separator; escaped, it
    // stays a slash on every machine.
    excel_date: "dd\\/mm\\/yyyy",
};

fn conventions(locale: Locale) -> &'static Conventions {
    match locale {
        Locale::NbNo | Locale::NnNo => &NORWEGIAN,
        Locale::EnGb => &BRITISH,
    }
}

/// The decimal mark: `,` or `.`.
pub(crate) fn decimal_mark(locale: Locale) -> char {
    conventions(locale).decimal
}

/// `1234.5` -> `1234,5` (nb, nn) or `1234.5` (en); whole numbers without decimals. No thousands
/// separator, so spreadsheets importing the text still see one number.
pub fn plain(locale: Locale, x: f64) -> String {
    let text = format!("{x:.3}");
    let trimmed = text.trim_end_matches('0').trim_end_matches('.');
    let trimmed = if trimmed == "-0" { "0" } else { trimmed };
    trimmed.replace('.', &conventions(locale).decimal.to_string())
}

/// `1234.5` -> `1 234,5` (nb, nn) or `1,234.5` (en): for print, where people read the figure.
pub fn grouped(locale: Locale, x: f64) -> String {
    let c = conventions(locale);
    let text = plain(locale, x);
    let (sign, rest) = text
        .strip_prefix('-')
        .map_or(("", text.as_str()), |r| ("-", r));
    let (whole, fraction) = rest
        .split_once(c.decimal)
        .map_or((rest, None), |(w, f)| (w, Some(f)));
    let mut out = String::from(sign);
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(c.thousands);
        }
        out.push(digit);
    }
    if let Some(f) = fraction {
        out.push(c.decimal);
        out.push_str(f);
    }
    out
}

/// `31.12.2025` (nb, nn) or `31/12/2025` (en).
pub fn date(locale: Locale, d: NaiveDate) -> String {
    d.format(conventions(locale).date).to_string()
}

/// The date and the time to the minute as a reader in Norway sees them (CET or CEST, as the
/// day has it): `31.12.2025 09:30` or `31/12/2025 09:30`.
pub fn timestamp(locale: Locale, t: DateTime<Utc>) -> String {
    domain::calendar::in_norway(t)
        .format(&format!("{} %H:%M", conventions(locale).date))
        .to_string()
}

/// The same moment as Excel keeps a date and time: a wall-clock time, here Norway's.
pub(crate) fn excel_local(t: DateTime<Utc>) -> chrono::NaiveDateTime {
    domain::calendar::in_norway(t).naive_local()
}

/// Excel's number format code for a date in this locale.
pub(crate) fn excel_date(locale: Locale) -> &'static str {
    conventions(locale).excel_date
}

/// Excel's number format code for a date with the time to the minute.
pub(crate) fn excel_timestamp(locale: Locale) -> String {
    format!("{} hh:mm", excel_date(locale))
}

/// The period as a reader should see it. A year (`2025`) or quarter (`2025-Q1`) reads the same
/// in every locale; any other range is labelled with two ISO dates, which are written again in
/// the locale's way.
pub fn period<'a>(locale: Locale, label: &'a str, from: NaiveDate, to: NaiveDate) -> Cow<'a, str> {
    if label == format!("{from}–{to}") {
        Cow::Owned(format!("{}–{}", date(locale, from), date(locale, to)))
    } else {
        Cow::Borrowed(label)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    const NB: Locale = Locale::NbNo;
    const NN: Locale = Locale::NnNo;
    const EN: Locale = Locale::EnGb;

    #[test]
    fn norwegian_numbers() {
        for locale in [NB, NN] {
            assert_eq!(plain(locale, 12.5), "12,5");
            assert_eq!(plain(locale, 7.0), "7");
            assert_eq!(plain(locale, 0.1 + 0.2), "0,3");
            assert_eq!(plain(locale, -0.0001), "0");
            assert_eq!(plain(locale, 1234567.25), "1234567,25");
            assert_eq!(grouped(locale, 1234567.25), "1 234 567,25");
            assert_eq!(grouped(locale, -1234.0), "-1 234");
            assert_eq!(grouped(locale, 999.0), "999");
            assert_eq!(grouped(locale, -0.5), "-0,5");
            assert_eq!(decimal_mark(locale), ',');
        }
    }

    #[test]
    fn british_numbers() {
        assert_eq!(plain(EN, 12.5), "12.5");
        assert_eq!(plain(EN, 7.0), "7");
        assert_eq!(plain(EN, 0.1 + 0.2), "0.3");
        assert_eq!(plain(EN, -0.0001), "0");
        assert_eq!(plain(EN, 1234567.25), "1234567.25");
        assert_eq!(grouped(EN, 1234567.25), "1,234,567.25");
        assert_eq!(grouped(EN, -1234.0), "-1,234");
        assert_eq!(grouped(EN, 123456.0), "123,456");
        assert_eq!(grouped(EN, 999.999), "999.999");
        assert_eq!(decimal_mark(EN), '.');
    }

    #[test]
    fn dates_and_timestamps() {
        let d = NaiveDate::from_ymd_opt(2025, 12, 31).unwrap();
        let t = Utc.with_ymd_and_hms(2026, 1, 5, 9, 7, 59).unwrap();
        assert_eq!(date(NB, d), "31.12.2025");
        assert_eq!(date(NN, d), "31.12.2025");
        assert_eq!(date(EN, d), "31/12/2025");
        // 09:07 UTC is 10:07 in Oslo in winter, 11:07 in summer.
        assert_eq!(timestamp(NB, t), "05.01.2026 10:07");
        assert_eq!(timestamp(NN, t), "05.01.2026 10:07");
        assert_eq!(timestamp(EN, t), "05/01/2026 10:07");
        let summer = Utc.with_ymd_and_hms(2026, 6, 30, 22, 30, 0).unwrap();
        assert_eq!(timestamp(NB, summer), "01.07.2026 00:30");
        assert_eq!(excel_date(NB), "dd.mm.yyyy");
        assert_eq!(excel_timestamp(NN), "dd.mm.yyyy hh:mm");
        assert_eq!(excel_date(EN), "dd\\/mm\\/yyyy");
        assert_eq!(excel_timestamp(EN), "dd\\/mm\\/yyyy hh:mm");
    }

    #[test]
    fn only_date_ranges_are_relabelled() {
        let d = |m, day| NaiveDate::from_ymd_opt(2025, m, day).unwrap();
        assert_eq!(period(EN, "2025", d(1, 1), d(12, 31)), "2025");
        assert_eq!(period(NB, "2025-Q2", d(4, 1), d(6, 30)), "2025-Q2");
        let range = "2025-01-01–2025-06-30";
        assert_eq!(
            period(NB, range, d(1, 1), d(6, 30)),
            "01.01.2025–30.06.2025"
        );
        assert_eq!(
            period(NN, range, d(1, 1), d(6, 30)),
            "01.01.2025–30.06.2025"
        );
        assert_eq!(
            period(EN, range, d(1, 1), d(6, 30)),
            "01/01/2025–30/06/2025"
        );
        // A label that is not the range it claims to be is left alone.
        assert_eq!(period(EN, range, d(1, 1), d(6, 29)), range);
    }
}
