//! The live watch: one store subscription per process (on the snapshot category), fanned out to
//! every SSE subscriber through a broadcast channel. A subscriber that resumes (`Last-Event-ID`)
//! or falls behind the channel reads its gap from the store, then rejoins the fan-out; it skips
//! what it has already sent by position, so it never sees an event twice or misses one.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::http::wire::Timestamp;
use domain::report_data::{ReportData, ReportDataEvent};
use domain::{Aggregate, decode_event};
use futures::{Stream, StreamExt};
use poem_openapi::types::ToJSON;
use poem_openapi::{Object, Union};
use store::{Database, Filter, Position, RecordedEvent};
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

/// The first and the longest wait before following the log again after a failed subscription.
const RESUBSCRIBE_FIRST: std::time::Duration = std::time::Duration::from_millis(100);
const RESUBSCRIBE_MAX: std::time::Duration = std::time::Duration::from_secs(5);

/// Snapshot events waiting for slow subscribers; one that falls further behind reads the store.
const FAN_OUT_BUFFER: usize = 4096;
const GAP_PAGE: usize = 500;

/// An aggregation changed figures of a snapshot.
#[derive(Debug, Clone, Object)]
pub(crate) struct DataUpdated {
    pub snapshot_id: String,
    pub organization_id: String,
    pub period_id: String,
    pub changed_sections: Vec<String>,
    pub changed_field_keys: Vec<String>,
    pub updated_at: Timestamp,
}

/// A snapshot moved to another status (`processing`, `current`, `historical`, `failed`,
/// `deleted`).
#[derive(Debug, Clone, Object)]
pub(crate) struct SnapshotStatusChanged {
    pub snapshot_id: String,
    pub organization_id: String,
    pub period_id: String,
    pub snapshot_status: String,
    pub changed_at: Timestamp,
}

/// One SSE message; `event` names its kind (and is also the SSE `event:` field).
#[derive(Debug, Clone, Union)]
#[oai(discriminator_name = "event", one_of)]
pub(crate) enum WatchEvent {
    #[oai(mapping = "data_updated")]
    DataUpdated(DataUpdated),
    #[oai(mapping = "snapshot_status_changed")]
    SnapshotStatusChanged(SnapshotStatusChanged),
}

impl WatchEvent {
    pub fn name(&self) -> &'static str {
        match self {
            WatchEvent::DataUpdated(_) => "data_updated",
            WatchEvent::SnapshotStatusChanged(_) => "snapshot_status_changed",
        }
    }
}

/// The SSE messages one store event becomes, with its org and period for filtering.
#[derive(Debug)]
pub struct WatchItem {
    pub position: Position,
    pub org_id: String,
    pub period_id: String,
    /// The messages as they go on the wire (`event:`, `id:`, `data:`), rendered once here and
    /// shared by every subscriber's connection rather than formatted once per subscriber.
    pub frames: Bytes,
}

/// A comment line this often keeps proxies from closing an idle stream.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(15);

fn render(position: &Position, events: &[WatchEvent]) -> Bytes {
    use std::fmt::Write;
    let mut out = String::new();
    for event in events {
        // Compact JSON never holds a raw line break, so one `data:` line carries it.
        let _ = write!(
            out,
            "event: {}\nid: {position}\ndata: {}\n\n",
            event.name(),
            event.to_json_string()
        );
    }
    Bytes::from(out)
}

fn to_item(event: &RecordedEvent) -> Option<WatchItem> {
    let decoded: ReportDataEvent = decode_event(&event.event_type, &event.payload).ok()?;
    let (org, period) = decoded.org_and_period();
    let (org_id, period_id) = (org.to_string(), period.to_string());
    let status = |snapshot_id: &str, status: &str, at: chrono::DateTime<chrono::Utc>| {
        WatchEvent::SnapshotStatusChanged(SnapshotStatusChanged {
            snapshot_id: snapshot_id.to_string(),
            organization_id: org_id.clone(),
            period_id: period_id.clone(),
            snapshot_status: status.into(),
            changed_at: at.into(),
        })
    };
    use ReportDataEvent as E;
    let events = match &decoded {
        E::SnapshotRequested {
            snapshot_id,
            requested_at,
            ..
        } => vec![status(snapshot_id, "processing", *requested_at)],
        E::SnapshotInvalidated {
            snapshot_id,
            invalidated_at,
            ..
        } => vec![status(snapshot_id, "processing", *invalidated_at)],
        E::SnapshotAggregated {
            snapshot_id,
            changed_sections,
            changed_field_keys,
            superseded,
            aggregated_at,
            ..
        } => {
            let mut out: Vec<WatchEvent> = superseded
                .iter()
                .map(|old| status(old, "historical", *aggregated_at))
                .collect();
            if changed_field_keys.is_empty() {
                out.push(status(snapshot_id, "current", *aggregated_at));
            } else {
                out.push(WatchEvent::DataUpdated(DataUpdated {
                    snapshot_id: snapshot_id.clone(),
                    organization_id: org_id.clone(),
                    period_id: period_id.clone(),
                    changed_sections: changed_sections.clone(),
                    changed_field_keys: changed_field_keys.clone(),
                    updated_at: (*aggregated_at).into(),
                }));
            }
            out
        }
        E::SnapshotAggregationFailed {
            snapshot_id,
            failed_at,
            ..
        } => vec![status(snapshot_id, "failed", *failed_at)],
        E::SnapshotDeleted {
            snapshot_id,
            deleted_at,
            ..
        } => vec![status(snapshot_id, "deleted", *deleted_at)],
    };
    Some(WatchItem {
        position: event.position,
        org_id,
        period_id,
        frames: render(&event.position, &events),
    })
}

