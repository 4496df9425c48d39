//! A testable startup: [`Application::build`] binds the listener (port 0 works) and opens the
//! database; [`Application::run_until_stopped`] serves until the shutdown token fires, then lets
//! in-flight requests and the current projection batches finish.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use poem::listener::{Acceptor, Listener, TcpAcceptor, TcpListener};
use poem::{Endpoint, EndpointExt, IntoResponse, Route, Server};
use projections::Projections;
use std::path::PathBuf;
use store::Database;
use store::tables::idempotency_keys::IdempotencyKeys;
use tokio_util::sync::CancellationToken;

use workers::Services;
use workers::bufdir::{Bufdir, BufdirSettings};
use workers::export::job::ExportSettings;
use workers::files::LinkSigner;
use workers::webhooks::{WebhookSettings, Webhooks};

use crate::http::auth::Keys;
use crate::http::body_limit::BodyLimit;
use crate::http::cors::Origin;
use crate::http::pages::Site;
use crate::http::state::AppState;
use crate::http::watch::WatchHub;
use crate::http::{idempotency, spec};

/// Where Bufdir is, and how to talk to it.
#[derive(Debug, Clone)]
pub struct BufdirTarget {
    pub url: String,
    pub settings: BufdirSettings,
}

impl BufdirTarget {
    pub fn connect(&self, db: &Database, keys: &Keys) -> anyhow::Result<Arc<Bufdir>> {
        Ok(Bufdir::new(
            &self.url,
            self.settings.clone(),
            db.read.clone(),
            keys.server_secret(),
        )?)
    }
}

/// Everything outside the database the service is configured with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub bufdir: BufdirTarget,
    /// `FILE_STORE_URL`: unset keeps files in `files_dir`; `s3://bucket/prefix?...` uses S3.
    pub file_store: Option<String>,
    pub files_dir: PathBuf,
    pub exports: ExportSettings,
    /// The base of download links (`https://reports.example.no`); unset: the request's host.
    pub public_url: Option<String>,
    pub webhooks: WebhookSettings,
    /// Whether `bufdir.url` is a sandbox this process started (the front door says so).
    pub bufdir_is_sandbox: bool,
    /// `CORS_ALLOWED_ORIGINS`: the browser front ends on other origins that may call the API;
    /// empty, no answer carries a CORS header.
    pub cors_allowed_origins: Vec<Origin>,
    /// When the seal worker seals the log (`SEAL_EVERY_EVENTS`, `SEAL_EVERY_SECONDS`).
    pub seals: commands::log_seals::Thresholds,
    /// `CALENDAR_FILE`: the reporting calendar; unset, the shipped one (`domain/calendar.toml`).
    pub calendar: domain::calendar::Calendar,
    /// The time deadlines are judged by: the system's, or a test's.
    pub clock: Arc<dyn commands::clock::Clock>,
    /// `REMINDER_LEASE_SECONDS`: how long a claim on a deadline reminder holds.
    pub reminder_lease: chrono::Duration,
    /// `REMINDER_SCAN_SECONDS`: how often the deadlines are looked through for reminders.
    pub reminder_scan: chrono::Duration,
}

impl Settings {
    /// Defaults for a data directory, with Bufdir at `bufdir_url`.
    pub fn new(data_dir: &std::path::Path, bufdir_url: &str) -> Self {
        Settings {
            bufdir: BufdirTarget {
                url: bufdir_url.into(),
                settings: BufdirSettings::default(),
            },
            file_store: None,
            files_dir: data_dir.join("files"),
            exports: ExportSettings {
                lease: std::time::Duration::from_secs(30),
                file_ttl: chrono::Duration::days(30),
                work_dir: data_dir.join("tmp"),
            },
            public_url: None,
            webhooks: WebhookSettings::default(),
            bufdir_is_sandbox: false,
            cors_allowed_origins: Vec::new(),
            seals: commands::log_seals::Thresholds::default(),
            calendar: domain::calendar::Calendar::standard(),
            clock: Arc::new(commands::clock::SystemClock),
            reminder_lease: chrono::Duration::seconds(60),
            reminder_scan: chrono::Duration::seconds(60),
        }
    }

    pub fn services(&self, db: &Database, keys: &Keys) -> anyhow::Result<Services> {
        Ok(Services {
            bufdir: self.bufdir.connect(db, keys)?,
            files: workers::files::from_setting(self.file_store.as_deref(), &self.files_dir)?,
            exports: self.exports.clone(),
            webhooks: Arc::new(self.webhooks(db, keys)?),
            seals: self.seals,
            deadlines: workers::webhooks::deadlines::DeadlineSettings {
                calendar: self.calendar.clone(),
                clock: self.clock.clone(),
                lease: self.reminder_lease,
                scan_every: self.reminder_scan,
            },
        })
    }

