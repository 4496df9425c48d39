//! The time commands and queries go by. Deadlines depend on it, so it is injected: the service
//! reads the system clock, tests set and move a manual one instead of waiting.

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

/// The machine's clock.
#[derive(Debug)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until it is set or moved.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn at(now: DateTime<Utc>) -> Self {
        ManualClock(Mutex::new(now))
    }

    pub fn set(&self, now: DateTime<Utc>) {
        *self.0.lock().expect("clock lock") = now;
    }

    pub fn advance(&self, by: Duration) {
        *self.0.lock().expect("clock lock") += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock lock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let t: DateTime<Utc> = "2026-03-28T12:00:00Z".parse().unwrap();
        let clock = ManualClock::at(t);
        assert_eq!(clock.now(), t);
        clock.advance(Duration::days(2));
        assert_eq!(
            clock.now(),
            "2026-03-30T12:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }
}
