//! A fresh, empty database with the service's schema, for a replay to write into and nothing
//! else to read: a new SQLite file in a temporary directory, or, beside a PostgreSQL store, a new
//! schema in the same database. A schema rather than a database because it needs only the CREATE
//! privilege on the database the service already uses, not the right to create databases, and
//! because its tables sort and compare under the same collation as the live ones.

use std::path::PathBuf;

use store::{Backend, Database, ReadPool, on_pool};

pub struct Scratch {
    /// The fresh database; its event log stays empty (the replay reads the live one).
    pub db: Database,
    place: Place,
}

enum Place {
    SqliteDir(PathBuf),
    PostgresSchema { live: ReadPool, schema: String },
}

impl Scratch {
    /// Creates a scratch database of the same backend as `live`, whose URL is `live_url`.
    pub async fn create(live: &Database, live_url: &str) -> anyhow::Result<Scratch> {
        let id = uuid::Uuid::new_v4().simple();
        match live.read.backend() {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("bufdir-replay-{id}"));
                std::fs::create_dir_all(&dir)?;
                let place = Place::SqliteDir(dir.clone());
                let url = format!("sqlite://{}", dir.join("replay.db").display());
                Scratch::open(&url, place).await
            }
            Backend::Postgres => {
                let schema = format!("bufdir_replay_{id}");
                let create = format!("CREATE SCHEMA {schema}");
                on_pool!(&live.read, c => sqlx::query(sqlx::AssertSqlSafe(create))
                    .execute(c)
                    .await
                    .map(drop))?;
                let url = with_search_path(live_url, &schema);
                let place = Place::PostgresSchema {
                    live: live.read.clone(),
                    schema,
                };
                Scratch::open(&url, place).await
            }
        }
    }

    async fn open(url: &str, place: Place) -> anyhow::Result<Scratch> {
        match store::connect(url).await {
            Ok(db) => Ok(Scratch { db, place }),
            Err(e) => {
                place.remove().await?;
                Err(e.into())
            }
        }
    }

    /// Closes the scratch database and deletes it.
    pub async fn remove(self) -> anyhow::Result<()> {
        self.db.read.close().await;
        drop(self.db);
        self.place.remove().await
    }

    pub fn describe(&self) -> String {
        match &self.place {
            Place::SqliteDir(dir) => format!("a fresh SQLite database in {}", dir.display()),
            Place::PostgresSchema { schema, .. } => format!("a fresh PostgreSQL schema {schema}"),
        }
    }
}

impl Place {
    async fn remove(self) -> anyhow::Result<()> {
        match self {
            Place::SqliteDir(dir) => std::fs::remove_dir_all(dir)?,
            Place::PostgresSchema { live, schema } => {
                let drop_schema = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
                on_pool!(&live, c => sqlx::query(sqlx::AssertSqlSafe(drop_schema))
                    .execute(c)
                    .await
                    .map(drop))?;
            }
        }
        Ok(())
    }
}

/// The live URL with `schema` as the only schema its connections see, so the migrations create
/// every table there and unqualified names never reach the live tables.
fn with_search_path(url: &str, schema: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-c%20search_path%3D{schema}")
}

#[cfg(test)]
mod tests {
    use super::with_search_path;

    #[test]
    fn the_search_path_is_added_to_urls_with_and_without_parameters() {
        assert_eq!(
            with_search_path("postgres://u@h/db", "s1"),
            "postgres://u@h/db?options=-c%20search_path%3Ds1"
        );
        assert_eq!(
            with_search_path("postgres://u@h/db?sslmode=disable", "s1"),
            "postgres://u@h/db?sslmode=disable&options=-c%20search_path%3Ds1"
        );
    }
}
