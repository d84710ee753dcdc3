//! The ledger's shared state: the database, the book and the webhook lanes behind one
//! lock, and how one batch of the book's writes is committed.

use super::book::{Book, Write};
use super::db::Db;
use crate::clock::Ms;
use crate::webhooks::lane::Lane;
use crate::webhooks::{Queue, Stored, WebhookConfig, Webhooks};
use rollcall_core::roster::Event;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};

/// What the lock guards.
pub struct State {
    pub db: Db,
    pub book: Book,
    /// One per configured endpoint, in config order.
    pub lanes: Vec<Lane>,
    /// Is this relay the one that records (and delivers)?
    pub recording: bool,
}

impl State {
    /// When the book next wants a tick, while this relay records.
    pub fn book_due(&self) -> Option<Ms> {
        self.recording.then(|| self.book.poll_timeout()).flatten()
    }

    /// Leave the recording to another relay (or to this one's next claim, which takes
    /// over from the roster's truth): forget the book and the lanes.
    pub fn stop_recording(&mut self) {
        self.recording = false;
        self.book = Book::new(1);
        for lane in &mut self.lanes {
            *lane = Lane::default();
        }
    }
}

/// The ledger and the webhook queue, shared by the recorder, the delivery task and the
/// API handlers.
///
/// One `std::sync::Mutex`: every section under it is a few SQLite statements (run on
/// the blocking pool by the async tasks) or a few map operations, never an `.await`.
pub struct Ledger {
    pub(super) state: Mutex<State>,
    /// What the events fan out to; its `queued` wakes the sender.
    pub(super) webhooks: Arc<Webhooks>,
    pub counts: Counts,
    /// `ledger.max_sessions` as it applies to this ledger's storage.
    pub(super) session_cap: Option<u64>,
}

/// The ledger's counts since start, for `/metrics` (the webhooks keep their own,
/// `crate::webhooks::Counts`).
#[derive(Debug, Default)]
pub struct Counts {
    /// Ended sessions deleted to stay within `ledger.max_sessions`.
    pub evicted: AtomicU64,
    /// Ended sessions kept, as of the last trim.
    pub retained: AtomicU64,
    /// Presence events the hub sent that the recorder has not taken yet.
    pub backlog: AtomicU64,
}

