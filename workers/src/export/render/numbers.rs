//! Numbers as Norwegian readers write them: decimal comma, at most three decimals.

/// `1234.5` -> `1234,5`; whole numbers without decimals.
pub fn decimal_comma(x: f64) -> String {
    let text = format!("{:.3}", x);
    let trimmed = text.trim_end_matches('0').trim_end_matches('.');
    let trimmed = if trimmed == "-0" { "0" } else { trimmed };
    trimmed.replace('.', ",")
}

/// `1234.5` -> `1 234,5`: a space between thousands, as in Norwegian print.
pub fn grouped(x: f64) -> String {
    let text = decimal_comma(x);
    let (sign, rest) = text
        .strip_prefix('-')
        .map_or(("", text.as_str()), |r| ("-", r));
    let (whole, fraction) = rest
        .split_once(',')
        .map_or((rest, None), |(w, f)| (w, Some(f)));
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(' ');
        }
        grouped.push(c);
    }
    match fraction {
        Some(f) => format!("{sign}{grouped},{f}"),
        None => format!("{sign}{grouped}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn norwegian_numbers() {
        assert_eq!(decimal_comma(12.5), "12,5");
        assert_eq!(decimal_comma(7.0), "7");
        assert_eq!(decimal_comma(0.1 + 0.2), "0,3");
        assert_eq!(decimal_comma(-0.0001), "0");
        assert_eq!(grouped(1234567.25), "1 234 567,25");
        assert_eq!(grouped(-1234.0), "-1 234");
        assert_eq!(grouped(999.0), "999");
    }
}
