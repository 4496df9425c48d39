//! The server-side part of a subscription's [`Filter`]. The server filters on one regular
//! expression, over either stream names or event types, so a filter with both lists is narrowed
//! on the server by its categories and finished on the client.

use eventstore::SubscriptionFilter;

use crate::Filter;

#[derive(Debug, PartialEq, Eq)]
pub(super) enum ServerFilter {
    StreamName(String),
    EventType(String),
}

impl ServerFilter {
    pub(super) fn for_filter(filter: &Filter) -> Self {
        if !filter.categories.is_empty() {
            ServerFilter::StreamName(format!("^({})-", alternatives(&filter.categories)))
        } else if !filter.event_types.is_empty() {
            ServerFilter::EventType(format!("^({})$", alternatives(&filter.event_types)))
        } else {
            // Everything but system streams; the client drops any system event that slips by.
            ServerFilter::StreamName(r"^[^$]".into())
        }
    }

    pub(super) fn subscription_filter(&self) -> SubscriptionFilter {
        match self {
            ServerFilter::StreamName(re) => SubscriptionFilter::on_stream_name().regex(re),
            ServerFilter::EventType(re) => SubscriptionFilter::on_event_type().regex(re),
        }
    }
}

fn alternatives(names: &[String]) -> String {
    names
        .iter()
        .map(|n| escape(n))
        .collect::<Vec<_>>()
        .join("|")
}

/// Escapes the characters that are special in the server's (.NET) regular expressions; each is
/// special, or harmless to escape, in Rust's `regex` too, which the tests compile them with.
fn escape(literal: &str) -> String {
    let mut out = String::with_capacity(literal.len());
    for c in literal.chars() {
        if matches!(
            c,
            '\\' | '.'
                | '+'
                | '*'
                | '?'
                | '('
                | ')'
                | '|'
                | '['
                | ']'
                | '{'
                | '}'
                | '^'
                | '$'
                | '#'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use regex::Regex;

    use super::*;

    fn regex(f: &ServerFilter) -> Regex {
        match f {
            ServerFilter::StreamName(re) | ServerFilter::EventType(re) => Regex::new(re).unwrap(),
        }
    }

    #[test]
    fn categories_become_a_stream_name_prefix_alternation() {
        let f = ServerFilter::for_filter(&Filter::categories(["export", "org"]));
        assert_eq!(f, ServerFilter::StreamName("^(export|org)-".into()));
        let re = regex(&f);
        for yes in ["export-1", "org-abc-def", "export-"] {
            assert!(re.is_match(yes), "{yes}");
        }
        for no in [
            "exports-1",
            "xexport-1",
            "export",
            "$ce-export",
            "organisation-1",
        ] {
            assert!(!re.is_match(no), "{no}");
        }
    }

    #[test]
    fn event_types_become_an_exact_alternation() {
        let f = ServerFilter::for_filter(&Filter::event_types(["ExportDone", "OrgRegistered"]));
        assert_eq!(
            f,
            ServerFilter::EventType("^(ExportDone|OrgRegistered)$".into())
        );
        let re = regex(&f);
        assert!(re.is_match("ExportDone") && re.is_match("OrgRegistered"));
        for no in ["ExportDoneLate", "PreExportDone", "Export", "$metadata"] {
            assert!(!re.is_match(no), "{no}");
        }
    }

    #[test]
    fn with_both_lists_the_server_narrows_by_category() {
        let f = ServerFilter::for_filter(&Filter {
            categories: vec!["export".into()],
            event_types: vec!["ExportDone".into()],
        });
        assert_eq!(f, ServerFilter::StreamName("^(export)-".into()));
    }

    #[test]
    fn no_lists_still_leave_system_streams_out() {
        let f = ServerFilter::for_filter(&Filter::all());
        let re = regex(&f);
        assert!(re.is_match("export-1") && re.is_match("plain"));
        for no in ["$stats-127.0.0.1:2113", "$ce-export", "$$export-1"] {
            assert!(!re.is_match(no), "{no}");
        }
    }

    #[test]
    fn regex_metacharacters_in_names_are_literal() {
        let odd = r"a.b+c*d?e(f)g|h[i]j{k}l^m$n\o#p";
        let f = ServerFilter::for_filter(&Filter::categories([odd]));
        let re = regex(&f);
        assert!(re.is_match(&format!("{odd}-1")));
        assert!(!re.is_match("aXb+c*d?e(f)g|h[i]j{k}l^m$n\\o#p-1"));
        assert!(!re.is_match("h[i]j{k}l^m$n\\o#p-1"));
        let f = ServerFilter::for_filter(&Filter::event_types(["A|B", "C.D"]));
        let re = regex(&f);
        assert!(re.is_match("A|B") && re.is_match("C.D"));
        assert!(!re.is_match("A") && !re.is_match("CxD"));
    }

    #[test]
    fn the_filter_reaches_the_client_options() {
        for f in [
            ServerFilter::StreamName("^(a)-".into()),
            ServerFilter::EventType("^(A)$".into()),
        ] {
            // The crate keeps the filter's fields private; its debug form shows what it sends.
            let shown = format!("{:?}", f.subscription_filter());
            let (re, on_stream) = match &f {
                ServerFilter::StreamName(re) => (re, true),
                ServerFilter::EventType(re) => (re, false),
            };
            assert!(shown.contains(&format!("{re:?}")), "{shown}");
            assert!(
                shown.contains(&format!("based_on_stream: {on_stream}")),
                "{shown}"
            );
        }
    }
}
