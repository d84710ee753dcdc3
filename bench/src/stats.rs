//! What one shard observed, in atomics its clients update without locks, and the
//! serialisable report the suite merges across shards.

use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Errors kept verbatim per shard (the rest are only counted).
const KEEP_ERRORS: usize = 8;

#[derive(Default)]
pub struct Round {
    pub start: AtomicU64,
    pub admitted: AtomicU64,
    pub leave: AtomicU64,
    pub join_seen: AtomicU64,
    pub join_first: AtomicU64,
    pub join_last: AtomicU64,
    pub leave_seen: AtomicU64,
    pub leave_first: AtomicU64,
    pub leave_last: AtomicU64,
    /// The probe's own first state (its first count): a newcomer's first state.
    pub state: AtomicU64,
}

#[derive(Default)]
pub struct Stats {
    pub admitted: AtomicU64,
    pub last_admit: AtomicU64,
    pub failed: AtomicU64,
    pub closed: AtomicU64,
    /// (epoch << 32) | target count; watchers whose count equals the target count once.
    target: AtomicU64,
    pub reached: AtomicU64,
    pub last_reach: AtomicU64,
    pub frames_in: AtomicU64,
    pub bytes_in: AtomicU64,
    /// Clients back in after a restart (W7), and when the last one was.
    pub rejoined: AtomicU64,
    pub last_rejoin: AtomicU64,
    /// Watchers that saw fewer members than they knew before the restart.
    pub dipped: AtomicU64,
    pub rounds: Vec<Round>,
    errors: Mutex<Vec<String>>,
}

impl Stats {
    pub fn new(rounds: usize) -> Stats {
        Stats {
            rounds: (0..rounds)
                .map(|_| Round {
                    join_first: AtomicU64::new(u64::MAX),
                    leave_first: AtomicU64::new(u64::MAX),
                    ..Round::default()
                })
                .collect(),
            ..Stats::default()
        }
    }

    pub fn fail(&self, why: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let mut errors = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        if errors.len() < KEEP_ERRORS {
            errors.push(why);
        }
    }

    pub fn admit(&self, t: u64) {
        self.admitted.fetch_add(1, Ordering::Relaxed);
        self.last_admit.fetch_max(t, Ordering::Relaxed);
    }

    /// Start a new "every watcher knows the count is `count`" measurement.
    pub fn set_target(&self, count: i64) {
        let epoch = (self.target.load(Ordering::Relaxed) >> 32) + 1;
        self.reached.store(0, Ordering::Relaxed);
        self.last_reach.store(0, Ordering::Relaxed);
        self.target
            .store((epoch << 32) | (count as u64 & 0xffff_ffff), Ordering::Relaxed);
    }

    pub fn target(&self) -> (u32, i64) {
        let v = self.target.load(Ordering::Relaxed);
        ((v >> 32) as u32, (v & 0xffff_ffff) as i64)
    }

    pub fn reach(&self, t: u64) {
        self.reached.fetch_add(1, Ordering::Relaxed);
        self.last_reach.fetch_max(t, Ordering::Relaxed);
    }

    pub fn saw_join(&self, r: usize, t: u64) {
        if let Some(round) = self.rounds.get(r) {
            round.join_seen.fetch_add(1, Ordering::Relaxed);
            round.join_first.fetch_min(t, Ordering::Relaxed);
            round.join_last.fetch_max(t, Ordering::Relaxed);
        }
    }

    pub fn saw_leave(&self, r: usize, t: u64) {
        if let Some(round) = self.rounds.get(r) {
            round.leave_seen.fetch_add(1, Ordering::Relaxed);
            round.leave_first.fetch_min(t, Ordering::Relaxed);
            round.leave_last.fetch_max(t, Ordering::Relaxed);
        }
    }

    pub fn report(&self) -> Report {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Report {
            admitted: l(&self.admitted),
            last_admit: l(&self.last_admit),
            failed: l(&self.failed),
            closed: l(&self.closed),
            reached: l(&self.reached),
            last_reach: l(&self.last_reach),
            frames_in: l(&self.frames_in),
            bytes_in: l(&self.bytes_in),
            rejoined: l(&self.rejoined),
            last_rejoin: l(&self.last_rejoin),
            dipped: l(&self.dipped),
            rounds: self
                .rounds
                .iter()
                .map(|r| RoundReport {
                    start: l(&r.start),
                    admitted: l(&r.admitted),
                    leave: l(&r.leave),
                    state: l(&r.state),
                    join_seen: l(&r.join_seen),
                    join_first: l(&r.join_first),
                    join_last: l(&r.join_last),
                    leave_seen: l(&r.leave_seen),
                    leave_first: l(&r.leave_first),
                    leave_last: l(&r.leave_last),
                })
                .collect(),
            errors: self.errors.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }
}

/// Timestamps are CLOCK_MONOTONIC nanoseconds; 0 means "never".
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Report {
    pub admitted: u64,
    pub last_admit: u64,
    pub failed: u64,
    pub closed: u64,
    pub reached: u64,
    pub last_reach: u64,
    pub frames_in: u64,
    pub bytes_in: u64,
    #[serde(default)]
    pub rejoined: u64,
    #[serde(default)]
    pub last_rejoin: u64,
    #[serde(default)]
    pub dipped: u64,
    pub rounds: Vec<RoundReport>,
    pub errors: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RoundReport {
    pub start: u64,
    pub admitted: u64,
    pub leave: u64,
    /// The probe's first state (0: not seen, or not measured by an older run).
    #[serde(default)]
    pub state: u64,
    pub join_seen: u64,
    pub join_first: u64,
    pub join_last: u64,
    pub leave_seen: u64,
    pub leave_first: u64,
    pub leave_last: u64,
}

impl Report {
    /// Combine the reports of several shards of one phase.
    pub fn merge(reports: &[Report]) -> Report {
        let mut out = Report::default();
        for r in reports {
            out.admitted += r.admitted;
            out.last_admit = out.last_admit.max(r.last_admit);
            out.failed += r.failed;
            out.closed += r.closed;
            out.reached += r.reached;
            out.last_reach = out.last_reach.max(r.last_reach);
            out.frames_in += r.frames_in;
            out.bytes_in += r.bytes_in;
            out.rejoined += r.rejoined;
            out.last_rejoin = out.last_rejoin.max(r.last_rejoin);
            out.dipped += r.dipped;
            if out.rounds.len() < r.rounds.len() {
                out.rounds.resize(
                    r.rounds.len(),
                    RoundReport {
                        join_first: u64::MAX,
                        leave_first: u64::MAX,
                        ..RoundReport::default()
                    },
                );
            }
            for (o, x) in out.rounds.iter_mut().zip(&r.rounds) {
                o.start = o.start.max(x.start);
                o.admitted = o.admitted.max(x.admitted);
                o.leave = o.leave.max(x.leave);
                o.state = o.state.max(x.state);
                o.join_seen += x.join_seen;
                o.join_first = o.join_first.min(x.join_first);
                o.join_last = o.join_last.max(x.join_last);
                o.leave_seen += x.leave_seen;
                o.leave_first = o.leave_first.min(x.leave_first);
                o.leave_last = o.leave_last.max(x.leave_last);
            }
            out.errors.extend(r.errors.iter().cloned());
        }
        out
    }
}
