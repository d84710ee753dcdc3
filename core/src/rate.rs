//! A token bucket: how many frames a connection may send, refilled with time.

use crate::time::Instant;

/// `burst` frames at once, refilled at `per_second`.
#[derive(Clone, Debug)]
pub struct RateLimit {
    per_second: u32,
    burst: u32,
    /// Tokens in thousandths, so refill needs no floats.
    milli_tokens: u64,
    last: Instant,
}

impl RateLimit {
    pub fn new(now: Instant, per_second: u32, burst: u32) -> Self {
        RateLimit {
            per_second,
            burst: burst.max(1),
            milli_tokens: burst.max(1) as u64 * 1000,
            last: now,
        }
    }

    /// Take one token: `Ok` if allowed, `Err(ms)` with how long until one is available.
    pub fn take(&mut self, now: Instant) -> Result<(), u64> {
        let elapsed = now.since(self.last);
        self.last = now.max(self.last);
        let cap = self.burst as u64 * 1000;
        self.milli_tokens = (self.milli_tokens + elapsed * self.per_second as u64).min(cap);
        if self.milli_tokens >= 1000 {
            self.milli_tokens -= 1000;
            Ok(())
        } else if self.per_second == 0 {
            Err(u64::MAX)
        } else {
            let missing = 1000 - self.milli_tokens;
            Err(missing.div_ceil(self.per_second as u64))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_waits_for_refill() {
        let t0 = Instant(1_000);
        let mut rate = RateLimit::new(t0, 10, 3);
        for _ in 0..3 {
            assert_eq!(rate.take(t0), Ok(()));
        }
        assert_eq!(rate.take(t0), Err(100));
        assert_eq!(rate.take(t0 + 99), Err(1));
        assert_eq!(rate.take(t0 + 100), Ok(()));
        // A long pause refills only up to the burst.
        let later = t0 + 60_000;
        for _ in 0..3 {
            assert_eq!(rate.take(later), Ok(()));
        }
        assert!(rate.take(later).is_err());
    }
}
