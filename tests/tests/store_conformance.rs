//! One conformance suite for every event-store backend (design section 3).
//! SQLite always runs. The PostgreSQL and EventStoreDB cases are ignored, so a plain run counts
//! them as skipped: `ci/test` runs the PostgreSQL ones where a server answers (always in CI), and
//! the EventStoreDB ones where `EVENTSTORE_URL` is set.

mod support;

use std::collections::HashSet;
use std::sync::Arc;

use futures::StreamExt;
use futures::stream::BoxStream;
use serde_json::json;
use store::{
    AppendOutcome, EventStore, EventStoreDbStore, ExpectedVersion, Filter, Metadata, NewEvent,
    Position, PostgresStore, RecordedEvent, SqliteStore, StoreError,
};
use uuid::Uuid;

fn event(kind: &str, n: u64) -> NewEvent {
    NewEvent::new(kind, json!({ "n": n }), Metadata::default())
}

fn events(kind: &str, count: u64) -> Vec<NewEvent> {
    (0..count).map(|n| event(kind, n)).collect()
}

/// A way to open more handles on the same database: each handle has its own writer task and
/// connections, like another process.
type Opener =
    Arc<dyn Fn() -> futures::future::BoxFuture<'static, Arc<dyn EventStore>> + Send + Sync>;

async fn a_new_stream_starts_at_version_zero_and_positions_grow(
    store: Arc<dyn EventStore>,
    _: Opener,
) {
    let first = store
        .append("order-1", ExpectedVersion::NoStream, events("Placed", 3))
        .await
        .unwrap();
    assert_eq!(first.version, 2);
    let second = store
        .append("order-1", ExpectedVersion::Exact(2), events("Paid", 1))
        .await
        .unwrap();
    assert_eq!(second.version, 3);
    assert!(second.position > first.position);
    let read = store.read_stream("order-1", 0).await.unwrap();
    assert_eq!(
        read.iter().map(|e| e.version).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
    assert!(read.windows(2).all(|w| w[0].position < w[1].position));
    assert_eq!(read[3].position, second.position);
    assert_eq!(store.read_stream("order-1", 2).await.unwrap().len(), 2);
    assert!(store.read_stream("order-404", 0).await.unwrap().is_empty());
    assert_eq!(store.head().await.unwrap(), Some(second.position));
}

async fn a_wrong_expected_version_is_a_typed_conflict_and_appends_nothing(
    store: Arc<dyn EventStore>,
    _: Opener,
) {
    store
        .append("acct-1", ExpectedVersion::NoStream, events("Opened", 2))
        .await
        .unwrap();
    let err = store
        .append("acct-1", ExpectedVersion::NoStream, events("Opened", 1))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                actual: Some(1),
                expected: ExpectedVersion::NoStream,
                ..
            }
        ),
        "{err:?}"
    );
    let err = store
        .append("acct-1", ExpectedVersion::Exact(0), events("X", 1))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                actual: Some(1),
                expected: ExpectedVersion::Exact(0),
                ..
            }
        ),
        "{err:?}"
    );
    let err = store
        .append("acct-2", ExpectedVersion::Exact(0), events("X", 1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { actual: None, .. }),
        "{err:?}"
    );
    assert_eq!(store.read_stream("acct-1", 0).await.unwrap().len(), 2);
    assert!(store.read_stream("acct-2", 0).await.unwrap().is_empty());
    store
        .append("acct-1", ExpectedVersion::Any, events("Y", 1))
        .await
        .unwrap();
    assert_eq!(store.read_stream("acct-1", 0).await.unwrap().len(), 3);
}

async fn appending_the_same_event_ids_again_is_a_no_op_with_the_first_answer(
    store: Arc<dyn EventStore>,
    _: Opener,
) {
    let batch = events("Created", 2);
    let first = store
        .append("doc-1", ExpectedVersion::NoStream, batch.clone())
        .await
        .unwrap();
    store
        .append("doc-1", ExpectedVersion::Exact(1), events("Edited", 1))
        .await
        .unwrap();
    // A retry of the first append, whose expected version is long stale, still gets its answer.
    let retry = store
        .append("doc-1", ExpectedVersion::NoStream, batch.clone())
        .await
        .unwrap();
    assert_eq!(retry, first);
    assert_eq!(store.read_stream("doc-1", 0).await.unwrap().len(), 3);
    // Half old, half new is neither a retry nor a fresh append.
    let mixed = vec![batch[0].clone(), event("Edited", 9)];
    let err = store
        .append("doc-1", ExpectedVersion::Any, mixed)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::PartialDuplicate { .. }),
        "{err:?}"
    );
    // The same id in another stream is another event.
    store
        .append("doc-2", ExpectedVersion::NoStream, batch)
        .await
        .unwrap();
    assert_eq!(store.read_stream("doc-2", 0).await.unwrap().len(), 2);
}

