//! Events as the store keeps them: positions, versions, metadata, and what an append must say
//! about the stream's version.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::StoreError;

/// A global position in the log. Ordered like the log; callers treat it as opaque and pass it
/// around as a string. SQL backends use one number; EventStoreDB's `$all` position is a
/// (commit, prepare) pair, written `commit/prepare` when the two differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    commit: u64,
    prepare: u64,
}

impl Position {
    pub(crate) fn from_sql(position: i64) -> Self {
        let p = position as u64;
        Position {
            commit: p,
            prepare: p,
        }
    }

    pub(crate) fn sql(&self) -> i64 {
        self.commit as i64
    }

    pub fn from_commit_prepare(commit: u64, prepare: u64) -> Self {
        Position { commit, prepare }
    }

    pub fn commit_prepare(&self) -> (u64, u64) {
        (self.commit, self.prepare)
    }
}

impl TryFrom<String> for Position {
    type Error = StoreError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.commit == self.prepare {
            write!(f, "{}", self.commit)
        } else {
            write!(f, "{}/{}", self.commit, self.prepare)
        }
    }
}

impl FromStr for Position {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || StoreError::InvalidPosition(s.to_string());
        let number = |part: &str| {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            part.parse::<u64>().map_err(|_| bad())
        };
        let position = match s.split_once('/') {
            None => {
                let n = number(s)?;
                Position {
                    commit: n,
                    prepare: n,
                }
            }
            Some((c, p)) => Position {
                commit: number(c)?,
                prepare: number(p)?,
            },
        };
        // SQL backends keep positions in a signed 64-bit column.
        if position.commit > i64::MAX as u64 {
            return Err(bad());
        }
        Ok(position)
    }
}

impl Serialize for Position {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Position {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What the appender believes the stream's version to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// Append whatever the stream holds.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream's last event must have this version.
    Exact(u64),
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any"),
            ExpectedVersion::NoStream => f.write_str("no stream"),
            ExpectedVersion::Exact(v) => write!(f, "{v}"),
        }
    }
}

impl ExpectedVersion {
    pub(crate) fn accepts(&self, current: Option<u64>) -> bool {
        match self {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => current.is_none(),
            ExpectedVersion::Exact(v) => current == Some(*v),
        }
    }
}

/// Who caused an event and in answer to what. `recorded_at` is set by the store when it commits.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_at: Option<DateTime<Utc>>,
    /// The request's `Idempotency-Key`, hashed with its caller's scope: a retry of a request
    /// whose first attempt was recorded but never answered finds that attempt's events by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency: Option<String>,
    /// The identity provider (`iss`) that vouched for `actor`, when the request's token came
    /// from one: a subject is unique only within its issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// The actor's name and e-mail as their token gave them, sealed under their data subject's
    /// key (erasable, as a contact person is); never in the clear.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<serde_json::Value>,
}

/// An event on its way into the store.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: u32,
    pub payload: serde_json::Value,
    pub metadata: Metadata,
}

impl NewEvent {
    /// A new event with a fresh time-ordered id.
    pub fn new(
        event_type: impl Into<String>,
        payload: serde_json::Value,
        metadata: Metadata,
    ) -> Self {
        NewEvent {
            event_id: Uuid::now_v7(),
            event_type: event_type.into(),
            schema_version: 1,
            payload,
            metadata,
        }
    }
}

/// An event as the store holds it: the envelope of design section 3.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecordedEvent {
    pub event_id: Uuid,
    pub stream: String,
    pub version: u64,
    pub position: Position,
    pub event_type: String,
    pub schema_version: u32,
    pub payload: serde_json::Value,
    pub metadata: Metadata,
    /// Its link in its stream's hash chain (`chain`); `None` only where a backend keeps none.
    pub hash: Option<String>,
}

impl RecordedEvent {
    pub fn category(&self) -> &str {
        category_of(&self.stream)
    }
}

/// The answer to an append: where its last event landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendOutcome {
    /// The stream's version after the append (the version of its last event).
    pub version: u64,
    /// The global position of the last appended event.
    pub position: Position,
}

/// The category of a stream is the part before its first `-`.
pub fn category_of(stream: &str) -> &str {
    stream.split_once('-').map_or(stream, |(c, _)| c)
}

pub(crate) fn validate_append(stream: &str, events: &[NewEvent]) -> Result<(), StoreError> {
    if stream.is_empty() || stream.len() > 255 {
        return Err(StoreError::InvalidAppend(
            "stream names are 1 to 255 bytes".into(),
        ));
    }
    if events.is_empty() {
        return Err(StoreError::InvalidAppend(
            "an append needs at least one event".into(),
        ));
    }
    let mut ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
    ids.sort_unstable();
    if ids.windows(2).any(|w| w[0] == w[1]) {
        return Err(StoreError::InvalidAppend(
            "event ids within one append must differ".into(),
        ));
    }
    if events.iter().any(|e| e.event_type.is_empty()) {
        return Err(StoreError::InvalidAppend("every event needs a type".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_through_their_string_form() {
        for s in ["0", "42", "9223372036854775807", "10/7"] {
            assert_eq!(s.parse::<Position>().unwrap().to_string(), s);
        }
        assert_eq!("5/5".parse::<Position>().unwrap().to_string(), "5");
    }

    #[test]
    fn malformed_positions_are_rejected() {
        for s in [
            "",
            "-1",
            "1.5",
            "abc",
            "1/",
            "/1",
            "18446744073709551615",
            " 1",
        ] {
            assert!(s.parse::<Position>().is_err(), "{s:?} parsed");
        }
    }

    #[test]
    fn positions_order_like_the_log() {
        let a: Position = "9".parse().unwrap();
        let b: Position = "10".parse().unwrap();
        assert!(a < b);
    }

    #[test]
    fn the_category_is_the_part_before_the_first_dash() {
        assert_eq!(category_of("export-exp_01J-x"), "export");
        assert_eq!(category_of("plain"), "plain");
    }
}
