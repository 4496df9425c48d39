//! `spawn_app`: the real application on a random port with a fresh database.

use std::net::SocketAddr;
use std::sync::Arc;

use api::http::app::{Application, BufdirTarget, Settings};
use api::http::auth::{Keys, Role};
use api::http::state::AppState;
use serde_json::Value;
use store::EventStore;
use tokio_util::sync::CancellationToken;
use workers::bufdir::BufdirSettings;

#[path = "../support/mod.rs"]
mod support;

pub use support::{TempSqlite, fresh_postgres};

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub keys: Keys,
    pub state: AppState,
    pub admin: String,
    shutdown: CancellationToken,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _sqlite: Option<TempSqlite>,
    _scratch: TempSqlite,
}

/// Puts something between the app and its event log.
pub type WrapEvents = fn(Arc<dyn EventStore>) -> Arc<dyn EventStore>;

/// The app's log with faults put in: `refuse_append` may answer an append with an error instead
/// of making it, `fail_subscription` may make a subscription fail at once (as when the database
/// goes away), `stall_subscription` may make one that never delivers (a runner that follows it
/// stays where it started, and drops nothing later). Everything else is the real log's.
pub struct FaultyLog {
    pub inner: Arc<dyn EventStore>,
    pub refuse_append: fn(&str, store::ExpectedVersion) -> Option<store::StoreError>,
    pub fail_subscription: fn(&store::Filter) -> bool,
    pub stall_subscription: fn(&store::Filter) -> bool,
}

impl FaultyLog {
    /// `inner` without faults; set the hooks that matter to the test.
    pub fn over(inner: Arc<dyn EventStore>) -> FaultyLog {
        FaultyLog {
            inner,
            refuse_append: |_, _| None,
            fail_subscription: |_| false,
            stall_subscription: |_| false,
        }
    }
}

#[async_trait::async_trait]
impl EventStore for FaultyLog {
    async fn append(
        &self,
        stream: &str,
        expected: store::ExpectedVersion,
        events: Vec<store::NewEvent>,
    ) -> Result<store::AppendOutcome, store::StoreError> {
        if let Some(refused) = (self.refuse_append)(stream, expected) {
            return Err(refused);
        }
        self.inner.append(stream, expected, events).await
    }
    async fn read_stream(
        &self,
        stream: &str,
        from: u64,
    ) -> Result<Vec<store::RecordedEvent>, store::StoreError> {
        self.inner.read_stream(stream, from).await
    }
    async fn read_all(
        &self,
        after: Option<&store::Position>,
        filter: &store::Filter,
        limit: usize,
    ) -> Result<Vec<store::RecordedEvent>, store::StoreError> {
        self.inner.read_all(after, filter, limit).await
    }
    async fn head(&self) -> Result<Option<store::Position>, store::StoreError> {
        self.inner.head().await
    }
    fn subscribe(
        &self,
        after: Option<store::Position>,
        filter: store::Filter,
    ) -> futures::stream::BoxStream<'static, Result<store::RecordedEvent, store::StoreError>> {
        if (self.fail_subscription)(&filter) {
            return Box::pin(futures::stream::once(async {
                Err(store::StoreError::Closed)
            }));
        }
        if (self.stall_subscription)(&filter) {
            return Box::pin(futures::stream::pending());
        }
        self.inner.subscribe(after, filter)
    }
    fn backend_name(&self) -> &'static str {
        self.inner.backend_name()
    }
}

/// A moment when the shipped calendar owes no reminder: past the news of the first quarter's
/// deadline, before the second quarter's window opens.
pub const QUIET: &str = "2026-06-10T10:00:00Z";

/// How a test app is started.
#[derive(Clone)]
pub struct Options {
    /// Bufdir (a sandbox); tests that do not submit leave it at an address nothing listens on.
    pub bufdir: BufdirTarget,
    /// Run the workers in the background, as `serve` does. Off: tests drive them step by step.
    pub workers: bool,
    /// How long an export claim holds.
    pub export_lease: std::time::Duration,
    /// How long export files are kept.
    pub file_ttl: chrono::Duration,
    /// Let webhooks reach this machine (the tests' receivers listen on 127.0.0.1).
    pub webhook_allow_private: bool,
    /// Wraps the event store, to put faults between the app and its log.
    pub wrap_events: Option<WrapEvents>,
    /// Identity providers whose tokens are accepted, and whether local tokens still are.
    pub issuers: Option<(Arc<api::http::auth::oidc::Issuers>, bool)>,
    /// The clock deadlines are judged by (a test moves it); `None`: one standing at
    /// [`QUIET`], so no test's webhooks meet a deadline reminder whatever day it runs.
    pub clock: Option<Arc<commands::clock::ManualClock>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            bufdir: BufdirTarget {
                url: "http://127.0.0.1:9".into(),
                settings: BufdirSettings::default(),
            },
            workers: false,
            export_lease: std::time::Duration::from_secs(30),
            file_ttl: chrono::Duration::days(30),
            webhook_allow_private: true,
            wrap_events: None,
            issuers: None,
            clock: None,
        }
    }
}

/// An app on SQLite.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    let db = TempSqlite::new();
    let url = db.url.clone();
    spawn_on(&url, Some(db), options).await
}

