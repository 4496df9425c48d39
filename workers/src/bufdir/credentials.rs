//! Organisations' Bufdir client credentials, kept sealed in the `bufdir_credentials` table so the
//! delivery worker can fetch a fresh token after a restart. A database dump alone does not reveal
//! a secret: it is encrypted (ChaCha20-Poly1305) with a key derived from the server secret.

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use chrono::{SecondsFormat, Utc};
use sha2::{Digest, Sha256};
use sqlx::{AnyPool, Row};

use super::wire::Credentials;

#[derive(Clone)]
pub struct CredentialStore {
    pool: AnyPool,
    cipher: ChaCha20Poly1305,
}

impl CredentialStore {
    /// `server_secret` is the service's own secret (the JWT secret); the key is derived from it
    /// for this one purpose.
    pub fn new(pool: AnyPool, server_secret: &[u8]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"bufdir-reporting credentials v1\n");
        hasher.update(server_secret);
        let key: [u8; 32] = hasher.finalize().into();
        CredentialStore {
            pool,
            cipher: ChaCha20Poly1305::new(&Key::from(key)),
        }
    }

    pub async fn save(&self, org_id: &str, credentials: &Credentials) -> anyhow::Result<()> {
        let nonce: [u8; 12] = rand::random();
        // The organisation is bound in as associated data, so a sealed secret copied to
        // another organisation's row does not open.
        let sealed = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                chacha20poly1305::aead::Payload {
                    msg: credentials.client_secret.as_bytes(),
                    aad: org_id.as_bytes(),
                },
            )
            .map_err(|_| anyhow::anyhow!("sealing a client secret failed"))?;
        let sealed = format!("{}.{}", hex::encode(nonce), hex::encode(sealed));
        sqlx::query(
            "INSERT INTO bufdir_credentials (org_id, client_id, sealed_secret, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (org_id) DO UPDATE SET \
                 client_id = excluded.client_id, sealed_secret = excluded.sealed_secret, \
                 updated_at = excluded.updated_at",
        )
        .bind(org_id)
        .bind(&credentials.client_id)
        .bind(sealed)
        .bind(Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn load(&self, org_id: &str) -> anyhow::Result<Option<Credentials>> {
        let Some(row) = sqlx::query(
            "SELECT client_id, sealed_secret FROM bufdir_credentials WHERE org_id = $1",
        )
        .bind(org_id)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let client_id: String = row.try_get("client_id")?;
        let sealed: String = row.try_get("sealed_secret")?;
        let unreadable = || {
            anyhow::anyhow!(
                "the stored Bufdir credentials of {org_id} cannot be opened (was the server secret changed?); authenticate again"
            )
        };
        let (nonce, ciphertext) = sealed.split_once('.').ok_or_else(unreadable)?;
        let nonce: [u8; 12] = hex::decode(nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or_else(unreadable)?;
        let ciphertext = hex::decode(ciphertext).map_err(|_| unreadable())?;
        let secret = self
            .cipher
            .decrypt(
                &Nonce::from(nonce),
                chacha20poly1305::aead::Payload {
                    msg: &ciphertext,
                    aad: org_id.as_bytes(),
                },
            )
            .map_err(|_| unreadable())?;
        Ok(Some(Credentials {
            client_id,
            client_secret: String::from_utf8(secret).map_err(|_| unreadable())?,
        }))
    }
}
