//! What each subcommand does. `main.rs` only parses and dispatches here.

use std::sync::Arc;

use projections::Projections;
use tokio_util::sync::CancellationToken;

use crate::app::Application;
use crate::auth::{Keys, Role};
use crate::config::{
    AuditCommand, Common, LogFormat, PrivacyCommand, ProjectionsCommand, SandboxArgs, ServeArgs,
    TokenArgs, WorkerArgs,
};
use crate::progress::Progress;
use crate::sandbox::Sandbox;

pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Pretty => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Cancels the token on SIGINT or SIGTERM.
pub fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutting down: finishing in-flight requests and projection batches");
        t.cancel();
    });
    token
}

async fn open(common: &Common) -> anyhow::Result<store::Database> {
    if common.database_url.is_none() {
        std::fs::create_dir_all(&common.data_dir)?;
    }
    Ok(store::connect_with(&common.database_url(), common.eventstore_url.as_deref()).await?)
}

pub async fn serve(common: &Common, args: &ServeArgs) -> anyhow::Result<()> {
    let db = open(common).await?;
    let keys = common.request_keys().await?;
    let shutdown = shutdown_on_signal();
    let mut settings = common.settings(bufdir_url(common, &args.sandbox, &shutdown).await?);
    settings.bufdir_is_sandbox = common.bufdir.bufdir_api_url.is_none();
    let app = Application::build(db.clone(), keys.clone(), args.bind, settings).await?;
    let app = if args.no_workers {
        app.without_workers()
    } else {
        app
    };
    let addr = app.local_addr();
    if common.embedded() {
        tracing::info!(store = "sqlite", path = %common.data_dir.join("bufdir.db").display(), "using the embedded event store");
    } else {
        tracing::info!(
            store = db.events.backend_name(),
            "using the configured event store"
        );
    }
    if args.demo(common.embedded()) && crate::demo::load(&db).await? {
        tracing::info!(
            "demo data loaded: organisations org-demo and org-demo-ungdom, 2024 and 2025"
        );
    }
    tracing::info!("listening on http://{addr}; API docs at http://{addr}/docs");
    // A local token would be refused with LOCAL_TOKENS=false: none is offered then.
    if common.embedded() && keys.local_tokens() {
        let token = keys.mint("local-admin", vec![], vec![Role::Admin], 24 * 3600);
        tracing::info!("admin token for local use (24 h): {token}");
        tracing::info!("live report preview: http://{addr}/preview?token={token}");
    }
    app.run_until_stopped(shutdown).await
}

/// Bufdir at BUFDIR_API_URL, or else a sandbox started in this process; the log says which.
async fn bufdir_url(
    common: &Common,
    sandbox: &SandboxArgs,
    shutdown: &CancellationToken,
) -> anyhow::Result<String> {
    if let Some(url) = &common.bufdir.bufdir_api_url {
        tracing::info!(url, "using Bufdir's API at BUFDIR_API_URL");
        return Ok(url.clone());
    }
    let config = sandbox.config()?;
    let clients: Vec<&str> = config.clients.iter().map(|(id, _)| id.as_str()).collect();
    let sandbox = Sandbox::start(
        "127.0.0.1:0".parse().expect("a socket address"),
        config.clone(),
        shutdown.clone(),
    )
    .await?;
    tracing::warn!(
        url = %sandbox.url(),
        ?clients,
        "BUFDIR_API_URL is not set: submissions go to the in-process Bufdir sandbox, not to Bufdir"
    );
    Ok(sandbox.url())
}

pub async fn bufdir_sandbox(bind: std::net::SocketAddr, args: &SandboxArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    let clients: Vec<&str> = config.clients.iter().map(|(id, _)| id.as_str()).collect();
    let sandbox = Sandbox::start(bind, config.clone(), shutdown_on_signal()).await?;
    tracing::info!(url = %sandbox.url(), ?clients, "Bufdir sandbox listening; faults at PUT /sandbox/faults");
    sandbox.task.await??;
    Ok(())
}

pub async fn worker(common: &Common, args: &WorkerArgs) -> anyhow::Result<()> {
    if common.bufdir.bufdir_api_url.is_none() && !args.own_sandbox {
        anyhow::bail!(
            "BUFDIR_API_URL is not set: a worker process delivers submissions that serve, in \
             another process, reports on, so both must use the same Bufdir. Set BUFDIR_API_URL \
             to Bufdir's API or to a shared `bufdir-sandbox`, or pass --own-sandbox to start a \
             private sandbox in this worker (its submissions are seen by nobody else)"
        );
    }
    let db = open(common).await?;
    let keys = Keys::load(common.jwt_secret.as_deref(), &common.data_dir)?;
    let projections = Projections::new(db.clone(), projections::all());
    let shutdown = shutdown_on_signal();
    let services = common
        .settings(bufdir_url(common, &args.sandbox, &shutdown).await?)
        .services(&db, &keys)?;
    let mut tasks = projections.spawn(shutdown.clone());
    let all = workers::all(&db, &projections, &services);
    tasks.extend(workers::run_until_stopped(
        all,
        projections.changed(),
        shutdown.clone(),
    ));
    tracing::info!("worker running projections {:?}", projections.names());
    for task in tasks {
        task.await?;
    }
    Ok(())
}

pub async fn projections(common: &Common, command: &ProjectionsCommand) -> anyhow::Result<()> {
    let db = open(common).await?;
    let projections: Arc<Projections> = Projections::new(db.clone(), projections::all());
    match command {
        ProjectionsCommand::Rebuild { name } => {
            let names = match name {
                Some(n) => vec![n.clone()],
                None => projections.names().into_iter().map(String::from).collect(),
            };
            for name in names {
                // Read per projection: a service writing meanwhile moves the head on.
                let head = db.events.head().await?;
                let mut progress = Progress::start(format!("rebuild {name}"), head.as_ref());
                let applied = projections
                    .rebuild_observed(&name, &mut |at, events| progress.advance(at, events))
                    .await?;
                progress.finish();
                println!("rebuilt {name}: {applied} events applied");
            }
        }
    }
    Ok(())
}

