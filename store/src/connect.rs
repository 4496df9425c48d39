//! Opening the service's database from one URL: the event store (SQL or EventStoreDB), the
//! read-model pool and the migrations, so every process starts the same way.

use std::sync::Arc;

use sqlx::sqlite::SqlitePoolOptions;

use crate::{EventStore, EventStoreDbStore, PostgresStore, ReadPool, SqliteStore, StoreError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The event store and the pool the read models live in: the same database, unless the log is
/// in EventStoreDB.
///
/// Read models use the database's native driver ([`ReadPool`]), each query written once for
/// both backends.
#[derive(Clone)]
pub struct Database {
    pub events: Arc<dyn EventStore>,
    pub read: ReadPool,
    url: Arc<str>,
}

/// Connections of the API's read pool. With SQLite each is a thread of its own: 4 to 8 measured
/// alike under load, 2 was a fifth slower and 16 a tenth.
const READ_POOL: u32 = 8;

/// Opens the database at `url` (`sqlite://...` or `postgres://...`) and migrates it.
pub async fn connect(url: &str) -> Result<Database, StoreError> {
    connect_with(url, None).await
}

/// Like [`connect`], but with `eventstore_url` (`esdb://...`) the event log lives in EventStoreDB
/// and the database at `url` holds only the read models and the service's own tables.
pub async fn connect_with(url: &str, eventstore_url: Option<&str>) -> Result<Database, StoreError> {
    let backend = backend_of(url)?;
    let events: Arc<dyn EventStore> = match (eventstore_url, backend) {
        (Some(esdb), _) => {
            migrate(url, backend).await?;
            let store = EventStoreDbStore::open(esdb).await?;
            // The client connects lazily; a wrong address should stop the start, not the first
            // write. Connecting now also lets the crate install rustls's process-wide crypto
            // provider before any other client could (it panics if another came first).
            store.head().await.map_err(|e| {
                StoreError::Config(format!(
                    "EventStoreDB at EVENTSTORE_URL is not answering: {e}"
                ))
            })?;
            Arc::new(store)
        }
        (None, Backend::Postgres) => Arc::new(PostgresStore::open(url).await?),
        (None, Backend::Sqlite) => Arc::new(SqliteStore::open(url).await?),
    };
    let events: Arc<dyn EventStore> = Arc::new(crate::metered::Metered(events));
    let read = read_pool(url, backend, READ_POOL).await?;
    Ok(Database {
        events,
        read,
        url: url.into(),
    })
}

fn backend_of(url: &str) -> Result<Backend, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else {
        Err(StoreError::Config(format!(
            "unsupported database url {url:?}: use sqlite://PATH or postgres://..."
        )))
    }
}

/// The schema without the SQL event store's writer: with the log elsewhere, the read models and
/// the service's tables still need it.
async fn migrate(url: &str, backend: Backend) -> Result<(), StoreError> {
    match backend {
        Backend::Postgres => {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect(url)
                .await?;
            crate::migrate::postgres(&pool).await?;
            pool.close().await;
        }
        Backend::Sqlite => {
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(crate::sqlite::connect_options(url)?)
                .await?;
            crate::migrate::sqlite(&pool).await?;
            pool.close().await;
        }
    }
    Ok(())
}

impl Database {
    /// The same database with a read-model pool of its own. Projection runners and workers get
    /// one, so that a burst of API reads holding every connection cannot stall the projections
    /// that writes wait for (read-your-writes), nor the reverse.
    pub async fn with_own_pool(&self, max_connections: u32) -> Result<Database, StoreError> {
        Ok(Database {
            events: self.events.clone(),
            read: read_pool(&self.url, self.read.backend(), max_connections).await?,
            url: self.url.clone(),
        })
    }
}

async fn read_pool(url: &str, backend: Backend, max: u32) -> Result<ReadPool, StoreError> {
    Ok(match backend {
        Backend::Sqlite => ReadPool::Sqlite(
            SqlitePoolOptions::new()
                .max_connections(max)
                .connect_with(crate::sqlite::connect_options(url)?)
                .await?,
        ),
        Backend::Postgres => ReadPool::Postgres(
            crate::postgres::pool_options()
                .max_connections(max)
                .connect(url)
                .await?,
        ),
    })
}
