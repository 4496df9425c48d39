//! Long-running work driven by events. Each worker exposes one step, [`Worker::run_once`], so
//! tests drain it deterministically; [`run_until_stopped`] drives a set of them in a process.

pub mod aggregation;
pub mod audit_replay;
pub mod bufdir;
pub mod bufdir_delivery;
pub mod bufdir_status;
pub mod export;
pub mod files;
pub mod history;
pub mod log_seals;
pub mod secret;
pub mod signoff_voiding;
pub mod webhooks;

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use tracing::Instrument;

use projections::Projections;
use store::Database;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How long a worker waits to see its own writes in the read models before its next step.
const SEE_OWN_WRITES: Duration = Duration::from_secs(10);

/// The command context of a worker.
pub(crate) fn commands_of(db: &Database, projections: &Arc<Projections>) -> commands::Ctx {
    commands::Ctx::new(db.clone(), projections.clone(), SEE_OWN_WRITES)
}

/// A name for one worker's leases and claims: its process id, so whoever reads the table can
/// find the process, and a ULID, unique across restarts and hosts.
pub(crate) fn holder_id() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        ulid::Ulid::new().to_string().to_lowercase()
    )
}

/// The metadata of what a worker records: the worker is the actor.
pub fn acting(worker: &str) -> store::Metadata {
    store::Metadata {
        actor: Some(format!("worker:{worker}")),
        ..store::Metadata::default()
    }
}

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It did a unit of work; there may be more.
    Worked,
    /// Nothing to do now.
    Idle,
}

#[async_trait::async_trait]
pub trait Worker: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    async fn run_once(&self) -> anyhow::Result<Outcome>;
}

/// What the workers reach besides the database.
#[derive(Clone)]
pub struct Services {
    pub bufdir: Arc<bufdir::Bufdir>,
    pub files: Arc<dyn files::FileStore>,
    pub exports: export::job::ExportSettings,
    pub webhooks: Arc<webhooks::Webhooks>,
    /// When the log is sealed.
    pub seals: commands::log_seals::Thresholds,
    /// The calendar and clock deadline reminders go by.
    pub deadlines: webhooks::deadlines::DeadlineSettings,
}

/// What runs behind a process until `shutdown`: the projections always, the workers unless the
/// caller drives them itself. `serve` and `worker` start their background through here alone,
/// so the two cannot wire it differently.
pub fn spawn_background(
    db: &Database,
    projections: &Arc<Projections>,
    services: &Services,
    with_workers: bool,
    shutdown: CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = projections.spawn(shutdown.clone());
    if with_workers {
        let workers = all(db, projections, services);
        tasks.extend(run_until_stopped(workers, projections.changed(), shutdown));
    }
    tasks
}

/// The service's workers.
pub fn all(
    db: &Database,
    projections: &Arc<Projections>,
    services: &Services,
) -> Vec<Arc<dyn Worker>> {
    let workers: Vec<Arc<dyn Worker>> = vec![
        Arc::new(aggregation::AggregationWorker::new(
            db.clone(),
            projections.clone(),
        )),
        Arc::new(bufdir_delivery::DeliveryWorker::new(
            db.clone(),
            projections.clone(),
            services.bufdir.clone(),
        )),
        Arc::new(bufdir_status::StatusWorker::new(
            db.clone(),
            projections.clone(),
            services.bufdir.clone(),
        )),
        Arc::new(export::job::SharedExportWorker(Arc::new(
            export::job::ExportWorker::new(
                db.clone(),
                projections.clone(),
                services.files.clone(),
                services.exports.clone(),
            ),
        ))),
        Arc::new(export::expiry::FileExpiryWorker::new(
            db.clone(),
            projections.clone(),
            services.files.clone(),
        )),
        Arc::new(webhooks::NotifyWorker::new(
            db.clone(),
            projections.clone(),
            services.webhooks.clone(),
        )),
        Arc::new(history::HistoryWorker::new(
            db.clone(),
            projections.clone(),
            services.files.clone(),
            services.exports.work_dir.clone(),
        )),
        Arc::new(log_seals::LogSealWorker::new(db.clone(), services.seals)),
        Arc::new(signoff_voiding::VoidingWorker::new(
            db.clone(),
            projections.clone(),
        )),
        Arc::new(webhooks::voided::VoidedNotifyWorker::new(
            db.clone(),
            projections.clone(),
            services.webhooks.clone(),
        )),
        Arc::new(webhooks::deadlines::ReminderWorker::new(
            db.clone(),
            projections.clone(),
            services.webhooks.clone(),
            services.deadlines.clone(),
        )),
    ];
    workers
        .into_iter()
        .map(|worker| Arc::new(Metered(worker)) as Arc<dyn Worker>)
        .collect()
}