async fn concurrent_retries_of_one_append_store_it_once(store: Arc<dyn EventStore>, _: Opener) {
    let batch = events("Once", 3);
    let tries = (0..16).map(|_| store.append("once-1", ExpectedVersion::Any, batch.clone()));
    let answers = futures::future::join_all(tries).await;
    let first = answers[0].as_ref().unwrap();
    assert!(answers.iter().all(|a| a.as_ref().unwrap() == first));
    assert_eq!(store.read_stream("once-1", 0).await.unwrap().len(), 3);
}

async fn concurrent_appends_with_one_expected_version_let_exactly_one_win(
    store: Arc<dyn EventStore>,
    _: Opener,
) {
    store
        .append("race-1", ExpectedVersion::NoStream, events("Start", 1))
        .await
        .unwrap();
    let tries =
        (0..20).map(|_| store.append("race-1", ExpectedVersion::Exact(0), events("Step", 1)));
    let answers = futures::future::join_all(tries).await;
    let wins = answers.iter().filter(|a| a.is_ok()).count();
    let conflicts = answers
        .iter()
        .filter(|a| {
            matches!(
                a,
                Err(StoreError::Conflict {
                    actual: Some(1),
                    ..
                })
            )
        })
        .count();
    assert_eq!((wins, conflicts), (1, 19));
    assert_eq!(store.read_stream("race-1", 0).await.unwrap().len(), 2);
}

async fn an_invalid_append_is_refused(store: Arc<dyn EventStore>, _: Opener) {
    assert!(matches!(
        store.append("x-1", ExpectedVersion::Any, vec![]).await,
        Err(StoreError::InvalidAppend(_))
    ));
    let e = event("A", 1);
    let err = store
        .append("x-1", ExpectedVersion::Any, vec![e.clone(), e])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidAppend(_)));
    assert!(matches!(
        store.append("", ExpectedVersion::Any, events("A", 1)).await,
        Err(StoreError::InvalidAppend(_))
    ));
    assert_eq!(store.head().await.unwrap(), None);
}

async fn metadata_travels_with_the_event_and_the_store_stamps_the_time(
    store: Arc<dyn EventStore>,
    _: Opener,
) {
    let correlation = Uuid::new_v4();
    let causation = Uuid::new_v4();
    let metadata = Metadata {
        correlation_id: Some(correlation),
        causation_id: Some(causation),
        actor: Some("user-7".into()),
        request_id: Some("req-1".into()),
        recorded_at: None,
        idempotency: Some("seed-1".into()),
        issuer: Some("https://login.example.no/tenant".into()),
        person: Some(json!({"encrypted": {"subject": "subj_1", "data": "00ff"}})),
    };
    let payload = json!({"name": "Æøå", "nested": {"list": [1, 2.5, null]}});
    let new = NewEvent::new("Named", payload.clone(), metadata);
    let id = new.event_id;
    store
        .append("meta-1", ExpectedVersion::Any, vec![new])
        .await
        .unwrap();
    let got = &store.read_stream("meta-1", 0).await.unwrap()[0];
    assert_eq!(got.event_id, id);
    assert_eq!(got.payload, payload);
    assert_eq!(got.category(), "meta");
    assert_eq!(got.schema_version, 1);
    assert_eq!(got.metadata.correlation_id, Some(correlation));
    assert_eq!(got.metadata.causation_id, Some(causation));
    assert_eq!(got.metadata.actor.as_deref(), Some("user-7"));
    assert_eq!(got.metadata.request_id.as_deref(), Some("req-1"));
    let age = chrono::Utc::now() - got.metadata.recorded_at.expect("stamped");
    assert!(age.num_seconds().abs() < 60);
}

