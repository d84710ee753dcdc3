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

/// The earlier of two optional deadlines. A deadline at the end of time (a sum that
/// saturated) is none: it never comes.
pub fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    // `None` as the end of time: one comparison, no branch per case.
    let end = Instant(u64::MAX);
    let t = a.unwrap_or(end).min(b.unwrap_or(end));
    (t != end).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_of_two_deadlines() {
        let (a, b) = (Some(Instant(5)), Some(Instant(9)));
        assert_eq!(earliest(a, b), a);
        assert_eq!(earliest(b, a), a);
        assert_eq!(earliest(None, b), b);
        assert_eq!(earliest(b, None), b);
        assert_eq!(earliest(None, None), None);
        assert_eq!(earliest(Some(Instant(3) + u64::MAX), None), None);
    }
}
