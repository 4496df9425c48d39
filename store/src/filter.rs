//! Which events a reader wants, by category and type; one rule that every backend applies.

use crate::{RecordedEvent, category_of};

/// Which events a reader wants. Empty lists mean "all"; a filter with both lists wants events
/// that match one of the categories and one of the types.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub categories: Vec<String>,
    pub event_types: Vec<String>,
}

impl Filter {
    pub fn all() -> Self {
        Filter::default()
    }

    pub fn categories<I: IntoIterator<Item = S>, S: Into<String>>(categories: I) -> Self {
        Filter {
            categories: categories.into_iter().map(Into::into).collect(),
            event_types: vec![],
        }
    }

    pub fn event_types<I: IntoIterator<Item = S>, S: Into<String>>(types: I) -> Self {
        Filter {
            categories: vec![],
            event_types: types.into_iter().map(Into::into).collect(),
        }
    }

    pub fn matches(&self, event: &RecordedEvent) -> bool {
        self.matches_names(&event.stream, &event.event_type)
    }

    /// [`Filter::matches`] on the names alone, for backends that decide before decoding.
    pub(crate) fn matches_names(&self, stream: &str, event_type: &str) -> bool {
        (self.categories.is_empty() || self.categories.iter().any(|c| c == category_of(stream)))
            && (self.event_types.is_empty() || self.event_types.iter().any(|t| t == event_type))
    }

    /// The lists as JSON arrays (or NULL when empty), which both SQL backends can expand in a
    /// static query, so no SQL is assembled at run time.
    pub(crate) fn sql_params(&self) -> (Option<String>, Option<String>) {
        let encode = |v: &Vec<String>| {
            (!v.is_empty()).then(|| serde_json::to_string(v).expect("strings serialise"))
        };
        (encode(&self.categories), encode(&self.event_types))
    }
}
