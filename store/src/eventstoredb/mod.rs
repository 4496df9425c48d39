//! The EventStoreDB backend (design section 3), over the official gRPC client.
//!
//! Streams, versions and event ids map one to one; our position is the `$all` (commit, prepare)
//! pair. The server's own system events (streams or types starting with `$`) are not part of our
//! log and are never returned. It needs EventStoreDB 22.10 or later, whose stream reads carry
//! each event's `$all` position.
//!
//! Every event is chained as on the SQL backends (`crate::chain`): its hash and the time the
//! hash covers travel in its metadata, computed before the append from the stream's newest
//! event, so an append goes in at exactly the revision its hashes were computed for. With
//! [`ExpectedVersion::Any`], an append another writer overtook is looked for in the stream (a
//! retry of one already stored answers its outcome) and otherwise chained again and retried.

mod connection;
mod errors;
mod filter;
mod mapping;
mod subscription;

use std::sync::Arc;

use eventstore::{
    AppendToStreamOptions, ClientSettings, ReadAllOptions, ReadStream, ReadStreamOptions,
    StreamPosition,
};
use futures::stream::BoxStream;
use uuid::Uuid;

use self::connection::Connection;
use self::errors::Failure;
use self::mapping::Retry;
use crate::{
    AppendOutcome, EventStore, ExpectedVersion, Filter, NewEvent, Position, RecordedEvent,
    StoreError,
};

/// Events per request when paging through `$all`.
const PAGE: usize = 512;
/// Appends with `Any` that another writer overtook, computed again before giving up.
const CHAIN_RETRIES: usize = 16;

#[derive(Clone)]
pub struct EventStoreDbStore {
    connection: Arc<Connection>,
}

impl EventStoreDbStore {
    /// A store on the server or cluster named by an `esdb://` or `esdb+discover://` connection
    /// string (`?tls=false` for an insecure one). Connects lazily, on first use, and reconnects
    /// by itself, so a server that is down now is not an error yet. The client's connection task
    /// runs on the Tokio runtime this is awaited in.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let settings: ClientSettings = url
            .parse()
            .map_err(|e| StoreError::Config(format!("EventStoreDB connection string: {e}")))?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            StoreError::Config(
                "the EventStoreDB store must be opened inside a Tokio runtime".into(),
            )
        })?;
        let connection = Connection::new(settings, runtime)
            .map_err(|e| StoreError::Config(format!("EventStoreDB client: {e}")))?;
        Ok(EventStoreDbStore { connection })
    }

    /// Up to `count` events of `stream` from revision `from` on; a missing stream has none.
    async fn read_stream_raw(
        &self,
        stream: &str,
        from: u64,
        count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let options = ReadStreamOptions::default()
            .position(StreamPosition::Position(from))
            .forwards()
            .max_count(count);
        self.read_stream_with(stream, options).await
    }

    /// The stream's newest event, whose hash the next one's covers.
    async fn last_event(&self, stream: &str) -> Result<Option<RecordedEvent>, StoreError> {
        let options = ReadStreamOptions::default()
            .position(StreamPosition::End)
            .backwards()
            .max_count(1);
        Ok(self.read_stream_with(stream, options).await?.pop())
    }

    async fn read_stream_with(
        &self,
        stream: &str,
        options: ReadStreamOptions,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let read = self
            .connection
            .run("stream read", |client| {
                let options = &options;
                async move { drain(client.read_stream(stream, options).await?).await }
            })
            .await;
        match read {
            Ok(events) => events.iter().map(mapping::recorded).collect(),
            Err(Failure::NotFound) => Ok(Vec::new()),
            Err(other) => Err(other.into_error()),
        }
    }

    /// One page of `$all` from `from` on, in either direction, undecoded so that events nobody
    /// wants are dropped by name alone.
    async fn read_all_page(
        &self,
        from: StreamPosition<eventstore::Position>,
        backwards: bool,
    ) -> Result<Vec<eventstore::RecordedEvent>, StoreError> {
        let options = ReadAllOptions::default().position(from).max_count(PAGE);
        let options = if backwards {
            options.backwards()
        } else {
            options.forwards()
        };
        self.connection
            .run("$all read", |client| {
                let options = &options;
                async move { drain(client.read_all(options).await?).await }
            })
            .await
            .map_err(Failure::into_error)
    }

    /// The answer to an append the server refused because the stream was not at `expected`: it
    /// may be a retry of an append that is already stored.
    async fn after_wrong_version(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        ids: &[Uuid],
        current: Option<u64>,
    ) -> Result<AppendOutcome, StoreError> {
        // A retry carries the expected version of its original, so its events sit right after
        // it. With `Any` there is no such place (the server refuses `Any` only when some of the
        // ids are among those it just wrote), so the whole stream is searched.
        let (from, count) = match expected {
            ExpectedVersion::Exact(v) => (v + 1, ids.len()),
            ExpectedVersion::NoStream => (0, ids.len()),
            ExpectedVersion::Any => (0, usize::MAX),
        };
        let found: Vec<(Uuid, u64, Position)> = self
            .read_stream_raw(stream, from, count)
            .await?
            .into_iter()
            .map(|e| (e.event_id, e.version, e.position))
            .collect();
        match mapping::classify_retry(ids, &found) {
            Retry::Stored(outcome) => Ok(outcome),
            Retry::Partial => Err(StoreError::PartialDuplicate {
                stream: stream.to_string(),
            }),
            Retry::NotStored if expected == ExpectedVersion::Any => Err(StoreError::EventStoreDb(
                format!("an append to {stream} with any version was refused as out of date"),
            )),
            Retry::NotStored => Err(StoreError::Conflict {
                stream: stream.to_string(),
                expected,
                actual: current,
            }),
        }
    }

    /// Where the last event of a successful append landed, when the server's answer did not say.
    async fn locate(&self, stream: &str, version: u64) -> Result<AppendOutcome, StoreError> {
        let event = self
            .read_stream_raw(stream, version, 1)
            .await?
            .pop()
            .filter(|e| e.version == version)
            .ok_or_else(|| {
                StoreError::EventStoreDb(format!("appended event {version} of {stream} is gone"))
            })?;
        Ok(AppendOutcome {
            version,
            position: event.position,
        })
    }
}

