//! The schema of the whole service (event log, checkpoints, read models), one migration set per
//! backend, embedded in the binary.

use sqlx::{PgPool, SqlitePool};

pub async fn sqlite(pool: &SqlitePool) -> Result<(), sqlx::migrate::MigrateError> {
    sqlx::migrate!("../migrations/sqlite").run(pool).await
}

pub async fn postgres(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    sqlx::migrate!("../migrations/postgres").run(pool).await
}
