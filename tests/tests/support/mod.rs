//! Helpers shared by the black-box test binaries: fresh databases per test.
#![allow(dead_code)]

use std::path::PathBuf;

/// A fresh SQLite database file in its own temporary directory (removed on drop).
pub struct TempSqlite {
    pub dir: PathBuf,
    pub url: String,
}

impl TempSqlite {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("bufdir-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let url = format!("sqlite://{}/bufdir.db", dir.display());
        TempSqlite { dir, url }
    }
}

impl Drop for TempSqlite {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The server the PostgreSQL tests use when `TEST_DATABASE_URL` is unset: a local one with trust
/// authentication, the one `ci/test` looks for.
pub const LOCAL_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A fresh PostgreSQL database on the server named by `TEST_DATABASE_URL`, or on
/// [`LOCAL_POSTGRES`].
///
/// The tests that call this are `#[ignore]`d, so a plain run counts them as skipped. One that
/// runs all the same must do its work: with no server there it fails here, loudly, instead of
/// passing without having tested anything.
pub async fn fresh_postgres() -> String {
    let admin = std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| LOCAL_POSTGRES.into());
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "this test needs PostgreSQL and none answers at {}: {e}. Set \
                 TEST_DATABASE_URL to a server where the user may create databases, or run \
                 ci/test, which runs the PostgreSQL tests only where there is a server",
                without_password(&admin)
            )
        });
    let name = format!("bufdir_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let (base, _) = admin
        .rsplit_once('/')
        .expect("TEST_DATABASE_URL ends in /DATABASE");
    format!("{base}/{name}")
}

/// `url` without its password, fit for a message that may end up in a CI log.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}@{host}")
        }
        None => url.to_string(),
    }
}
