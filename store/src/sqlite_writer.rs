//! SQLite's appends, on one connection of their own and a thread of their own. Through sqlx every
//! statement is a hand-off to the connection's worker thread and back (five per commit, each a
//! wake-up on another core); here the whole commit runs where the connection lives, with
//! statements prepared once and kept, so a group commit costs what SQLite itself costs.

use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior};
use tokio::sync::{mpsc, watch};

use crate::StoreError;
use crate::batch::{self, AppendRequest, Committed, Committer, StreamFacts};

/// As the pool's connections (`sqlite::connect_options`): another process's writer may hold the
/// write lock this long before an append gives up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

const HEAD: &str = "SELECT coalesce(max(position), 0) FROM events";
const VERSION: &str = "SELECT version, hash FROM streams WHERE stream = ?1";
const STORED: &str = "SELECT version, position FROM events WHERE stream = ?1 AND event_id = ?2";
const INSERT: &str = "INSERT INTO events (position, stream, category, version, event_id, \
     event_type, schema_version, payload, metadata, recorded_at, hash) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
const SET_VERSION: &str = "INSERT INTO streams (stream, version, hash) VALUES (?1, ?2, ?3) \
     ON CONFLICT (stream) DO UPDATE SET version = excluded.version, hash = excluded.hash";

/// Opens the writer's connection to the (already migrated) database file and starts the thread
/// that commits the appends `requests` brings. The thread ends when every sender is gone.
pub(crate) fn start(
    file: &Path,
    requests: mpsc::Receiver<AppendRequest>,
    head: watch::Sender<i64>,
) -> Result<(), StoreError> {
    let conn = Connection::open(file)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // WAL is a property of the file (the pool set it); synchronous is per connection and, with
    // WAL, NORMAL loses no committed transaction when the process dies (design section 9).
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| StoreError::Config(format!("the SQLite writer's runtime: {e}")))?;
    std::thread::Builder::new()
        .name("sqlite-writer".into())
        .spawn(move || {
            runtime.block_on(batch::run_writer(SqliteCommitter { conn }, requests, head))
        })
        .map_err(|e| StoreError::Config(format!("the SQLite writer's thread: {e}")))?;
    Ok(())
}

struct SqliteCommitter {
    conn: Connection,
}

impl Committer for SqliteCommitter {
    // Blocking calls in an async fn: this future is the only one its thread's runtime runs.
    async fn commit(&mut self, batch: &[AppendRequest]) -> Result<Committed, StoreError> {
        // Retried appends are rare: commit without looking for their ids first, and only when
        // the unique constraint says an id is already stored, commit again looking them up.
        match self.try_commit(batch, false) {
            Ok(Some(done)) => Ok(done),
            Ok(None) => Ok(self.try_commit(batch, true)?.expect("ids were looked up")),
            Err(StoreError::Sqlite(e)) if is_duplicate_event_id(&e) => {
                Ok(self.try_commit(batch, true)?.expect("ids were looked up"))
            }
            Err(e) => Err(e),
        }
    }
}

impl SqliteCommitter {
    fn try_commit(
        &mut self,
        batch: &[AppendRequest],
        find_existing: bool,
    ) -> Result<Option<Committed>, StoreError> {
        // IMMEDIATE takes the write lock now, so nothing moves between reading the head and
        // writing after it, whichever process writes.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (streams, ids) = batch::lookup_keys(batch);
        let mut facts = StreamFacts {
            head: tx.prepare_cached(HEAD)?.query_row([], |row| row.get(0))?,
            ..StreamFacts::default()
        };
        {
            let mut version = tx.prepare_cached(VERSION)?;
            for stream in streams {
                let found: Option<(i64, Option<String>)> = version
                    .query_row([&stream], |row| Ok((row.get(0)?, row.get(1)?)))
                    .optional()?;
                if let Some((v, hash)) = found {
                    facts.versions.insert(stream.clone(), v as u64);
                    if let Some(hash) = hash {
                        facts.hashes.insert(stream, hash);
                    }
                }
            }
        }
        if find_existing {
            let mut stored = tx.prepare_cached(STORED)?;
            for (stream, id) in ids {
                let found: Option<(i64, i64)> = stored
                    .query_row((&stream, id.to_string()), |row| {
                        Ok((row.get(0)?, row.get(1)?))
                    })
                    .optional()?;
                if let Some((version, position)) = found {
                    facts
                        .existing
                        .insert((stream, id), (version as u64, position));
                }
            }
        }

        let plan = batch::plan(batch, facts, Utc::now());
        if !find_existing && batch::may_be_retry(&plan) {
            // A conflict may be a retry of an append that is already stored: look again with ids.
            return Ok(None);
        }
        {
            let mut insert = tx.prepare_cached(INSERT)?;
            for row in &plan.rows {
                insert.execute((
                    row.position,
                    &row.stream,
                    &row.category,
                    row.version,
                    row.event_id.to_string(),
                    &row.event_type,
                    row.schema_version,
                    &row.payload,
                    &row.metadata,
                    crate::chain::recorded_time(row.recorded_at),
                    &row.hash,
                ))?;
            }
            let mut set_version = tx.prepare_cached(SET_VERSION)?;
            for (stream, version, hash) in batch::new_versions(&plan.rows) {
                set_version.execute((stream, version, hash))?;
            }
        }
        tx.commit()?;
        Ok(Some((plan.results, plan.new_head)))
    }
}

/// The unique index on (stream, event_id) fired: an appended id is already stored.
fn is_duplicate_event_id(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(failure, Some(message))
        if failure.code == ErrorCode::ConstraintViolation && message.contains("events.event_id"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unique_event_id_is_told_from_other_constraints() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE events (stream TEXT NOT NULL, event_id TEXT NOT NULL, n INTEGER CHECK (n > 0)); \
             CREATE UNIQUE INDEX events_stream_event_id ON events (stream, event_id); \
             INSERT INTO events VALUES ('s', 'a', 1);",
        )
        .unwrap();
        let duplicate = conn
            .execute("INSERT INTO events VALUES ('s', 'a', 1)", [])
            .unwrap_err();
        assert!(is_duplicate_event_id(&duplicate));
        let other = conn
            .execute("INSERT INTO events VALUES ('s', 'b', 0)", [])
            .unwrap_err();
        assert!(!is_duplicate_event_id(&other));
        assert!(!is_duplicate_event_id(
            &rusqlite::Error::QueryReturnedNoRows
        ));
    }
}
