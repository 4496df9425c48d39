//! Conversions between our envelope and EventStoreDB's, with no I/O so they are tested without
//! a server.

use chrono::{DateTime, Utc};
use eventstore::{EventData, ExpectedRevision};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    AppendOutcome, ExpectedVersion, Filter, Metadata, NewEvent, Position, RecordedEvent, StoreError,
};

pub(super) fn expected_revision(expected: ExpectedVersion) -> ExpectedRevision {
    match expected {
        ExpectedVersion::Any => ExpectedRevision::Any,
        ExpectedVersion::NoStream => ExpectedRevision::NoStream,
        ExpectedVersion::Exact(v) => ExpectedRevision::Exact(v),
    }
}

pub(super) fn position(p: eventstore::Position) -> Position {
    Position::from_commit_prepare(p.commit, p.prepare)
}

pub(super) fn esdb_position(p: &Position) -> eventstore::Position {
    let (commit, prepare) = p.commit_prepare();
    eventstore::Position { commit, prepare }
}

/// The server answers `u64::MAX` for both halves where it does not know an event's `$all`
/// position (stream reads before EventStoreDB 22.10), and `0/0` (`NoPosition`) on an append it
/// could not place; neither is a place in the log.
pub(super) fn known_position(p: eventstore::Position) -> Option<Position> {
    let unknown = p == eventstore::Position::end() || p == eventstore::Position::start();
    (!unknown).then(|| position(p))
}

/// The answer to a successful append, or `None` when the server did not say where it landed.
pub(super) fn outcome(result: &eventstore::WriteResult) -> Option<AppendOutcome> {
    Some(AppendOutcome {
        version: result.next_expected_version,
        position: known_position(result.position)?,
    })
}

/// An event's link in its stream's hash chain (`crate::chain`), computed before the append.
pub(super) struct ChainLink {
    pub hash: String,
    pub at: DateTime<Utc>,
}

/// The link of `event` as version `version` of `stream` after `previous`, at `at`: the same
/// hash the SQL backends compute, over the payload and our metadata as JSON text.
pub(super) fn chain_link(
    stream: &str,
    version: u64,
    previous: Option<&str>,
    event: &NewEvent,
    at: DateTime<Utc>,
) -> ChainLink {
    let mut metadata = event.metadata.clone();
    metadata.recorded_at = None;
    let hash = crate::chain::Link {
        previous,
        stream,
        version,
        event_id: event.event_id,
        event_type: &event.event_type,
        schema_version: event.schema_version,
        payload: &event.payload.to_string(),
        metadata: &serde_json::to_string(&metadata).expect("metadata serialises"),
        recorded_at: &crate::chain::recorded_time(at),
    }
    .hash();
    ChainLink { hash, at }
}

/// The event's metadata as stored in EventStoreDB. `$correlationId` and `$causationId` are the
/// server's own names, so its system projections (`$by_correlation_id`) understand ours.
#[derive(Debug, Default, Serialize, Deserialize)]
struct StoredMetadata {
    #[serde(
        rename = "$correlationId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    correlation_id: Option<String>,
    #[serde(
        rename = "$causationId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    causation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    actor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    idempotency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    issuer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    person: Option<serde_json::Value>,
    /// The event's link in its stream's chain, when the writer chained it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hash: Option<String>,
    /// The time the chain covers, stamped by the writer just before the append (the server's
    /// `created` is only known after it); our `recorded_at` when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    chained_at: Option<String>,
    #[serde(default = "first_schema")]
    schema_version: u32,
}

fn first_schema() -> u32 {
    1
}

/// The metadata object written next to an event. `recorded_at` is left out: the server stamps
/// `created` itself when it commits.
pub(super) fn metadata_json(event: &NewEvent, link: Option<&ChainLink>) -> serde_json::Value {
    let m = &event.metadata;
    let stored = StoredMetadata {
        correlation_id: m.correlation_id.map(|u| u.to_string()),
        causation_id: m.causation_id.map(|u| u.to_string()),
        actor: m.actor.clone(),
        request_id: m.request_id.clone(),
        idempotency: m.idempotency.clone(),
        issuer: m.issuer.clone(),
        person: m.person.clone(),
        hash: link.map(|l| l.hash.clone()),
        chained_at: link.map(|l| crate::chain::recorded_time(l.at)),
        schema_version: event.schema_version,
    };
    serde_json::to_value(stored).expect("metadata serialises")
}

