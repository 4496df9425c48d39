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

/// An error with every cause under it (`top: cause: deeper cause`), for a log line: `%e` alone
/// shows only the top, and the cause is usually what an operator needs.
pub struct Causes<'a>(&'a (dyn std::error::Error + 'static));

/// [`Causes`] of `error`: `tracing::warn!(error = %store::causes(&e), "...")`.
pub fn causes<'a>(error: &'a (dyn std::error::Error + 'static)) -> Causes<'a> {
    Causes(error)
}

impl std::fmt::Display for Causes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut shown = self.0.to_string();
        let mut source = self.0.source();
        while let Some(cause) = source {
            let text = cause.to_string();
            // A wrapper that prints its cause (`database error: {0}`) has said this already.
            if !shown.ends_with(&text) {
                shown.push_str(": ");
                shown.push_str(&text);
            }
            source = cause.source();
        }
        f.write_str(&shown)
    }
}

#[cfg(test)]
mod causes_tests {
    use super::causes;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Middle);

    #[derive(Debug, thiserror::Error)]
    #[error("middle: {0}")]
    struct Middle(#[source] std::io::Error);

    #[test]
    fn every_cause_is_shown_once() {
        let e = Outer(Middle(std::io::Error::other("disk gone")));
        assert_eq!(e.to_string(), "outer");
        assert_eq!(causes(&e).to_string(), "outer: middle: disk gone");
    }
}