/// Every stream is a hash chain (`store::chain`): each event's hash covers the hash before it
/// in its stream and what the event holds, also when appends to one stream race.
async fn every_stream_is_a_hash_chain_of_what_its_events_hold(
    store: Arc<dyn EventStore>,
    _: Opener,
) {
    let appends = (0..8).map(|i| {
        let store = store.clone();
        async move {
            let stream = if i % 2 == 0 { "chain-a" } else { "chain-b" };
            let metadata = Metadata {
                actor: Some(format!("writer-{i}")),
                ..Metadata::default()
            };
            let events = (0..2)
                .map(|n| {
                    NewEvent::new(
                        "Linked",
                        json!({"i": i, "n": n, "x": 2.5}),
                        metadata.clone(),
                    )
                })
                .collect();
            store
                .append(stream, ExpectedVersion::Any, events)
                .await
                .unwrap();
        }
    });
    futures::future::join_all(appends).await;
    for stream in ["chain-a", "chain-b"] {
        let events = store.read_stream(stream, 0).await.unwrap();
        assert_eq!(events.len(), 8);
        let mut previous: Option<String> = None;
        for e in &events {
            let mut metadata = e.metadata.clone();
            let at = metadata.recorded_at.take().expect("stamped");
            let payload = e.payload.to_string();
            let metadata = serde_json::to_string(&metadata).unwrap();
            let expected = store::chain::Link {
                previous: previous.as_deref(),
                stream,
                version: e.version,
                event_id: e.event_id,
                event_type: &e.event_type,
                schema_version: e.schema_version,
                payload: &payload,
                metadata: &metadata,
                recorded_at: &store::chain::recorded_time(at),
            }
            .hash();
            assert_eq!(
                e.hash.as_deref(),
                Some(expected.as_str()),
                "{stream} {}",
                e.version
            );
            previous = e.hash.clone();
        }
    }
}

async fn read_all_pages_in_order_and_filters_by_category_and_type(
    store: Arc<dyn EventStore>,
    _: Opener,
) {
    for i in 0..5 {
        store
            .append(
                &format!("export-{i}"),
                ExpectedVersion::Any,
                vec![event("ExportQueued", i), event("ExportDone", i)],
            )
            .await
            .unwrap();
        store
            .append(
                &format!("org-{i}"),
                ExpectedVersion::Any,
                vec![event("OrgRegistered", i)],
            )
            .await
            .unwrap();
    }
    let all = store.read_all(None, &Filter::all(), 1000).await.unwrap();
    assert_eq!(all.len(), 15);
    assert!(all.windows(2).all(|w| w[0].position < w[1].position));
    // Paging with `after` gives the same sequence.
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .read_all(after.as_ref(), &Filter::all(), 4)
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        after = Some(page.last().unwrap().position);
        paged.extend(page);
    }
    assert_eq!(paged, all);
    let exports = store
        .read_all(None, &Filter::categories(["export"]), 1000)
        .await
        .unwrap();
    assert_eq!(exports.len(), 10);
    assert!(exports.iter().all(|e| e.stream.starts_with("export-")));
    let done = store
        .read_all(
            None,
            &Filter::event_types(["ExportDone", "OrgRegistered"]),
            1000,
        )
        .await
        .unwrap();
    assert_eq!(done.len(), 10);
    let both = Filter {
        categories: vec!["export".into()],
        event_types: vec!["ExportDone".into()],
    };
    let got = store.read_all(None, &both, 1000).await.unwrap();
    assert_eq!(got.len(), 5);
    assert!(got.iter().all(|e| both.matches(e)));
    // A position round-trips through its string form.
    let mid: store::Position = all[7].position.to_string().parse().unwrap();
    assert_eq!(
        store
            .read_all(Some(&mid), &Filter::all(), 1000)
            .await
            .unwrap(),
        all[8..].to_vec()
    );
}

async fn a_subscription_catches_up_then_follows_live_appends(
    store: Arc<dyn EventStore>,
    _: Opener,
) {
    for i in 0..10 {
        store
            .append("live-1", ExpectedVersion::Any, vec![event("Tick", i)])
            .await
            .unwrap();
        store
            .append("noise-1", ExpectedVersion::Any, vec![event("Noise", i)])
            .await
            .unwrap();
    }
    let mut all = store.subscribe(None, Filter::all());
    let mut live = store.subscribe(None, Filter::categories(["live"]));
    for _ in 0..20 {
        all.next().await.unwrap().unwrap();
    }
    let caught_up: Vec<_> = (&mut live).take(10).map(|e| e.unwrap()).collect().await;
    assert!(caught_up.iter().all(|e| e.stream == "live-1"));
    let tail = store
        .append("live-1", ExpectedVersion::Any, vec![event("Tick", 10)])
        .await
        .unwrap();
    let next = live.next().await.unwrap().unwrap();
    assert_eq!(next.position, tail.position);
    assert_eq!(all.next().await.unwrap().unwrap().position, tail.position);
    // Resuming after a position gives exactly what came after it.
    let resumed = store.subscribe(Some(caught_up[4].position), Filter::categories(["live"]));
    let rest: Vec<_> = resumed.take(6).map(|e| e.unwrap().position).collect().await;
    let mut expected: Vec<_> = caught_up[5..].iter().map(|e| e.position).collect();
    expected.push(tail.position);
    assert_eq!(rest, expected);
}

