//! Which organisation an event belongs to, for the audit log's `org` filter.
//!
//! The rule: an event belongs to the organisation that owns its stream.
//! - Streams keyed by organisation carry its id in their name, `{category}-{org_id}` or
//!   `{category}-{org_id}:{more}` (organisations, source data, Bufdir access, snapshots,
//!   submissions). Organisation ids cannot contain `:`, so the id is read exactly, and
//!   `org-demo` never matches `org-demo-ungdom`.
//! - Every other stream (exports, reports, and any category added later) is owned by the
//!   organisation named by the `org_id` of its first event: every stream starts with the event
//!   that creates its aggregate, and that event names the organisation. Later events of such a
//!   stream (`ExportClaimed`, `ReportDeleted`, ...) often do not, so their own payload is not
//!   asked.

use std::collections::HashMap;

use domain::Aggregate;
use store::{EventStore, RecordedEvent, StoreError};

/// Categories whose stream names begin with the organisation id.
fn named_by_org(category: &str) -> bool {
    [
        <domain::organization::Organization as Aggregate>::CATEGORY,
        domain::source_import::CATEGORY,
        <domain::bufdir_access::BufdirAccess as Aggregate>::CATEGORY,
        <domain::report_data::ReportData as Aggregate>::CATEGORY,
        <domain::submission::Submission as Aggregate>::CATEGORY,
    ]
    .contains(&category)
}

/// The organisation in a stream name of a category keyed by organisation.
pub(crate) fn org_in_stream_name(stream: &str) -> Option<&str> {
    let (category, id) = stream.split_once('-')?;
    if !named_by_org(category) {
        return None;
    }
    Some(id.split_once(':').map_or(id, |(org, _)| org))
}

/// Finds the owners of streams; a stream not named by its org is read at most once.
pub struct StreamOwners<'a> {
    events: &'a dyn EventStore,
    known: HashMap<String, Option<String>>,
}

impl<'a> StreamOwners<'a> {
    pub fn new(events: &'a dyn EventStore) -> Self {
        StreamOwners {
            events,
            known: HashMap::new(),
        }
    }

    /// The organisation `event` belongs to; `None` for a stream that names none.
    pub async fn org_of(&mut self, event: &RecordedEvent) -> Result<Option<String>, StoreError> {
        if let Some(org) = org_in_stream_name(&event.stream) {
            return Ok(Some(org.to_string()));
        }
        if let Some(owner) = self.known.get(&event.stream) {
            return Ok(owner.clone());
        }
        let owner = if event.version == 0 {
            org_named_by(event)
        } else {
            let first = self.events.read_stream(&event.stream, 0).await?;
            first.first().and_then(org_named_by)
        };
        self.known.insert(event.stream.clone(), owner.clone());
        Ok(owner)
    }
}

fn org_named_by(event: &RecordedEvent) -> Option<String> {
    event.payload.get("org_id")?.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_org_is_read_exactly_from_org_keyed_stream_names() {
        assert_eq!(
            org_in_stream_name("organization-org-demo"),
            Some("org-demo")
        );
        assert_eq!(
            org_in_stream_name("sourcedata-org-demo-ungdom"),
            Some("org-demo-ungdom")
        );
        assert_eq!(
            org_in_stream_name("snapshot-org-demo:2025-Q1"),
            Some("org-demo")
        );
        assert_eq!(
            org_in_stream_name("submission-org-demo:rpt_01j"),
            Some("org-demo")
        );
    }

    #[test]
    fn streams_not_keyed_by_org_are_left_to_their_first_event() {
        assert_eq!(org_in_stream_name("export-exp_01j"), None);
        assert_eq!(org_in_stream_name("report-rpt_01j"), None);
        assert_eq!(org_in_stream_name("plain"), None);
    }
}
