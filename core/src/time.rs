//! Time as a value: milliseconds on a monotonic clock that only the shells read.
//!
//! The core never asks what time it is. Every input carries `now`, every state machine
//! answers "call me again at" with an [`Instant`], and tests step a simulated clock.

use std::ops::{Add, Sub};

/// A point on the caller's monotonic clock, in milliseconds. The origin is the caller's
/// business (process start in the relay, `performance.timeOrigin` in the browser).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(pub u64);

impl Instant {
    pub const ZERO: Instant = Instant(0);

    pub fn from_millis(ms: u64) -> Self {
        Instant(ms)
    }

    pub fn as_millis(self) -> u64 {
        self.0
    }

    /// Milliseconds from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: Instant) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl Add<u64> for Instant {
    type Output = Instant;
    fn add(self, ms: u64) -> Instant {
        Instant(self.0.saturating_add(ms))
    }
}

impl Sub<u64> for Instant {
    type Output = Instant;
    fn sub(self, ms: u64) -> Instant {
        Instant(self.0.saturating_sub(ms))
    }
}

/// The earlier of two optional deadlines.
pub fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}
