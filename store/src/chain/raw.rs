//! Events exactly as stored, with their hashes: what verification and the audit export read.
//! Payload and metadata stay the text the database holds (not re-serialised), because the hash
//! covers that text.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sqlx::Row;
use uuid::Uuid;

use crate::chain::{Link, recorded_time};
use crate::{ReadPool, StoreError};

/// One event of an export: a line of its JSON Lines file.
#[derive(Debug, Serialize, Deserialize)]
pub struct ChainedEvent {
    pub position: i64,
    pub stream: String,
    pub version: u64,
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: u32,
    pub payload: Box<RawValue>,
    pub metadata: Box<RawValue>,
    /// As the hash covers it ([`recorded_time`]).
    pub recorded_at: String,
    /// `None` only for an event of a log not upgraded to chains (which verification reports).
    pub hash: Option<String>,
}

impl ChainedEvent {
    pub fn link<'a>(&'a self, previous: Option<&'a str>) -> Link<'a> {
        Link {
            previous,
            stream: &self.stream,
            version: self.version,
            event_id: self.event_id,
            event_type: &self.event_type,
            schema_version: self.schema_version,
            payload: self.payload.get(),
            metadata: self.metadata.get(),
            recorded_at: &self.recorded_at,
        }
    }
}

/// The first line of an export: what it is and how far it goes.
#[derive(Debug, Serialize, Deserialize)]
pub struct ExportHeader {
    pub format: String,
    pub as_of: Option<i64>,
    pub exported_at: String,
    pub events: u64,
}

impl ExportHeader {
    pub(crate) const FORMAT: &'static str = "bufdir-reporting audit export v1";
}

/// The first line of an export (`{"header": {...}}`); every line after it is a
/// [`ChainedEvent`], in position order. (Not one untagged enum: serde cannot buffer the raw
/// payload text through one.)
#[derive(Debug, Serialize, Deserialize)]
pub struct Export {
    pub header: ExportHeader,
}

/// Up to `limit` stored events after position `after`, up to `until` when given, in position
/// order, as stored. SQL backends only (an EventStoreDB log lives elsewhere).
pub async fn read_page(
    pool: &ReadPool,
    after: i64,
    until: Option<i64>,
    limit: usize,
) -> Result<Vec<ChainedEvent>, StoreError> {
    match pool {
        ReadPool::Sqlite(pool) => sqlite_page(pool, after, until, limit).await,
        ReadPool::Postgres(pool) => postgres_page(pool, after, until, limit).await,
    }
}

pub(crate) async fn sqlite_page<'e>(
    on: impl sqlx::SqliteExecutor<'e>,
    after: i64,
    until: Option<i64>,
    limit: usize,
) -> Result<Vec<ChainedEvent>, StoreError> {
    let rows = sqlx::query(
        "SELECT position, stream, version, event_id, event_type, schema_version, \
                payload, metadata, recorded_at, hash \
         FROM events WHERE position > $1 AND position <= $2 ORDER BY position LIMIT $3",
    )
    .bind(after)
    .bind(until.unwrap_or(i64::MAX))
    .bind(limit.min(i64::MAX as usize) as i64)
    .fetch_all(on)
    .await?;
    rows.iter()
        .map(|row| {
            let at: String = row.try_get(8)?;
            let at = DateTime::parse_from_rfc3339(&at)
                .map_err(|e| StoreError::Corrupt(format!("recorded_at {at:?}: {e}")))?
                .with_timezone(&Utc);
            let id: String = row.try_get(3)?;
            chained(
                row.try_get(0)?,
                row.try_get(1)?,
                row.try_get(2)?,
                Uuid::parse_str(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                row.try_get(4)?,
                row.try_get(5)?,
                row.try_get(6)?,
                row.try_get(7)?,
                at,
                row.try_get(9)?,
            )
        })
        .collect()
}

pub(crate) async fn postgres_page<'e>(
    on: impl sqlx::PgExecutor<'e>,
    after: i64,
    until: Option<i64>,
    limit: usize,
) -> Result<Vec<ChainedEvent>, StoreError> {
    let rows = sqlx::query(
        "SELECT position, stream, version, event_id, event_type, schema_version, \
                payload::text, metadata::text, recorded_at, hash \
         FROM events WHERE position > $1 AND position <= $2 ORDER BY position LIMIT $3",
    )
    .bind(after)
    .bind(until.unwrap_or(i64::MAX))
    .bind(limit.min(i64::MAX as usize) as i64)
    .fetch_all(on)
    .await?;
    rows.iter()
        .map(|row| {
            chained(
                row.try_get(0)?,
                row.try_get(1)?,
                row.try_get(2)?,
                row.try_get(3)?,
                row.try_get(4)?,
                row.try_get::<i32, _>(5)? as i64,
                row.try_get(6)?,
                row.try_get(7)?,
                row.try_get(8)?,
                row.try_get(9)?,
            )
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn chained(
    position: i64,
    stream: String,
    version: i64,
    event_id: Uuid,
    event_type: String,
    schema_version: i64,
    payload: String,
    metadata: String,
    recorded_at: DateTime<Utc>,
    hash: Option<String>,
) -> Result<ChainedEvent, StoreError> {
    let raw = |text: String, what: &str| {
        RawValue::from_string(text)
            .map_err(|e| StoreError::Corrupt(format!("event at {position}: its {what}: {e}")))
    };
    Ok(ChainedEvent {
        position,
        stream,
        version: version as u64,
        event_id,
        event_type,
        schema_version: schema_version as u32,
        payload: raw(payload, "payload")?,
        metadata: raw(metadata, "metadata")?,
        recorded_at: recorded_time(recorded_at),
        hash,
    })
}
