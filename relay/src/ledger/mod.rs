//! The session ledger: who was online when, for how long, and how much of it active,
//! idle or hidden; and the durable queue the webhooks are sent from.
//!
//! - [`book`]: the rules (pure, time as an argument);
//! - [`db`]: the storage: a SQLite file for one relay, [`shared`] (Redis) for several;
//! - [`api`]: `GET /v1/users/{id}` and `GET /v1/sessions`;
//! - [`calendar`]: unix milliseconds, UTC days, RFC 3339.
//!
//! This file is the shell: the recorder task takes the roster's events from the hub,
//! runs them through the book and commits the outcome (sessions, totals, queued
//! webhook events, heartbeat) in one transaction; on a timer it renews the heartbeat,
//! prunes old sessions and ends what a restart left unclaimed.
//!
//! Exactly one relay records. With SQLite that is the relay itself; with Redis, the
//! relays' rosters all see the same events (each tells those the others cause too), and
//! the one holding the recorder role in Redis writes them, delivers the webhooks and
//! renews the role; when it dies another takes over within three heartbeats. Taking
//! over (or starting) hands the sessions left open back to the book and replays the
//! present truth of the roster into it: users still here go on, users gone end at the
//! last moment the previous recorder was alive, users who came meanwhile start now.

pub mod api;
pub mod book;
pub mod calendar;
pub mod db;
pub mod shared;

use crate::config::Config;
use crate::hub::{random_id, Hub};
use crate::webhooks::lane::Lane;
use crate::webhooks::{event_json, WebhookConfig};
use book::{Book, Write};
use calendar::Ms;
use db::Db;
use rollcall_core::policy::Policy;
use rollcall_core::roster::Event;
use rollcall_core::Instant;
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, Notify};

/// Most events committed in one transaction.
pub const MAX_EVENTS_PER_COMMIT: usize = 1_000;
/// How often old sessions are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3_600);
/// Ended sessions a ledger in memory keeps by default (`ledger.max_sessions`): 5 to 7 MB
/// with their users and days in relay/tests/soak.rs, whatever the uptime and churn.
pub const MEMORY_SESSIONS: u64 = 10_000;

/// `[ledger]` in the config file.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LedgerConfig {
    /// The SQLite file; unset keeps the ledger and the webhook queue in memory, lost
    /// when the relay stops.
    pub path: Option<PathBuf>,
    /// Sessions that ended longer ago than this are deleted (0: kept forever).
    pub retention_days: u64,
    /// Most ended sessions kept; the oldest go first, and a user with them once their
    /// last session is gone (0: no cap). Unset: [`MEMORY_SESSIONS`] without a `path`,
    /// no cap with one (the file is bounded by `retention_days`).
    pub max_sessions: Option<u64>,
    /// How often the relay records that it is alive: after a crash, open sessions end
    /// at the last such moment.
    pub heartbeat_ms: u64,
    /// After a restart, how long users whose sessions were open have to reconnect
    /// before those sessions end (default: `presence.reconnect_grace_ms`).
    pub restore_grace_ms: Option<u64>,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        LedgerConfig {
            path: None,
            retention_days: 90,
            max_sessions: None,
            heartbeat_ms: 5_000,
            restore_grace_ms: None,
        }
    }
}

impl LedgerConfig {
    /// The cap on ended sessions kept, if any.
    pub fn session_cap(&self) -> Option<u64> {
        match (self.max_sessions, &self.path) {
            (Some(0), _) | (None, Some(_)) => None,
            (Some(n), _) => Some(n),
            (None, None) => Some(MEMORY_SESSIONS),
        }
    }

    /// Where the ledger is kept and how it is bounded, for the start line.
    pub fn describe(&self, redis: bool) -> String {
        let place = match (&self.path, redis) {
            (_, true) => return "redis".into(),
            (Some(path), false) => path.display().to_string(),
            (None, false) => "memory".into(),
        };
        match self.session_cap() {
            Some(n) => format!("{place} up to {n} sessions"),
            None => place,
        }
    }

    /// Check every value; the message names the key.
    pub fn checked(self) -> Result<LedgerConfig, String> {
        if self.heartbeat_ms == 0 {
            return Err("ledger.heartbeat_ms must be greater than 0".into());
        }
        if let Some(path) = &self.path {
            if path.as_os_str().is_empty() {
                return Err("ledger.path must not be empty (leave it out to keep the ledger in memory)".into());
            }
            let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
            if let Some(dir) = parent {
                if !dir.is_dir() {
                    return Err(format!("ledger.path: the folder {} does not exist", dir.display()));
                }
            }
        }
        Ok(self)
    }
}

