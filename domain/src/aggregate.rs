//! The shape every aggregate has (decide, evolve) and how its events are named and read back, so
//! commands, projections and the audit replay treat all aggregates alike.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// An event-sourced aggregate: `decide` answers a command with events or a domain error,
/// `evolve` folds an event into the state. Both are pure.
pub trait Aggregate {
    type State: Default;
    type Command;
    /// Serialised adjacently tagged (`event_type`, `payload`), so the tag is the stored type.
    type Event: Serialize + DeserializeOwned;
    type Error: std::error::Error;

    /// The stream category, the part of the stream name before the first `-`.
    const CATEGORY: &'static str;

    fn decide(state: &Self::State, command: Self::Command)
    -> Result<Vec<Self::Event>, Self::Error>;
    fn evolve(state: Self::State, event: &Self::Event) -> Self::State;

    /// What names one aggregate in `stream` (`exp_1` in `export-exp_1`), if the stream is one of
    /// this category's.
    fn key_in(stream: &str) -> Option<&str> {
        stream.strip_prefix(Self::CATEGORY)?.strip_prefix('-')
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot read event {event_type}: {reason}")]
pub struct DecodeError {
    pub event_type: String,
    pub reason: String,
}

/// Splits an event into the type name and payload the store keeps.
pub fn encode_event<E: Serialize>(event: &E) -> (String, serde_json::Value) {
    let mut value = serde_json::to_value(event).expect("domain events serialise");
    let tag = value["event_type"]
        .as_str()
        .expect("events are tagged with event_type")
        .to_string();
    let payload = value
        .get_mut("payload")
        .map(serde_json::Value::take)
        .unwrap_or_default();
    (tag, payload)
}

/// The inverse of [`encode_event`].
pub fn decode_event<E: DeserializeOwned>(
    event_type: &str,
    payload: &serde_json::Value,
) -> Result<E, DecodeError> {
    serde_json::from_value(serde_json::json!({ "event_type": event_type, "payload": payload }))
        .map_err(|e| DecodeError {
            event_type: event_type.to_string(),
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::Aggregate;
    use crate::export::Export;

    #[test]
    fn a_streams_key_is_what_follows_its_category() {
        assert_eq!(Export::key_in(&Export::stream("exp_1")), Some("exp_1"));
        assert_eq!(Export::key_in("report-exp_1"), None);
        assert_eq!(Export::key_in("exports-1"), None);
        assert_eq!(Export::key_in("export"), None);
    }
}