async fn drain(mut read: ReadStream) -> eventstore::Result<Vec<eventstore::RecordedEvent>> {
    let mut events = Vec::new();
    while let Some(resolved) = read.next().await? {
        events.extend(mapping::original(resolved));
    }
    Ok(events)
}

#[async_trait::async_trait]
impl EventStore for EventStoreDbStore {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome, StoreError> {
        crate::event::validate_append(stream, &events)?;
        let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
        // The chain needs the stream's last hash, so the append goes in at exactly the revision
        // it was computed for; with `Any`, an append that lost that race is computed again.
        for _ in 0..CHAIN_RETRIES {
            let last = self.last_event(stream).await?;
            let current = last.as_ref().map(|e| e.version);
            let at = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 6);
            let mut previous = last.and_then(|e| e.hash);
            let mut data = Vec::with_capacity(events.len());
            for (i, event) in events.iter().enumerate() {
                let version = current.map_or(0, |v| v + 1) + i as u64;
                let link = mapping::chain_link(stream, version, previous.as_deref(), event, at);
                data.push(mapping::event_data(event, &link)?);
                previous = Some(link.hash);
            }
            let at_revision = match (expected, current) {
                (ExpectedVersion::Any, Some(v)) => ExpectedVersion::Exact(v),
                (ExpectedVersion::Any, None) => ExpectedVersion::NoStream,
                (given, _) => given,
            };
            let options = AppendToStreamOptions::default()
                .expected_revision(mapping::expected_revision(at_revision));
            let written = self
                .connection
                .run("append", |client| {
                    let (options, data) = (&options, data.clone());
                    async move { client.append_to_stream(stream, options, data).await }
                })
                .await;
            return match written {
                Ok(result) => match mapping::outcome(&result) {
                    Some(outcome) => Ok(outcome),
                    None => self.locate(stream, result.next_expected_version).await,
                },
                Err(Failure::WrongExpectedVersion { current }) => {
                    let answer = self
                        .after_wrong_version(stream, expected, &ids, current)
                        .await;
                    match answer {
                        // Another append came first; ours is not stored: chain it anew.
                        Err(StoreError::EventStoreDb(_)) if expected == ExpectedVersion::Any => {
                            continue;
                        }
                        answer => answer,
                    }
                }
                Err(other) => Err(other.into_error()),
            };
        }
        Err(StoreError::EventStoreDb(format!(
            "an append to {stream} lost the race for the stream's next revision \
             {CHAIN_RETRIES} times"
        )))
    }

    async fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.read_stream_raw(stream, from_version, usize::MAX).await
    }

    async fn read_all(
        &self,
        after: Option<&Position>,
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut out = Vec::new();
        let mut cursor = after.copied();
        while out.len() < limit {
            // Reading from a position includes the event there, which was seen already.
            let from = cursor.as_ref().map_or(StreamPosition::Start, |p| {
                StreamPosition::Position(mapping::esdb_position(p))
            });
            let page = self.read_all_page(from, false).await?;
            let end = page.len() < PAGE;
            for raw in &page {
                let position = mapping::position(raw.position);
                if cursor.is_some_and(|c| position <= c) {
                    continue;
                }
                cursor = Some(position);
                if mapping::wanted(filter, &raw.stream_id, &raw.event_type) {
                    out.push(mapping::recorded(raw)?);
                    if out.len() == limit {
                        break;
                    }
                }
            }
            if end {
                break;
            }
        }
        Ok(out)
    }

    async fn head(&self) -> Result<Option<Position>, StoreError> {
        let mut from = StreamPosition::End;
        let mut oldest_seen: Option<Position> = None;
        loop {
            let page = self.read_all_page(from, true).await?;
            let end = page.len() < PAGE;
            for raw in &page {
                let position = mapping::position(raw.position);
                // Reading backwards from a position may include the event there again.
                if oldest_seen.is_some_and(|n| position >= n) {
                    continue;
                }
                if !mapping::is_system(&raw.stream_id, &raw.event_type) {
                    return Ok(Some(position));
                }
                oldest_seen = Some(position);
            }
            match oldest_seen {
                Some(p) if !end => from = StreamPosition::Position(mapping::esdb_position(&p)),
                _ => return Ok(None),
            }
        }
    }

    fn subscribe(
        &self,
        after: Option<Position>,
        filter: Filter,
    ) -> BoxStream<'static, Result<RecordedEvent, StoreError>> {
        subscription::subscribe(self.connection.clone(), after, filter)
    }

    fn backend_name(&self) -> &'static str {
        "eventstoredb"
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn connection_strings_are_parsed_and_bad_ones_are_configuration_errors() {
        for url in [
            "esdb://localhost:2113?tls=false",
            "esdb://admin:changeit@localhost:2113",
            "esdb://node1:2113,node2:2113,node3:2113?tls=true&tlsVerifyCert=false",
            "esdb+discover://cluster.example:2113",
        ] {
            let store = EventStoreDbStore::open(url).await.unwrap();
            assert_eq!(store.backend_name(), "eventstoredb");
        }
        for url in [
            "",
            "postgres://localhost/db",
            "esdb://",
            "esdb://host:notaport",
        ] {
            assert!(
                matches!(
                    EventStoreDbStore::open(url).await,
                    Err(StoreError::Config(_))
                ),
                "{url}"
            );
        }
    }

    /// Nothing listens on port 1 of the loopback address, so every connection is refused.
    const NOBODY: &str = "esdb://127.0.0.1:1?tls=false&maxDiscoverAttempts=1&discoveryInterval=10";

    #[tokio::test]
    async fn an_unreachable_server_is_an_eventstoredb_error_and_the_client_is_renewed() {
        let store = EventStoreDbStore::open(NOBODY).await.unwrap();
        let first = store.connection.current();
        let err = store.read_stream("a-1", 0).await.unwrap_err();
        // Without a new client every try after the first would only say "connection closed".
        match &err {
            StoreError::EventStoreDb(text) => assert!(text.contains("connection error"), "{text}"),
            other => panic!("{other:?}"),
        }
        assert!(store.connection.current().generation > first.generation);
        let event = NewEvent::new("A", serde_json::json!({}), Default::default());
        assert!(matches!(
            store.append("a-1", ExpectedVersion::Any, vec![event]).await,
            Err(StoreError::EventStoreDb(_))
        ));
        assert!(matches!(
            store.head().await,
            Err(StoreError::EventStoreDb(_))
        ));
        // Validation comes first, without the server.
        assert!(matches!(
            store.append("", ExpectedVersion::Any, vec![]).await,
            Err(StoreError::InvalidAppend(_))
        ));
    }

    #[tokio::test]
    async fn a_subscription_keeps_trying_an_unreachable_server_until_dropped() {
        use futures::StreamExt;
        let store = EventStoreDbStore::open(NOBODY).await.unwrap();
        let mut events = store.subscribe(None, Filter::all());
        let waited = tokio::time::timeout(Duration::from_millis(700), events.next()).await;
        assert!(waited.is_err(), "the subscription gave up: {waited:?}");
    }

    #[test]
    fn opening_outside_a_runtime_is_a_configuration_error() {
        let open = EventStoreDbStore::open("esdb://localhost:2113?tls=false");
        assert!(matches!(
            futures::executor::block_on(open),
            Err(StoreError::Config(_))
        ));
    }
}