/// Unix milliseconds of a wall-clock time.
pub fn wall_ms(at: SystemTime) -> Ms {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as Ms)
}

fn now_ms() -> Ms {
    wall_ms(SystemTime::now())
}

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
    state: Mutex<State>,
    webhooks: WebhookConfig,
    /// The channel rules: one may turn off join and leave webhooks.
    policy: Policy,
    /// Wakes the delivery task when events were queued or a send ended.
    pub queued: Notify,
    pub counts: Counts,
    /// `ledger.max_sessions` as it applies to this ledger's storage.
    session_cap: Option<u64>,
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

    fn lock(&self) -> MutexGuard<'_, State> {
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

    fn commit(&self, state: &mut State, now: Ms) {
        let overflowed = ledger_commit(state, &self.webhooks, &self.policy, now);
        self.counts.overflowed.fetch_add(overflowed, Relaxed);
    }

    fn record(&self, now: Ms, events: Vec<(Ms, Event)>) {
        let mut state = self.lock();
        if !state.recording {
            return;
        }
        for (at, event) in &events {
            state.book.handle(*at, event);
        }
        self.commit(&mut state, now);
    }

    fn tick(&self, now: Ms, prune_before: Option<Ms>) {
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
fn ledger_commit(state: &mut State, webhooks: &WebhookConfig, policy: &Policy, now: Ms) -> u64 {
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
                state.recording = false;
                state.book = Book::new(1);
                for lane in &mut state.lanes {
                    *lane = Lane::default();
                }
            }
        }
    }
    overflow(state, webhooks)
}

