//! Time: one injected [`Clock`] and the two ways buildmail writes a time.
//!
//! Nothing below the CLI reads the system clock itself: ingestion,
//! decisions, the store's commit and the effects take `now` from the
//! [`Clock`] they were given, so tests set the time instead of signing
//! "a minute ago" by the wall clock. Formatting goes through `chrono`
//! (already in the dependency tree through `debian-control`).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};

/// Where "now" comes from, in Unix seconds.
pub trait Clock: Send + Sync {
    /// The current time (Unix seconds).
    fn now(&self) -> i64;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        Utc::now().timestamp()
    }
}

/// A clock that stands still until it is set or advanced: for tests, and
/// for replaying history at the times it happened.
#[derive(Debug, Default)]
pub struct FixedClock(AtomicI64);

impl FixedClock {
    /// A clock showing `t`.
    pub fn at(t: i64) -> Arc<FixedClock> {
        Arc::new(FixedClock(AtomicI64::new(t)))
    }

    /// Sets the time.
    pub fn set(&self, t: i64) {
        self.0.store(t, Ordering::SeqCst);
    }

    /// Moves the time forward by `secs`.
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The shared clock handle the layers pass around.
pub type SharedClock = Arc<dyn Clock>;

/// The system clock as a [`SharedClock`].
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

fn utc(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(t, 0).unwrap_or(DateTime::UNIX_EPOCH)
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS UTC`, for people.
pub fn format_time(t: i64) -> String {
    utc(t).format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// Unix seconds as an RFC 5322 `Date:` value (`Mon, 30 Nov 2026 22:59:18 +0000`).
pub fn rfc5322(t: i64) -> String {
    utc(t).format("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

/// Unix seconds as a [`std::time::SystemTime`] (for lettre and sequoia).
pub fn system_time(t: i64) -> std::time::SystemTime {
    let secs = std::time::Duration::from_secs(t.unsigned_abs());
    if t >= 0 {
        std::time::UNIX_EPOCH + secs
    } else {
        std::time::UNIX_EPOCH - secs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_time(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_time(1_795_000_000), "2026-11-18 11:06:40 UTC");
        assert_eq!(rfc5322(1_795_000_000), "Wed, 18 Nov 2026 11:06:40 +0000");
    }

    #[test]
    fn fixed_clock_moves_only_when_told() {
        let c = FixedClock::at(100);
        assert_eq!(c.now(), 100);
        c.advance(5);
        assert_eq!(c.now(), 105);
        c.set(7);
        assert_eq!(c.now(), 7);
        assert!(SystemClock.now() > 1_700_000_000);
    }
}
