//! Exponential backoff with full jitter: many clients retrying after one outage spread out
//! instead of arriving together.

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// The ceiling of the first retry's delay; it doubles with each retry.
    pub base: Duration,
    pub cap: Duration,
}

impl Backoff {
    /// A delay before retry number `retry` (1 for the first), uniformly random up to the ceiling.
    pub fn delay(&self, retry: u32) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1).min(30)))
            .min(self.cap);
        let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::rng().random_range(0..=millis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_the_cap_and_never_exceed_it() {
        let b = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(2),
        };
        for retry in 1..50 {
            let ceiling = (100u64 << (retry - 1).min(20)).min(2000);
            assert!(b.delay(retry) <= Duration::from_millis(ceiling));
        }
    }
}
