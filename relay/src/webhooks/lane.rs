//! One endpoint's queue: when to send a batch, how long to back off after a failure,
//! when to give up. Pure: inputs carry `now` (unix milliseconds), and
//! [`Lane::poll_timeout`] says when to look again.
//!
//! Events go out in order, one batch in flight at a time: a failing batch holds back
//! the ones behind it, so a site never sees `user.offline` before the `user.online` it
//! follows.

use crate::clock::Ms;
use std::collections::VecDeque;

/// How batches are cut and retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pacing {
    /// How long the first event of a batch waits for others.
    pub batch_ms: u64,
    pub max_batch: usize,
    /// The first retry waits this long; each further one twice as long as the last...
    pub backoff_base_ms: u64,
    /// ...up to this.
    pub backoff_max_ms: u64,
    /// An event still undelivered this long after it was queued is dropped.
    pub give_up_ms: u64,
}

impl Pacing {
    /// The wait after the `failures`-th failure in a row.
    pub fn backoff(&self, failures: u32) -> u64 {
        let doublings = failures.saturating_sub(1).min(40);
        self.backoff_base_ms
            .saturating_mul(1u64 << doublings)
            .min(self.backoff_max_ms)
    }
}

#[derive(Debug, Default)]
pub struct Lane {
    /// (queue sequence number, when queued), oldest first.
    queue: VecDeque<(i64, Ms)>,
    /// How many of the oldest are being sent.
    in_flight: usize,
    failures: u32,
    retry_at: Option<Ms>,
    /// When the endpoint last accepted a request (unix ms), for the console.
    pub last_ok: Option<Ms>,
    /// When it last failed, and what it answered (status and the start of its body).
    pub last_error: Option<(Ms, String)>,
}

impl Lane {
    pub fn push(&mut self, seq: i64, queued: Ms) {
        self.queue.push_back((seq, queued));
    }

