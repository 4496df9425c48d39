//! The one-time chain upgrade of a log written before chains: at start, under the write lock,
//! every event without a hash gets the hash its stream's chain gives it, in position order, and
//! the upgrade appends a `LogChainUpgraded` event saying how many events it hashed and up to
//! where. It is the only time stored events are written to after their append; their content
//! is not touched, only the new `hash` column is filled.

use std::collections::HashMap;

use chrono::{SubsecRound, Utc};
use serde_json::json;
use sqlx::{PgPool, SqlitePool};
use uuid::Uuid;

use crate::StoreError;
use crate::chain::raw::{postgres_page, sqlite_page};
use crate::chain::{ChainedEvent, Link, UPGRADE_STREAM, UPGRADE_TYPE, recorded_time};

const PAGE: usize = 1000;

/// Whether the log was written before chains. Every append since chains carries its hash and
/// the upgrade fills every older event in one transaction, so the first event says it for the
/// whole log: one row read at start, not a scan of the log.
const UNCHAINED: &str =
    "SELECT coalesce((SELECT hash IS NULL FROM events ORDER BY position LIMIT 1), false)";

/// The chain as it is walked: each stream's last version and hash, and the hashes to store.
#[derive(Default)]
struct Walk {
    streams: HashMap<String, (u64, String)>,
    filled: Vec<(i64, String)>,
    head: i64,
}

impl Walk {
    fn take(&mut self, event: &ChainedEvent) {
        let hash = match &event.hash {
            Some(hash) => hash.clone(),
            None => {
                let previous = self.streams.get(&event.stream).map(|(_, h)| h.as_str());
                let hash = event.link(previous).hash();
                self.filled.push((event.position, hash.clone()));
                hash
            }
        };
        self.streams
            .insert(event.stream.clone(), (event.version, hash));
        self.head = event.position;
    }

    /// The record of the upgrade, chained like any event; its stream's head moves to it.
    fn record(&mut self) -> Record {
        let version = self.streams.get(UPGRADE_STREAM).map_or(0, |(v, _)| v + 1);
        let payload = json!({
            "events_hashed": self.filled.len(),
            "up_to": self.head.to_string(),
            "reason": "the log was written before events were chained: each event without a \
                       hash got the one its stream's chain gives it; no content was changed",
        })
        .to_string();
        let metadata = json!({"actor": "store:chain-upgrade"}).to_string();
        let recorded_at = Utc::now().trunc_subsecs(6);
        let event_id = Uuid::now_v7();
        let hash = Link {
            previous: self.streams.get(UPGRADE_STREAM).map(|(_, h)| h.as_str()),
            stream: UPGRADE_STREAM,
            version,
            event_id,
            event_type: UPGRADE_TYPE,
            schema_version: 1,
            payload: &payload,
            metadata: &metadata,
            recorded_at: &recorded_time(recorded_at),
        }
        .hash();
        self.streams
            .insert(UPGRADE_STREAM.to_string(), (version, hash.clone()));
        Record {
            position: self.head + 1,
            version: version as i64,
            event_id,
            payload,
            metadata,
            recorded_at,
            hash,
        }
    }
}

struct Record {
    position: i64,
    version: i64,
    event_id: Uuid,
    payload: String,
    metadata: String,
    recorded_at: chrono::DateTime<Utc>,
    hash: String,
}

