//! Signed download links: an HMAC-SHA256 over the path and the expiry, so a link cannot be
//! pointed at another file or made to live longer.

use chrono::{DateTime, Utc};
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Separates this key from any other use of the same secret (the JWT secret is passed in).
const DOMAIN: &[u8] = b"bufdir-reporting file links v1\n";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the download link has expired")]
    Expired,
    #[error("the download link's signature is not valid for this file and expiry")]
    BadSignature,
}

#[derive(Clone)]
pub struct LinkSigner {
    /// Keyed once; each signature starts from a clone.
    mac: Hmac<Sha256>,
}

// Written by hand so the key never reaches a log.
impl std::fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSigner")
    }
}

impl LinkSigner {
    /// The key is derived from `secret` for this purpose alone, so the server secret can serve.
    pub fn new(secret: &[u8]) -> Self {
        let derived = Sha256::new_with_prefix(DOMAIN)
            .chain_update(secret)
            .finalize();
        // HMAC zero-pads keys shorter than a block, so padding here is the same key, and
        // the fixed-size constructor cannot fail.
        let mut block = [0u8; 64];
        block[..derived.len()].copy_from_slice(&derived);
        LinkSigner {
            mac: <Hmac<Sha256> as KeyInit>::new(&block.into()),
        }
    }

    fn mac(&self, path: &str, expires: i64) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        // An expiry has no newline, so the last one splits the message unambiguously.
        mac.update(path.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        mac
    }

    /// The query string (`expires=…&signature=…`) that makes `path` downloadable until
    /// `expires_at`.
    pub fn sign(&self, path: &str, expires_at: DateTime<Utc>) -> String {
        let expires = expires_at.timestamp();
        let signature = hex::encode(self.mac(path, expires).finalize().into_bytes());
        format!("expires={expires}&signature={signature}")
    }

    /// Checks a link's signature, then its expiry: an altered expiry is a bad signature, not
    /// an expired link.
    pub fn verify(
        &self,
        path: &str,
        expires: i64,
        signature: &str,
        now: DateTime<Utc>,
    ) -> Result<(), LinkError> {
        let given = hex::decode(signature).map_err(|_| LinkError::BadSignature)?;
        // Constant time, so timing does not reveal how much of a forged signature matched.
        self.mac(path, expires)
            .verify_slice(&given)
            .map_err(|_| LinkError::BadSignature)?;
        if now.timestamp() >= expires {
            return Err(LinkError::Expired);
        }
        Ok(())
    }
}
