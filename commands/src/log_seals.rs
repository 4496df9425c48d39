//! SealLog: a `LogSealed` event holding the running digest of the whole log up to its newest
//! event and the hash of the seal before it (`store::chain`). The seal worker calls it when
//! enough events or enough time have passed; `audit seal` calls it at once. Seals follow one
//! another in one stream with an expected version, so processes sealing at the same moment
//! cannot fork it: the one that loses finds the other's seal and continues from there.

use std::time::Duration;

use chrono::{DateTime, Utc};
use store::chain::{SEAL_STREAM, SEAL_TYPE, Seal, running_digest};
use store::{EventStore, ExpectedVersion, Filter, Metadata, NewEvent, Position, StoreError};

const PAGE: usize = 1000;

/// When the worker seals: after this many events since the last seal, or once the oldest event
/// not yet sealed is this old.
#[derive(Clone, Copy, Debug)]
pub struct Thresholds {
    pub events: u64,
    pub age: Duration,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            events: 1000,
            age: Duration::from_secs(3600),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("event {position} of {stream} has no hash: this backend does not chain its log")]
    Unchained { stream: String, position: Position },
    #[error("the seal at version {0} of {SEAL_STREAM} cannot be read: {1}")]
    UnreadableSeal(u64, serde_json::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A seal as the log holds it.
#[derive(Clone, Debug)]
pub struct Sealed {
    pub seal: Seal,
    /// The seal event's own position, version and hash.
    pub position: Position,
    pub version: u64,
    pub hash: String,
    pub recorded_at: Option<DateTime<Utc>>,
}

/// How far a sealer has read past the last seal; kept between calls so the worker reads each
/// event once.
#[derive(Default)]
pub struct Cursor {
    last: Option<Sealed>,
    after: Option<Position>,
    digest: String,
    events: u64,
    since_seal: u64,
    oldest_unsealed: Option<DateTime<Utc>>,
}

impl Cursor {
    pub fn last_seal(&self) -> Option<&Sealed> {
        self.last.as_ref()
    }
}

/// The seals of the log, oldest first.
pub async fn list(store: &dyn EventStore) -> Result<Vec<Sealed>, SealError> {
    list_from(store, 0).await
}

/// The seals from the `from`th on (0 for the first).
pub async fn list_from(store: &dyn EventStore, from: u64) -> Result<Vec<Sealed>, SealError> {
    store
        .read_stream(SEAL_STREAM, from)
        .await?
        .into_iter()
        .map(sealed)
        .collect()
}

fn sealed(event: store::RecordedEvent) -> Result<Sealed, SealError> {
    let seal = serde_json::from_value(event.payload)
        .map_err(|e| SealError::UnreadableSeal(event.version, e))?;
    Ok(Sealed {
        seal,
        position: event.position,
        version: event.version,
        hash: event.hash.unwrap_or_default(),
        recorded_at: event.metadata.recorded_at,
    })
}

/// Reads the log on from where `cursor` stands and appends a seal when `when` says so (always,
/// with `None`, if anything but seals was appended since the last one). Answers the seal made.
pub async fn seal(
    store: &dyn EventStore,
    cursor: &mut Cursor,
    when: Option<&Thresholds>,
    metadata: &Metadata,
) -> Result<Option<Sealed>, SealError> {
    catch_up_on_seals(store, cursor).await?;
    loop {
        let page = store
            .read_all(cursor.after.as_ref(), &Filter::all(), PAGE)
            .await?;
        for event in &page {
            let Some(hash) = &event.hash else {
                return Err(SealError::Unchained {
                    stream: event.stream.clone(),
                    position: event.position,
                });
            };
            cursor.digest = running_digest(&cursor.digest, &event.position.to_string(), hash);
            cursor.events += 1;
            if event.stream != SEAL_STREAM {
                cursor.since_seal += 1;
                if cursor.oldest_unsealed.is_none() {
                    cursor.oldest_unsealed = event.metadata.recorded_at;
                }
            }
            cursor.after = Some(event.position);
        }
        if page.len() < PAGE {
            break;
        }
    }
    let Some(up_to) = cursor.after else {
        return Ok(None);
    };
    if cursor.since_seal == 0 {
        return Ok(None);
    }
    if let Some(t) = when {
        let age = cursor
            .oldest_unsealed
            .map(|at| (Utc::now() - at).to_std().unwrap_or_default())
            .unwrap_or_default();
        if cursor.since_seal < t.events && age < t.age {
            return Ok(None);
        }
    }
    let seal = Seal {
        up_to: up_to.to_string(),
        events: cursor.events,
        digest: cursor.digest.clone(),
        previous_seal: cursor.last.as_ref().map(|s| s.hash.clone()),
    };
    let expected = cursor.last.as_ref().map_or(ExpectedVersion::NoStream, |s| {
        ExpectedVersion::Exact(s.version)
    });
    let event = NewEvent::new(
        SEAL_TYPE,
        serde_json::to_value(&seal).expect("a seal serialises"),
        metadata.clone(),
    );
    match store.append(SEAL_STREAM, expected, vec![event]).await {
        Ok(_) => {}
        // Another process sealed first: the next call continues from its seal.
        Err(StoreError::Conflict { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    catch_up_on_seals(store, cursor).await?;
    Ok(cursor.last.clone())
}

/// Moves the cursor to the newest seal in the log, if it is not there yet.
async fn catch_up_on_seals(store: &dyn EventStore, cursor: &mut Cursor) -> Result<(), SealError> {
    let from = cursor.last.as_ref().map_or(0, |s| s.version);
    let Some(newest) = store.read_stream(SEAL_STREAM, from).await?.pop() else {
        return Ok(());
    };
    if cursor
        .last
        .as_ref()
        .is_some_and(|s| s.version == newest.version)
    {
        return Ok(());
    }
    let newest = sealed(newest)?;
    let up_to: Position = newest
        .seal
        .up_to
        .parse()
        .map_err(|_| StoreError::Corrupt(format!("a seal up to {:?}", newest.seal.up_to)))?;
    *cursor = Cursor {
        after: Some(up_to),
        digest: newest.seal.digest.clone(),
        events: newest.seal.events,
        since_seal: 0,
        oldest_unsealed: None,
        last: Some(newest),
    };
    Ok(())
}
