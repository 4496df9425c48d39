//! Signatures of calendar-feed links: an HMAC-SHA256 over the feed id, under a key derived from
//! the server secret for this purpose alone. A feed link does not expire; it is revoked.

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Separates this key from every other use of the server secret.
const DOMAIN: &[u8] = b"bufdir-reporting calendar feeds v1\n";

/// Signs and checks feed links.
#[derive(Clone)]
pub struct FeedSigner {
    mac: Hmac<Sha256>,
}

// By hand, so the key never reaches a log.
impl std::fmt::Debug for FeedSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FeedSigner")
    }
}

impl FeedSigner {
    pub fn new(secret: &[u8]) -> Self {
        let key = Sha256::new_with_prefix(DOMAIN)
            .chain_update(secret)
            .finalize();
        FeedSigner {
            mac: <Hmac<Sha256> as KeyInit>::new_from_slice(&key).expect("HMAC takes any key"),
        }
    }

    pub fn sign(&self, feed_id: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(feed_id.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// In constant time, so timing does not tell how much of a forged signature matched.
    pub fn verify(&self, feed_id: &str, signature: &str) -> bool {
        let Ok(given) = hex::decode(signature) else {
            return false;
        };
        let mut mac = self.mac.clone();
        mac.update(feed_id.as_bytes());
        mac.verify_slice(&given).is_ok()
    }
}
