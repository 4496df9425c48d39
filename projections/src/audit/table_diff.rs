//! Row-by-row comparison of one table in two databases of the same backend.
//!
//! Both sides are read as text, ordered by the primary key in byte order (`COLLATE "C"` /
//! `BINARY`, NULLs first), which is also how Rust orders the keys, so the two ordered streams are
//! merged without holding either table in memory.

use futures::TryStreamExt;
use futures::stream::BoxStream;
use sqlx::Row;
use store::{Backend, ReadTransaction, on_tx};

/// A cell as text (`NULL` is `None`).
pub type Value = Option<String>;

/// A row named by its primary key: `(column, value)` pairs.
pub type Key = Vec<(String, Value)>;

#[derive(Debug, Clone, PartialEq)]
pub enum Difference {
    /// The replay has the row; the live read model does not.
    MissingFromLive(Key),
    /// The live read model has a row the replay does not.
    OnlyInLive(Key),
    /// The row is on both sides with other values.
    Differs {
        key: Key,
        /// `(column, live value, replayed value)`.
        columns: Vec<(String, Value, Value)>,
    },
}

/// What the comparison of one table found.
#[derive(Debug, Clone)]
pub struct TableDiff {
    pub table: String,
    pub live_rows: u64,
    pub replay_rows: u64,
    /// The first differences found, at most the limit given.
    pub differences: Vec<Difference>,
    /// All differences, shown or not.
    pub difference_count: u64,
}

/// A table's columns and which of them form its key.
struct Shape {
    columns: Vec<String>,
    /// Indices into `columns`, in key order.
    key: Vec<usize>,
}

/// Compares `table` in `live` and `replay`; at most `keep` differences are kept in the answer.
pub async fn compare(
    table: &str,
    live: &mut ReadTransaction,
    replay: &mut ReadTransaction,
    keep: usize,
) -> anyhow::Result<TableDiff> {
    let backend = live.backend();
    let shape = table_shape(table, live).await?;
    let replay_shape = table_shape(table, replay).await?;
    anyhow::ensure!(
        replay_shape.columns == shape.columns,
        "table {table} has columns {:?} live but {:?} in the replay: is the live schema migrated?",
        shape.columns,
        replay_shape.columns
    );
    let sql = select_sql(backend, table, &shape);
    let mut live_rows = rows(live, &sql);
    let mut replay_rows = rows(replay, &sql);
    let mut diff = TableDiff {
        table: table.to_string(),
        live_rows: 0,
        replay_rows: 0,
        differences: vec![],
        difference_count: 0,
    };
    let mut l = live_rows.try_next().await?;
    let mut r = replay_rows.try_next().await?;
    loop {
        let found = match (&l, &r) {
            (None, None) => break,
            (Some(live), None) => Some(Difference::OnlyInLive(shape.key_of(live))),
            (None, Some(replayed)) => Some(Difference::MissingFromLive(shape.key_of(replayed))),
            (Some(live), Some(replayed)) => {
                match shape.key_values(live).cmp(&shape.key_values(replayed)) {
                    std::cmp::Ordering::Less => Some(Difference::OnlyInLive(shape.key_of(live))),
                    std::cmp::Ordering::Greater => {
                        Some(Difference::MissingFromLive(shape.key_of(replayed)))
                    }
                    std::cmp::Ordering::Equal => shape.differing(live, replayed),
                }
            }
        };
        // A row found on one side only is held, to be matched against the other side's next row.
        let (advance_live, advance_replay) = match &found {
            Some(Difference::OnlyInLive(_)) => (true, false),
            Some(Difference::MissingFromLive(_)) => (false, true),
            _ => (true, true),
        };
        if let Some(d) = found {
            diff.difference_count += 1;
            if diff.differences.len() < keep {
                diff.differences.push(d);
            }
        }
        if advance_live {
            diff.live_rows += 1;
            l = live_rows.try_next().await?;
        }
        if advance_replay {
            diff.replay_rows += 1;
            r = replay_rows.try_next().await?;
        }
    }
    Ok(diff)
}

