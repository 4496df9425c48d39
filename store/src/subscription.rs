//! Catch-up then live, shared by the SQL backends.
//!
//! The subscription reads pages with `read_all` from its last position. When a page comes back
//! empty it waits for the in-process head to move (or a backend notification, or a slow poll for
//! writers in other processes) and reads again. It only ever continues from the position of the
//! last event it delivered, and `read_all` only returns events that no later commit can precede,
//! so nothing is skipped or repeated whatever the timing of the wake-ups.

use std::time::Duration;

use futures::StreamExt;
use futures::future::Either;
use futures::stream::{self, BoxStream};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;

use crate::{EventStore, Filter, Position, RecordedEvent, StoreError};

const PAGE: usize = 2048;

pub(crate) fn tail<S: EventStore + Clone>(
    store: S,
    after: Option<Position>,
    filter: Filter,
    mut wake: watch::Receiver<i64>,
    poll: Duration,
) -> BoxStream<'static, Result<RecordedEvent, StoreError>> {
    // Whole pages go through the channel (one send per page, not per event), and only two wait
    // in it: a slow consumer holds the reader back instead of growing memory.
    let (tx, rx) = mpsc::channel::<Result<Vec<RecordedEvent>, StoreError>>(2);
    tokio::spawn(async move {
        let mut cursor = after;
        loop {
            // Mark the current head as seen before reading, so an append that lands after the
            // read has begun still wakes us below.
            wake.borrow_and_update();
            let page = match store.read_all(cursor.as_ref(), &filter, PAGE).await {
                Ok(page) => page,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            let full = page.len() == PAGE;
            if let Some(last) = page.last() {
                cursor = Some(last.position);
                if tx.send(Ok(page)).await.is_err() {
                    return;
                }
            }
            if full {
                continue;
            }
            tokio::select! {
                _ = tx.closed() => return,
                changed = wake.changed() => {
                    if changed.is_err() {
                        // The writer is gone (store dropped); keep serving other processes' writes.
                        tokio::time::sleep(poll).await;
                    }
                }
                _ = tokio::time::sleep(poll) => {}
            }
        }
    });
    Box::pin(ReceiverStream::new(rx).flat_map(|page| match page {
        Ok(events) => Either::Left(stream::iter(events).map(Ok)),
        Err(e) => Either::Right(stream::once(std::future::ready(Err(e)))),
    }))
}
