//! Erasable personal data (crypto-shredding, `domain::privacy`). Each data subject has a key in
//! `privacy_subjects` (`store::tables`), outside the log; what the log keeps of their data is
//! encrypted under it (`store::tables::Cipher`, the subject id bound in, the nonce from the
//! content), so erasing is destroying the key: the events, their hashes and the seals stay
//! exactly as they were, and every read and replay after shows the data as erased.

use std::collections::HashMap;

use chrono::Utc;
use domain::encode_event;
use domain::privacy::{self, CONTACT, ENCRYPTED, ErasureRefused, PrivacyEvent, Retained};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use store::tables::Cipher;
use store::tables::privacy_subjects::{PrivacySubjects, SubjectKey};
use store::{ExpectedVersion, Metadata, NewEvent, ReadPool};

use crate::{Ctx, Error};

#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    #[error("the key store: {0}")]
    Keys(#[from] sqlx::Error),
    #[error("personal data of {0} that cannot be opened with its key")]
    Unreadable(String),
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

/// The subject's id and key, made on first use.
async fn key_for(
    keys: &PrivacySubjects,
    subject: &str,
) -> Result<(String, SubjectKey), sqlx::Error> {
    let lookup = lookup_of(subject);
    if let Some(found) = keys.find_by_lookup(&lookup).await? {
        return Ok(found);
    }
    let id = crate::new_id("subj");
    let key: SubjectKey = rand::random();
    let now = store::chain::recorded_time(Utc::now());
    keys.insert_new(&id, &lookup, &key, &now).await?;
    // Another request may have made it first; its key is the one.
    Ok(keys
        .find_by_lookup(&lookup)
        .await?
        .expect("the subject was just stored"))
}

/// The payload with its personal data encrypted under its subject's key.
pub(crate) async fn protect(pool: &ReadPool, mut payload: Value) -> Result<Value, PrivacyError> {
    let Some(subject) = privacy::subject_of(&payload) else {
        return Ok(payload);
    };
    payload[CONTACT] = encrypt(pool, &subject, &payload[CONTACT]).await?;
    Ok(payload)
}

/// The name and e-mail of the person behind a request (`{"name", "email"}`), encrypted under
/// their subject's key for the metadata of the events they cause; `None` when neither is given.
pub async fn protect_actor(pool: &ReadPool, person: &Value) -> Result<Option<Value>, PrivacyError> {
    match privacy::subject_of_actor(person) {
        Some(subject) => Ok(Some(encrypt(pool, &subject, person).await?)),
        None => Ok(None),
    }
}

/// `plain` encrypted under `subject`'s key: `{"encrypted": {"subject", "data"}}`.
async fn encrypt(pool: &ReadPool, subject: &str, plain: &Value) -> Result<Value, PrivacyError> {
    let (subject_id, key) = key_for(&PrivacySubjects::new(pool.clone()), subject).await?;
    let plain = serde_json::to_vec(plain).expect("JSON serialises");
    let data = Cipher::new(key).encrypt_personal(&plain, &subject_id);
    Ok(json!({ENCRYPTED: {"subject": subject_id, "data": data}}))
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

/// Opens encrypted personal data for a reader, asking the key store once per subject: a page of
/// the audit trail names the same few people in most of its events.
pub struct Opener {
    subjects: PrivacySubjects,
    keys: HashMap<String, Option<SubjectKey>>,
}

impl Opener {
    pub fn new(pool: &ReadPool) -> Self {
        Opener {
            subjects: PrivacySubjects::new(pool.clone()),
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

    /// Opens what [`protect_actor`] encrypted, the same way.
    pub async fn reveal_actor(&mut self, person: &mut Value) -> Result<bool, PrivacyError> {
        self.open(person).await
    }

    async fn key(&mut self, subject_id: &str) -> Result<Option<SubjectKey>, PrivacyError> {
        if let Some(key) = self.keys.get(subject_id) {
            return Ok(*key);
        }
        let key = self.subjects.key_of(subject_id).await?;
        self.keys.insert(subject_id.to_string(), key);
        Ok(key)
    }

    /// Opens `slot` in place when it holds encrypted data; answers whether its key was destroyed.
    async fn open(&mut self, slot: &mut Value) -> Result<bool, PrivacyError> {
        let Some(encrypted) = slot.get(ENCRYPTED) else {
            return Ok(false);
        };
        let subject_id = encrypted["subject"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let Some(key) = self.key(&subject_id).await? else {
            *slot = json!({"erased": true, "subject": subject_id});
            return Ok(true);
        };
        let unreadable = || PrivacyError::Unreadable(subject_id.clone());
        let plain = Cipher::new(key)
            .decrypt_personal(encrypted["data"].as_str().unwrap_or_default(), &subject_id)
            .ok_or_else(unreadable)?;
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
) -> Result<Erased, Error<ErasureRefused>> {
    let pool = &ctx.db.read;
    let subjects = PrivacySubjects::new(pool.clone());
    let known = |e: sqlx::Error| Error::Privacy(e.into());
    let subject_id =
        if who.starts_with("subj_") && subjects.key_of(who).await.map_err(known)?.is_some() {
            who.to_string()
        } else {
            subjects
                .find_by_lookup(&lookup_of(who))
                .await
                .map_err(known)?
                .map(|(id, _)| id)
                .ok_or_else(|| {
                    Error::NotFound(format!(
                        "no data subject {who} is known (or they were erased already)"
                    ))
                })?
        };
    let carrying = projections::submissions::carrying_subject(pool, &subject_id).await?;
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
    let event = privacy::erase(&subject_id, retained, now.date_naive(), force_reason, now)
        .map_err(Error::Rejected)?;
    let (event_type, payload) = encode_event(&event);
    ctx.db
        .events
        .append(
            &privacy::stream(&subject_id),
            ExpectedVersion::Any,
            vec![NewEvent::new(event_type, payload, metadata.clone())],
        )
        .await?;
    subjects
        .destroy_key(&subject_id, &store::chain::recorded_time(now))
        .await
        .map_err(known)?;
    Ok(Erased { subject_id, event })
}

#[cfg(test)]
mod tests {
    use super::lookup_of;

    #[test]
    fn a_subject_is_found_however_it_was_written_and_never_kept_in_the_clear() {
        let lookup = lookup_of("Kari@Example.no");
        assert_eq!(lookup, lookup_of("  kari@example.no "));
        assert_ne!(lookup, lookup_of("ola@example.no"));
        assert_eq!(lookup.len(), 64);
        assert!(!lookup.contains("kari"));
    }
}
