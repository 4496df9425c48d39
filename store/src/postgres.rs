//! The production backend.
//!
//! A bigserial alone is not safe to tail: ids are taken at insert but become visible at commit,
//! so a reader could pass a low id that commits late. Here every appending transaction first locks
//! the single row of `event_log_head` and takes its positions from it, and holds that lock until
//! it commits. PostgreSQL makes a transaction visible before it releases its locks, so position
//! order is commit order: a snapshot that shows position N shows every position below N.
//! `read_all` therefore never skips, and positions have no gaps (a rolled-back append gives its
//! positions back). The writer task batches appends, so the lock is taken once per group commit,
//! not once per append. The conformance suite runs many writer processes' worth of stores against
//! one database to prove it.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use sqlx::postgres::{PgListener, PgPoolOptions, PgRow};
use sqlx::{PgPool, Row};
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use crate::batch::{self, AppendRequest, Committed, Committer, StreamFacts};
use crate::{
    AppendOutcome, EventStore, ExpectedVersion, Filter, NewEvent, Position, RecordedEvent,
    StoreError,
};

/// The LISTEN/NOTIFY channel on which every commit announces the new head.
const CHANNEL: &str = "bufdir_events";
/// A fallback for a notification lost while the listener reconnects.
const POLL: Duration = Duration::from_secs(1);

/// How long a statement waits for a connection. sqlx's default (30 s) turns a PostgreSQL outage
/// into requests that hang for half a minute; with this they fail soon as unreachable (503), and
/// a busy pool still has seconds to hand a connection over.
pub(crate) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Our PostgreSQL pools. sqlx pings every idle connection before handing it out, by default: a
/// second round trip for every statement, measured as 40 % of a read's time. A connection the
/// server dropped fails its next statement instead (a 503 the client retries) and is replaced.
pub(crate) fn pool_options() -> PgPoolOptions {
    PgPoolOptions::new()
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .test_before_acquire(false)
}

#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    writer: mpsc::Sender<AppendRequest>,
    head: watch::Receiver<i64>,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://...`), runs the migrations, starts the writer task and the
    /// listener that wakes subscriptions for commits from any process.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let pool = pool_options().max_connections(16).connect(url).await?;
        crate::migrate::postgres(&pool).await?;
        crate::chain::upgrade_postgres(&pool).await?;
        let head_now: i64 = sqlx::query_scalar("SELECT position FROM event_log_head WHERE id = 1")
            .fetch_one(&pool)
            .await?;
        let (head_tx, head_rx) = watch::channel(head_now);
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen(CHANNEL).await?;
        let head_for_listener = head_tx.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = head_for_listener.closed() => return,
                    message = listener.recv() => match message {
                        Ok(n) => {
                            if let Ok(position) = n.payload().parse::<i64>() {
                                batch::advance(&head_for_listener, position);
                            }
                        }
                        // PgListener reconnects on the next recv; subscriptions poll meanwhile.
                        Err(e) => {
                            tracing::warn!(error = %crate::causes(&e), "event notification listener lost its connection");
                            tokio::time::sleep(POLL).await;
                        }
                    }
                }
            }
        });
        let (tx, rx) = mpsc::channel(8192);
        tokio::spawn(batch::run_writer(
            PostgresCommitter { pool: pool.clone() },
            rx,
            head_tx,
        ));
        Ok(PostgresStore {
            inner: Arc::new(Inner {
                pool,
                writer: tx,
                head: head_rx,
            }),
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }
}

struct PostgresCommitter {
    pool: PgPool,
}

impl Committer for PostgresCommitter {
    async fn commit(&mut self, batch: &[AppendRequest]) -> Result<Committed, StoreError> {
        // As in the SQLite backend: look up stored ids only when the constraint says one is.
        match self.try_commit(batch, false).await {
            Ok(Some(done)) => Ok(done),
            Ok(None) => Ok(self
                .try_commit(batch, true)
                .await?
                .expect("ids were looked up")),
            Err(StoreError::Database(e)) if is_duplicate_event_id(&e) => Ok(self
                .try_commit(batch, true)
                .await?
                .expect("ids were looked up")),
            Err(e) => Err(e),
        }
    }
}

/// The unique constraint on (stream, event_id) fired: an appended id is already stored.
fn is_duplicate_event_id(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.constraint() == Some("events_stream_event_id"))
}

impl PostgresCommitter {
    async fn try_commit(
        &mut self,
        batch: &[AppendRequest],
        find_existing: bool,
    ) -> Result<Option<Committed>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let head: i64 =
            sqlx::query_scalar("SELECT position FROM event_log_head WHERE id = 1 FOR UPDATE")
                .fetch_one(&mut *tx)
                .await?;
        let (streams, ids) = batch::lookup_keys(batch);
        let mut facts = StreamFacts {
            head,
            ..StreamFacts::default()
        };
        let rows = sqlx::query("SELECT stream, version, hash FROM streams WHERE stream = ANY($1)")
            .bind(&streams)
            .fetch_all(&mut *tx)
            .await?;
        for row in rows {
            let stream: String = row.try_get(0)?;
            if let Some(hash) = row.try_get::<Option<String>, _>(2)? {
                facts.hashes.insert(stream.clone(), hash);
            }
            facts
                .versions
                .insert(stream, row.try_get::<i64, _>(1)? as u64);
        }
        if find_existing {
            let (id_streams, id_values): (Vec<String>, Vec<Uuid>) = ids.into_iter().unzip();
            let rows = sqlx::query(
                "SELECT e.stream, e.event_id, e.version, e.position \
                 FROM unnest($1::text[], $2::uuid[]) AS k(stream, event_id) \
                 JOIN events AS e ON e.stream = k.stream AND e.event_id = k.event_id",
            )
            .bind(&id_streams)
            .bind(&id_values)
            .fetch_all(&mut *tx)
            .await?;
            for row in rows {
                facts.existing.insert(
                    (row.try_get(0)?, row.try_get(1)?),
                    (row.try_get::<i64, _>(2)? as u64, row.try_get(3)?),
                );
            }
        }