pub(super) fn event_data(event: &NewEvent, link: &ChainLink) -> Result<EventData, StoreError> {
    let invalid = |e: serde_json::Error| StoreError::InvalidAppend(e.to_string());
    EventData::json(&event.event_type, &event.payload)
        .map_err(invalid)?
        .id(event.event_id)
        .metadata_as_json(&metadata_json(event, Some(link)))
        .map_err(invalid)
}

/// System events are the server's bookkeeping (`$stats-…`, `$ce-…` links, `$metadata`, …):
/// they are not part of our log.
pub(super) fn is_system(stream: &str, event_type: &str) -> bool {
    stream.starts_with('$') || event_type.starts_with('$')
}

/// Whether a raw event is one a reader with `filter` wants. Decides on the names alone, so an
/// event nobody asked for is never decoded.
pub(super) fn wanted(filter: &Filter, stream: &str, event_type: &str) -> bool {
    !is_system(stream, event_type) && filter.matches_names(stream, event_type)
}

/// The record a read or subscription answered with: the link when the server resolved one,
/// else the event itself.
pub(super) fn original(resolved: eventstore::ResolvedEvent) -> Option<eventstore::RecordedEvent> {
    resolved.link.or(resolved.event)
}

/// EventStoreDB's `created`: 100-nanosecond ticks since the Unix epoch, as a string.
fn created_at(ticks: &str) -> Option<DateTime<Utc>> {
    let ticks: i64 = ticks.parse().ok()?;
    let secs = ticks.div_euclid(10_000_000);
    let nanos = (ticks.rem_euclid(10_000_000) * 100) as u32;
    DateTime::from_timestamp(secs, nanos)
}

pub(super) fn recorded(event: &eventstore::RecordedEvent) -> Result<RecordedEvent, StoreError> {
    let corrupt = |what: &str, e: &dyn std::fmt::Display| {
        StoreError::Corrupt(format!(
            "{what} of event {} in {}: {e}",
            event.id, event.stream_id
        ))
    };
    let position = known_position(event.position).ok_or_else(|| {
        StoreError::EventStoreDb(format!(
            "the server did not give the $all position of event {} in {} \
             (stream reads carry it from EventStoreDB 22.10 on)",
            event.id, event.stream_id
        ))
    })?;
    let payload = serde_json::from_slice(&event.data).map_err(|e| corrupt("payload", &e))?;
    let stored: StoredMetadata = if event.custom_metadata.is_empty() {
        StoredMetadata {
            schema_version: first_schema(),
            ..StoredMetadata::default()
        }
    } else {
        serde_json::from_slice(&event.custom_metadata).map_err(|e| corrupt("metadata", &e))?
    };
    // The crate rounds `created` down to whole seconds; the raw ticks keep the full precision.
    let created = event
        .metadata
        .get("created")
        .and_then(|t| created_at(t))
        .unwrap_or(event.created);
    let recorded_at = match &stored.chained_at {
        Some(at) => DateTime::parse_from_rfc3339(at)
            .map_err(|e| corrupt("chained_at", &e))?
            .with_timezone(&Utc),
        None => created,
    };
    // Another writer's correlation id need not be a UUID; it cannot be ours then.
    let uuid = |s: Option<String>| s.and_then(|s| Uuid::parse_str(&s).ok());
    Ok(RecordedEvent {
        event_id: event.id,
        stream: event.stream_id.clone(),
        version: event.revision,
        position,
        event_type: event.event_type.clone(),
        schema_version: stored.schema_version,
        payload,
        metadata: Metadata {
            correlation_id: uuid(stored.correlation_id),
            causation_id: uuid(stored.causation_id),
            actor: stored.actor,
            request_id: stored.request_id,
            recorded_at: Some(recorded_at),
            idempotency: stored.idempotency,
            issuer: stored.issuer,
            person: stored.person,
        },
        hash: stored.hash,
    })
}

/// What the events found where an append's events would sit say about that append.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Retry {
    /// Every id is there, in order, one after the other: the append was already stored and
    /// this is its answer.
    Stored(AppendOutcome),
    /// Some ids are there and some are not: neither a retry nor a new append.
    Partial,
    /// None of the ids is there.
    NotStored,
}

