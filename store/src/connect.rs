use std::sync::Arc;

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

use crate::{EventStore, PostgresStore, SqliteStore, StoreError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The event store and the pool the read models live in (the same database).
///
/// Read models go through `sqlx::Any` so that each projection's SQL is written once for both
/// backends; they keep to types Any can carry (text, integers, reals). The event store uses the
/// native drivers for what only they can do (LISTEN/NOTIFY, arrays, `BEGIN IMMEDIATE`).
#[derive(Clone)]
pub struct Database {
    pub events: Arc<dyn EventStore>,
    pub read: AnyPool,
    pub backend: Backend,
    url: Arc<str>,
}

/// Connections of the API's read pool. With SQLite each is a thread of its own: 4 to 8 measured
/// alike under load, 2 was a fifth slower and 16 a tenth.
const READ_POOL: u32 = 8;

/// Opens the database at `url` (`sqlite://...` or `postgres://...`) and migrates it.
pub async fn connect(url: &str) -> Result<Database, StoreError> {
    sqlx::any::install_default_drivers();
    let (events, backend): (Arc<dyn EventStore>, Backend) =
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Arc::new(PostgresStore::open(url).await?), Backend::Postgres)
        } else if url.starts_with("sqlite:") {
            (Arc::new(SqliteStore::open(url).await?), Backend::Sqlite)
        } else {
            return Err(StoreError::Config(format!(
                "unsupported database url {url:?}: use sqlite://PATH or postgres://..."
            )));
        };
    let events: Arc<dyn EventStore> = Arc::new(crate::metered::Metered(events));
    let read = read_pool(url, backend, READ_POOL).await?;
    Ok(Database {
        events,
        read,
        backend,
        url: url.into(),
    })
}

impl Database {
    /// The same database with a read-model pool of its own. Projection runners and workers get
    /// one, so that a burst of API reads holding every connection cannot stall the projections
    /// that writes wait for (read-your-writes), nor the reverse.
    pub async fn with_own_pool(&self, max_connections: u32) -> Result<Database, StoreError> {
        Ok(Database {
            events: self.events.clone(),
            read: read_pool(&self.url, self.backend, max_connections).await?,
            backend: self.backend,
            url: self.url.clone(),
        })
    }
}

async fn read_pool(url: &str, backend: Backend, max: u32) -> Result<AnyPool, StoreError> {
    let pool = AnyPoolOptions::new()
        .max_connections(max)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    // Any opens plain connections: give them the same settings as the store's.
                    sqlx::query("PRAGMA busy_timeout = 10000")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA synchronous = NORMAL")
                        .execute(&mut *conn)
                        .await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await?;
    Ok(pool)
}
