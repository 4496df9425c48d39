//! The event store: the log every other part of the service is rebuilt from.
//!
//! One trait ([`EventStore`]) with a backend per database. Callers never see a backend's notion of
//! position: [`Position`] is opaque, ordered, and travels as a string, so an EventStoreDB backend
//! (whose `$all` position is a commit/prepare pair) fits the same shape.

mod batch;
pub mod chain;
mod connect;
mod error;
mod event;
mod eventstoredb;
mod filter;
mod metered;
pub mod migrate;
mod postgres;
mod read_db;
mod sqlite;
mod sqlite_writer;
mod subscription;
pub mod tables;

pub use connect::{Backend, Database, connect, connect_with};
pub use error::{Causes, StoreError, causes};
pub use event::{
    AppendOutcome, ExpectedVersion, Metadata, NewEvent, Position, RecordedEvent, category_of,
};
pub use eventstoredb::EventStoreDbStore;
pub use filter::Filter;
pub use postgres::PostgresStore;
pub use read_db::{IdList, ReadPool, ReadTransaction, Stamp};
pub use sqlite::SqliteStore;

use futures::stream::BoxStream;

/// The operations of design section 3. Every backend passes the same conformance suite
/// (`tests/tests/store_conformance.rs`).
#[async_trait::async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends `events` to `stream` if its current version matches `expected`.
    ///
    /// Re-sending events whose ids are already in the stream is a no-op that answers with the
    /// original outcome, so a client may retry an append whose answer it lost.
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome, StoreError>;

    /// The events of one stream from `from_version` on, in version order.
    async fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Up to `limit` events after `after` (from the start when `None`) that match `filter`, in
    /// global order. Only events that can no longer be preceded by a later commit are returned,
    /// so a reader that continues from the last position it saw never skips one.
    async fn read_all(
        &self,
        after: Option<&Position>,
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The position of the newest event, if any.
    async fn head(&self) -> Result<Option<Position>, StoreError>;

    /// Catch-up from `after`, then live: one ordered stream with no gaps and no duplicates.
    /// It ends only when the receiver drops it (or on a store error, which it yields).
    fn subscribe(
        &self,
        after: Option<Position>,
        filter: Filter,
    ) -> BoxStream<'static, Result<RecordedEvent, StoreError>>;

    /// Which backend this is, for logs and `/readyz`.
    fn backend_name(&self) -> &'static str;
}