/// `privacy erase`: 0 erased, 1 refused (a retained report needs the data, or no such
/// subject), 2 could not run.
pub async fn privacy(common: &Common, command: &PrivacyCommand) -> i32 {
    use commands::privacy::EraseError;
    let PrivacyCommand::Erase {
        subject,
        force,
        reason,
    } = command;
    let result = async {
        let db = open(common).await?;
        let projections = Projections::new(db.clone(), projections::all());
        let ctx = commands::Ctx::new(db, projections, std::time::Duration::from_secs(10));
        let metadata = workers::acting("privacy-cli");
        let force_reason = if *force {
            reason.as_deref().or(Some(""))
        } else {
            None
        };
        anyhow::Ok(commands::privacy::erase(&ctx, &metadata, subject, force_reason).await)
    };
    match result.await {
        Ok(Ok(erased)) => {
            println!(
                "erased {}: its key is destroyed; reads and replays show its data as erased",
                erased.subject_id
            );
            0
        }
        Ok(Err(e @ (EraseError::Refused(_) | EraseError::Unknown(_)))) => {
            println!("REFUSED: {e}");
            1
        }
        Ok(Err(e)) => {
            eprintln!("privacy erase failed: {e:#}");
            2
        }
        Err(e) => {
            eprintln!("privacy erase failed: {e:#}");
            2
        }
    }
}

pub fn openapi(output: &std::path::Path) -> anyhow::Result<()> {
    if let Some(dir) = output.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(output, crate::spec::yaml())?;
    println!("wrote {}", output.display());
    Ok(())
}

pub fn token(common: &Common, args: &TokenArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        common.local_tokens,
        "LOCAL_TOKENS=false: the service accepts only its identity providers' tokens, so a \
         local one would be refused; get a token from the provider (OIDC_ISSUER), or from \
         `local-issuer` when trying it out"
    );
    anyhow::ensure!(args.ttl > 0, "--ttl must be positive");
    anyhow::ensure!(
        !args.orgs.is_empty() || args.roles.contains(&Role::Admin),
        "give --org ORG (only admin tokens reach every organisation)"
    );
    let keys = Keys::load(common.jwt_secret.as_deref(), &common.data_dir)?;
    println!(
        "{}",
        keys.mint(&args.sub, args.orgs.clone(), args.roles.clone(), args.ttl)
    );
    Ok(())
}

pub async fn migrate(common: &Common) -> anyhow::Result<()> {
    open(common).await?;
    println!("database is up to date");
    Ok(())
}

/// Runs an audit command and answers its exit code, so that a script can tell a finding from a
/// failure: 0 when all is well (the read models equal the replay; the log is intact), 1 for a
/// finding (they differ; the log was tampered with), 2 when the command could not run.
pub async fn audit(common: &Common, command: &AuditCommand) -> i32 {
    use crate::audit::chain::{self, Verdict};
    let outcome: anyhow::Result<i32> = async {
        match command {
            AuditCommand::Replay {
                from: Some(file),
                as_of,
                report,
                snapshot,
                ..
            } => {
                use crate::audit::offline::{Replayed, Subject, replay};
                let subject = match (report, snapshot) {
                    (Some(id), _) => Subject::Report(id.clone()),
                    (_, Some(id)) => Subject::Snapshot(id.clone()),
                    _ => anyhow::bail!("--from needs --report ID or --snapshot ID"),
                };
                let as_of = anyhow::Context::context(*as_of, "--from needs --as-of POSITION")?;
                Ok(match replay(file, as_of, &subject).await? {
                    Replayed::Shown(shown) => {
                        println!("{}", serde_json::to_string_pretty(&shown)?);
                        0
                    }
                    Replayed::Tampered(broken) => {
                        println!("TAMPERED: {broken}");
                        1
                    }
                })
            }
            AuditCommand::Replay {
                max_differences, ..
            } => {
                let options = crate::audit::replay::Options {
                    max_differences: *max_differences,
                };
                let db = open(common).await?;
                let report =
                    crate::audit::replay::run(&db, &common.database_url(), &options).await?;
                print!("{report}");
                Ok(if report.identical() { 0 } else { 1 })
            }
            AuditCommand::Verify { from, expect } => {
                let anchors = expect
                    .iter()
                    .map(|a| chain::parse_anchor(a))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                let verdict = match from {
                    Some(file) => chain::verify_file(file, &anchors)?,
                    None => chain::verify_database(&open(common).await?, &anchors).await?,
                };
                Ok(match verdict {
                    Verdict::Intact(summary) => {
                        print!("{}", chain::describe_intact(&summary));
                        0
                    }
                    Verdict::Tampered(broken) => {
                        println!("TAMPERED: {broken}");
                        1
                    }
                })
            }
            AuditCommand::Seal { print } => {
                let db = open(common).await?;
                match chain::seal(&db, *print).await? {
                    Some(sealed) => print!("{}", chain::describe_seal(&sealed)),
                    None => println!("the log has no seal yet (and nothing to seal)"),
                }
                Ok(0)
            }
            AuditCommand::Export { to, as_of } => {
                let db = open(common).await?;
                let written = chain::export(&db, to, *as_of).await?;
                println!("wrote {written} events to {}", to.display());
                Ok(0)
            }
        }
    }
    .await;
    outcome.unwrap_or_else(|e| {
        eprintln!("audit failed: {e:#}");
        2
    })
}
