//! The log's tamper evidence. Every stream is a hash chain: each event's hash covers the hash of
//! the event before it in its stream and everything the event is (stream, version, id, type,
//! schema version, the exact payload and metadata text, recorded time), computed when it is
//! appended. Seals (`LogSealed`, appended by a worker) hold a running digest of the whole log in
//! position order, so an edit, a deletion or a reordering anywhere before a seal changes it; a
//! seal's digest kept outside the system proves the log up to it unchanged.
//!
//! The byte layout is written down here and in `docs/audit.md`, so an auditor can check a log with a
//! tool of their own: every field is its length (8 bytes, big-endian) and its UTF-8 bytes.

mod files;
mod raw;
mod seal;
mod upgrade;
mod verify;

pub use files::{Anchor, ChainFileError, Verdict, export, load_export, verify_export, verify_log};
pub use raw::{ChainedEvent, Export, ExportHeader, read_page};
pub use seal::{SEAL_STREAM, SEAL_TYPE, Seal, UPGRADE_STREAM, UPGRADE_TYPE};
pub(crate) use upgrade::{upgrade_postgres, upgrade_sqlite};
pub use verify::{Break, Summary, Verifier};

use chrono::{DateTime, SecondsFormat, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

const EVENT_DOMAIN: &[u8] = b"bufdir-event-v1\n";
const LOG_DOMAIN: &[u8] = b"bufdir-log-v1\n";

/// What an event's hash covers.
pub struct Link<'a> {
    /// The hash of the stream's previous event; `None` for its first.
    pub previous: Option<&'a str>,
    pub stream: &'a str,
    pub version: u64,
    pub event_id: Uuid,
    pub event_type: &'a str,
    pub schema_version: u32,
    pub payload: &'a str,
    pub metadata: &'a str,
    pub recorded_at: &'a str,
}

impl Link<'_> {
    /// The event's hash, lowercase hex.
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(EVENT_DOMAIN);
        for field in [
            self.previous.unwrap_or(""),
            self.stream,
            &self.version.to_string(),
            &self.event_id.hyphenated().to_string(),
            self.event_type,
            &self.schema_version.to_string(),
            self.payload,
            self.metadata,
            self.recorded_at,
        ] {
            field_into(&mut h, field);
        }
        hex::encode(h.finalize())
    }
}

/// The running digest of the log after one more event: it covers the digest before it, the
/// event's position and its hash.
pub fn running_digest(previous: &str, position: &str, event_hash: &str) -> String {
    let mut h = Sha256::new();
    h.update(LOG_DOMAIN);
    for field in [previous, position, event_hash] {
        field_into(&mut h, field);
    }
    hex::encode(h.finalize())
}

fn field_into(h: &mut Sha256, field: &str) {
    h.update((field.len() as u64).to_be_bytes());
    h.update(field.as_bytes());
}

/// The recorded time as the hash covers it: RFC 3339 in UTC with microseconds, which both SQL
/// backends keep exactly.
pub fn recorded_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(previous: Option<&str>) -> Link<'_> {
        Link {
            previous,
            stream: "report-1",
            version: 0,
            event_id: Uuid::nil(),
            event_type: "Made",
            schema_version: 1,
            payload: r#"{"a":1}"#,
            metadata: "{}",
            recorded_at: "2026-12-07T08:00:00.000000Z",
        }
    }

    #[test]
    fn the_hash_covers_every_field_and_the_previous_hash() {
        let base = link(None).hash();
        assert_eq!(base.len(), 64);
        assert_ne!(link(Some(&base)).hash(), base);
        let mut other = link(None);
        other.payload = r#"{"a":2}"#;
        assert_ne!(other.hash(), base);
        let mut other = link(None);
        other.payload = r#"{"a": 1}"#;
        assert_ne!(
            other.hash(),
            base,
            "the exact text counts, not only its meaning"
        );
        let mut other = link(None);
        other.version = 1;
        assert_ne!(other.hash(), base);
    }

    #[test]
    fn fields_are_length_prefixed_so_text_cannot_move_between_them() {
        let mut a = link(None);
        a.stream = "ab";
        a.event_type = "c";
        let mut b = link(None);
        b.stream = "a";
        b.event_type = "bc";
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn the_running_digest_depends_on_order() {
        let one = running_digest(&running_digest("", "1", "aa"), "2", "bb");
        let other = running_digest(&running_digest("", "2", "bb"), "1", "aa");
        assert_ne!(one, other);
    }
}
