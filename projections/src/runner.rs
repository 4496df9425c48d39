//! Runs the projections: catches each up from its checkpoint in batches, follows the log, and
//! wakes read-your-writes waits and workers after each committed batch.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use std::panic::AssertUnwindSafe;
use store::{Database, Position, RecordedEvent, Stamp, StoreError, on_tx};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::cache::ReadCache;
use crate::{Projection, ProjectionName, checkpoint};

/// Events per transaction when catching up.
const BATCH: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("unknown projection {0:?}")]
    Unknown(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("read model database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("cannot apply event: {0}")]
    Corrupt(String),
    #[error("cannot read event: {0}")]
    Decode(#[from] domain::DecodeError),
    #[error("panicked: {0}")]
    Panicked(String),
    /// Another runner (or a rebuild) moved the checkpoint; resume from where it is now.
    #[error("the checkpoint moved under this runner")]
    CheckpointMoved,
}

/// How far behind the log a projection is.
#[derive(Debug, Clone)]
pub struct Lag {
    pub name: ProjectionName,
    pub checkpoint: Option<Position>,
    /// Events it has still to apply, counted up to `LAG_COUNT_CAP`.
    pub behind: usize,
}

const LAG_COUNT_CAP: usize = 1000;

/// The projections of one process, with the runners that keep them current.
pub struct Projections {
    db: Database,
    projections: Vec<Arc<dyn Projection>>,
    /// The checkpoint each projection has committed in this process; wakes read-your-writes waits.
    progress: HashMap<ProjectionName, watch::Sender<Option<Position>>>,
    /// Notified after every committed batch: workers whose work list is a read model wake on it.
    changed: Arc<tokio::sync::Notify>,
    /// The rows the API reads by id; entries are dropped as batches commit.
    cache: Arc<ReadCache>,
}

impl Projections {
    pub fn new(db: Database, projections: Vec<Arc<dyn Projection>>) -> Arc<Self> {
        let progress = projections
            .iter()
            .map(|p| (p.name(), watch::channel(None).0))
            .collect();
        let cache = Arc::new(ReadCache::new(db.read.clone()));
        Arc::new(Projections {
            db,
            projections,
            progress,
            changed: Arc::new(tokio::sync::Notify::new()),
            cache,
        })
    }

    /// The rows the API reads by id, kept current by this process's runners.
    pub fn cache(&self) -> &ReadCache {
        &self.cache
    }

    pub fn names(&self) -> Vec<ProjectionName> {
        self.projections.iter().map(|p| p.name()).collect()
    }

    fn get(&self, name: ProjectionName) -> Result<&Arc<dyn Projection>, ProjectionError> {
        self.projections
            .iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| ProjectionError::Unknown(name.to_string()))
    }

    /// The projection a caller named (the CLI's `projections rebuild NAME`).
    fn named(&self, name: &str) -> Result<&Arc<dyn Projection>, ProjectionError> {
        ProjectionName::parse(name)
            .ok_or_else(|| ProjectionError::Unknown(name.to_string()))
            .and_then(|name| self.get(name))
    }

    /// Starts a live runner per projection. They stop after their current batch once `shutdown`
    /// is cancelled; await the handles to know they have.
    pub fn spawn(
        self: &Arc<Self>,
        shutdown: CancellationToken,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        self.projections
            .iter()
            .map(|p| {
                let this = self.clone();
                let p = p.clone();
                let shutdown = shutdown.clone();
                tokio::spawn(async move { this.run_live(p, shutdown).await })
            })
            .collect()
    }

    async fn run_live(&self, p: Arc<dyn Projection>, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        while !shutdown.is_cancelled() {
            // A panic while applying an event is caught like an error: the batch's transaction
            // is dropped uncommitted, and the runner retries from its checkpoint after a pause.
            let followed = AssertUnwindSafe(self.follow(&p, &shutdown))
                .catch_unwind()
                .await
                .unwrap_or_else(|panic| {
                    Err(ProjectionError::Panicked(
                        panic_text(panic.as_ref()).to_string(),
                    ))
                });
            match followed {
                Ok(()) => return,
                Err(ProjectionError::CheckpointMoved) => continue,
                Err(e) => {
                    tracing::error!(projection = p.name().as_str(), error = %store::causes(&e), "projection stopped; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    /// Follows the log from the checkpoint until shutdown (Ok) or an error.
    async fn follow(
        &self,
        p: &Arc<dyn Projection>,
        shutdown: &CancellationToken,
    ) -> Result<(), ProjectionError> {
        let mut cursor = self.checkpoint_of(p.name()).await?;
        // The checkpoint may hold batches another process committed; what this process kept
        // from before them goes before the progress says so, or a read-your-writes wait that
        // ends on it could read a stale row from memory.
        self.cache.changed(p.name());
        self.publish(p.name(), cursor);
        let mut events = self
            .db
            .events
            .subscribe(cursor, p.filter())
            .ready_chunks(BATCH);
        loop {
            let chunk = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                chunk = events.next() => chunk,
            };
            let Some(chunk) = chunk else {
                return Err(StoreError::Closed.into());
            };
            let batch = chunk.into_iter().collect::<Result<Vec<_>, _>>()?;
            // Not raced against shutdown: a batch that has started is finished.
            cursor = self.apply_batch(p, cursor, &batch).await?;
        }
    }

    async fn apply_batch(
        &self,
        p: &Arc<dyn Projection>,
        from: Option<Position>,
        batch: &[RecordedEvent],
    ) -> Result<Option<Position>, ProjectionError> {
        let Some(last) = batch.last() else {
            return Ok(from);
        };
        let to = Some(last.position);
        let mut tx = self.db.read.begin().await?;
        if !checkpoint::advance(&mut tx, p.name(), from.as_ref(), to.as_ref()).await? {
            // Another process applied events this one has not seen: what it kept may be stale.
            self.cache.changed(p.name());
            return Err(ProjectionError::CheckpointMoved);
        }
        for event in batch {
            p.apply(&mut tx, event).await?;
        }
        tx.commit().await?;
        // Before the progress is published: a read-your-writes wait that ends must find the
        // rows it waited for gone from memory, here and in other processes.
        self.cache.committed(p.name());
        self.publish(p.name(), to);
        Ok(to)
    }

    /// The committed checkpoint of projection `name`, made at the start if there is none.
    async fn checkpoint_of(
        &self,
        name: ProjectionName,
    ) -> Result<Option<Position>, ProjectionError> {
        let mut tx = self.db.read.begin().await?;
        checkpoint::ensure(&mut tx, name).await?;
        let at = checkpoint::load(&mut tx, name).await?;
        tx.commit().await?;
        Ok(at)
    }

    fn publish(&self, name: ProjectionName, position: Option<Position>) {
        if let Some(progress) = self.progress.get(&name) {
            progress.send_replace(position);
        }
        self.changed.notify_waiters();
    }

    pub fn changed(&self) -> Arc<tokio::sync::Notify> {
        self.changed.clone()
    }

    /// The step function: applies at most one batch. Returns how many events it applied
    /// (0 when the projection is current). Tests and `rebuild` drive projections with it.
    pub async fn run_once(&self, name: &str) -> Result<usize, ProjectionError> {
        let name = self.named(name)?.name();
        Ok(self.step(name).await?.map_or(0, |(_, applied)| applied))
    }

    /// [`Self::run_once`], also answering the position of the last event applied (none when
    /// the projection was current).
    async fn step(
        &self,
        name: ProjectionName,
    ) -> Result<Option<(Position, usize)>, ProjectionError> {
        let p = self.get(name)?;
        let from = self.checkpoint_of(p.name()).await?;
        let batch = self
            .db
            .events
            .read_all(from.as_ref(), &p.filter(), BATCH)
            .await?;
        self.apply_batch(p, from, &batch).await?;
        Ok(batch.last().map(|last| (last.position, batch.len())))
    }

    /// Applies everything there is now, for every projection.
    pub async fn catch_up(&self) -> Result<usize, ProjectionError> {
        let mut total = 0;
        for name in self.names() {
            loop {
                match self.step(name).await {
                    Ok(None) => break,
                    Ok(Some((_, n))) => total += n,
                    Err(ProjectionError::CheckpointMoved) => continue,
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(total)
    }

    /// Empties a projection's tables and checkpoint in one transaction, then replays the log.
    /// A live runner elsewhere notices its checkpoint moved and follows from the start too.
    pub async fn rebuild(&self, name: &str) -> Result<usize, ProjectionError> {
        self.rebuild_observed(name, &mut |_, _| {}).await
    }

    /// [`Self::rebuild`], calling `on_batch` after each committed batch with the log position it
    /// reached and the events it applied, for the CLI's progress display (which this crate
    /// leaves to the caller).
    pub async fn rebuild_observed(
        &self,
        name: &str,
        on_batch: &mut (dyn FnMut(&Position, usize) + Send),
    ) -> Result<usize, ProjectionError> {
        let p = self.named(name)?.clone();
        let name = p.name();
        let mut tx = self.db.read.begin().await?;
        checkpoint::ensure(&mut tx, p.name()).await?;
        for table in p.tables() {
            on_tx!(&mut tx, c => sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table}")))
                .execute(c)
                .await
                .map(|done| done.rows_affected()))?;
        }
        on_tx!(&mut tx, c => sqlx::query(
            "UPDATE projection_checkpoints SET position = '', updated_at = $1 WHERE name = $2",
        )
        .bind(Stamp::now())
        .bind(p.name().as_str())
        .execute(c)
        .await
        .map(|done| done.rows_affected()))?;
        tx.commit().await?;
        self.cache.committed(p.name());
        self.publish(p.name(), None);
        let mut total = 0;
        loop {
            match self.step(name).await {
                Ok(None) => return Ok(total),
                Ok(Some((at, n))) => {
                    total += n;
                    on_batch(&at, n);
                }
                Err(ProjectionError::CheckpointMoved) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Whether `name` has applied everything up to `target`: its checkpoint is there, or no event
    /// it reads lies between its checkpoint and `target`.
    async fn has_reached(
        &self,
        p: &Arc<dyn Projection>,
        target: &Position,
    ) -> Result<bool, ProjectionError> {
        let at = checkpoint::stored(&self.db.read, p.name()).await?;
        if at.as_ref().is_some_and(|at| at >= target) {
            return Ok(true);
        }
        let next = self.db.events.read_all(at.as_ref(), &p.filter(), 1).await?;
        Ok(next.first().is_none_or(|e| e.position > *target))
    }

    /// Read-your-writes: waits (at most `timeout`) until projection `name` has reached `target`.
    /// Returns whether it did. Runners in other processes are seen through the stored checkpoint.
    pub async fn wait_for(
        &self,
        name: ProjectionName,
        target: &Position,
        timeout: Duration,
    ) -> Result<bool, ProjectionError> {
        let p = self.get(name)?.clone();
        let mut progress = self.progress[&p.name()].subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // This process's runner committed past the target: no need to ask the database.
            if progress
                .borrow_and_update()
                .as_ref()
                .is_some_and(|at| at >= target)
            {
                return Ok(true);
            }
            if self.has_reached(&p, target).await? {
                // The database can say the batch is in before the runner that committed it has
                // dropped what memory holds from before it (it does so right after its commit,
                // in this process or another): drop it now, and tell the other processes, so
                // the read that follows this wait sees the write. A drop too many costs a load.
                self.cache.committed(p.name());
                return Ok(true);
            }
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return Ok(false),
                _ = progress.changed() => {}
                // Another process's runner does not wake us; look again shortly.
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
    }

    /// Each projection's checkpoint and how far behind the log it is.
    pub async fn lag(&self) -> Result<Vec<Lag>, ProjectionError> {
        let mut out = Vec::new();
        for p in &self.projections {
            let checkpoint = checkpoint::stored(&self.db.read, p.name()).await?;
            let behind = self
                .db
                .events
                .read_all(checkpoint.as_ref(), &p.filter(), LAG_COUNT_CAP)
                .await?
                .len();
            out.push(Lag {
                name: p.name(),
                checkpoint,
                behind,
            });
        }
        Ok(out)
    }
}

/// What a panic said, when it said it in text (for the log of any background task that caught it).
pub fn panic_text(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(not text)")
}