pub(crate) async fn upgrade_sqlite(pool: &SqlitePool) -> Result<(), StoreError> {
    let unchained: bool = sqlx::query_scalar(UNCHAINED).fetch_one(pool).await?;
    if !unchained {
        return Ok(());
    }
    // IMMEDIATE: the write lock now, so no other process appends or upgrades meanwhile.
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let mut walk = Walk::default();
    loop {
        let page = sqlite_page(&mut *tx, walk.head, None, PAGE).await?;
        page.iter().for_each(|e| walk.take(e));
        if page.len() < PAGE {
            break;
        }
    }
    if walk.filled.is_empty() {
        // Another process upgraded it first.
        return Ok(());
    }
    for (position, hash) in &walk.filled {
        sqlx::query("UPDATE events SET hash = $1 WHERE position = $2")
            .bind(hash)
            .bind(position)
            .execute(&mut *tx)
            .await?;
    }
    let record = walk.record();
    sqlx::query(
        "INSERT INTO events (position, stream, category, version, event_id, event_type, \
             schema_version, payload, metadata, recorded_at, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $9, $10)",
    )
    .bind(record.position)
    .bind(UPGRADE_STREAM)
    .bind(crate::category_of(UPGRADE_STREAM))
    .bind(record.version)
    .bind(record.event_id.to_string())
    .bind(UPGRADE_TYPE)
    .bind(&record.payload)
    .bind(&record.metadata)
    .bind(recorded_time(record.recorded_at))
    .bind(&record.hash)
    .execute(&mut *tx)
    .await?;
    for (stream, (version, hash)) in &walk.streams {
        sqlx::query(
            "INSERT INTO streams (stream, version, hash) VALUES ($1, $2, $3) \
             ON CONFLICT (stream) DO UPDATE SET version = excluded.version, hash = excluded.hash",
        )
        .bind(stream)
        .bind(*version as i64)
        .bind(hash)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    tracing::info!(
        events = walk.filled.len(),
        "chained the events of a log written before chains"
    );
    Ok(())
}

pub(crate) async fn upgrade_postgres(pool: &PgPool) -> Result<(), StoreError> {
    let unchained: bool = sqlx::query_scalar(UNCHAINED).fetch_one(pool).await?;
    if !unchained {
        return Ok(());
    }
    let mut tx = pool.begin().await?;
    // The head lock every append takes first: nothing is appended meanwhile.
    let head: i64 =
        sqlx::query_scalar("SELECT position FROM event_log_head WHERE id = 1 FOR UPDATE")
            .fetch_one(&mut *tx)
            .await?;
    let mut walk = Walk::default();
    loop {
        let page = postgres_page(&mut *tx, walk.head, Some(head), PAGE).await?;
        page.iter().for_each(|e| walk.take(e));
        if page.len() < PAGE {
            break;
        }
    }
    if walk.filled.is_empty() {
        return Ok(());
    }
    let (positions, hashes): (Vec<i64>, Vec<String>) = walk.filled.iter().cloned().unzip();
    sqlx::query(
        "UPDATE events SET hash = f.hash FROM unnest($1::bigint[], $2::text[]) AS f(position, hash) \
         WHERE events.position = f.position",
    )
    .bind(&positions)
    .bind(&hashes)
    .execute(&mut *tx)
    .await?;
    walk.head = head;
    let record = walk.record();
    sqlx::query(
        "INSERT INTO events (position, stream, category, version, event_id, event_type, \
             schema_version, payload, metadata, recorded_at, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, 1, $7::json, $8::json, $9, $10)",
    )
    .bind(record.position)
    .bind(UPGRADE_STREAM)
    .bind(crate::category_of(UPGRADE_STREAM))
    .bind(record.version)
    .bind(record.event_id)
    .bind(UPGRADE_TYPE)
    .bind(&record.payload)
    .bind(&record.metadata)
    .bind(record.recorded_at)
    .bind(&record.hash)
    .execute(&mut *tx)
    .await?;
    let (names, rest): (Vec<String>, Vec<(i64, String)>) = walk
        .streams
        .into_iter()
        .map(|(s, (v, h))| (s, (v as i64, h)))
        .unzip();
    let (versions, hashes): (Vec<i64>, Vec<String>) = rest.into_iter().unzip();
    sqlx::query(
        "INSERT INTO streams (stream, version, hash) \
         SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[]) \
         ON CONFLICT (stream) DO UPDATE SET version = excluded.version, hash = excluded.hash",
    )
    .bind(&names)
    .bind(&versions)
    .bind(&hashes)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE event_log_head SET position = $1 WHERE id = 1")
        .bind(record.position)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(
        events = positions.len(),
        "chained the events of a log written before chains"
    );
    Ok(())
}
