//! The Bufdir sandbox: a small server of our own with Bufdir's endpoints (see
//! `workers::bufdir::wire`), registered test clients, the same payload validator, submissions
//! that turn from `received` to `accepted` or `rejected` after a delay, and fault injection.
//! `bufdir-reporting bufdir-sandbox` runs it alone; `serve` runs one in-process unless
//! `BUFDIR_API_URL` points at Bufdir. A crate of its own: it shares nothing with the service but
//! Bufdir's wire types and payload rules, and the service's tests start it too.

mod args;
mod routes;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;

use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{EndpointExt, Server};
use tokio_util::sync::CancellationToken;

pub use args::SandboxArgs;
pub use state::{Counters, Fate, Faults, Filed, SandboxConfig, SandboxState, default_clients};

/// A running sandbox.
pub struct Sandbox {
    pub addr: SocketAddr,
    pub state: Arc<SandboxState>,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Sandbox {
    /// Binds `bind` (port 0 picks one) and serves until `shutdown`.
    pub async fn start(
        bind: SocketAddr,
        config: SandboxConfig,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Sandbox> {
        let acceptor = TcpListener::bind(bind).into_acceptor().await?;
        let addr = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .ok_or_else(|| anyhow::anyhow!("the sandbox listener has no socket address"))?;
        let state = Arc::new(SandboxState::new(config));
        let app = routes::endpoint().data(state.clone());
        let task = tokio::spawn(async move {
            Server::new_with_acceptor(acceptor)
                .run_with_graceful_shutdown(
                    app,
                    async move { shutdown.cancelled().await },
                    Some(std::time::Duration::from_secs(5)),
                )
                .await
        });
        Ok(Sandbox { addr, state, task })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}