    fn webhooks(&self, db: &Database, keys: &Keys) -> anyhow::Result<Webhooks> {
        if let Some(global) = &self.webhooks.global {
            let url = url::Url::parse(&global.url)
                .map_err(|e| anyhow::anyhow!("WEBHOOK_URL {:?} is not a URL: {e}", global.url))?;
            let literal = match url.host() {
                Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
                _ => None,
            };
            if let Some(ip) = literal {
                self.webhooks.targets.literal(ip).map_err(|e| {
                    anyhow::anyhow!("WEBHOOK_URL: {e} (WEBHOOK_ALLOW_PRIVATE=true allows it)")
                })?;
            }
            anyhow::ensure!(
                !global.secret.is_empty(),
                "WEBHOOK_URL is set, so WEBHOOK_SECRET must be too: receivers check signatures with it"
            );
        }
        Webhooks::new(db.read.clone(), keys.server_secret(), self.webhooks.clone())
    }
}

/// Connections for the workers. The API and the projection runners have pools of their own (one
/// connection per projection), so a burst of reads or a long export holding connections cannot
/// stall the projections that writes wait for (read-your-writes): that starvation was what made
/// writes time out under mixed load.
const WORKER_POOL: u32 = 4;

pub struct Application {
    /// Ends the SSE streams and the watch hub when the server shuts down, so that graceful
    /// shutdown does not wait for clients that never hang up.
    streams_stop: CancellationToken,
    acceptor: TcpAcceptor,
    state: AppState,
    keys: Keys,
    /// The database for the workers, with a pool of its own.
    background: Database,
    run_workers: bool,
    cors_allowed_origins: Vec<Origin>,
    site: Site,
}

impl Application {
    pub async fn build(
        db: Database,
        keys: Keys,
        bind: SocketAddr,
        settings: Settings,
    ) -> anyhow::Result<Self> {
        crate::http::metrics::install();
        let keys = keys.recording_people_in(db.read.clone());
        let services = settings.services(&db, &keys)?;
        let projections = projections::all();
        let runners = db.with_own_pool(projections.len() as u32).await?;
        let background = db.with_own_pool(WORKER_POOL).await?;
        let projections = Projections::new(runners, projections);
        let acceptor = TcpListener::bind(bind).into_acceptor().await?;
        let streams_stop = CancellationToken::new();
        let watch = WatchHub::start(db.clone(), streams_stop.clone()).await?;
        let commands = commands::Ctx::new(
            db.clone(),
            projections.clone(),
            crate::http::state::READ_YOUR_WRITES,
        )
        .with_delivery_wait(settings.bufdir.settings.submit_wait)
        .with_calendar(settings.calendar.clone(), settings.clock.clone());
        let site = Site {
            store: db.events.backend_name(),
            bufdir_url: settings.bufdir.url.clone(),
            sandbox: settings.bufdir_is_sandbox,
        };
        let state = AppState {
            commands,
            db,
            projections,
            watch,
            services,
            links: LinkSigner::new(keys.server_secret()),
            feeds: crate::http::feed_signing::FeedSigner::new(keys.server_secret()),
            public_url: settings.public_url.clone(),
        };
        Ok(Application {
            streams_stop,
            acceptor,
            state,
            keys,
            background,
            run_workers: true,
            cors_allowed_origins: settings.cors_allowed_origins,
            site,
        })
    }

