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

/// A fresh PostgreSQL database on the server named by `TEST_DATABASE_URL`.
///
/// Returns `None` (the caller skips, saying so) when the variable is unset outside CI. In CI
/// (`CI` set) a missing server is a failure: the PostgreSQL suite must never silently skip there.
pub async fn fresh_postgres() -> Option<String> {
    let admin = match std::env::var("TEST_DATABASE_URL") {
        Ok(url) => url,
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("CI is set but TEST_DATABASE_URL is not: the PostgreSQL tests must run in CI")
        }
        Err(_) => {
            eprintln!("skipped: TEST_DATABASE_URL is not set, so this PostgreSQL test did not run");
            return None;
        }
    };
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("connect to TEST_DATABASE_URL");
    let name = format!("bufdir_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let (base, _) = admin
        .rsplit_once('/')
        .expect("TEST_DATABASE_URL ends in /DATABASE");
    Some(format!("{base}/{name}"))
}