/// Eight writers (each its own store handle, like eight processes) append thousands of events,
/// singly and in batches, to their own and to shared streams, while a subscriber reads live.
/// The subscriber must see every event exactly once, in position order.
async fn many_concurrent_writers_and_a_live_subscriber_lose_nothing(
    store: Arc<dyn EventStore>,
    open: Opener,
) {
    const WRITERS: u64 = 8;
    const APPENDS: u64 = 250;
    let subscriber = store.subscribe(None, Filter::all());
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let writer = open().await;
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..APPENDS {
                let batch = if i % 10 == 0 {
                    events("Bulk", 5)
                } else {
                    events("Single", 1)
                };
                ids.extend(batch.iter().map(|e| e.event_id));
                let stream = if i % 3 == 0 {
                    "shared-1".to_string()
                } else {
                    format!("writer-{w}")
                };
                writer
                    .append(&stream, ExpectedVersion::Any, batch)
                    .await
                    .unwrap();
            }
            ids
        }));
    }
    let mut written = HashSet::new();
    for t in tasks {
        written.extend(t.await.unwrap());
    }
    let total = written.len();
    assert_eq!(total as u64, WRITERS * (APPENDS + APPENDS / 10 * 4));
    let seen: Vec<_> = subscriber.take(total).map(|e| e.unwrap()).collect().await;
    assert!(
        seen.windows(2).all(|w| w[0].position < w[1].position),
        "out of order"
    );
    let seen_ids: HashSet<_> = seen.iter().map(|e| e.event_id).collect();
    assert_eq!(seen_ids.len(), total, "duplicates");
    assert_eq!(seen_ids, written, "missed events");
    // Every stream's versions are gapless.
    for stream in
        std::iter::once("shared-1".to_string()).chain((0..WRITERS).map(|w| format!("writer-{w}")))
    {
        let versions: Vec<u64> = store
            .read_stream(&stream, 0)
            .await
            .unwrap()
            .iter()
            .map(|e| e.version)
            .collect();
        assert_eq!(versions, (0..versions.len() as u64).collect::<Vec<_>>());
    }
    // Nothing beyond what was written.
    assert_eq!(
        store
            .read_all(seen.last().map(|e| &e.position), &Filter::all(), 10)
            .await
            .unwrap()
            .len(),
        0
    );
}

async fn sqlite() -> (Arc<dyn EventStore>, Opener, support::TempSqlite) {
    let db = support::TempSqlite::new();
    let store: Arc<dyn EventStore> = Arc::new(SqliteStore::open(&db.url).await.unwrap());
    let url = db.url.clone();
    let open: Opener = Arc::new(move || {
        let url = url.clone();
        Box::pin(
            async move { Arc::new(SqliteStore::open(&url).await.unwrap()) as Arc<dyn EventStore> },
        )
    });
    (store, open, db)
}

async fn postgres() -> (Arc<dyn EventStore>, Opener) {
    let url = support::fresh_postgres().await;
    let store: Arc<dyn EventStore> = Arc::new(PostgresStore::open(&url).await.unwrap());
    let open: Opener = Arc::new(move || {
        let url = url.clone();
        Box::pin(async move {
            Arc::new(PostgresStore::open(&url).await.unwrap()) as Arc<dyn EventStore>
        })
    });
    (store, open)
}

/// An EventStoreDB server keeps its data between runs and has one `$all` for everything on it,
/// while every case expects an empty log of its own. So the cases run one at a time, each
/// through a [`Scoped`] view of the server.
///
/// The cases are ignored unless asked for; one that runs without a server fails here rather
/// than passing without having tested anything.
async fn eventstoredb() -> (
    Arc<dyn EventStore>,
    Opener,
    tokio::sync::MutexGuard<'static, ()>,
) {
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let Ok(url) = std::env::var("EVENTSTORE_URL") else {
        panic!(
            "this case needs an EventStoreDB server and EVENTSTORE_URL is not set \
             (esdb://localhost:2113?tls=false for a single insecure node)"
        );
    };
    let alone = ONE_AT_A_TIME.lock().await;
    let server = EventStoreDbStore::open(&url).await.unwrap();
    let scope = Arc::new(Scope {
        run: Uuid::new_v4().simple().to_string(),
        floor: server.head().await.unwrap(),
    });
    let store: Arc<dyn EventStore> = Arc::new(Scoped {
        server,
        scope: scope.clone(),
    });
    let open: Opener = Arc::new(move || {
        let (url, scope) = (url.clone(), scope.clone());
        Box::pin(async move {
            let server = EventStoreDbStore::open(&url).await.unwrap();
            Arc::new(Scoped { server, scope }) as Arc<dyn EventStore>
        })
    });
    (store, open, alone)
}

