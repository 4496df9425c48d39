//! Counts appended events for the process's metrics recorder and gives each append and read a
//! tracing span that records its error, in front of any backend, so the backends stay about
//! storage. Errors are recorded at debug: a conflict is an append's normal answer to a race, and
//! the callers log what matters to them (with its causes, `store::causes`).

use std::sync::Arc;

use futures::stream::BoxStream;

use crate::{
    AppendOutcome, EventStore, ExpectedVersion, Filter, NewEvent, Position, RecordedEvent,
    StoreError, category_of,
};

pub(crate) struct Metered(pub(crate) Arc<dyn EventStore>);

#[async_trait::async_trait]
impl EventStore for Metered {
    /// An idempotent re-send counts again: telling it apart would cost the backends a query.
    #[tracing::instrument(level = "debug", name = "append", skip_all, fields(stream, %expected, events = events.len()), err(level = "debug"))]
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome, StoreError> {
        let count = events.len() as u64;
        let outcome = self.0.append(stream, expected, events).await?;
        metrics::counter!(
            "eventstore_events_appended_total",
            "category" => category_of(stream).to_string()
        )
        .increment(count);
        Ok(outcome)
    }

    #[tracing::instrument(
        level = "debug",
        skip_all,
        fields(stream, from_version),
        err(level = "debug")
    )]
    async fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.0.read_stream(stream, from_version).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(limit), err(level = "debug"))]
    async fn read_all(
        &self,
        after: Option<&Position>,
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.0.read_all(after, filter, limit).await
    }

    async fn head(&self) -> Result<Option<Position>, StoreError> {
        self.0.head().await
    }

    fn subscribe(
        &self,
        after: Option<Position>,
        filter: Filter,
    ) -> BoxStream<'static, Result<RecordedEvent, StoreError>> {
        self.0.subscribe(after, filter)
    }

    fn backend_name(&self) -> &'static str {
        self.0.backend_name()
    }
}
