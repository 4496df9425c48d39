//! The client, and a new one when it dies.
//!
//! The crate's client runs one connection task. When that task fails to reach a node (the server
//! is down for longer than its few discovery attempts) it ends, and every later call on that
//! client fails with "connection closed" forever. So the store keeps the settings and builds a
//! fresh client once the current one is gone, and every operation retries its transient failures
//! a few times, with a pause, on whichever client is current.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventstore::{Client, ClientSettings};
use tokio::runtime::Handle;

use super::errors::{Failure, classify};

/// Tries of one operation before its transient failure is given to the caller. Every operation
/// is safe to send again: reads change nothing and the server recognises an append by its ids.
const ATTEMPTS: u32 = 4;
const FIRST_PAUSE: Duration = Duration::from_millis(100);

pub(super) struct Connection {
    settings: ClientSettings,
    runtime: Handle,
    current: Mutex<Current>,
}

#[derive(Clone)]
pub(super) struct Current {
    /// Tells a client from the one that replaced it, so that callers who saw the same client
    /// die replace it once.
    pub(super) generation: u64,
    pub(super) client: Client,
}

impl Connection {
    pub(super) fn new(settings: ClientSettings, runtime: Handle) -> eventstore::Result<Arc<Self>> {
        let client = Client::with_runtime_handle(runtime.clone(), settings.clone())?;
        Ok(Arc::new(Connection {
            settings,
            runtime,
            current: Mutex::new(Current {
                generation: 0,
                client,
            }),
        }))
    }

    pub(super) fn current(&self) -> Current {
        self.current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Replaces the client of `dead` unless someone already did.
    pub(super) fn replace(&self, dead: &Current) {
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if current.generation != dead.generation {
            return;
        }
        match Client::with_runtime_handle(self.runtime.clone(), self.settings.clone()) {
            Ok(client) => {
                *current = Current {
                    generation: dead.generation + 1,
                    client,
                }
            }
            Err(e) => {
                tracing::warn!(error = %crate::causes(&e), "cannot create a new EventStoreDB client")
            }
        }
    }

    /// Runs `op` on the current client, again on transient failures, replacing the client when
    /// it died. Answers the last failure when every try failed.
    pub(super) async fn run<T, F, Fut>(&self, what: &str, op: F) -> Result<T, Failure>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = eventstore::Result<T>>,
    {
        let mut pause = FIRST_PAUSE;
        let mut attempt = 1;
        loop {
            let current = self.current();
            let failure = match op(current.client.clone()).await {
                Ok(value) => return Ok(value),
                Err(e) => classify(e),
            };
            let Failure::Transient { error, client_gone } = &failure else {
                return Err(failure);
            };
            if *client_gone {
                self.replace(&current);
            }
            if attempt == ATTEMPTS {
                return Err(failure);
            }
            tracing::warn!(%error, attempt, "eventstoredb {what} failed; trying again");
            tokio::time::sleep(pause).await;
            pause *= 2;
            attempt += 1;
        }
    }
}