/// One case's share of a shared server: the streams it names, with a run id put after the
/// category (`acct-1` is `acct-<run>-1` on the server, so category filters see the same
/// category), and only what was written after the case began (`floor`). The case sees its own
/// names back and an empty log at the start.
struct Scope {
    run: String,
    floor: Option<Position>,
}

impl Scope {
    fn on_server(&self, stream: &str) -> String {
        match stream.split_once('-') {
            Some((category, id)) => format!("{category}-{}-{id}", self.run),
            // Only the empty name, which must stay invalid, has no category.
            None if stream.is_empty() => String::new(),
            None => panic!("cases name streams category-id, not {stream:?}"),
        }
    }

    /// The event as the case named it, or `None` when another case or run wrote it.
    fn seen(&self, mut event: RecordedEvent) -> Option<RecordedEvent> {
        let (category, rest) = event.stream.split_once('-')?;
        let id = rest.strip_prefix(self.run.as_str())?.strip_prefix('-')?;
        event.stream = format!("{category}-{id}");
        Some(event)
    }
}

struct Scoped {
    server: EventStoreDbStore,
    scope: Arc<Scope>,
}

#[async_trait::async_trait]
impl EventStore for Scoped {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome, StoreError> {
        let stream = self.scope.on_server(stream);
        self.server.append(&stream, expected, events).await
    }

    async fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let events = self
            .server
            .read_stream(&self.scope.on_server(stream), from_version)
            .await?;
        Ok(events
            .into_iter()
            .filter_map(|e| self.scope.seen(e))
            .collect())
    }

    async fn read_all(
        &self,
        after: Option<&Position>,
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut cursor = after.copied().or(self.scope.floor);
        let mut seen = Vec::new();
        while seen.len() < limit {
            let want = limit - seen.len();
            let page = self.server.read_all(cursor.as_ref(), filter, want).await?;
            let Some(last) = page.last() else { break };
            cursor = Some(last.position);
            let end = page.len() < want;
            seen.extend(page.into_iter().filter_map(|e| self.scope.seen(e)));
            if end {
                break;
            }
        }
        Ok(seen)
    }

    async fn head(&self) -> Result<Option<Position>, StoreError> {
        // The cases run alone, so the server's newest event is this case's, if it wrote any.
        let head = self.server.head().await?;
        Ok(head.filter(|h| Some(*h) > self.scope.floor))
    }

    fn subscribe(
        &self,
        after: Option<Position>,
        filter: Filter,
    ) -> BoxStream<'static, Result<RecordedEvent, StoreError>> {
        let scope = self.scope.clone();
        let events = self.server.subscribe(after.or(scope.floor), filter);
        Box::pin(events.filter_map(move |event| {
            let event = event.map(|e| scope.seen(e)).transpose();
            async move { event }
        }))
    }

    fn backend_name(&self) -> &'static str {
        self.server.backend_name()
    }
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let (store, open, _db) = super::sqlite().await;
                    super::$case(store, open).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = "needs PostgreSQL: run ci/test, or set TEST_DATABASE_URL and pass --run-ignored all"]
                async fn $case() {
                    let (store, open) = super::postgres().await;
                    super::$case(store, open).await;
                }
            )*
        }
        mod on_eventstoredb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = "needs EVENTSTORE_URL"]
                async fn $case() {
                    let (store, open, _alone) = super::eventstoredb().await;
                    super::$case(store, open).await;
                }
            )*
        }
    };
}

conformance!(
    a_new_stream_starts_at_version_zero_and_positions_grow,
    a_wrong_expected_version_is_a_typed_conflict_and_appends_nothing,
    appending_the_same_event_ids_again_is_a_no_op_with_the_first_answer,
    concurrent_retries_of_one_append_store_it_once,
    concurrent_appends_with_one_expected_version_let_exactly_one_win,
    an_invalid_append_is_refused,
    metadata_travels_with_the_event_and_the_store_stamps_the_time,
    every_stream_is_a_hash_chain_of_what_its_events_hold,
    read_all_pages_in_order_and_filters_by_category_and_type,
    a_subscription_catches_up_then_follows_live_appends,
    many_concurrent_writers_and_a_live_subscriber_lose_nothing,
);
