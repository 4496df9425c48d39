//! The one AEAD of the project: ChaCha20-Poly1305 with what the ciphertext belongs to bound in
//! as associated data, so a value copied to another row or another subject does not open.
//!
//! Two uses, two nonces:
//! - secrets at rest (Bufdir client secrets, webhook signing secrets) under a key derived from
//!   the server secret: a random nonce, stored as `hex(nonce).hex(ciphertext)`;
//! - personal data in the log under its data subject's own key: a nonce derived from the key and
//!   the data, so the same data encrypts the same way twice (a resubmitted payload is still
//!   recognised as the same one; it reveals only that two ciphertexts of one subject are equal),
//!   stored as `hex(nonce)hex(ciphertext)`.
//!
//! Both text forms are the ones earlier releases wrote; they keep opening.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use sha2::{Digest, Sha256};

const NONCE: usize = 12;

#[derive(Clone)]
pub struct Cipher {
    key: [u8; 32],
    cipher: ChaCha20Poly1305,
}

/// How a ciphertext's nonce is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceFrom {
    Random,
    /// The key and the plain text: the same input encrypts to the same output.
    Content,
}

impl Cipher {
    pub fn new(key: [u8; 32]) -> Self {
        Cipher {
            key,
            cipher: ChaCha20Poly1305::new(&Key::from(key)),
        }
    }

    /// A key of its own for `purpose`, derived from the server secret, so the keys of different
    /// uses of the same secret differ.
    pub fn derived(server_secret: &[u8], purpose: &str) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(format!("bufdir-reporting {purpose} v1\n").as_bytes());
        hasher.update(server_secret);
        Cipher::new(hasher.finalize().into())
    }

    fn nonce(&self, from: NonceFrom, plain: &[u8]) -> [u8; NONCE] {
        match from {
            NonceFrom::Random => rand::random(),
            NonceFrom::Content => {
                let digest = Sha256::new()
                    .chain_update(self.key)
                    .chain_update(plain)
                    .finalize();
                digest[..NONCE].try_into().expect("12 of 32 bytes")
            }
        }
    }

    fn encrypt(&self, nonce: &[u8; NONCE], plain: &[u8], bound_to: &str) -> Vec<u8> {
        let payload = Payload {
            msg: plain,
            aad: bound_to.as_bytes(),
        };
        self.cipher
            .encrypt(&Nonce::from(*nonce), payload)
            .expect("ChaCha20-Poly1305 encrypts any message shorter than 256 GiB")
    }

    fn decrypt(&self, nonce: &[u8], ciphertext: &[u8], bound_to: &str) -> Option<Vec<u8>> {
        let nonce: [u8; NONCE] = nonce.try_into().ok()?;
        let payload = Payload {
            msg: ciphertext,
            aad: bound_to.as_bytes(),
        };
        self.cipher.decrypt(&Nonce::from(nonce), payload).ok()
    }

    /// A secret at rest, as `hex(nonce).hex(ciphertext)`.
    pub(crate) fn encrypt_secret(&self, plain: &[u8], owner: &str) -> String {
        let nonce = self.nonce(NonceFrom::Random, plain);
        let sealed = self.encrypt(&nonce, plain, owner);
        format!("{}.{}", hex::encode(nonce), hex::encode(sealed))
    }

    /// `None` when it does not open: damaged, another owner's, or under another key.
    pub(crate) fn decrypt_secret(&self, text: &str, owner: &str) -> Option<Vec<u8>> {
        let (nonce, ciphertext) = text.split_once('.')?;
        self.decrypt(
            &hex::decode(nonce).ok()?,
            &hex::decode(ciphertext).ok()?,
            owner,
        )
    }

    /// Personal data, as `hex(nonce)hex(ciphertext)` with a nonce from the content.
    pub fn encrypt_personal(&self, plain: &[u8], subject_id: &str) -> String {
        let nonce = self.nonce(NonceFrom::Content, plain);
        let sealed = self.encrypt(&nonce, plain, subject_id);
        format!("{}{}", hex::encode(nonce), hex::encode(sealed))
    }

    pub fn decrypt_personal(&self, text: &str, subject_id: &str) -> Option<Vec<u8>> {
        let data = hex::decode(text).ok()?;
        if data.len() < NONCE {
            return None;
        }
        self.decrypt(&data[..NONCE], &data[NONCE..], subject_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_opens_only_for_its_owner_and_purpose() {
        let cipher = Cipher::derived(b"server", "webhooks");
        let text = cipher.encrypt_secret(b"whsec_1", "org-a");
        assert!(!text.contains("whsec"));
        assert_eq!(
            cipher.decrypt_secret(&text, "org-a").as_deref(),
            Some(&b"whsec_1"[..])
        );
        assert_eq!(cipher.decrypt_secret(&text, "org-b"), None);
        let other_purpose = Cipher::derived(b"server", "credentials");
        assert_eq!(other_purpose.decrypt_secret(&text, "org-a"), None);
        assert_eq!(cipher.decrypt_secret("zz.zz", "org-a"), None);
        // Random nonces: the same secret twice is two different texts.
        assert_ne!(text, cipher.encrypt_secret(b"whsec_1", "org-a"));
    }

    #[test]
    fn personal_data_encrypts_the_same_way_twice_and_only_for_its_subject() {
        let cipher = Cipher::new([7; 32]);
        let text = cipher.encrypt_personal(b"{\"navn\":\"Kari\"}", "subj_1");
        assert_eq!(
            text,
            cipher.encrypt_personal(b"{\"navn\":\"Kari\"}", "subj_1")
        );
        assert_eq!(
            cipher.decrypt_personal(&text, "subj_1").as_deref(),
            Some(&b"{\"navn\":\"Kari\"}"[..])
        );
        assert_eq!(cipher.decrypt_personal(&text, "subj_2"), None);
        assert_eq!(Cipher::new([8; 32]).decrypt_personal(&text, "subj_1"), None);
        assert_eq!(cipher.decrypt_personal("abcd", "subj_1"), None);
    }

    /// Texts in the forms the release before this one wrote (workers' `Sealer` for secrets,
    /// the privacy module's own cipher for personal data), made to its recipe with another
    /// implementation of ChaCha20-Poly1305 (Python's `cryptography`) and kept here: they must
    /// keep opening, and the derived nonce must come out the same.
    #[test]
    fn what_the_previous_release_wrote_still_opens() {
        let webhooks = Cipher::derived(b"test-secret-test-secret-test-secret!", "webhooks");
        assert_eq!(
            webhooks
                .decrypt_secret(PREVIOUS_WEBHOOK_SECRET, "org-a")
                .as_deref(),
            Some(&b"whsec_previous"[..])
        );
        let subject = Cipher::new([42; 32]);
        assert_eq!(
            subject
                .decrypt_personal(PREVIOUS_CONTACT, "subj_previous")
                .as_deref(),
            Some(&br#"{"epost":"kari@example.no","navn":"Kari Nordmann"}"#[..])
        );
        // The derived nonce is computed as it was, so a resubmission matches an old ciphertext.
        assert_eq!(
            subject.encrypt_personal(
                br#"{"epost":"kari@example.no","navn":"Kari Nordmann"}"#,
                "subj_previous"
            ),
            PREVIOUS_CONTACT
        );
    }

    const PREVIOUS_WEBHOOK_SECRET: &str = include_str!("cipher_fixtures/webhook_secret.txt");
    const PREVIOUS_CONTACT: &str = include_str!("cipher_fixtures/contact.txt");
}
