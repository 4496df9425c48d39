//! The read models' database on its native driver: SQLite or PostgreSQL behind one small type.
//!
//! Each query is written once, as SQL both databases read (`$1` placeholders, standard
//! functions), and run on whichever pool there is through [`on_pool!`] or [`on_tx!`]: the body is
//! compiled once per driver, so rows are `#[derive(FromRow)]` structs with real column types
//! (PostgreSQL `timestamptz`, `date`, `boolean`, `jsonb`; SQLite's text and integers that decode
//! to the same Rust types). Where the two dialects differ (a list parameter), [`ReadPool::any_of`]
//! writes each its own fragment.

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgPool, PgTypeInfo};
use sqlx::sqlite::{SqliteArgumentsBuffer, SqlitePool, SqliteTypeInfo};
use sqlx::{Encode, Postgres, Sqlite, Transaction, Type};

use crate::Backend;

/// A pool of read-model connections on the database's own driver.
#[derive(Clone, Debug)]
pub enum ReadPool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A transaction on the read models: a projection's batch, a rebuild.
pub enum ReadTransaction {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// Runs `$body` with `$c` bound to the native pool (`&SqlitePool` or `&PgPool`). The body must
/// give the same type on both drivers: map an `execute` to its `rows_affected()`.
#[macro_export]
macro_rules! on_pool {
    ($pool:expr, $c:ident => $body:expr) => {
        match $pool {
            $crate::ReadPool::Sqlite($c) => $body,
            $crate::ReadPool::Postgres($c) => $body,
        }
    };
}

/// Runs `$body` with `$c` bound to the transaction's native connection (`&mut SqliteConnection`
/// or `&mut PgConnection`); `$tx` is a `&mut ReadTransaction`.
#[macro_export]
macro_rules! on_tx {
    ($tx:expr, $c:ident => $body:expr) => {
        match $tx {
            $crate::ReadTransaction::Sqlite(t) => {
                let $c = &mut **t;
                $body
            }
            $crate::ReadTransaction::Postgres(t) => {
                let $c = &mut **t;
                $body
            }
        }
    };
}

impl ReadPool {
    pub fn backend(&self) -> Backend {
        match self {
            ReadPool::Sqlite(_) => Backend::Sqlite,
            ReadPool::Postgres(_) => Backend::Postgres,
        }
    }

    pub async fn begin(&self) -> Result<ReadTransaction, sqlx::Error> {
        Ok(match self {
            ReadPool::Sqlite(p) => ReadTransaction::Sqlite(p.begin().await?),
            ReadPool::Postgres(p) => ReadTransaction::Postgres(p.begin().await?),
        })
    }

    /// A read-only transaction that sees one consistent snapshot of every table: repeatable read
    /// on PostgreSQL; on SQLite (WAL) any transaction does, from its first read on.
    pub async fn begin_consistent(&self) -> Result<ReadTransaction, sqlx::Error> {
        Ok(match self {
            ReadPool::Sqlite(p) => ReadTransaction::Sqlite(p.begin().await?),
            ReadPool::Postgres(p) => ReadTransaction::Postgres(
                p.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?,
            ),
        })
    }

    /// `column` is one of the values of list parameter `$n` (bound as [`IdList`]): an array on
    /// PostgreSQL, a JSON array on SQLite, so the statement's text never depends on the list's
    /// length and one prepared statement serves every call.
    pub fn any_of(&self, column: &str, n: usize) -> String {
        any_of(self.backend(), column, n)
    }

    pub async fn close(&self) {
        on_pool!(self, p => p.close().await)
    }
}

impl ReadTransaction {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            ReadTransaction::Sqlite(t) => t.commit().await,
            ReadTransaction::Postgres(t) => t.commit().await,
        }
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        match self {
            ReadTransaction::Sqlite(t) => t.rollback().await,
            ReadTransaction::Postgres(t) => t.rollback().await,
        }
    }

    /// As [`ReadPool::any_of`], for statements inside the transaction.
    pub fn any_of(&self, column: &str, n: usize) -> String {
        any_of(self.backend(), column, n)
    }

    pub fn backend(&self) -> Backend {
        match self {
            ReadTransaction::Sqlite(_) => Backend::Sqlite,
            ReadTransaction::Postgres(_) => Backend::Postgres,
        }
    }
}

fn any_of(backend: Backend, column: &str, n: usize) -> String {
    match backend {
        Backend::Sqlite => format!("{column} IN (SELECT value FROM json_each(${n}))"),
        Backend::Postgres => format!("{column} = ANY(${n})"),
    }
}

/// A point in time as a query parameter: `timestamptz` on PostgreSQL; on SQLite the text every
/// row already holds (UTC, microseconds, `Z`), whose order is the order of time, so comparisons
/// and `ORDER BY` on those columns stay right. (sqlx's own SQLite encoding writes `+00:00` and a
/// varying number of digits, which would not sort with the rows there.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stamp(pub DateTime<Utc>);

impl Stamp {
    pub fn now() -> Stamp {
        Stamp(Utc::now())
    }

    fn text(&self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::Micros, true)
    }
}

impl From<DateTime<Utc>> for Stamp {
    fn from(t: DateTime<Utc>) -> Self {
        Stamp(t)
    }
}

impl Type<Sqlite> for Stamp {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
}

impl Encode<'_, Sqlite> for Stamp {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        Encode::<Sqlite>::encode(self.text(), buf)
    }
}

impl Type<Postgres> for Stamp {
    fn type_info() -> PgTypeInfo {
        <DateTime<Utc> as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for Stamp {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        Encode::<Postgres>::encode_by_ref(&self.0, buf)
    }
}

/// A list of text values as one parameter (see [`ReadPool::any_of`]): `text[]` on PostgreSQL, a
/// JSON array on SQLite.
#[derive(Clone, Debug)]
pub struct IdList(pub Vec<String>);

impl Type<Sqlite> for IdList {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
}

impl Encode<'_, Sqlite> for IdList {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        Encode::<Sqlite>::encode(serde_json::to_string(&self.0)?, buf)
    }
}

impl Type<Postgres> for IdList {
    fn type_info() -> PgTypeInfo {
        <Vec<String> as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for IdList {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        Encode::<Postgres>::encode_by_ref(&self.0, buf)
    }
}