    /// Drop the oldest events waiting (never those in flight) until at most `max` wait.
    /// Returns the events dropped.
    pub fn overflow(&mut self, max: usize) -> Vec<i64> {
        let excess = self.queue.len().saturating_sub(max.max(self.in_flight));
        let from = self.in_flight;
        self.queue.drain(from..from + excess).map(|(seq, _)| seq).collect()
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Failed attempts in a row.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// When the next attempt is due after a failure.
    pub fn retry_at(&self) -> Option<Ms> {
        self.retry_at
    }

    /// Keep the outcome of a request at `now` to show it.
    pub fn outcome(&mut self, now: Ms, outcome: &Result<(), String>) {
        match outcome {
            Ok(()) => self.last_ok = Some(now),
            Err(answer) => self.last_error = Some((now, answer.clone())),
        }
    }

    /// The next batch to send, if one is due at `now`.
    pub fn poll_batch(&mut self, now: Ms, pacing: &Pacing) -> Option<Vec<i64>> {
        let due = self.poll_timeout(pacing)?;
        if due > now {
            return None;
        }
        let n = self.queue.len().min(pacing.max_batch.max(1));
        self.in_flight = n;
        Some(self.queue.iter().take(n).map(|(seq, _)| *seq).collect())
    }

    /// When a batch is due (possibly already), or `None` while one is in flight or
    /// nothing waits.
    pub fn poll_timeout(&self, pacing: &Pacing) -> Option<Ms> {
        if self.in_flight > 0 {
            return None;
        }
        let &(_, oldest) = self.queue.front()?;
        if let Some(retry_at) = self.retry_at {
            return Some(retry_at);
        }
        if self.queue.len() >= pacing.max_batch.max(1) {
            return Some(oldest);
        }
        Some(oldest + pacing.batch_ms)
    }

    /// The batch in flight was accepted.
    pub fn delivered(&mut self) {
        self.queue.drain(..self.in_flight.min(self.queue.len()));
        self.in_flight = 0;
        self.failures = 0;
        self.retry_at = None;
    }

    /// The batch in flight failed at `now`: back off. Returns the events given up on.
    pub fn failed(&mut self, now: Ms, pacing: &Pacing) -> Vec<i64> {
        self.in_flight = 0;
        self.failures = self.failures.saturating_add(1);
        self.retry_at = Some(now + pacing.backoff(self.failures));
        let mut dropped = Vec::new();
        while let Some(&(seq, queued)) = self.queue.front() {
            if now.saturating_sub(queued) < pacing.give_up_ms {
                break;
            }
            dropped.push(seq);
            self.queue.pop_front();
        }
        if self.queue.is_empty() {
            self.failures = 0;
            self.retry_at = None;
        }
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACING: Pacing = Pacing {
        batch_ms: 1_000,
        max_batch: 3,
        backoff_base_ms: 1_000,
        backoff_max_ms: 300_000,
        give_up_ms: 86_400_000,
    };

    #[test]
    fn events_wait_a_batch_interval_and_go_together() {
        let mut lane = Lane::default();
        lane.push(1, 10_000);
        lane.push(2, 10_400);
        assert_eq!(lane.poll_timeout(&PACING), Some(11_000));
        assert_eq!(lane.poll_batch(10_999, &PACING), None);
        assert_eq!(lane.poll_batch(11_000, &PACING), Some(vec![1, 2]));
        lane.push(3, 11_100);
        assert_eq!(lane.poll_timeout(&PACING), None, "one batch in flight at a time");
        lane.delivered();
        assert_eq!(lane.poll_timeout(&PACING), Some(12_100));
    }

    #[test]
    fn a_full_batch_goes_at_once() {
        let mut lane = Lane::default();
        for seq in 1..=4 {
            lane.push(seq, 5_000);
        }
        assert_eq!(lane.poll_batch(5_000, &PACING), Some(vec![1, 2, 3]));
        lane.delivered();
        assert_eq!(lane.poll_batch(5_000, &PACING), None);
        assert_eq!(lane.poll_batch(6_000, &PACING), Some(vec![4]));
    }

    #[test]
    fn failures_back_off_exponentially_for_more_than_an_hour_then_give_up() {
        let mut lane = Lane::default();
        lane.push(1, 0);
        let mut now = 1_000;
        let mut waits = Vec::new();
        loop {
            let batch = lane.poll_batch(now, &PACING).expect("due");
            assert_eq!(batch, vec![1]);
            if !lane.failed(now, &PACING).is_empty() {
                break;
            }
            let next = lane.poll_timeout(&PACING).unwrap();
            waits.push(next - now);
            now = next;
        }
        assert_eq!(&waits[..5], &[1_000, 2_000, 4_000, 8_000, 16_000]);
        assert!(waits.iter().all(|w| *w <= 300_000));
        assert!(now >= 86_400_000, "retried for a day: {now}");
        assert!(lane.is_empty());
        assert_eq!(lane.poll_timeout(&PACING), None);
    }

    #[test]
    fn a_full_lane_drops_its_oldest_waiting_events_but_not_the_batch_in_flight() {
        let mut lane = Lane::default();
        for seq in 1..=5 {
            lane.push(seq, 0);
        }
        assert_eq!(lane.poll_batch(1_000, &PACING), Some(vec![1, 2, 3]));
        for seq in 6..=8 {
            lane.push(seq, 1_000);
        }
        assert_eq!(lane.overflow(5), vec![4, 5, 6], "the oldest behind the batch in flight");
        assert_eq!(lane.len(), 5);
        lane.delivered();
        assert_eq!(lane.poll_batch(2_000, &PACING), Some(vec![7, 8]));
        assert_eq!(lane.overflow(5), Vec::<i64>::new(), "within the cap nothing goes");
        assert_eq!(lane.overflow(0), Vec::<i64>::new(), "the batch in flight stays");
    }

    #[test]
    fn a_success_resets_the_backoff() {
        let mut lane = Lane::default();
        lane.push(1, 0);
        lane.push(2, 0);
        for _ in 0..3 {
            let now = lane.poll_timeout(&PACING).unwrap();
            lane.poll_batch(now, &PACING).unwrap();
            lane.failed(now, &PACING);
        }
        assert_eq!(lane.failures(), 3);
        let now = lane.poll_timeout(&PACING).unwrap();
        assert_eq!(lane.poll_batch(now, &PACING), Some(vec![1, 2]));
        lane.delivered();
        assert_eq!(lane.failures(), 0);
        lane.push(3, now);
        assert_eq!(lane.poll_timeout(&PACING), Some(now + 1_000));
    }
}
