//! Group commit: appends from concurrent callers are gathered by one writer task and committed
//! together in one transaction with multi-row inserts. The fsync, not the CPU, bounds a store that
//! commits each append alone; here one fsync carries every append that arrived meanwhile. Each
//! caller still gets its own answer and its own conflict.

use std::collections::HashMap;

use chrono::{DateTime, SubsecRound, Utc};
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

use crate::event::{AppendOutcome, ExpectedVersion, NewEvent, Position, category_of};
use crate::{StoreError, chain};

/// The most events one transaction carries; more waiting appends go into the next one.
const MAX_BATCH_EVENTS: usize = 4096;

pub(crate) struct AppendRequest {
    pub stream: String,
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
    pub reply: oneshot::Sender<Result<AppendOutcome, StoreError>>,
}

/// One event row as both SQL backends store it.
pub(crate) struct Row {
    pub position: i64,
    pub stream: String,
    pub category: String,
    pub version: i64,
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: i32,
    pub payload: String,
    pub metadata: String,
    pub recorded_at: DateTime<Utc>,
    /// Its link in the stream's chain (`chain`).
    pub hash: String,
}

/// What the database holds for the streams of a batch, read inside the write transaction.
#[derive(Default)]
pub(crate) struct StreamFacts {
    /// The newest position in the whole log (0 when empty).
    pub head: i64,
    /// Current version per stream that exists.
    pub versions: HashMap<String, u64>,
    /// The hash of each existing stream's last event, which the next one's hash covers.
    pub hashes: HashMap<String, String>,
    /// (stream, event_id) -> (version, position) for ids of the batch already stored.
    pub existing: HashMap<(String, Uuid), (u64, i64)>,
}

/// The rows to insert and each request's answer, decided against `facts` in request order.
pub(crate) struct Plan {
    pub rows: Vec<Row>,
    pub results: Vec<Result<AppendOutcome, StoreError>>,
    pub new_head: i64,
}

/// The keys a backend must look up to fill [`StreamFacts`] for a batch.
pub(crate) fn lookup_keys(batch: &[AppendRequest]) -> (Vec<String>, Vec<(String, Uuid)>) {
    let mut streams: Vec<String> = batch.iter().map(|r| r.stream.clone()).collect();
    streams.sort();
    streams.dedup();
    let ids = batch
        .iter()
        .flat_map(|r| r.events.iter().map(|e| (r.stream.clone(), e.event_id)))
        .collect();
    (streams, ids)
}

pub(crate) fn plan(batch: &[AppendRequest], mut facts: StreamFacts, now: DateTime<Utc>) -> Plan {
    // Both SQL backends keep microseconds; the hash covers the time as kept.
    let now = now.trunc_subsecs(6);
    let recorded_at = chain::recorded_time(now);
    let mut rows = Vec::new();
    let mut results = Vec::with_capacity(batch.len());
    let mut head = facts.head;
    for request in batch {
        let known: Vec<Option<(u64, i64)>> = request
            .events
            .iter()
            .map(|e| {
                facts
                    .existing
                    .get(&(request.stream.clone(), e.event_id))
                    .copied()
            })
            .collect();
        let already = known.iter().filter(|k| k.is_some()).count();
        if already == request.events.len() {
            let (version, position) = known.last().copied().flatten().expect("non-empty append");
            results.push(Ok(AppendOutcome {
                version,
                position: Position::from_sql(position),
            }));
            continue;
        }
        if already > 0 {
            results.push(Err(StoreError::PartialDuplicate {
                stream: request.stream.clone(),
            }));
            continue;
        }
        let current = facts.versions.get(&request.stream).copied();
        if !request.expected.accepts(current) {
            results.push(Err(StoreError::Conflict {
                stream: request.stream.clone(),
                expected: request.expected,
                actual: current,
            }));
            continue;
        }
        let mut version = current.map_or(0, |v| v + 1);
        for event in &request.events {
            head += 1;
            let mut metadata = event.metadata.clone();
            metadata.recorded_at = None;
            let payload = event.payload.to_string();
            let metadata = serde_json::to_string(&metadata).expect("metadata serialises");
            let hash = chain::Link {
                previous: facts.hashes.get(&request.stream).map(String::as_str),
                stream: &request.stream,
                version,
                event_id: event.event_id,
                event_type: &event.event_type,
                schema_version: event.schema_version,
                payload: &payload,
                metadata: &metadata,
                recorded_at: &recorded_at,
            }
            .hash();
            facts.hashes.insert(request.stream.clone(), hash.clone());
            rows.push(Row {
                position: head,
                stream: request.stream.clone(),
                category: category_of(&request.stream).to_string(),
                version: version as i64,
                event_id: event.event_id,
                event_type: event.event_type.clone(),
                schema_version: event.schema_version as i32,
                payload,
                metadata,
                recorded_at: now,
                hash,
            });
            facts
                .existing
                .insert((request.stream.clone(), event.event_id), (version, head));
            version += 1;
        }
        let last = version - 1;
        facts.versions.insert(request.stream.clone(), last);
        results.push(Ok(AppendOutcome {
            version: last,
            position: Position::from_sql(head),
        }));
    }
    Plan {
        rows,
        results,
        new_head: head,
    }
}