fn snapshot_filter() -> Filter {
    Filter::categories([ReportData::CATEGORY])
}

/// The process's single subscription to snapshot events and its fan-out.
pub struct WatchHub {
    fan_out: broadcast::Sender<Arc<WatchItem>>,
    /// One heartbeat tick for every stream of the process, instead of a timer per stream.
    heartbeat: watch::Receiver<u64>,
    db: Database,
    shutdown: CancellationToken,
}

/// What a subscriber's stream sends next.
pub enum Frame {
    /// Messages of one store event.
    Item(Arc<WatchItem>),
    Heartbeat,
}

impl Frame {
    pub fn bytes(&self) -> Bytes {
        match self {
            Frame::Item(item) => item.frames.clone(),
            Frame::Heartbeat => Bytes::from_static(b":\n\n"),
        }
    }
}

impl WatchHub {
    /// Follows the store from its current head until `shutdown`.
    pub async fn start(
        db: Database,
        shutdown: CancellationToken,
    ) -> Result<Arc<Self>, store::StoreError> {
        let (fan_out, _) = broadcast::channel(FAN_OUT_BUFFER);
        let head = db.events.head().await?;
        let (beat, heartbeat) = watch::channel(0u64);
        let hub = Arc::new(WatchHub {
            fan_out: fan_out.clone(),
            heartbeat,
            db: db.clone(),
            shutdown: shutdown.clone(),
        });
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(HEARTBEAT);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            every.tick().await;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = every.tick() => beat.send_modify(|n| *n += 1),
                }
            }
        });
        tokio::spawn(async move {
            // The position of the last event passed on: a subscription that fails (the database
            // went away) is taken up again from there, so subscribers miss nothing and see
            // nothing twice; they only wait.
            let mut last = head;
            let mut backoff = RESUBSCRIBE_FIRST;
            loop {
                let mut events = db.events.subscribe(last, snapshot_filter());
                loop {
                    let next = tokio::select! {
                        _ = shutdown.cancelled() => return,
                        next = events.next() => next,
                    };
                    match next {
                        Some(Ok(event)) => {
                            last = Some(event.position);
                            backoff = RESUBSCRIBE_FIRST;
                            if let Some(item) = to_item(&event) {
                                // No receivers is fine: nobody is watching.
                                let _ = fan_out.send(Arc::new(item));
                            }
                        }
                        Some(Err(e)) => {
                            tracing::warn!(error = %store::causes(&e), ?backoff, "watch subscription failed; following the log again from its last event");
                            break;
                        }
                        None => break,
                    }
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(RESUBSCRIBE_MAX);
            }
        });
        Ok(hub)
    }

    pub fn subscribers(&self) -> usize {
        self.fan_out.receiver_count()
    }

    /// The items for one organisation and period after `after` (or from now), live, until the
    /// server shuts down or the client goes away.
    pub async fn watch(
        self: &Arc<Self>,
        org_id: String,
        period_id: String,
        after: Option<Position>,
    ) -> Result<impl Stream<Item = Frame> + Send + 'static, store::StoreError> {
        // Join the fan-out before reading the store, so nothing falls between the two.
        let mut live = self.fan_out.subscribe();
        let mut heartbeat = self.heartbeat.clone();
        heartbeat.borrow_and_update();
        let start = match after {
            Some(p) => Some(p),
            None => self.db.events.head().await?,
        };
        let db = self.db.clone();
        let shutdown = self.shutdown.clone();
        let open = crate::http::metrics::OpenStream::start();
        let items = async_stream::stream! {
            let _open = open;
            let mut last = start;
            let wanted = |item: &WatchItem| item.org_id == org_id && item.period_id == period_id;
            // What was missed: everything after `last` that is in the store now.
            let mut gap = after.is_some();
            loop {
                if gap {
                    loop {
                        let page = match db.events.read_all(last.as_ref(), &snapshot_filter(), GAP_PAGE).await {
                            Ok(page) => page,
                            Err(e) => {
                                tracing::warn!(error = %store::causes(&e), "watch could not read its gap from the store");
                                return;
                            }
                        };
                        let full = page.len() == GAP_PAGE;
                        for event in page {
                            last = Some(event.position);
                            if let Some(item) = to_item(&event).filter(|i| wanted(i)) {
                                yield Frame::Item(Arc::new(item));
                            }
                        }
                        if !full {
                            break;
                        }
                    }
                    gap = false;
                }
                let received = tokio::select! {
                    received = live.recv() => received,
                    beat = heartbeat.changed() => {
                        // The tick is gone only when the hub stops: so does the stream.
                        if beat.is_err() {
                            return;
                        }
                        yield Frame::Heartbeat;
                        continue;
                    }
                };
                match received {
                    Ok(item) => {
                        if last.is_some_and(|l| item.position <= l) {
                            continue;
                        }
                        last = Some(item.position);
                        if wanted(&item) {
                            yield Frame::Item(item);
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => gap = true,
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        };
        Ok(items.take_until(shutdown.cancelled_owned()))
    }
}
