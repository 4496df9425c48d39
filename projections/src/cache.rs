//! The rows the API reads by id, kept in memory: a projection of the read models.
//!
//! A read looks in memory first and otherwise loads the row from SQL and keeps it. An entry is
//! dropped whenever a read model it comes from may have changed. This process's runner drops a
//! projection's entries right after each batch it commits (before it wakes read-your-writes
//! waits), and when it finds that another process moved the checkpoint.
//!
//! Other processes commit batches too (API replicas and workers on PostgreSQL, a `worker` beside
//! `serve` on one SQLite file), and nothing they send reaches this process before the client who
//! waited for their write can ask it. So a read first passes a *read barrier*. On PostgreSQL that
//! is one query of every projection's checkpoint that began after the read arrived; a checkpoint
//! that moved since the last barrier drops what came from its read model. Reads that arrive while
//! one barrier query runs share the next one, so under load one small query serves many reads,
//! and a read never answers from a state older than the one it arrived after. On SQLite every
//! process on the database counts its batches in shared memory (`batch_counts.rs`), bumped after
//! each commit and before anyone is told of it; the barrier compares those counts.
//!
//! A load that raced with a drop (it began before and may have read the old row) is not kept:
//! each map has a generation, moved on by every drop, and a loaded row is kept only if the
//! generation is the one seen before loading. Absent rows are never kept: unknown ids must not
//! fill memory.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use store::{ReadPool, on_pool};

use crate::batch_counts::BatchCounts;
use crate::exports::ExportRow;
use crate::organizations::OrganizationRow;
use crate::report_queries::SnapshotRow;
use crate::reports::ReportRow;
use crate::submissions::SubmissionRow;
use crate::{ProjectionName, exports, organizations, report_data, reports, submissions};

/// Entries per map. A full map is emptied rather than evicting one by one: the hot ids are back
/// after one read each, and the bound only keeps a scan of many ids from growing memory.
const CAPACITY: usize = 20_000;

/// One kind of row by id, and the projections whose batches may change it.
pub struct Cached<T> {
    sources: &'static [ProjectionName],
    rows: RwLock<HashMap<String, T>>,
    generation: AtomicU64,
}

impl<T: Clone> Cached<T> {
    fn new(sources: &'static [ProjectionName]) -> Self {
        Cached {
            sources,
            rows: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
        }
    }

    /// The row `id` as of `fresh` (see [`ReadCache::fresh`]): from memory, or from `load` (and
    /// kept, if nothing was dropped meanwhile). Without a barrier passed, straight from `load`.
    async fn get<E, F>(&self, id: &str, fresh: Fresh, load: F) -> Result<Option<T>, E>
    where
        F: Future<Output = Result<Option<T>, E>>,
    {
        if fresh == Fresh::Unknown {
            return load.await;
        }
        if let Some(row) = self.rows.read().expect("cache lock").get(id) {
            return Ok(Some(row.clone()));
        }
        let generation = self.generation.load(Ordering::Acquire);
        let loaded = load.await?;
        if let Some(row) = &loaded {
            let mut rows = self.rows.write().expect("cache lock");
            // Compared under the lock that drops take, so a drop is either seen here or after.
            if self.generation.load(Ordering::Acquire) == generation {
                if rows.len() >= CAPACITY {
                    rows.clear();
                }
                rows.insert(id.to_string(), row.clone());
            }
        }
        Ok(loaded)
    }

    fn drop_all(&self) {
        let mut rows = self.rows.write().expect("cache lock");
        self.generation.fetch_add(1, Ordering::AcqRel);
        rows.clear();
    }

    fn comes_from(&self, projection: ProjectionName) -> bool {
        self.sources.contains(&projection)
    }