        let plan = batch::plan(batch, facts, Utc::now());
        if !find_existing && batch::may_be_retry(&plan) {
            // A conflict may be a retry of an append that is already stored: look again with ids.
            return Ok(None);
        }
        if !plan.rows.is_empty() {
            let rows = &plan.rows;
            let (mut names, mut versions, mut hashes) = (vec![], vec![], vec![]);
            for (name, version, hash) in batch::new_versions(rows) {
                names.push(name);
                versions.push(version);
                hashes.push(hash);
            }
            // One statement, one round trip: the events, the streams' versions, the head and the
            // notification (delivered only if and when the transaction commits).
            sqlx::query(
                "WITH appended AS ( \
                     INSERT INTO events (position, stream, category, version, event_id, \
                         event_type, schema_version, payload, metadata, recorded_at, hash) \
                     SELECT position, stream, category, version, event_id, event_type, \
                         schema_version, payload::json, metadata::json, recorded_at, hash \
                     FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::uuid[], \
                         $6::text[], $7::int4[], $8::text[], $9::text[], $10::timestamptz[], \
                         $15::text[]) \
                         AS t(position, stream, category, version, event_id, event_type, \
                              schema_version, payload, metadata, recorded_at, hash)), \
                 versioned AS ( \
                     INSERT INTO streams (stream, version, hash) \
                     SELECT * FROM unnest($11::text[], $12::bigint[], $16::text[]) \
                     ON CONFLICT (stream) DO UPDATE \
                         SET version = excluded.version, hash = excluded.hash), \
                 moved AS (UPDATE event_log_head SET position = $13 WHERE id = 1) \
                 SELECT pg_notify($14, $13::text)",
            )
            .bind(rows.iter().map(|r| r.position).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.stream.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.category.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.version).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.event_id).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|r| r.event_type.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|r| r.schema_version).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.payload.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.metadata.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.recorded_at).collect::<Vec<_>>())
            .bind(&names)
            .bind(&versions)
            .bind(plan.new_head)
            .bind(CHANNEL)
            .bind(rows.iter().map(|r| r.hash.as_str()).collect::<Vec<_>>())
            .bind(&hashes)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Some((plan.results, plan.new_head)))
    }
}

const COLUMNS: &str = "position, stream, version, event_id, event_type, schema_version, \
                       payload::text AS payload, metadata::text AS metadata, recorded_at, hash";

/// One row of [`COLUMNS`], read by position and text borrowed from the row: catch-up decodes
/// every event of the log through here.
fn decode(row: &PgRow) -> Result<RecordedEvent, StoreError> {
    let corrupt = |e: serde_json::Error| StoreError::Corrupt(e.to_string());
    let payload: &str = row.try_get(6)?;
    let metadata: &str = row.try_get(7)?;
    let mut metadata: crate::Metadata = serde_json::from_str(metadata).map_err(corrupt)?;
    metadata.recorded_at = Some(row.try_get::<DateTime<Utc>, _>(8)?);
    Ok(RecordedEvent {
        event_id: row.try_get(3)?,
        stream: row.try_get(1)?,
        version: row.try_get::<i64, _>(2)? as u64,
        position: Position::from_sql(row.try_get(0)?),
        event_type: row.try_get(4)?,
        schema_version: row.try_get::<i32, _>(5)? as u32,
        payload: serde_json::from_str(payload).map_err(corrupt)?,
        metadata,
        hash: row.try_get(9)?,
    })
}

#[async_trait::async_trait]
impl EventStore for PostgresStore {
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
        let categories = (!filter.categories.is_empty()).then_some(&filter.categories);
        let types = (!filter.event_types.is_empty()).then_some(&filter.event_types);
        let sql = format!(
            "SELECT {COLUMNS} FROM events WHERE position > $1 \
             AND ($2::text[] IS NULL OR category = ANY($2)) \
             AND ($3::text[] IS NULL OR event_type = ANY($3)) \
             ORDER BY position LIMIT $4"
        );
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
        let head: i64 = sqlx::query_scalar("SELECT position FROM event_log_head WHERE id = 1")
            .fetch_one(&self.inner.pool)
            .await?;
        Ok((head > 0).then(|| Position::from_sql(head)))
    }

    fn subscribe(
        &self,
        after: Option<Position>,
        filter: Filter,
    ) -> BoxStream<'static, Result<RecordedEvent, StoreError>> {
        crate::subscription::tail(self.clone(), after, filter, self.inner.head.clone(), POLL)
    }

    fn backend_name(&self) -> &'static str {
        "postgres"
    }
}