impl Shape {
    fn key_values<'r>(&self, row: &'r [Value]) -> Vec<&'r Value> {
        self.key.iter().map(|&i| &row[i]).collect()
    }

    fn key_of(&self, row: &[Value]) -> Key {
        self.key
            .iter()
            .map(|&i| (self.columns[i].clone(), row[i].clone()))
            .collect()
    }

    fn differing(&self, live: &[Value], replayed: &[Value]) -> Option<Difference> {
        let columns: Vec<(String, Value, Value)> = self
            .columns
            .iter()
            .enumerate()
            .filter(|&(i, _)| live[i] != replayed[i])
            .map(|(i, name)| (name.clone(), live[i].clone(), replayed[i].clone()))
            .collect();
        (!columns.is_empty()).then(|| Difference::Differs {
            key: self.key_of(live),
            columns,
        })
    }
}

fn rows<'c>(tx: &'c mut ReadTransaction, sql: &str) -> BoxStream<'c, anyhow::Result<Vec<Value>>> {
    let sql = sql.to_string();
    on_tx!(tx, c => {
        let stream: BoxStream<'c, anyhow::Result<Vec<Value>>> = Box::pin(async_stream::try_stream! {
            let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(c);
            while let Some(row) = rows.try_next().await? {
                let values = (0..row.len())
                    .map(|i| row.try_get::<Value, _>(i))
                    .collect::<Result<Vec<_>, _>>()?;
                yield values;
            }
        });
        stream
    })
}

/// Every column as text, ordered by the key in byte order.
fn select_sql(backend: Backend, table: &str, shape: &Shape) -> String {
    let collation = match backend {
        Backend::Sqlite => "BINARY",
        Backend::Postgres => "\"C\"",
    };
    let text = |column: &str| format!("CAST(\"{column}\" AS TEXT)");
    let columns: Vec<String> = shape.columns.iter().map(|c| text(c)).collect();
    let order: Vec<String> = shape
        .key
        .iter()
        .map(|&i| {
            format!(
                "{} COLLATE {collation} NULLS FIRST",
                text(&shape.columns[i])
            )
        })
        .collect();
    format!(
        "SELECT {} FROM \"{table}\" ORDER BY {}",
        columns.join(", "),
        order.join(", ")
    )
}

/// The columns of `table` as the connection sees it, and its primary key (all columns when it
/// has none, so that rows are still ordered and matched whole).
async fn table_shape(table: &str, tx: &mut ReadTransaction) -> anyhow::Result<Shape> {
    let sql = match tx.backend() {
        Backend::Sqlite => "SELECT name, pk FROM pragma_table_info($1) ORDER BY cid",
        Backend::Postgres => {
            "SELECT c.column_name::text, COALESCE(k.ordinal_position, 0)::bigint \
             FROM information_schema.columns c \
             LEFT JOIN information_schema.table_constraints t \
                 ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
                 AND t.constraint_type = 'PRIMARY KEY' \
             LEFT JOIN information_schema.key_column_usage k \
                 ON k.constraint_schema = t.constraint_schema \
                 AND k.constraint_name = t.constraint_name AND k.column_name = c.column_name \
             WHERE c.table_schema = current_schema() AND c.table_name::text = $1 \
             ORDER BY c.ordinal_position"
        }
    };
    let listed: Vec<(String, i64)> =
        on_tx!(tx, c => sqlx::query_as(sql).bind(table).fetch_all(c).await)?;
    anyhow::ensure!(!listed.is_empty(), "table {table} does not exist");
    let mut key: Vec<(i64, usize)> = listed
        .iter()
        .enumerate()
        .filter(|(_, (_, pk))| *pk > 0)
        .map(|(i, (_, pk))| (*pk, i))
        .collect();
    key.sort_unstable();
    let key = if key.is_empty() {
        (0..listed.len()).collect()
    } else {
        key.into_iter().map(|(_, i)| i).collect()
    };
    Ok(Shape {
        columns: listed.into_iter().map(|(name, _)| name).collect(),
        key,
    })
}
