//! The long-running subcommands: `serve` (the API with projections and workers), `worker`
//! (projections and workers alone) and `bufdir-sandbox`.

use std::net::SocketAddr;

use bufdir_sandbox::{Sandbox, SandboxArgs};

use crate::http::app::Application;
use crate::http::auth::Role;

use super::compose::Root;
use super::config::{ServeArgs, WorkerArgs};
use super::logging::shutdown_on_signal;

pub async fn serve(root: &Root<'_>, args: &ServeArgs) -> anyhow::Result<()> {
    let common = root.common();
    let db = root.database().await?;
    let keys = root.request_keys().await?;
    let shutdown = shutdown_on_signal();
    let settings = root.settings(root.bufdir_url(&args.sandbox, &shutdown).await?);
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
    if args.demo(common.embedded()) && super::demo::load(&db).await? {
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

pub async fn worker(root: &Root<'_>, args: &WorkerArgs) -> anyhow::Result<()> {
    if root.common().bufdir.bufdir_api_url.is_none() && !args.own_sandbox {
        anyhow::bail!(
            "BUFDIR_API_URL is not set: a worker process delivers submissions that serve, in \
             another process, reports on, so both must use the same Bufdir. Set BUFDIR_API_URL \
             to Bufdir's API or to a shared `bufdir-sandbox`, or pass --own-sandbox to start a \
             private sandbox in this worker (its submissions are seen by nobody else)"
        );
    }
    let db = root.database().await?;
    let keys = root.keys()?;
    let projections = root.projections(&db);
    let shutdown = shutdown_on_signal();
    let services = root
        .settings(root.bufdir_url(&args.sandbox, &shutdown).await?)
        .services(&db, &keys)?;
    let tasks = workers::spawn_background(&db, &projections, &services, true, shutdown);
    let names: Vec<&str> = projections.names().iter().map(|p| p.as_str()).collect();
    tracing::info!("worker running projections {names:?}");
    for task in tasks {
        task.await?;
    }
    Ok(())
}

pub async fn bufdir_sandbox(bind: SocketAddr, args: &SandboxArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    let clients: Vec<&str> = config.clients.iter().map(|(id, _)| id.as_str()).collect();
    let sandbox = Sandbox::start(bind, config.clone(), shutdown_on_signal()).await?;
    tracing::info!(url = %sandbox.url(), ?clients, "Bufdir sandbox listening; faults at PUT /sandbox/faults");
    sandbox.task.await??;
    Ok(())
}