    /// Leaves the workers to the caller: tests drive them step by step with `run_once`.
    pub fn without_workers(mut self) -> Self {
        self.run_workers = false;
        self
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .expect("a TCP listener has a socket address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves the API with projections and workers in this process until `shutdown`.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let background = shutdown.child_token();
        let tasks = workers::spawn_background(
            &self.background,
            &self.state.projections,
            &self.state.services,
            self.run_workers,
            background.clone(),
        );
        let app = endpoint(
            self.state.clone(),
            self.keys.clone(),
            self.cors_allowed_origins.clone(),
            self.site.clone(),
        );
        let stop = shutdown.clone();
        let streams_stop = self.streams_stop.clone();
        let streams_link = shutdown.clone();
        tokio::spawn(async move {
            streams_link.cancelled().await;
            streams_stop.cancel();
        });
        let served = Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(
                app,
                async move { stop.cancelled().await },
                Some(Duration::from_secs(30)),
            )
            .await;
        background.cancel();
        for task in tasks {
            if let Err(e) = task.await {
                tracing::error!(error = %store::causes(&e), "a background task ended abnormally");
            }
        }
        served.map_err(Into::into)
    }
}

/// The whole HTTP surface: the API, its docs and spec, and the middleware every route shares.
pub fn endpoint(
    state: AppState,
    keys: Keys,
    cors_origins: Vec<Origin>,
    site: Site,
) -> impl poem::Endpoint {
    let api = spec::service();
    let routes = Arc::new(crate::http::observe::RouteLabels::of(spec::meta()));
    let spec_json = api.spec();
    let allowed = Arc::new(crate::http::http_semantics::AllowedMethods::from_spec(
        &spec_json,
        &PLAIN_ROUTES,
    ));
    let required = Arc::new(crate::http::empty_query::RequiredQuery::from_spec(
        &spec_json,
    ));
    let cors = Arc::new(crate::http::cors::Cors::new(cors_origins, allowed.clone()));
    let served = spec::served(&keys);
    let docs = served.docs.map(Arc::<str>::from);
    // poem's Swagger UI also serves its OAuth receiver page (for signing in from `/docs`); its
    // front page shows our spec when it differs from the committed one.
    let ui = api.swagger_ui().around(move |ep, req| {
        let docs = docs.clone();
        async move {
            match docs {
                Some(page) if matches!(req.uri().path(), "" | "/") => {
                    Ok(poem::web::Html(page.to_string()).into_response())
                }
                _ => ep.call(req).await.map(IntoResponse::into_response),
            }
        }
    });
    let (json, yaml) = (served.json, served.yaml);
    Route::new()
        .at(
            "/openapi.json",
            poem::endpoint::make_sync(move |_| {
                poem::Response::builder()
                    .content_type("application/json")
                    .body(json.clone())
            }),
        )
        .at(
            "/openapi.yaml",
            poem::endpoint::make_sync(move |_| {
                poem::Response::builder()
                    .content_type("application/x-yaml")
                    .header("Content-Disposition", "inline; filename=\"spec.yaml\"")
                    .body(yaml.clone())
            }),
        )
        .nest("/docs", ui)
        .at(
            "/api/v1/bufdir-exports/:export_id/file",
            poem::get(crate::http::routes::downloads::download),
        )
        .at(
            "/api/v1/calendar-feeds/:feed",
            poem::get(crate::http::routes::deadlines::feeds::feed),
        )
        .at(
            "/api/v1/report-history/:report_id/file",
            poem::get(crate::http::routes::downloads::download_report),
        )
        .at("/metrics", poem::get(crate::http::routes::metrics::scrape))
        .at("/preview", poem::get(crate::http::pages::preview))
        .at(
            "/preview/preview.js",
            poem::get(crate::http::pages::preview_js),
        )
        .at(
            "/preview/preview.css",
            poem::get(crate::http::pages::preview_css),
        )
        .nest("/", api)
        // The API's nest at "/" takes the bare path too, so the front door goes before the router.
        .around(crate::http::pages::front_door_first)
        .around(move |ep, req| crate::http::empty_query::around(ep, required.clone(), req))
        .around(idempotency::around)
        .with(BodyLimit {
            max: crate::http::body_limit::MAX_BODY_BYTES,
            uploads: crate::http::file_refs::MAX_UPLOAD_BYTES,
        })
        .data(IdempotencyKeys::new(state.db.read.clone()))
        .data(state)
        .data(keys)
        .data(site)
        .around(move |ep, req| crate::http::http_semantics::around(ep, allowed.clone(), req))
        // Outside everything that answers (401, 404, 405 and problem documents included), so
        // the browser lets the front end read those too; inside `observe`, so preflights get a
        // request id and are counted.
        .around(move |ep, req| crate::http::cors::around(ep, cors.clone(), req))
        .around(move |ep, req| crate::http::observe::around(ep, routes.clone(), req))
}

/// The routes outside the OpenAPI spec, with their methods (for `Allow`).
const PLAIN_ROUTES: [(&str, &[&str]); 10] = [
    ("/openapi.json", &["GET"]),
    ("/openapi.yaml", &["GET"]),
    ("/docs", &["GET"]),
    ("/api/v1/bufdir-exports/{export_id}/file", &["GET"]),
    ("/api/v1/report-history/{report_id}/file", &["GET"]),
    ("/metrics", &["GET"]),
    ("/", &["GET"]),
    ("/preview", &["GET"]),
    ("/preview/preview.js", &["GET"]),
    ("/preview/preview.css", &["GET"]),
];
