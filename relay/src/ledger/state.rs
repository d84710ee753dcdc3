//! The ledger's shared state: the database, the book and the webhook lanes behind one
//! lock, and how one batch of the book's writes is committed.

use super::book::{Book, Write};
use super::db::Db;
use crate::clock::Ms;
use crate::ids::random_id;
use crate::webhooks::event::{event_json, Kind, Notice};
use crate::webhooks::lane::Lane;
use crate::webhooks::WebhookConfig;
use rollcall_core::policy::Policy;
use rollcall_core::roster::Event;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

/// What the lock guards.
pub struct State {
    pub db: Db,
    pub book: Book,
    /// One per configured endpoint, in config order.
    pub lanes: Vec<Lane>,
    /// Is this relay the one that records (and delivers)?
    pub recording: bool,
}

/// The ledger and the webhook queue, shared by the recorder, the delivery task and the
/// API handlers.
///
/// One `std::sync::Mutex`: every section under it is a few SQLite statements (run on
/// the blocking pool by the async tasks) or a few map operations, never an `.await`.
pub struct Ledger {
    pub(super) state: Mutex<State>,
    pub(super) webhooks: WebhookConfig,
    /// The channel rules: one may turn off join and leave webhooks.
    pub(super) policy: Policy,
    /// Wakes the delivery task when events were queued or a send ended.
    pub queued: Notify,
    pub counts: Counts,
    /// `ledger.max_sessions` as it applies to this ledger's storage.
    pub(super) session_cap: Option<u64>,
}

/// Webhook deliveries since start, for `/metrics`.
#[derive(Debug, Default)]
pub struct Counts {
    /// Events an endpoint accepted (a retried event counts once per acceptance).
    pub delivered: AtomicU64,
    /// Requests that failed (error status, timeout, no connection).
    pub failed: AtomicU64,
    /// Events given up on after `give_up_after_s`.
    pub dropped: AtomicU64,
    /// Events dropped, oldest first, to stay within `webhooks.max_pending`.
    pub overflowed: AtomicU64,
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
        &self.webhooks
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
        let rows: [(&str, &str, &str, u64); 12] = [
            (
                "rollcall_ledger_recording",
                "gauge",
                "1 when this relay records the ledger and sends the webhooks (with Redis, one relay does).",
                recording as u64,
            ),
            (
                "rollcall_webhook_events_pending",
                "gauge",
                "Webhook events queued and not yet accepted, summed over endpoints.",
                pending as u64,
            ),
            (
                "rollcall_webhook_events_delivered_total",
                "counter",
                "Webhook events an endpoint accepted.",
                self.counts.delivered.load(Relaxed),
            ),
            (
                "rollcall_webhook_requests_failed_total",
                "counter",
                "Webhook requests that failed and will be retried.",
                self.counts.failed.load(Relaxed),
            ),
            (
                "rollcall_webhook_events_dropped_total",
                "counter",
                "Webhook events given up on after webhooks.give_up_after_s.",
                self.counts.dropped.load(Relaxed),
            ),
            (
                "rollcall_webhook_events_overflowed_total",
                "counter",
                "Webhook events dropped, oldest first, because an endpoint had webhooks.max_pending waiting.",
                self.counts.overflowed.load(Relaxed),
            ),
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
        rows.iter()
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
        let overflowed = ledger_commit(state, &self.webhooks, &self.policy, now);
        self.counts.overflowed.fetch_add(overflowed, Relaxed);
    }

    pub(super) fn record(&self, now: Ms, events: Vec<(Ms, Event)>) {
        let mut state = self.lock();
        if !state.recording {
            return;
        }
        for (at, event) in &events {
            state.book.handle(*at, event);
        }
        self.commit(&mut state, now);
    }

    pub(super) fn tick(&self, now: Ms, prune_before: Option<Ms>) {
        let mut state = self.lock();
        if !state.recording {
            return;
        }
        state.book.handle_timeout(now);
        self.commit(&mut state, now);
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
pub(super) fn ledger_commit(state: &mut State, webhooks: &WebhookConfig, policy: &Policy, now: Ms) -> u64 {
    let writes = state.book.drain();
    let mut queue = Vec::new();
    let mut lanes = Vec::new();
    for write in &writes {
        let Write::Notify(notice) = write else { continue };
        if !rule_wants(policy, notice) {
            continue;
        }
        let id = format!("evt_{}", random_id());
        let body = event_json(&id, notice);
        for (i, endpoint) in webhooks.endpoints.iter().enumerate() {
            if endpoint.wants(notice) {
                queue.push((endpoint.url.clone(), id.clone(), now, body.clone()));
                lanes.push(i);
            }
        }
    }
    match state.db.apply(now, &writes, &queue) {
        Ok(seqs) => {
            for (seq, lane) in seqs.into_iter().zip(lanes) {
                state.lanes[lane].push(seq, now);
            }
        }
        Err(e) => tracing::error!(
            "ledger: cannot write {} changes and {} webhook events: {e}",
            writes.len(),
            queue.len()
        ),
    }
    overflow(state, webhooks)
}

/// Drop the oldest waiting events of every endpoint past `webhooks.max_pending`.
pub(super) fn overflow(state: &mut State, webhooks: &WebhookConfig) -> u64 {
    let mut dropped = Vec::new();
    for (lane, endpoint) in state.lanes.iter_mut().zip(&webhooks.endpoints) {
        let gone = lane.overflow(webhooks.max_pending);
        if !gone.is_empty() {
            tracing::error!(
                "webhook to {}: dropped the {} oldest events waiting, over webhooks.max_pending ({}); is the endpoint down?",
                endpoint.url,
                gone.len(),
                webhooks.max_pending
            );
            dropped.extend(gone);
        }
    }
    if !dropped.is_empty() {
        if let Err(e) = state.db.dequeue(&dropped) {
            tracing::error!("webhooks: cannot update the queue: {e}");
        }
    }
    dropped.len() as u64
}

/// Does the channel's rule let its joins and leaves be told?
fn rule_wants(policy: &Policy, notice: &Notice) -> bool {
    match (notice.kind, &notice.channel) {
        (Kind::ChannelJoin | Kind::ChannelLeave, Some(ch)) => {
            policy.rule_for(ch).is_none_or(|r| r.join_leave_webhooks())
        }
        _ => true,
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
            dropped += ledger_commit(&mut state, &webhooks, &Policy::default(), 1_000 + i);
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
