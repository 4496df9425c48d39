//! What can go wrong in the store, split so that commands can tell a retryable conflict from
//! a broken database.

use crate::event::ExpectedVersion;

/// Why an append or a read failed. `Conflict` is the only one a command may retry.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("version conflict on stream {stream}: expected {expected}, actual {actual:?}")]
    Conflict {
        stream: String,
        expected: ExpectedVersion,
        /// The stream's current version; `None` when it does not exist.
        actual: Option<u64>,
    },
    /// Some, but not all, of the appended event ids are already in the stream: this is neither a
    /// retry nor a new append, so it is refused rather than guessed at.
    #[error("stream {stream} already holds some of these event ids but not all")]
    PartialDuplicate { stream: String },
    #[error("invalid append: {0}")]
    InvalidAppend(String),
    #[error("invalid position {0:?}")]
    InvalidPosition(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("the event store is shutting down")]
    Closed,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The SQLite writer's own connection (`sqlite_writer`) failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored event is unreadable: {0}")]
    Corrupt(String),
    #[error("eventstoredb: {0}")]
    EventStoreDb(String),
}