    pub fn len(&self) -> usize {
        self.rows.read().expect("cache lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Runs `$body` with `$cached` bound to each of the cache's maps (they differ in type).
macro_rules! for_each_kind {
    ($cache:expr, $cached:ident => $body:expr) => {{
        {
            let $cached = &$cache.organizations;
            $body;
        }
        {
            let $cached = &$cache.snapshots;
            $body;
        }
        {
            let $cached = &$cache.exports;
            $body;
        }
        {
            let $cached = &$cache.reports;
            $body;
        }
        {
            let $cached = &$cache.submissions;
            $body;
        }
    }};
}

/// Whether memory may answer a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fresh {
    /// Everything this process keeps is as new as the read models were when the read arrived.
    Yes,
    /// The barrier could not be passed (the database did not answer): read from SQL.
    Unknown,
}

/// Every kind of row the API reads by id.
pub struct ReadCache {
    pub organizations: Cached<OrganizationRow>,
    /// A snapshot row carries its organisation's name.
    pub snapshots: Cached<SnapshotRow>,
    pub exports: Cached<ExportRow>,
    pub reports: Cached<ReportRow>,
    pub submissions: Cached<SubmissionRow>,
    barrier: Barrier,
}

struct Barrier {
    pool: ReadPool,
    /// On SQLite, the batch counts every process on the database keeps, and the counts seen
    /// when this process last dropped entries (slot by slot, as [`ProjectionName::ALL`]).
    shared: Option<(
        BatchCounts,
        std::sync::Mutex<[u64; ProjectionName::ALL.len()]>,
    )>,
    /// Barrier queries begun so far; a read that arrives when it reads `n` needs query `n + 1`.
    begun: AtomicU64,
    /// The last query passed and each projection's checkpoint as it saw them. Held while a
    /// query runs, so reads queue behind it and then share the result of the next one.
    passed: tokio::sync::Mutex<Passed>,
}

struct Passed {
    number: u64,
    fresh: Fresh,
    checkpoints: HashMap<String, String>,
}

impl ReadCache {
    /// `pool`: the read models' database, where the barrier reads the checkpoints.
    pub fn new(pool: ReadPool) -> Self {
        let shared = match &pool {
            ReadPool::Sqlite(sqlite) => {
                BatchCounts::beside(sqlite.connect_options().get_filename())
                    .map(|counts| (counts, std::sync::Mutex::default()))
            }
            ReadPool::Postgres(_) => None,
        };
        ReadCache {
            organizations: Cached::new(&[organizations::NAME]),
            snapshots: Cached::new(&[report_data::NAME, organizations::NAME]),
            exports: Cached::new(&[exports::NAME]),
            reports: Cached::new(&[reports::NAME]),
            submissions: Cached::new(&[submissions::NAME]),
            barrier: Barrier {
                pool,
                shared,
                begun: AtomicU64::new(0),
                passed: tokio::sync::Mutex::new(Passed {
                    number: 0,
                    fresh: Fresh::Unknown,
                    checkpoints: HashMap::new(),
                }),
            },
        }
    }

    /// The row `id` of the kind `kind` picks, from memory or from `load`, at least as new as
    /// the read models when this call began (it passes the read barrier first).
    pub async fn read<T: Clone, E, F>(
        &self,
        kind: impl FnOnce(&Self) -> &Cached<T>,
        id: &str,
        load: F,
    ) -> Result<Option<T>, E>
    where
        F: Future<Output = Result<Option<T>, E>>,
    {
        let fresh = self.fresh().await;
        kind(self).get(id, fresh, load).await
    }

    /// This process committed a batch (or a rebuild) of `projection`: tells the other processes
    /// on the database where it can (SQLite), and drops what came from it.
    pub fn committed(&self, projection: ProjectionName) {
        if let Some((counts, _)) = &self.barrier.shared {
            counts.committed(projection);
        }
        self.changed(projection);
    }

    /// Drops every entry that comes from `projection`'s read model.
    pub fn changed(&self, projection: ProjectionName) {
        for_each_kind!(self, cached => {
            if cached.comes_from(projection) {
                cached.drop_all();
            }
        });
    }

    /// Passes the read barrier: whatever memory answers after this is at least as new as the
    /// read models when this call began.
    async fn fresh(&self) -> Fresh {
        let barrier = &self.barrier;
        if let Some((counts, seen)) = &barrier.shared {
            let now = counts.now();
            let mut seen = seen.lock().expect("batch counts lock");
            for projection in ProjectionName::ALL {
                let slot = projection.slot();
                if seen[slot] != now[slot] {
                    self.changed(projection);
                    seen[slot] = now[slot];
                }
            }
            return Fresh::Yes;
        }
        let arrived_after = barrier.begun.load(Ordering::Acquire);
        let mut passed = barrier.passed.lock().await;
        if passed.number > arrived_after {
            // A query that began after this read arrived has been answered meanwhile.
            return passed.fresh;
        }
        let number = barrier.begun.fetch_add(1, Ordering::AcqRel) + 1;
        let stored: Result<Vec<(String, String)>, sqlx::Error> = on_pool!(&barrier.pool, c =>
            sqlx::query_as("SELECT name, position FROM projection_checkpoints")
                .fetch_all(c)
                .await);
        passed.number = number;
        passed.fresh = match stored {
            Ok(stored) => {
                for (name, position) in stored {
                    if passed.checkpoints.get(&name) != Some(&position) {
                        // Other checkpoints (a worker's) share the table; no row comes from them.
                        if let Some(projection) = ProjectionName::parse(&name) {
                            self.changed(projection);
                        }
                        passed.checkpoints.insert(name, position);
                    }
                }
                Fresh::Yes
            }
            Err(e) => {
                tracing::warn!(error = %store::causes(&e), "read barrier failed; reading from SQL");
                Fresh::Unknown
            }
        };
        passed.fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached() -> Cached<String> {
        Cached::new(&[ProjectionName::Exports])
    }

    async fn load(row: &str) -> Result<Option<String>, ()> {
        Ok(Some(row.to_string()))
    }

    #[tokio::test]
    async fn a_loaded_row_is_kept_and_answered_from_memory_until_a_drop() {
        let c = cached();
        assert_eq!(
            c.get("e1", Fresh::Yes, load("v1")).await,
            Ok(Some("v1".into()))
        );
        // Memory answers: the load is not asked again.
        assert_eq!(
            c.get("e1", Fresh::Yes, load("v2")).await,
            Ok(Some("v1".into()))
        );
        c.drop_all();
        assert_eq!(
            c.get("e1", Fresh::Yes, load("v2")).await,
            Ok(Some("v2".into()))
        );
    }

    #[tokio::test]
    async fn a_row_loaded_across_a_drop_is_not_kept() {
        let c = cached();
        let racing = async {
            // The drop lands while the load is under way: what it read may be the old row.
            c.drop_all();
            Ok::<_, ()>(Some("old".to_string()))
        };
        assert_eq!(
            c.get("e1", Fresh::Yes, racing).await,
            Ok(Some("old".into()))
        );
        assert!(c.is_empty(), "the raced row was kept");
        assert_eq!(
            c.get("e1", Fresh::Yes, load("new")).await,
            Ok(Some("new".into()))
        );
    }

    #[tokio::test]
    async fn without_a_barrier_passed_memory_is_neither_read_nor_filled() {
        let c = cached();
        c.get("e1", Fresh::Yes, load("v1")).await.unwrap();
        assert_eq!(
            c.get("e1", Fresh::Unknown, load("v2")).await,
            Ok(Some("v2".into()))
        );
        assert_eq!(c.len(), 1);
        assert_eq!(
            c.get("e1", Fresh::Yes, load("v3")).await,
            Ok(Some("v1".into()))
        );
    }

    #[tokio::test]
    async fn absent_rows_are_not_kept() {
        let c = cached();
        let none = async { Ok::<Option<String>, ()>(None) };
        assert_eq!(c.get("nope", Fresh::Yes, none).await, Ok(None));
        assert!(c.is_empty());
    }
}
