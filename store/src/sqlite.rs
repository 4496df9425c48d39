//! The embedded backend. SQLite serialises writers, so with positions given inside a
//! `BEGIN IMMEDIATE` transaction commit order equals position order and any reader that continues
//! after the last position it saw never skips an event.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use crate::batch::{self, AppendRequest};
use crate::{
    AppendOutcome, EventStore, ExpectedVersion, Filter, NewEvent, Position, RecordedEvent,
    StoreError,
};

/// Appends from other processes on the same file are not announced in-process; this is how
/// late a subscription may see them.
const CROSS_PROCESS_POLL: Duration = Duration::from_millis(250);

#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: SqlitePool,
    writer: mpsc::Sender<AppendRequest>,
    head: watch::Receiver<i64>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` (`sqlite://path`), runs the migrations and
    /// starts the writer (`sqlite_writer`).
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = connect_options(url)?;
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.clone())
            .await?;
        crate::migrate::sqlite(&pool).await?;
        crate::chain::upgrade_sqlite(&pool).await?;
        let head_now: i64 = sqlx::query_scalar("SELECT coalesce(max(position), 0) FROM events")
            .fetch_one(&pool)
            .await?;
        let (head_tx, head_rx) = watch::channel(head_now);
        let (tx, rx) = mpsc::channel(8192);
        crate::sqlite_writer::start(options.get_filename(), rx, head_tx)?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                pool,
                writer: tx,
                head: head_rx,
            }),
        })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.inner.pool
    }
}

pub(crate) fn connect_options(url: &str) -> Result<SqliteConnectOptions, StoreError> {
    Ok(SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // With WAL, NORMAL loses no committed transaction when the process dies; only a power
        // loss can take the last commits (design section 9).
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true))
}

const COLUMNS: &str = "position, stream, version, event_id, event_type, schema_version, payload, metadata, recorded_at, hash";

/// One row of [`COLUMNS`], read by position and text borrowed from the row: catch-up decodes
/// every event of the log through here.
fn decode(row: &SqliteRow) -> Result<RecordedEvent, StoreError> {
    let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(e.to_string());
    let event_id: &str = row.try_get(3)?;
    let payload: &str = row.try_get(6)?;
    let metadata: &str = row.try_get(7)?;
    let recorded_at: &str = row.try_get(8)?;
    let mut metadata: crate::Metadata = serde_json::from_str(metadata).map_err(|e| corrupt(&e))?;
    metadata.recorded_at = Some(
        DateTime::parse_from_rfc3339(recorded_at)
            .map_err(|e| corrupt(&e))?
            .with_timezone(&Utc),
    );
    Ok(RecordedEvent {
        event_id: Uuid::parse_str(event_id).map_err(|e| corrupt(&e))?,
        stream: row.try_get(1)?,
        version: row.try_get::<i64, _>(2)? as u64,
        position: Position::from_sql(row.try_get(0)?),
        event_type: row.try_get(4)?,
        schema_version: row.try_get::<i64, _>(5)? as u32,
        payload: serde_json::from_str(payload).map_err(|e| corrupt(&e))?,
        metadata,
        hash: row.try_get(9)?,
    })
}

#[async_trait::async_trait]
impl EventStore for SqliteStore {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome, StoreError> {
        batch::submit(&self.inner.writer, stream, expected, events).await
    }

    async fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM events WHERE stream = $1 AND version >= $2 ORDER BY version"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(stream)
            .bind(from_version.min(i64::MAX as u64) as i64)
            .fetch_all(&self.inner.pool)
            .await?;
        rows.iter().map(decode).collect()
    }

    async fn read_all(
        &self,
        after: Option<&Position>,
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let (categories, types) = filter.sql_params();
        // Three fixed shapes so each can use its own index.
        let condition = if categories.is_some() {
            "category IN (SELECT value FROM json_each($2)) AND position > $1 \
             AND ($3 IS NULL OR event_type IN (SELECT value FROM json_each($3)))"
        } else if types.is_some() {
            "event_type IN (SELECT value FROM json_each($3)) AND position > $1 AND $2 IS NULL"
        } else {
            "position > $1 AND $2 IS NULL AND $3 IS NULL"
        };
        let sql =
            format!("SELECT {COLUMNS} FROM events WHERE {condition} ORDER BY position LIMIT $4");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(after.map_or(0, Position::sql))
            .bind(categories)
            .bind(types)
            .bind(limit.min(i64::MAX as usize) as i64)
            .fetch_all(&self.inner.pool)
            .await?;
        rows.iter().map(decode).collect()
    }

    async fn head(&self) -> Result<Option<Position>, StoreError> {
        let head: Option<i64> = sqlx::query_scalar("SELECT max(position) FROM events")
            .fetch_one(&self.inner.pool)
            .await?;
        Ok(head.map(Position::from_sql))
    }

    fn subscribe(
        &self,
        after: Option<Position>,
        filter: Filter,
    ) -> BoxStream<'static, Result<RecordedEvent, StoreError>> {
        crate::subscription::tail(
            self.clone(),
            after,
            filter,
            self.inner.head.clone(),
            CROSS_PROCESS_POLL,
        )
    }

    fn backend_name(&self) -> &'static str {
        "sqlite"
    }
}
