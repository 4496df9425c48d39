//! Erasable personal data (crypto-shredding, `domain::privacy`). Each data subject has a key in
//! `privacy_subjects`, outside the log; what the log keeps of their data is encrypted under it
//! (ChaCha20-Poly1305, the subject id bound in), so erasing is destroying the key: the events,
//! their hashes and the seals stay exactly as they were, and every read and replay after shows
//! the data as erased.
//!
//! The nonce is derived from the key and the data, so the same contact person in the same
//! payload encrypts the same way twice (a resubmitted payload is still recognised as the same
//! one); it reveals only that two ciphertexts of one subject are equal.

use std::collections::HashMap;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use chrono::Utc;
use domain::encode_event;
use domain::privacy::{self, CONTACT, ErasureRefused, PrivacyEvent, Retained};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use store::{ExpectedVersion, Metadata, NewEvent, ReadPool, StoreError, on_pool};

use crate::Ctx;

const ENCRYPTED: &str = "encrypted";

#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    #[error("the key store: {0}")]
    Keys(#[from] sqlx::Error),
    #[error("personal data of {0} that cannot be opened with its key")]
    Unreadable(String),
}

#[derive(Debug, thiserror::Error)]
pub enum EraseError {
    #[error("no data subject {0} is known (or they were erased already)")]
    Unknown(String),
    #[error(transparent)]
    Refused(#[from] ErasureRefused),
    #[error(transparent)]
    Privacy(#[from] PrivacyError),
    #[error(transparent)]
    ReadModel(#[from] projections::ProjectionError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an erasure did.
#[derive(Debug)]
pub struct Erased {
    pub subject_id: String,
    pub event: PrivacyEvent,
}

/// Who a subject is, as the key store may keep it: a hash, not the address itself.
fn lookup_of(subject: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"bufdir privacy subject v1\n");
    h.update(subject.trim().to_lowercase().as_bytes());
    hex::encode(h.finalize())
}

fn key_from_hex(text: &str) -> Option<[u8; 32]> {
    hex::decode(text).ok()?.try_into().ok()
}

async fn find_by_lookup(
    pool: &ReadPool,
    lookup: &str,
) -> Result<Option<(String, [u8; 32])>, sqlx::Error> {
    let row: Option<(String, Option<String>)> = on_pool!(pool, c => sqlx::query_as(
        "SELECT subject_id, subject_key FROM privacy_subjects WHERE lookup = $1",
    )
    .bind(lookup)
    .fetch_optional(c)
    .await)?;
    Ok(row.and_then(|(id, key)| Some((id, key_from_hex(&key?)?))))
}

/// The key of a subject; `None` once erased.
async fn key_of(pool: &ReadPool, subject_id: &str) -> Result<Option<[u8; 32]>, sqlx::Error> {
    let key: Option<Option<String>> = on_pool!(pool, c => sqlx::query_scalar(
        "SELECT subject_key FROM privacy_subjects WHERE subject_id = $1",
    )
    .bind(subject_id)
    .fetch_optional(c)
    .await)?;
    Ok(key.flatten().as_deref().and_then(key_from_hex))
}

/// The subject's id and key, made on first use.
async fn key_for(pool: &ReadPool, subject: &str) -> Result<(String, [u8; 32]), sqlx::Error> {
    let lookup = lookup_of(subject);
    if let Some(found) = find_by_lookup(pool, &lookup).await? {
        return Ok(found);
    }
    let id = crate::new_id("subj");
    let key: [u8; 32] = rand::random();
    on_pool!(pool, c => sqlx::query(
        "INSERT INTO privacy_subjects (subject_id, lookup, subject_key, created_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (lookup) DO NOTHING",
    )
    .bind(&id)
    .bind(&lookup)
    .bind(hex::encode(key))
    .bind(store::chain::recorded_time(Utc::now()))
    .execute(c)
    .await
    .map(drop))?;
    // Another request may have made it first; its key is the one.
    Ok(find_by_lookup(pool, &lookup)
        .await?
        .expect("the subject was just stored"))
}

fn cipher(key: &[u8; 32]) -> ChaCha20Poly1305 {
    ChaCha20Poly1305::new(&Key::from(*key))
}

/// The payload with its personal data encrypted under its subject's key.
pub async fn protect(pool: &ReadPool, mut payload: Value) -> Result<Value, PrivacyError> {
    let Some(subject) = privacy::subject_of(&payload) else {
        return Ok(payload);
    };
    payload[CONTACT] = seal(pool, &subject, &payload[CONTACT]).await?;
    Ok(payload)
}

/// The name and e-mail of the person behind a request (`{"name", "email"}`), encrypted under
/// their subject's key for the metadata of the events they cause; `None` when neither is given.
pub async fn protect_actor(pool: &ReadPool, person: &Value) -> Result<Option<Value>, PrivacyError> {
    match privacy::subject_of_actor(person) {
        Some(subject) => Ok(Some(seal(pool, &subject, person).await?)),
        None => Ok(None),
    }
}

/// `plain` encrypted under `subject`'s key: `{"encrypted": {"subject", "data"}}`.
async fn seal(pool: &ReadPool, subject: &str, plain: &Value) -> Result<Value, PrivacyError> {
    let (subject_id, key) = key_for(pool, subject).await?;
    let plain = serde_json::to_vec(plain).expect("JSON serialises");
    let digest = Sha256::new()
        .chain_update(key)
        .chain_update(&plain)
        .finalize();
    let nonce: [u8; 12] = digest[..12].try_into().expect("12 of 32 bytes");
    let sealed = cipher(&key)
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &plain,
                aad: subject_id.as_bytes(),
            },
        )
        .map_err(|_| PrivacyError::Unreadable(subject_id.clone()))?;
    Ok(json!({ENCRYPTED: {
        "subject": subject_id,
        "data": format!("{}{}", hex::encode(nonce), hex::encode(sealed)),
    }}))
}

/// Where personal data sits in `value`: a Bufdir payload, or an event that carries one.
fn contact_slot(value: &mut Value) -> Option<&mut Value> {
    if value.get(CONTACT).is_some() {
        return value.get_mut(CONTACT);
    }
    value.get_mut("payload")?.get_mut(CONTACT)
}

/// Opens the personal data in `value` for a reader: decrypted with its subject's key, or
/// `{"erased": true, "subject": ...}` once the key is destroyed. Answers whether it was erased.
pub async fn reveal(pool: &ReadPool, value: &mut Value) -> Result<bool, PrivacyError> {
    Opener::new(pool).reveal(value).await
}

/// Opens sealed personal data for a reader, asking the key store once per subject: a page of
/// the audit trail names the same few people in most of its events.
pub struct Opener<'a> {
    pool: &'a ReadPool,
    keys: HashMap<String, Option<[u8; 32]>>,
}

