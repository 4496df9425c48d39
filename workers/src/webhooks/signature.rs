//! The signature on a webhook: `Bufdir-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` over
//! `"<t>.<body>"`. The timestamp is signed with the body, so a receiver that refuses old
//! timestamps cannot be fed a captured request again later.

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const HEADER: &str = "Bufdir-Signature";

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value for `body` sent at `timestamp`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, timestamp, body).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex::encode(tag))
}

/// What a receiver does: checks the header against the body, in constant time. Returns the
/// signed timestamp, for the receiver's own freshness check.
pub fn verify(secret: &str, header: &str, body: &[u8]) -> Option<i64> {
    let mut timestamp = None;
    let mut tag = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => tag = hex::decode(v).ok(),
            _ => {}
        }
    }
    let (timestamp, tag) = (timestamp?, tag?);
    mac(secret, timestamp, body)
        .verify_slice(&tag)
        .ok()
        .map(|()| timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_covers_the_body_and_the_time() {
        let header = sign("whsec_a", 1_800_000_000, b"{\"a\":1}");
        assert_eq!(
            verify("whsec_a", &header, b"{\"a\":1}"),
            Some(1_800_000_000)
        );
        assert_eq!(verify("whsec_a", &header, b"{\"a\":2}"), None);
        assert_eq!(verify("whsec_b", &header, b"{\"a\":1}"), None);
        let moved = header.replace("t=1800000000", "t=1800000001");
        assert_eq!(verify("whsec_a", &moved, b"{\"a\":1}"), None);
        assert_eq!(verify("whsec_a", "garbage", b""), None);
    }
}