/// Drop the oldest waiting events of every endpoint past `webhooks.max_pending`.
fn overflow(state: &mut State, webhooks: &WebhookConfig) -> u64 {
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
fn rule_wants(policy: &Policy, notice: &book::Notice) -> bool {
    match (notice.kind, &notice.channel) {
        (book::Kind::ChannelJoin | book::Kind::ChannelLeave, Some(ch)) => {
            policy.rule_for(ch).is_none_or(|r| r.join_leave_webhooks())
        }
        _ => true,
    }
}

/// The ledger's tasks; dropping this stops them (as a crash would).
pub struct Tasks {
    recorder: tokio::task::JoinHandle<()>,
    deliverer: tokio::task::JoinHandle<()>,
}

impl Drop for Tasks {
    fn drop(&mut self) {
        self.recorder.abort();
        self.deliverer.abort();
    }
}

/// Open the ledger, take back what a previous run left, and start recording `events`
/// (the hub's) and delivering webhooks. Needs a Tokio runtime.
pub fn start(
    config: &Config,
    hub: Arc<Hub>,
    events: mpsc::Receiver<(Instant, Event)>,
) -> Result<(Arc<Ledger>, Tasks), String> {
    let lc = &config.ledger;
    let where_ = match (&config.redis_url, &lc.path) {
        (Some(_), _) => "redis".to_string(),
        (None, Some(path)) => path.display().to_string(),
        (None, None) => "memory".to_string(),
    };
    let fail = |e: db::Error| format!("ledger {where_}: {e}");
    let db = match config.redis() {
        Some(target) => {
            let target = target.map_err(|e| format!("ledger {where_}: {e}"))?;
            if lc.path.is_some() {
                tracing::warn!("ledger.path is not used: with redis_url the ledger is kept in Redis");
            }
            if lc.max_sessions.is_some() {
                tracing::warn!(
                    "ledger.max_sessions is not used: a ledger in Redis is bounded by ledger.retention_days"
                );
            }
            Db::Redis(shared::RedisDb::open(target))
        }
        None => Db::open(lc.path.as_deref()).map_err(fail)?,
    };
    if lc.path.is_none() && config.redis_url.is_none() && !config.webhooks.endpoints.is_empty() {
        tracing::warn!("webhooks: no [ledger] path, so events not yet delivered are lost if the relay stops");
    }
    let grace = lc.restore_grace_ms.unwrap_or(config.presence.reconnect_grace_ms);
    let lanes = config.webhooks.endpoints.iter().map(|_| Lane::default()).collect();
    let mut state = State {
        db,
        book: Book::new(1),
        lanes,
        recording: false,
    };
    if matches!(state.db, Db::Sqlite(_)) {
        // This relay's own file: it records from the start, with nothing to replay.
        take_over(&mut state, &config.webhooks, now_ms(), grace, Vec::new()).map_err(fail)?;
    }
    let ledger = Arc::new(Ledger {
        state: Mutex::new(state),
        webhooks: config.webhooks.clone(),
        policy: config.policy.clone(),
        queued: Notify::new(),
        counts: Counts::default(),
        session_cap: lc.session_cap().filter(|_| config.redis_url.is_none()),
    });
    let recorder = tokio::spawn(record(ledger.clone(), hub, events, lc.clone(), grace));
    let deliverer = tokio::spawn(crate::webhooks::run(ledger.clone()));
    Ok((ledger, Tasks { recorder, deliverer }))
}

/// Start recording at `now`: the sessions left open go back to the book, with `grace`
/// for their users to show up (in `truth`, the roster's present state, or in the events
/// that follow); the webhook events not yet delivered go back to their lanes.
fn take_over(
    state: &mut State,
    webhooks: &WebhookConfig,
    now: Ms,
    grace: u64,
    truth: Vec<Event>,
) -> Result<(), db::Error> {
    let mut book = Book::new(state.db.next_id()?);
    let open = state.db.open_sessions()?;
    if !open.is_empty() {
        let alive = state.db.alive()?.unwrap_or(now).min(now);
        tracing::info!(
            "ledger: {} sessions were open when the last recorder stopped; their users have {grace} ms to show up",
            open.len()
        );
        let users = open.iter().map(|s| s.user.clone()).collect();
        let identities = state.db.identities(&users)?;
        book.restore(open, &identities, alive, now + grace);
    }
    for event in &truth {
        book.handle(now, event);
    }
    let mut lanes: Vec<Lane> = webhooks.endpoints.iter().map(|_| Lane::default()).collect();
    let mut orphans = Vec::new();
    for queued in state.db.queued()? {
        match webhooks.endpoints.iter().position(|e| e.url == queued.endpoint) {
            Some(i) => lanes[i].push(queued.seq, queued.at),
            None => orphans.push(queued.seq),
        }
    }
    let pending: usize = lanes.iter().map(Lane::len).sum();
    if pending > 0 {
        tracing::info!("webhooks: {pending} events still to deliver from before");
    }
    if !orphans.is_empty() {
        tracing::warn!(
            "webhooks: dropping {} queued events for endpoints no longer configured",
            orphans.len()
        );
        state.db.dequeue(&orphans)?;
    }
    state.book = book;
    state.lanes = lanes;
    state.recording = true;
    overflow(state, webhooks);
    Ok(())
}

/// The recorder: the only place the ledger reads the clock.
async fn record(
    ledger: Arc<Ledger>,
    hub: Arc<Hub>,
    mut events: mpsc::Receiver<(Instant, Event)>,
    config: LedgerConfig,
    grace: u64,
) {
    let heartbeat = Duration::from_millis(config.heartbeat_ms);
    let retention = Duration::from_secs(config.retention_days.saturating_mul(86_400));
    let relay = random_id();
    let mut next_beat = tokio::time::Instant::now();
    let mut next_prune = tokio::time::Instant::now();
    loop {
        // On the blocking pool, as every wait for the state's lock in this task: a
        // blocking call may hold it through a Redis call (up to its timeout), and a
        // runtime worker waiting meanwhile is one fewer for the relay's connections.
        let book_due = ledger
            .blocking(|s| s.recording.then(|| s.book.poll_timeout()).flatten())
            .await;
        let mut wake = next_beat;
        if let Some(at) = book_due {
            wake = wake.min(tokio::time::Instant::now() + Duration::from_millis(at.saturating_sub(now_ms())));
        }
        tokio::select! {
            got = events.recv() => {
                let Some((at, event)) = got else { return };
                let mut batch = vec![(wall_ms(hub.wall_time(at)), event)];
                while batch.len() < MAX_EVENTS_PER_COMMIT {
                    match events.try_recv() {
                        Ok((at, event)) => batch.push((wall_ms(hub.wall_time(at)), event)),
                        Err(_) => break,
                    }
                }
                ledger.counts.backlog.store(events.len() as u64, Relaxed);
                let now = now_ms();
                let l = ledger.clone();
                tokio::task::spawn_blocking(move || l.record(now, batch)).await.ok();
            }
            _ = tokio::time::sleep_until(wake) => {
                if tokio::time::Instant::now() >= next_beat {
                    next_beat = tokio::time::Instant::now() + heartbeat;
                    claim(&ledger, &hub, &mut events, &relay, &config, grace).await;
                }
                let now = now_ms();
                let prune = (config.retention_days > 0 && tokio::time::Instant::now() >= next_prune)
                    .then(|| now.saturating_sub(retention.as_millis() as Ms));
                if prune.is_some() {
                    next_prune = tokio::time::Instant::now() + PRUNE_EVERY;
                }
                let l = ledger.clone();
                tokio::task::spawn_blocking(move || l.tick(now, prune)).await.ok();
            }
        }
        ledger.queued.notify_one();
    }
}

/// Take, keep or lose the recorder role (with a ledger in Redis; a relay's own SQLite
/// file is always its own). A relay not in touch with the shared store does not try:
/// its roster would not know the truth to take over from.
async fn claim(
    ledger: &Arc<Ledger>,
    hub: &Arc<Hub>,
    events: &mut mpsc::Receiver<(Instant, Event)>,
    relay: &str,
    config: &LedgerConfig,
    grace: u64,
) {
    if ledger.blocking(|s| matches!(s.db, Db::Sqlite(_))).await {
        return;
    }
    let ttl = config.heartbeat_ms.saturating_mul(3);
    let store_up = hub.store_linked();
    let id = relay.to_string();
    let held = ledger
        .blocking(move |s| if store_up { s.db.claim(&id, ttl) } else { Ok(false) })
        .await;
    let was = ledger.blocking(|s| s.recording).await;
    match held {
        Ok(true) if was => {}
        Ok(true) => {
            // The truth now, and no event from before it: both under the roster's lock.
            let (at, truth) = hub.act(|r, now| {
                while events.try_recv().is_ok() {}
                (now, r.truth())
            });
            let now = wall_ms(hub.wall_time(at));
            let webhooks = ledger.webhooks().clone();
            let policy = ledger.policy.clone();
            let result = ledger
                .blocking(move |s| {
                    let result = take_over(s, &webhooks, now, grace, truth);
                    result.map(|()| ledger_commit(s, &webhooks, &policy, now))
                })
                .await;
            match result {
                Ok(overflowed) => {
                    ledger.counts.overflowed.fetch_add(overflowed, Relaxed);
                    tracing::info!("ledger: this relay records presence and sends the webhooks")
                }
                Err(e) => tracing::warn!("ledger: cannot take over recording: {e}"),
            }
        }
        Ok(false) | Err(_) if was => {
            ledger
                .blocking(|s| {
                    s.recording = false;
                    s.book = Book::new(1);
                    for lane in &mut s.lanes {
                        *lane = Lane::default();
                    }
                })
                .await;
            match held {
                Err(e) => tracing::warn!("ledger: lost the store, so this relay stops recording: {e}"),
                _ => tracing::warn!("ledger: another relay records now"),
            }
        }
        Ok(false) | Err(_) => {}
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

    #[test]
    fn a_ledger_in_memory_is_capped_by_default_and_a_file_by_retention() {
        let memory = LedgerConfig::default();
        assert_eq!(memory.session_cap(), Some(MEMORY_SESSIONS));
        assert_eq!(
            memory.describe(false),
            format!("memory up to {MEMORY_SESSIONS} sessions")
        );
        let file = LedgerConfig {
            path: Some("/var/lib/rollcall/ledger.db".into()),
            ..LedgerConfig::default()
        };
        assert_eq!(file.session_cap(), None);
        assert_eq!(file.describe(false), "/var/lib/rollcall/ledger.db");
        let capped_file = LedgerConfig {
            max_sessions: Some(500),
            ..file
        };
        assert_eq!(
            capped_file.describe(false),
            "/var/lib/rollcall/ledger.db up to 500 sessions"
        );
        let uncapped = LedgerConfig {
            max_sessions: Some(0),
            ..LedgerConfig::default()
        };
        assert_eq!(uncapped.session_cap(), None, "0 turns the cap off");
        assert_eq!(memory.describe(true), "redis");
    }
}
