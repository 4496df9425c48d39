//! What the audit operations take and answer.

use poem_openapi::Object;
use store::{Filter, RecordedEvent, category_of};
use uuid::Uuid;

use crate::http::problem::ApiError;
use crate::http::wire::Timestamp;
use projections::stream_owners::StreamOwners;

/// Who caused an event and in answer to what.
#[derive(Debug, Clone, Object)]
pub(crate) struct AuditMetadata {
    /// The token subject (`sub`) of the request that caused it, or the worker.
    #[oai(nullable)]
    pub actor: Option<String>,
    /// The identity provider (`iss`) that vouched for `actor`; `null` for a local token or a
    /// worker. A subject is unique only within its issuer.
    #[oai(nullable)]
    pub issuer: Option<String>,
    /// The person behind `actor`, where their token gave a name or e-mail; left out
    /// otherwise (a local token, a worker, a token without either claim).
    #[oai(skip_serializing_if_is_none)]
    pub person: Option<AuditPerson>,
    #[oai(nullable)]
    pub correlation_id: Option<Uuid>,
    #[oai(nullable)]
    pub causation_id: Option<Uuid>,
    /// The request's `X-Request-Id`, where it had one.
    #[oai(nullable)]
    pub request_id: Option<String>,
    /// When the store committed it.
    #[oai(nullable)]
    pub recorded_at: Option<Timestamp>,
}

/// The name and e-mail of the person who caused an event, as their identity provider's token
/// gave them. Kept erasable: once the person is erased (`bufdir-reporting privacy erase`), both
/// are `null` and `erased` is true, while `actor` and `issuer` still say who it was.
#[derive(Debug, Clone, Object)]
pub(crate) struct AuditPerson {
    #[oai(nullable)]
    pub name: Option<String>,
    #[oai(nullable)]
    pub email: Option<String>,
    pub erased: bool,
}

impl AuditPerson {
    /// From the metadata's person once opened (`commands::privacy::reveal_actor`).
    fn from_opened(person: &serde_json::Value) -> Self {
        let text = |key: &str| person.get(key).and_then(|v| v.as_str()).map(str::to_string);
        AuditPerson {
            name: text("name"),
            email: text("email"),
            erased: person.get("erased") == Some(&serde_json::Value::Bool(true)),
        }
    }
}

/// One event as the log holds it.
#[derive(Debug, Clone, Object)]
pub(crate) struct AuditEvent {
    /// Its place in the log: opaque, ordered like the log.
    pub position: String,
    pub stream: String,
    /// Its place in its stream, from 0.
    pub version: u64,
    pub event_type: String,
    pub schema_version: u32,
    pub event_id: Uuid,
    pub payload: serde_json::Value,
    pub metadata: AuditMetadata,
    /// Its link in its stream's hash chain: SHA-256 (hex) of the previous event's hash in the
    /// stream and everything this event is (see docs/audit.md, "The audit trail"). `null` only on
    /// a backend that keeps no chain.
    #[oai(nullable)]
    pub hash: Option<String>,
}

impl From<RecordedEvent> for AuditEvent {
    fn from(e: RecordedEvent) -> Self {
        AuditEvent {
            position: e.position.to_string(),
            stream: e.stream,
            version: e.version,
            event_type: e.event_type,
            schema_version: e.schema_version,
            event_id: e.event_id,
            payload: e.payload,
            metadata: AuditMetadata {
                actor: e.metadata.actor,
                issuer: e.metadata.issuer,
                person: e.metadata.person.as_ref().map(AuditPerson::from_opened),
                correlation_id: e.metadata.correlation_id,
                causation_id: e.metadata.causation_id,
                request_id: e.metadata.request_id,
                recorded_at: e.metadata.recorded_at.map(Into::into),
            },
            hash: e.hash,
        }
    }
}

#[derive(Debug, Object)]
pub(crate) struct AuditEventPage {
    /// The matching events of the scanned part of the log, in log order.
    pub data: Vec<AuditEvent>,
    /// Pass as `after` for the next page; `null` when this page reached the end of the log.
    #[oai(nullable)]
    pub next_after: Option<String>,
}

/// A seal over the whole log (`LogSealed` in stream `log-seals`).
#[derive(Debug, Object)]
pub(crate) struct AuditSeal {
    /// The seal event's own position in the log.
    pub position: String,
    /// Its place among the seals, from 0.
    pub version: u64,
    /// The seal event's hash in the chain of seals.
    pub hash: String,
    /// The last position the digest covers.
    pub up_to: String,
    /// How many events the digest covers (every event up to `up_to`).
    pub events: u64,
    /// The running digest of the log up to `up_to`: keep it outside the system and check it
    /// later with `bufdir-reporting audit verify --expect {up_to}:{digest}`.
    pub digest: String,
    /// The hash of the seal before; `null` for the first.
    #[oai(nullable)]
    pub previous_seal: Option<String>,
    #[oai(nullable)]
    pub sealed_at: Option<Timestamp>,
}

impl From<commands::log_seals::Sealed> for AuditSeal {
    fn from(s: commands::log_seals::Sealed) -> Self {
        AuditSeal {
            position: s.position.to_string(),
            version: s.version,
            hash: s.hash,
            up_to: s.seal.up_to,
            events: s.seal.events,
            digest: s.seal.digest,
            previous_seal: s.seal.previous_seal,
            sealed_at: s.recorded_at.map(Into::into),
        }
    }
}

#[derive(Debug, Object)]
pub(crate) struct AuditSealPage {
    /// Seals in the order they were made.
    pub data: Vec<AuditSeal>,
    /// Pass as `after` for the next page; `null` on the last.
    #[oai(nullable)]
    pub next_after: Option<u64>,
}

/// What the caller asked for besides the position.
pub(crate) struct Wanted {
    pub stream: Option<String>,
    pub category: Option<String>,
    pub org: Option<String>,
}

impl Wanted {
    /// The part of the filter the store applies itself; `None` when nothing can match.
    pub(crate) fn store_filter(&self) -> Option<Filter> {
        let stream_category = self.stream.as_deref().map(category_of);
        match (self.category.as_deref(), stream_category) {
            (Some(c), Some(s)) if c != s => None,
            (Some(c), _) | (None, Some(c)) => Some(Filter::categories([c])),
            (None, None) => Some(Filter::all()),
        }
    }

    pub async fn matches(
        &self,
        event: &RecordedEvent,
        owners: &mut StreamOwners<'_>,
    ) -> Result<bool, ApiError> {
        if self.stream.as_ref().is_some_and(|s| *s != event.stream) {
            return Ok(false);
        }
        let Some(org) = &self.org else {
            return Ok(true);
        };
        let owner = owners.org_of(event).await?;
        Ok(owner.as_ref() == Some(org))
    }
}