impl<'a> Opener<'a> {
    pub fn new(pool: &'a ReadPool) -> Self {
        Opener {
            pool,
            keys: HashMap::new(),
        }
    }

    /// [`reveal`]: the contact person of a Bufdir payload, or of an event that carries one.
    pub async fn reveal(&mut self, value: &mut Value) -> Result<bool, PrivacyError> {
        match contact_slot(value) {
            Some(slot) => self.open(slot).await,
            None => Ok(false),
        }
    }

    /// Opens what [`protect_actor`] sealed, the same way.
    pub async fn reveal_actor(&mut self, person: &mut Value) -> Result<bool, PrivacyError> {
        self.open(person).await
    }

    async fn key(&mut self, subject_id: &str) -> Result<Option<[u8; 32]>, PrivacyError> {
        if let Some(key) = self.keys.get(subject_id) {
            return Ok(*key);
        }
        let key = key_of(self.pool, subject_id).await?;
        self.keys.insert(subject_id.to_string(), key);
        Ok(key)
    }

    /// Opens `slot` in place when it holds sealed data; answers whether its key was destroyed.
    async fn open(&mut self, slot: &mut Value) -> Result<bool, PrivacyError> {
        let Some(sealed) = slot.get(ENCRYPTED) else {
            return Ok(false);
        };
        let subject_id = sealed["subject"].as_str().unwrap_or_default().to_string();
        let Some(key) = self.key(&subject_id).await? else {
            *slot = json!({"erased": true, "subject": subject_id});
            return Ok(true);
        };
        let unreadable = || PrivacyError::Unreadable(subject_id.clone());
        let data =
            hex::decode(sealed["data"].as_str().unwrap_or_default()).map_err(|_| unreadable())?;
        if data.len() < 12 {
            return Err(unreadable());
        }
        let nonce: [u8; 12] = data[..12].try_into().expect("12 bytes");
        let plain = cipher(&key)
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &data[12..],
                    aad: subject_id.as_bytes(),
                },
            )
            .map_err(|_| unreadable())?;
        *slot = serde_json::from_slice(&plain).map_err(|_| unreadable())?;
        Ok(false)
    }
}

/// Erases a data subject (their e-mail or name as submitted, or their `subj_…` id): records
/// the erasure, then destroys the key. Refused while a retained report needs the data, unless
/// `force_reason` says why it must go anyway.
pub async fn erase(
    ctx: &Ctx,
    metadata: &Metadata,
    who: &str,
    force_reason: Option<&str>,
) -> Result<Erased, EraseError> {
    let pool = &ctx.db.read;
    let subject_id = if who.starts_with("subj_")
        && key_of(pool, who)
            .await
            .map_err(PrivacyError::from)?
            .is_some()
    {
        who.to_string()
    } else {
        find_by_lookup(pool, &lookup_of(who))
            .await
            .map_err(PrivacyError::from)?
            .map(|(id, _)| id)
            .ok_or_else(|| EraseError::Unknown(who.to_string()))?
    };
    let carrying: Vec<String> = on_pool!(pool, c => sqlx::query_scalar(
        "SELECT submission_id FROM bufdir_submissions WHERE payload LIKE $1 ORDER BY submission_id",
    )
    .bind(format!("%\"{subject_id}\"%"))
    .fetch_all(c)
    .await)
    .map_err(PrivacyError::from)?;
    let mut retained = Vec::new();
    for submission_id in carrying {
        if let Some(row) = projections::submissions::by_id(pool, &submission_id).await? {
            retained.push(Retained {
                until: privacy::retained_until_for(&row.payload, row.requested_at),
                submission_id,
            });
        }
    }
    let now = Utc::now();
    let event = privacy::erase(&subject_id, retained, now.date_naive(), force_reason, now)?;
    let (event_type, payload) = encode_event(&event);
    ctx.db
        .events
        .append(
            &privacy::stream(&subject_id),
            ExpectedVersion::Any,
            vec![NewEvent::new(event_type, payload, metadata.clone())],
        )
        .await?;
    on_pool!(pool, c => sqlx::query(
        "UPDATE privacy_subjects SET subject_key = NULL, lookup = NULL, erased_at = $2 \
         WHERE subject_id = $1",
    )
    .bind(&subject_id)
    .bind(store::chain::recorded_time(now))
    .execute(c)
    .await
    .map(drop))
    .map_err(PrivacyError::from)?;
    Ok(Erased { subject_id, event })
}