impl Ledger {
    pub fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.lock())
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn webhooks(&self) -> &WebhookConfig {
        &self.webhooks.config
    }

    /// The ledger's and the webhooks' lines for `/metrics` (Prometheus text).
    pub fn render_metrics(&self) -> String {
        let (pending, open, recording) = self.with(|s| {
            (
                s.lanes.iter().map(Lane::len).sum::<usize>(),
                s.book.open_sessions().count(),
                s.recording,
            )
        });
        let cap = self.session_cap.unwrap_or(0);
        // SAFETY: reads a counter SQLite keeps for the whole process; no connection involved.
        let sqlite_bytes = unsafe { rusqlite::ffi::sqlite3_memory_used() }.max(0) as u64;
        let recording_row = (
            "rollcall_ledger_recording",
            "gauge",
            "1 when this relay records the ledger and sends the webhooks (with Redis, one relay does).",
            recording as u64,
        );
        let ledger_rows: [(&str, &str, &str, u64); 6] = [
            (
                "rollcall_ledger_open_sessions",
                "gauge",
                "Open user and channel sessions in the ledger.",
                open as u64,
            ),
            (
                "rollcall_ledger_events_backlog",
                "gauge",
                "Presence events waiting for the ledger's recorder, as of its last batch (at most 1000 go in one).",
                self.counts.backlog.load(Relaxed),
            ),
            (
                "rollcall_ledger_max_sessions",
                "gauge",
                "Most ended sessions the ledger keeps (ledger.max_sessions; 0: no cap).",
                cap,
            ),
            (
                "rollcall_ledger_sessions_retained",
                "gauge",
                "Ended sessions kept, as of the last trim (every heartbeat_ms when capped).",
                self.counts.retained.load(Relaxed),
            ),
            (
                "rollcall_ledger_sqlite_bytes",
                "gauge",
                "Memory SQLite holds (the whole ledger when it is in memory, else its page cache).",
                sqlite_bytes,
            ),
            (
                "rollcall_ledger_sessions_evicted_total",
                "counter",
                "Ended sessions deleted, oldest first, to stay within ledger.max_sessions.",
                self.counts.evicted.load(Relaxed),
            ),
        ];
        // The webhooks' rows sit between the recording gauge and the ledger's own.
        std::iter::once(recording_row)
            .chain(self.webhooks.metric_rows(pending))
            .chain(ledger_rows)
            .map(|(name, kind, help, value)| format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"))
            .collect()
    }

    /// Run `f` on the blocking pool (SQLite may wait for the disk).
    pub async fn blocking<R: Send + 'static>(self: &Arc<Self>, f: impl FnOnce(&mut State) -> R + Send + 'static) -> R {
        let ledger = self.clone();
        match tokio::task::spawn_blocking(move || ledger.with(f)).await {
            Ok(r) => r,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    pub(super) fn commit(&self, state: &mut State, now: Ms) {
        let overflowed = ledger_commit(state, &self.webhooks, now);
        self.webhooks.counts.overflowed.fetch_add(overflowed, Relaxed);
    }

    /// Record `events` and commit; returns when the book next wants a tick.
    pub(super) fn record(&self, now: Ms, events: Vec<(Ms, Event)>) -> Option<Ms> {
        let mut state = self.lock();
        if state.recording {
            for (at, event) in &events {
                state.book.handle(*at, event);
            }
            self.commit(&mut state, now);
        }
        state.book_due()
    }

    /// The book's timers, pruning and trimming; returns when the book next wants a tick.
    pub(super) fn tick(&self, now: Ms, prune_before: Option<Ms>) -> Option<Ms> {
        let mut state = self.lock();
        self.tick_locked(&mut state, now, prune_before);
        state.book_due()
    }

    fn tick_locked(&self, state: &mut State, now: Ms, prune_before: Option<Ms>) {
        if !state.recording {
            return;
        }
        state.book.handle_timeout(now);
        self.commit(state, now);
        if let Some(before) = prune_before {
            match state.db.prune(before) {
                Ok(0) => {}
                Ok(n) => tracing::info!("ledger: pruned {n} sessions past retention"),
                Err(e) => tracing::warn!("ledger: cannot prune: {e}"),
            }
        }
        if let Some(keep) = self.session_cap {
            match state.db.trim(keep as usize) {
                Ok((evicted, retained)) => {
                    self.counts.evicted.fetch_add(evicted as u64, Relaxed);
                    self.counts.retained.store(retained as u64, Relaxed);
                    if evicted > 0 {
                        tracing::debug!("ledger: evicted the {evicted} oldest sessions (ledger.max_sessions = {keep})");
                    }
                }
                Err(e) => tracing::warn!("ledger: cannot trim to ledger.max_sessions: {e}"),
            }
        }
    }
}

/// Commit what the book wrote at `now`: sessions, totals, and one queued webhook
/// event per endpoint that wants each notice. Returns how many queued events were
/// dropped to keep each endpoint within `webhooks.max_pending`.
pub(super) fn ledger_commit(state: &mut State, webhooks: &Webhooks, now: Ms) -> u64 {
    let writes = state.book.drain();
    let notices = writes.iter().filter_map(|w| match w {
        Write::Notify(notice) => Some(notice),
        _ => None,
    });
    let (queue, lanes) = webhooks.fan_out(notices, now);
    match state.db.apply(now, &writes, &queue) {
        Ok(seqs) => {
            for (seq, lane) in seqs.into_iter().zip(lanes) {
                state.lanes[lane].push(seq, now);
            }
        }
        Err(e) => {
            tracing::error!(
                "ledger: cannot write {} changes and {} webhook events: {e}",
                writes.len(),
                queue.len()
            );
            // The batch is gone. With a shared ledger, stop recording: the next claim
            // of the role takes over from the roster's truth, as another relay would,
            // which tells what the batch would have told (and only that).
            if matches!(state.db, Db::Redis(_)) {
                state.stop_recording();
            }
        }
    }
    webhooks.overflow(&mut state.lanes, &mut state.db)
}

/// The sender's view of the ledger: the lanes and the stored queue, under its lock.
impl Queue for Ledger {
    fn with_lanes<R>(&self, f: impl FnOnce(&mut [Lane], &mut dyn Stored) -> R) -> R {
        let mut state = self.lock();
        let State { db, lanes, .. } = &mut *state;
        f(lanes, db)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollcall_core::protocol::Identity;

    #[test]
    fn an_endpoint_that_does_not_answer_keeps_at_most_max_pending_events() {
        let webhooks = WebhookConfig {
            secret: Some(crate::webhooks::Secret("0123456789abcdef0123".into())),
            max_pending: 3,
            endpoints: vec![crate::webhooks::Endpoint {
                url: "http://127.0.0.1:9/hooks".into(),
                events: vec!["user.online".into()],
                channels: vec![],
                secret: None,
                pusher: None,
            }],
            ..WebhookConfig::default()
        }
        .checked()
        .unwrap();
        let webhooks = Webhooks::new(webhooks, rollcall_core::policy::Policy::default());
        let mut state = State {
            db: Db::open(None).unwrap(),
            book: Book::new(1),
            lanes: vec![Lane::default()],
            recording: true,
        };
        let mut dropped = 0;
        for i in 0..5 {
            let user = Identity {
                id: format!("u{i}"),
                name: None,
                avatar: None,
            };
            state.book.handle(1_000 + i, &Event::UserOnline { user });
            dropped += ledger_commit(&mut state, &webhooks, 1_000 + i);
        }
        assert_eq!(dropped, 2);
        assert_eq!(state.lanes[0].len(), 3);
        // The newest three wait, in the queue and in the database alike.
        let queued: Vec<i64> = state.db.queued().unwrap().iter().map(|q| q.seq).collect();
        assert_eq!(queued.len(), 3);
        let bodies = state.db.bodies(&queued).unwrap();
        assert!(bodies[0].contains("\"u2\""), "{}", bodies[0]);
        assert!(bodies[2].contains("\"u4\""), "{}", bodies[2]);
    }
}
