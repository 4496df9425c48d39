//! Secrets kept in the database (Bufdir client secrets, webhook signing secrets) are sealed with
//! ChaCha20-Poly1305 under a key derived from the server secret, so a database dump alone does
//! not reveal them. The row's owner is bound in as associated data, so a sealed value copied to
//! another organisation's row does not open.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use sha2::{Digest, Sha256};

#[derive(Clone)]
pub struct Sealer {
    cipher: ChaCha20Poly1305,
}

impl Sealer {
    /// `purpose` separates the keys of different uses of the same server secret.
    pub fn new(server_secret: &[u8], purpose: &str) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(format!("bufdir-reporting {purpose} v1\n").as_bytes());
        hasher.update(server_secret);
        let key: [u8; 32] = hasher.finalize().into();
        Sealer {
            cipher: ChaCha20Poly1305::new(&Key::from(key)),
        }
    }

    /// `nonce.ciphertext`, both hex.
    pub fn seal(&self, plain: &[u8], owner: &str) -> anyhow::Result<String> {
        let nonce: [u8; 12] = rand::random();
        let payload = Payload {
            msg: plain,
            aad: owner.as_bytes(),
        };
        let sealed = self
            .cipher
            .encrypt(&Nonce::from(nonce), payload)
            .map_err(|_| anyhow::anyhow!("sealing a secret failed"))?;
        Ok(format!("{}.{}", hex::encode(nonce), hex::encode(sealed)))
    }

    /// `None` when it does not open: damaged, another owner's, or sealed under another secret.
    pub fn open(&self, sealed: &str, owner: &str) -> Option<Vec<u8>> {
        let (nonce, ciphertext) = sealed.split_once('.')?;
        let nonce: [u8; 12] = hex::decode(nonce).ok()?.try_into().ok()?;
        let ciphertext = hex::decode(ciphertext).ok()?;
        let payload = Payload {
            msg: &ciphertext,
            aad: owner.as_bytes(),
        };
        self.cipher.decrypt(&Nonce::from(nonce), payload).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_for_its_owner_and_purpose() {
        let sealer = Sealer::new(b"server", "webhooks");
        let sealed = sealer.seal(b"whsec_1", "org-a").unwrap();
        assert!(!sealed.contains("whsec"));
        assert_eq!(
            sealer.open(&sealed, "org-a").as_deref(),
            Some(&b"whsec_1"[..])
        );
        assert_eq!(sealer.open(&sealed, "org-b"), None);
        assert_eq!(
            Sealer::new(b"server", "credentials").open(&sealed, "org-a"),
            None
        );
        assert_eq!(sealer.open("zz.zz", "org-a"), None);
    }
}
