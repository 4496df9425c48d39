//! Catch-up then live over `$all`, surviving dropped connections.
//!
//! The server's subscription already goes from catch-up to live without a gap. What it does not
//! do is outlive its connection: when that fails we subscribe again, after a growing pause, from
//! the position of the last event we took from the server, so nothing is skipped or delivered
//! twice. Any event at or before that position is dropped as well, whatever the server sends.

use std::sync::Arc;
use std::time::Duration;

use eventstore::{StreamPosition, SubscribeToAllOptions, SubscriptionEvent};
use futures::stream::BoxStream;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::connection::Connection;
use super::errors::{Failure, classify};
use super::filter::ServerFilter;
use super::mapping;
use crate::{Filter, Position, RecordedEvent, StoreError};

/// Events decoded ahead of a slow consumer; beyond that the server's stream is not read.
const BUFFER: usize = 1024;

pub(super) fn subscribe(
    connection: Arc<Connection>,
    after: Option<Position>,
    filter: Filter,
) -> BoxStream<'static, Result<RecordedEvent, StoreError>> {
    let (tx, rx) = mpsc::channel(BUFFER);
    tokio::spawn(run(connection, after, filter, tx));
    Box::pin(ReceiverStream::new(rx))
}

type Sender = mpsc::Sender<Result<RecordedEvent, StoreError>>;

async fn run(connection: Arc<Connection>, after: Option<Position>, filter: Filter, tx: Sender) {
    let server_filter = ServerFilter::for_filter(&filter).subscription_filter();
    // The last event taken from the server, delivered or filtered out: resuming after it
    // repeats nothing and skips nothing the filter would let through.
    let mut cursor = after;
    let mut backoff = Backoff::default();
    loop {
        let from = cursor.as_ref().map_or(StreamPosition::Start, |p| {
            StreamPosition::Position(mapping::esdb_position(p))
        });
        let options = SubscribeToAllOptions::default()
            .position(from)
            .filter(server_filter.clone());
        let current = connection.current();
        let mut subscription = current.client.subscribe_to_all(&options).await;
        let failure = loop {
            let next = tokio::select! {
                _ = tx.closed() => return,
                next = subscription.next_subscription_event() => next,
            };
            match next {
                Ok(SubscriptionEvent::EventAppeared(resolved)) => {
                    backoff.reset();
                    let Some(raw) = mapping::original(resolved) else {
                        continue;
                    };
                    let position = mapping::position(raw.position);
                    if cursor.is_some_and(|c| position <= c) {
                        continue;
                    }
                    cursor = Some(position);
                    if !mapping::wanted(&filter, &raw.stream_id, &raw.event_type) {
                        continue;
                    }
                    let event = mapping::recorded(&raw);
                    let stop = event.is_err();
                    if tx.send(event).await.is_err() || stop {
                        return;
                    }
                }
                Ok(SubscriptionEvent::Confirmed(_)) => backoff.reset(),
                // A checkpoint is where the server's next filtered read starts, which may be
                // an event not yet delivered: resuming after it could skip that event.
                Ok(_) => {}
                Err(e) => break classify(e),
            }
        };
        match failure {
            Failure::Transient { error, client_gone } => {
                if client_gone {
                    connection.replace(&current);
                }
                tracing::warn!(%error, "eventstoredb subscription dropped; subscribing again");
                tokio::select! {
                    _ = tx.closed() => return,
                    _ = tokio::time::sleep(backoff.next_delay()) => {}
                }
            }
            other => {
                let _ = tx.send(Err(other.into_error())).await;
                return;
            }
        }
    }
}

/// Pauses between reconnection attempts: 100 ms, doubling up to 5 s, back to the start once a
/// subscription works again.
#[derive(Debug)]
pub(super) struct Backoff {
    next: Duration,
}

const FIRST_PAUSE: Duration = Duration::from_millis(100);
const LONGEST_PAUSE: Duration = Duration::from_secs(5);

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: FIRST_PAUSE }
    }
}

impl Backoff {
    pub(super) fn next_delay(&mut self) -> Duration {
        let now = self.next;
        self.next = (self.next * 2).min(LONGEST_PAUSE);
        now
    }

    pub(super) fn reset(&mut self) {
        self.next = FIRST_PAUSE;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_from_100ms_up_to_5s_and_reset() {
        let mut b = Backoff::default();
        let ms: Vec<u128> = (0..9).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(100));
    }
}