/// Each stream's version and last hash after the rows, for the `streams` table.
pub(crate) fn new_versions(rows: &[Row]) -> Vec<(String, i64, String)> {
    let mut last: HashMap<&str, &Row> = HashMap::new();
    for r in rows {
        last.insert(r.stream.as_str(), r);
    }
    last.into_iter()
        .map(|(s, r)| (s.to_string(), r.version, r.hash.clone()))
        .collect()
}

/// Whether a plan made without looking up stored ids refused an append that might be a retry.
pub(crate) fn may_be_retry(plan: &Plan) -> bool {
    plan.results
        .iter()
        .any(|r| matches!(r, Err(StoreError::Conflict { .. })))
}

/// One answer per request of a batch, in order, and the head after it.
pub(crate) type Committed = (Vec<Result<AppendOutcome, StoreError>>, i64);

/// A backend's way of committing one batch in one transaction.
pub(crate) trait Committer: Send + 'static {
    /// Commits the batch; `Ok` holds one answer per request, in order. `Err` means the
    /// transaction failed as a whole and nothing of the batch was stored.
    fn commit(
        &mut self,
        batch: &[AppendRequest],
    ) -> impl Future<Output = Result<Committed, StoreError>> + Send;
}

/// The writer task. Ends when every store handle (and so every sender) is gone.
pub(crate) async fn run_writer<C: Committer>(
    mut committer: C,
    mut requests: mpsc::Receiver<AppendRequest>,
    head: watch::Sender<i64>,
) {
    while let Some(first) = requests.recv().await {
        let mut count = first.events.len();
        let mut batch = vec![first];
        // Callers answered by the last commit are about to send their next append; yielding a
        // few times lets them, so the next transaction carries them all instead of one each.
        for _ in 0..4 {
            let before = batch.len();
            while count < MAX_BATCH_EVENTS {
                match requests.try_recv() {
                    Ok(next) => {
                        count += next.events.len();
                        batch.push(next);
                    }
                    Err(_) => break,
                }
            }
            if count >= MAX_BATCH_EVENTS || (batch.len() == before && before > 1) {
                break;
            }
            tokio::task::yield_now().await;
        }
        match committer.commit(&batch).await {
            Ok((results, new_head)) => {
                advance(&head, new_head);
                for (request, result) in batch.into_iter().zip(results) {
                    let _ = request.reply.send(result);
                }
            }
            // The transaction failed as a whole. Commit each append alone so that one bad
            // append (or a passing database fault) fails only its own caller.
            Err(_) if batch.len() > 1 => {
                for request in batch {
                    let single = [request];
                    let result = committer.commit(&single).await;
                    let [request] = single;
                    let answer = match result {
                        Ok((mut results, new_head)) => {
                            advance(&head, new_head);
                            results.pop().expect("one answer per request")
                        }
                        Err(e) => Err(e),
                    };
                    let _ = request.reply.send(answer);
                }
            }
            Err(e) => {
                let request = batch.pop().expect("batch of one");
                let _ = request.reply.send(Err(e));
            }
        }
    }
}

/// Moves the in-process head forward, which wakes every live subscription.
pub(crate) fn advance(head: &watch::Sender<i64>, new_head: i64) {
    head.send_if_modified(|h| {
        let moved = new_head > *h;
        *h = (*h).max(new_head);
        moved
    });
}

/// Sends an append to the writer task and waits for its answer.
pub(crate) async fn submit(
    writer: &mpsc::Sender<AppendRequest>,
    stream: &str,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
) -> Result<AppendOutcome, StoreError> {
    crate::event::validate_append(stream, &events)?;
    let (reply, answer) = oneshot::channel();
    let request = AppendRequest {
        stream: stream.to_string(),
        expected,
        events,
        reply,
    };
    writer.send(request).await.map_err(|_| StoreError::Closed)?;
    answer.await.map_err(|_| StoreError::Closed)?
}