/// Counts each step by worker and outcome, whoever drives it: `run_until_stopped` in a process,
/// or a test stepping `run_once` itself.
struct Metered(Arc<dyn Worker>);

#[async_trait::async_trait]
impl Worker for Metered {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    async fn run_once(&self) -> anyhow::Result<Outcome> {
        let result = self.0.run_once().await;
        let outcome = match &result {
            Ok(Outcome::Worked) => "worked",
            Ok(Outcome::Idle) => "idle",
            Err(_) => "error",
        };
        metrics::counter!("worker_steps_total", "worker" => self.0.name(), "outcome" => outcome)
            .increment(1);
        result
    }
}

/// How long an idle worker waits before looking again when nothing wakes it: work written by
/// another process's projections does not notify this one.
const IDLE_WAIT: Duration = Duration::from_millis(500);

/// Runs each worker until `shutdown`; a step that has started is finished first. `wake` is
/// notified when read models change (new work may be there).
pub fn run_until_stopped(
    workers: Vec<Arc<dyn Worker>>,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    workers
        .into_iter()
        .map(|worker| {
            let shutdown = shutdown.clone();
            let wake = wake.clone();
            tokio::spawn(async move {
                let mut backoff = Duration::from_millis(100);
                while !shutdown.is_cancelled() {
                    // Registered before the step, so a change during the step still wakes us.
                    let woken = wake.notified();
                    tokio::pin!(woken);
                    woken.as_mut().enable();
                    let span = tracing::info_span!("worker_step", worker = worker.name());
                    // A panicking step must not end the worker for the life of the process: it
                    // is logged and the worker goes on after a pause, like a failed step.
                    let step = AssertUnwindSafe(worker.run_once().instrument(span))
                        .catch_unwind()
                        .await;
                    let wait = match step {
                        Ok(Ok(Outcome::Worked)) => {
                            backoff = Duration::from_millis(100);
                            continue;
                        }
                        Ok(Ok(Outcome::Idle)) => IDLE_WAIT,
                        Ok(Err(e)) => {
                            tracing::error!(worker = worker.name(), error.cause_chain = ?e, "worker step failed");
                            backoff = (backoff * 2).min(Duration::from_secs(30));
                            backoff
                        }
                        Err(panic) => {
                            tracing::error!(worker = worker.name(), panic = projections::panic_text(panic.as_ref()), "worker step panicked");
                            backoff = (backoff * 2).min(Duration::from_secs(30));
                            backoff
                        }
                    };
                    tokio::select! {
                        _ = shutdown.cancelled() => {}
                        _ = woken => {}
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    struct Countdown(AtomicUsize);

    #[async_trait::async_trait]
    impl Worker for Countdown {
        fn name(&self) -> &'static str {
            "countdown"
        }
        async fn run_once(&self) -> anyhow::Result<Outcome> {
            let left = self.0.load(Ordering::SeqCst);
            if left == 0 {
                return Ok(Outcome::Idle);
            }
            self.0.store(left - 1, Ordering::SeqCst);
            Ok(Outcome::Worked)
        }
    }

    #[tokio::test]
    async fn a_worker_is_driven_until_idle_and_stops_on_shutdown() {
        let worker = Arc::new(Countdown(AtomicUsize::new(5)));
        let shutdown = CancellationToken::new();
        let handles = run_until_stopped(
            vec![worker.clone()],
            Arc::new(Notify::new()),
            shutdown.clone(),
        );
        while worker.0.load(Ordering::SeqCst) > 0 {
            tokio::task::yield_now().await;
        }
        shutdown.cancel();
        for h in handles {
            h.await.unwrap();
        }
        assert_eq!(worker.0.load(Ordering::SeqCst), 0);
    }
}