/// An app on a fresh PostgreSQL database; it fails the test when no server answers (see
/// [`fresh_postgres`]).
pub async fn spawn_app_on_postgres() -> TestApp {
    spawn_app_on_postgres_with(Options::default()).await
}

pub async fn spawn_app_on_postgres_with(options: Options) -> TestApp {
    let url = fresh_postgres().await;
    spawn_on(&url, None, options).await
}

/// An app on the database at `url`; `sqlite` keeps a temporary database alive with the app.
pub async fn spawn_on(url: &str, sqlite: Option<TempSqlite>, options: Options) -> TestApp {
    let mut db = store::connect(url).await.expect("database");
    if let Some(wrap) = options.wrap_events {
        db.events = wrap(db.events.clone());
    }
    let keys = Keys::from_secret(b"test-secret-test-secret-test-secret!");
    let keys = match options.issuers.clone() {
        Some((issuers, local)) => keys.with_issuers(Some(issuers), local),
        None => keys,
    };
    // Files live beside the SQLite database, or in a scratch directory of their own.
    let scratch = TempSqlite::new();
    let dir = sqlite
        .as_ref()
        .map_or(scratch.dir.clone(), |s| s.dir.clone());
    let mut settings = Settings::new(&dir, &options.bufdir.url);
    settings.bufdir = options.bufdir.clone();
    settings.exports.lease = options.export_lease;
    settings.exports.file_ttl = options.file_ttl;
    // Tests step the workers; a failed webhook is due again at once.
    settings.webhooks.retry_base = std::time::Duration::ZERO;
    settings.webhooks.targets.allow_private = options.webhook_allow_private;
    settings.clock = match &options.clock {
        Some(clock) => clock.clone(),
        None => Arc::new(commands::clock::ManualClock::at(
            QUIET.parse().expect("an instant"),
        )),
    };
    let app = Application::build(db, keys.clone(), "127.0.0.1:0".parse().unwrap(), settings)
        .await
        .expect("app");
    let app = if options.workers {
        app
    } else {
        app.without_workers()
    };
    let addr = app.local_addr();
    let state = app.state().clone();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    let admin = keys.mint("test-admin", vec![], vec![Role::Admin], 3600);
    TestApp {
        addr,
        client: reqwest::Client::new(),
        keys,
        state,
        admin,
        shutdown,
        server: Some(server),
        _sqlite: sqlite,
        _scratch: scratch,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn token(&self, orgs: &[&str], roles: &[Role]) -> String {
        self.keys.mint(
            "test-user",
            orgs.iter().map(|s| s.to_string()).collect(),
            roles.to_vec(),
            3600,
        )
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let r = self
            .client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        read(r).await
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        let r = self
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        read(r).await
    }

    pub async fn put(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        let r = self
            .client
            .put(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        read(r).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> (u16, Value) {
        let r = self
            .client
            .delete(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        read(r).await
    }

    /// Puts `bytes` into the file store at `key`, as a renderer with access to the store
    /// would; returns the size.
    pub async fn put_file(&self, key: &str, bytes: &[u8]) -> u64 {
        let staged = std::env::temp_dir().join(format!("bufdir-put-{}", uuid::Uuid::new_v4()));
        std::fs::write(&staged, bytes).unwrap();
        let size = self
            .state
            .services
            .files
            .put_file(key, &staged)
            .await
            .expect("stored");
        let _ = std::fs::remove_file(&staged);
        size
    }

    pub async fn create_org(&self, org_id: &str, number: &str) -> (u16, Value) {
        let body = serde_json::json!({"org_id": org_id, "name": format!("Org {org_id}"), "organisasjonsnummer": number});
        self.post("/api/v1/organizations", &self.admin, &body).await
    }

    /// Runs every worker step by step until none has anything left to do.
    pub async fn drain_workers(&self) {
        self.drain_workers_except(&[]).await;
    }

    /// Like [`Self::drain_workers`], leaving the workers named in `skip` alone (one whose
    /// attempts keep failing would never be idle).
    pub async fn drain_workers_except(&self, skip: &[&str]) {
        let workers: Vec<_> = workers::all(
            &self.state.db,
            &self.state.projections,
            &self.state.services,
        )
        .into_iter()
        .filter(|w| !skip.contains(&w.name()))
        .collect();
        loop {
            let mut idle = true;
            for w in &workers {
                if w.run_once().await.expect("worker step") == workers::Outcome::Worked {
                    idle = false;
                }
            }
            if idle {
                return;
            }
        }
    }

    /// Waits, on read-model change notifications, until `check` finds what it looks for.
    pub async fn until<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let changed = self.state.projections.changed();
        let waited = tokio::time::timeout(std::time::Duration::from_secs(30), async {
            loop {
                let notified = changed.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if let Some(found) = check().await {
                    return found;
                }
                notified.await;
            }
        })
        .await;
        waited.unwrap_or_else(|_| panic!("gave up waiting for {what}"))
    }

    /// Stops the server the way SIGTERM does and waits for it to finish. The database stays until
    /// the returned guard is dropped.
    pub async fn stop(mut self) -> Option<TempSqlite> {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
        self._sqlite.take()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Status and JSON body; error bodies must be problem+json.
pub async fn read(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let text = r.text().await.unwrap();
    if status >= 400 {
        assert_eq!(
            content_type, "application/problem+json",
            "error {status} without problem+json: {text}"
        );
    }
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}