/// Classifies an append of `ids` against `found`: (id, version, position) of events read from
/// the stream, in version order.
pub(super) fn classify_retry(ids: &[Uuid], found: &[(Uuid, u64, Position)]) -> Retry {
    let start = found.iter().position(|(id, _, _)| Some(id) == ids.first());
    if let Some(start) = start {
        let run = &found[start..];
        let in_order = run.len() >= ids.len()
            && ids
                .iter()
                .zip(run)
                .zip(0u64..)
                .all(|((id, (f, v, _)), i)| id == f && *v == run[0].1 + i);
        if in_order {
            let (_, version, position) = run[ids.len() - 1];
            return Retry::Stored(AppendOutcome { version, position });
        }
    }
    if ids.iter().any(|id| found.iter().any(|(f, _, _)| f == id)) {
        Retry::Partial
    } else {
        Retry::NotStored
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use bytes::Bytes;
    use serde_json::json;

    use super::*;

    fn raw(stream: &str, event_type: &str, data: &[u8], meta: &[u8]) -> eventstore::RecordedEvent {
        eventstore::RecordedEvent {
            stream_id: stream.into(),
            id: Uuid::new_v4(),
            revision: 3,
            event_type: event_type.into(),
            data: Bytes::copy_from_slice(data),
            metadata: HashMap::from([
                ("type".to_string(), event_type.to_string()),
                ("created".to_string(), "17000000001234567".to_string()),
            ]),
            custom_metadata: Bytes::copy_from_slice(meta),
            is_json: true,
            position: eventstore::Position {
                commit: 1234,
                prepare: 1234,
            },
            created: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        }
    }

    #[test]
    fn expected_versions_map_one_to_one() {
        assert_eq!(
            expected_revision(ExpectedVersion::Any),
            ExpectedRevision::Any
        );
        assert_eq!(
            expected_revision(ExpectedVersion::NoStream),
            ExpectedRevision::NoStream
        );
        assert_eq!(
            expected_revision(ExpectedVersion::Exact(7)),
            ExpectedRevision::Exact(7)
        );
    }

    #[test]
    fn positions_round_trip_through_our_string_form() {
        for (commit, prepare) in [(1234, 1234), (1 << 40, (1 << 40) - 17), (0, 0)] {
            let esdb = eventstore::Position { commit, prepare };
            let ours = position(esdb);
            let text = ours.to_string();
            let back: Position = text.parse().unwrap();
            assert_eq!(esdb_position(&back), esdb, "{text}");
        }
        assert_eq!(
            position(eventstore::Position {
                commit: 10,
                prepare: 7
            })
            .to_string(),
            "10/7"
        );
    }

    #[test]
    fn positions_order_like_the_servers() {
        let a = eventstore::Position {
            commit: 10,
            prepare: 7,
        };
        let b = eventstore::Position {
            commit: 10,
            prepare: 9,
        };
        let c = eventstore::Position {
            commit: 11,
            prepare: 0,
        };
        assert!(position(a) < position(b) && position(b) < position(c));
        assert!(a < b && b < c);
    }

    #[test]
    fn placeholder_positions_are_not_places_in_the_log() {
        assert_eq!(known_position(eventstore::Position::end()), None);
        assert_eq!(known_position(eventstore::Position::start()), None);
        let result = eventstore::WriteResult {
            next_expected_version: 4,
            position: eventstore::Position {
                commit: 99,
                prepare: 99,
            },
        };
        assert_eq!(
            outcome(&result),
            Some(AppendOutcome {
                version: 4,
                position: Position::from_commit_prepare(99, 99)
            })
        );
        let unplaced = eventstore::WriteResult {
            next_expected_version: 4,
            position: eventstore::Position::start(),
        };
        assert_eq!(outcome(&unplaced), None);
    }

    #[test]
    fn metadata_names_what_is_present_and_nothing_else() {
        let correlation = Uuid::new_v4();
        let mut event = NewEvent::new(
            "Named",
            json!({}),
            Metadata {
                correlation_id: Some(correlation),
                actor: Some("user-7".into()),
                recorded_at: Some(Utc::now()),
                ..Metadata::default()
            },
        );
        event.schema_version = 3;
        assert_eq!(
            metadata_json(&event, None),
            json!({"$correlationId": correlation.to_string(), "actor": "user-7", "schema_version": 3})
        );
    }

    #[test]
    fn an_event_survives_the_trip_through_the_servers_envelope() {
        let metadata = Metadata {
            correlation_id: Some(Uuid::new_v4()),
            causation_id: Some(Uuid::new_v4()),
            actor: Some("user-7".into()),
            request_id: Some("req-1".into()),
            recorded_at: None,
            idempotency: Some("seed-1".into()),
            issuer: Some("https://login.example.no/tenant".into()),
            person: Some(json!({"encrypted": {"subject": "subj_1", "data": "00ff"}})),
        };
        let payload = json!({"name": "Æøå", "nested": {"list": [1, 2.5, null]}});
        let mut new = NewEvent::new("Named", payload.clone(), metadata.clone());
        new.schema_version = 2;
        // EventData keeps its fields to itself, so build what the server would hand back.
        let data = serde_json::to_vec(&payload).unwrap();
        let meta = serde_json::to_vec(&metadata_json(&new, None)).unwrap();
        let mut stored = raw("meta-1", "Named", &data, &meta);
        stored.id = new.event_id;
        let got = recorded(&stored).unwrap();
        assert_eq!(got.event_id, new.event_id);
        assert_eq!(got.stream, "meta-1");
        assert_eq!(got.version, 3);
        assert_eq!(got.position, Position::from_commit_prepare(1234, 1234));
        assert_eq!(got.event_type, "Named");
        assert_eq!(got.schema_version, 2);
        assert_eq!(got.payload, payload);
        assert_eq!(
            got.metadata,
            Metadata {
                recorded_at: got.metadata.recorded_at,
                ..metadata
            }
        );
        // 17000000001234567 ticks of 100 ns.
        assert_eq!(
            got.metadata.recorded_at,
            DateTime::from_timestamp(1_700_000_000, 123_456_700)
        );
        assert_eq!(got.hash, None, "written without a chain");
    }

    #[test]
    fn a_chained_event_carries_its_hash_and_the_time_the_hash_covers() {
        use chrono::SubsecRound;
        let metadata = Metadata {
            actor: Some("user-7".into()),
            issuer: Some("https://login.example.no/tenant".into()),
            person: Some(json!({"encrypted": {"subject": "subj_1", "data": "00ff"}})),
            ..Metadata::default()
        };
        let payload = json!({"name": "Æøå", "x": 2.5});
        let new = NewEvent::new("Named", payload.clone(), metadata);
        let at = Utc::now().trunc_subsecs(6);
        let previous = "ab".repeat(32);
        let link = chain_link("meta-1", 3, Some(&previous), &new, at);
        assert!(event_data(&new, &link).is_ok());
        let data = serde_json::to_vec(&payload).unwrap();
        let meta = serde_json::to_vec(&metadata_json(&new, Some(&link))).unwrap();
        let mut stored = raw("meta-1", "Named", &data, &meta);
        stored.id = new.event_id;
        let got = recorded(&stored).unwrap();
        assert_eq!(got.hash.as_deref(), Some(link.hash.as_str()));
        assert_eq!(got.metadata.recorded_at, Some(at));
        // What a reader recomputes from the event as read is the stored hash (as on SQL).
        let mut read_metadata = got.metadata.clone();
        read_metadata.recorded_at = None;
        let recomputed = crate::chain::Link {
            previous: Some(&previous),
            stream: &got.stream,
            version: got.version,
            event_id: got.event_id,
            event_type: &got.event_type,
            schema_version: got.schema_version,
            payload: &got.payload.to_string(),
            metadata: &serde_json::to_string(&read_metadata).unwrap(),
            recorded_at: &crate::chain::recorded_time(at),
        }
        .hash();
        assert_eq!(recomputed, link.hash);
        // Another previous hash, another link.
        assert_ne!(chain_link("meta-1", 3, None, &new, at).hash, link.hash);
    }

    #[test]
    fn the_servers_rounded_time_is_the_fallback() {
        let mut stored = raw("a-1", "A", b"{}", b"");
        stored.metadata.remove("created");
        assert_eq!(
            recorded(&stored).unwrap().metadata.recorded_at,
            Some(stored.created)
        );
        stored.metadata.insert("created".into(), "soon".into());
        assert_eq!(
            recorded(&stored).unwrap().metadata.recorded_at,
            Some(stored.created)
        );
    }

    #[test]
    fn foreign_metadata_is_read_leniently() {
        let got = recorded(&raw("a-1", "A", b"{}", b"")).unwrap();
        assert_eq!(got.schema_version, 1);
        assert_eq!(got.metadata.correlation_id, None);
        let got = recorded(&raw(
            "a-1",
            "A",
            b"{}",
            br#"{"$correlationId":"not-a-uuid","other":1}"#,
        ))
        .unwrap();
        assert_eq!(got.metadata.correlation_id, None);
        assert_eq!(got.schema_version, 1);
    }

    #[test]
    fn unreadable_events_are_corrupt_and_unplaced_ones_are_refused() {
        assert!(matches!(
            recorded(&raw("a-1", "A", b"not json", b"")),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            recorded(&raw("a-1", "A", b"{}", b"[")),
            Err(StoreError::Corrupt(_))
        ));
        let mut old_server = raw("a-1", "A", b"{}", b"");
        old_server.position = eventstore::Position::end();
        assert!(matches!(
            recorded(&old_server),
            Err(StoreError::EventStoreDb(_))
        ));
    }

    #[test]
    fn system_events_are_never_wanted_and_names_decide_like_filter_matches() {
        assert!(is_system("$stats-127.0.0.1:2113", "$statsCollected"));
        assert!(is_system("$ce-export", "$>"));
        assert!(is_system("export-1", "$metadata"));
        assert!(!is_system("export-1", "ExportQueued"));
        let filters = [
            Filter::all(),
            Filter::categories(["export"]),
            Filter::event_types(["ExportDone", "OrgRegistered"]),
            Filter {
                categories: vec!["export".into(), "org".into()],
                event_types: vec!["ExportDone".into()],
            },
        ];
        let names = [
            ("export-1", "ExportQueued"),
            ("export-1", "ExportDone"),
            ("org-1", "OrgRegistered"),
            ("org-1", "ExportDone"),
            ("exports-1", "ExportDone"),
            ("export", "ExportDone"),
            ("$ce-export", "$>"),
        ];
        for filter in &filters {
            for (stream, event_type) in names {
                let event = recorded(&raw(stream, event_type, b"{}", b"")).unwrap();
                assert_eq!(
                    wanted(filter, stream, event_type),
                    filter.matches(&event) && !is_system(stream, event_type),
                    "{filter:?} {stream} {event_type}"
                );
            }
        }
    }

    fn at(ids: &[Uuid], first_version: u64) -> Vec<(Uuid, u64, Position)> {
        ids.iter()
            .zip(first_version..)
            .map(|(id, v)| (*id, v, Position::from_commit_prepare(100 + v, 100 + v)))
            .collect()
    }

    #[test]
    fn a_retry_is_recognised_by_its_ids_in_order() {
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
        assert_eq!(
            classify_retry(&ids, &at(&ids, 5)),
            Retry::Stored(AppendOutcome {
                version: 7,
                position: Position::from_commit_prepare(107, 107)
            })
        );
        // Found within a longer read of the whole stream.
        let mut stream = at(&[Uuid::new_v4(), Uuid::new_v4()], 0);
        stream.extend(at(&ids, 2));
        stream.extend(at(&[Uuid::new_v4()], 5));
        assert!(matches!(
            classify_retry(&ids, &stream),
            Retry::Stored(AppendOutcome { version: 4, .. })
        ));
    }

    #[test]
    fn some_ids_but_not_all_is_a_partial_duplicate() {
        let ids: Vec<Uuid> = (0..2).map(|_| Uuid::new_v4()).collect();
        let other = Uuid::new_v4();
        assert_eq!(
            classify_retry(&ids, &at(&[ids[0], other], 0)),
            Retry::Partial
        );
        assert_eq!(classify_retry(&ids, &at(&[ids[0]], 0)), Retry::Partial);
        assert_eq!(
            classify_retry(&ids, &at(&[other, ids[1]], 0)),
            Retry::Partial
        );
        // All there but not in the order of the append: not that append.
        assert_eq!(
            classify_retry(&ids, &at(&[ids[1], ids[0]], 0)),
            Retry::Partial
        );
    }

    #[test]
    fn none_of_the_ids_is_a_plain_conflict() {
        let ids = [Uuid::new_v4()];
        assert_eq!(
            classify_retry(&ids, &at(&[Uuid::new_v4()], 1)),
            Retry::NotStored
        );
        assert_eq!(classify_retry(&ids, &[]), Retry::NotStored);
    }
}
