//! The session ledger: who was online when, for how long, and how much of it active,
//! idle or hidden; and the durable queue the webhooks are sent from.
//!
//! - [`book`]: the rules (pure, time as an argument);
//! - [`db`]: the storage: [`sqlite`], a file for one relay, or [`redis`] for several,
//!   both handing out [`rows`];
//! - [`state`]: the lock around database, book and webhook lanes, and one commit;
//! - [`recorder`]: the recorder task and its election;
//! - [`config`]: the `[ledger]` section; [`api`]: `GET /v1/users/{id}` and
//!   `GET /v1/sessions`.
//!
//! The recorder task takes the roster's events from the hub, runs them through the book
//! and commits the outcome (sessions, totals, the webhook events the fan-out queued,
//! heartbeat) in one transaction; on a timer it renews the heartbeat, prunes old
//! sessions and ends what a restart left unclaimed. This module wires them ([`start`]);
//! the webhooks' sender reads the queue through [`crate::webhooks::Queue`].
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
pub mod config;
pub mod db;
pub mod recorder;
pub mod redis;
pub mod rows;
pub mod sqlite;
pub mod state;

pub use config::{LedgerConfig, MEMORY_SESSIONS};
pub use recorder::MAX_EVENTS_PER_COMMIT;
pub use state::{Counts, Ledger, State};

use crate::clock::now_ms;
use crate::hub::Hub;
use crate::redis_conn::Target;
use crate::webhooks::Webhooks;
use book::Book;
use db::Db;
use rollcall_core::roster::Event;
use rollcall_core::Instant;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// The recorder's thread; dropping this stops it (as a crash would) and returns once
/// it has stopped: nothing is recorded, claimed or committed after the drop.
pub struct Tasks {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    recorder: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Tasks {
    fn drop(&mut self) {
        drop(self.stop.take());
        // The recorder stops at its next wait; a commit or a claim under way is let
        // finish (its runtime waits for its blocking calls), at most one Redis timeout.
        if let Some(thread) = self.recorder.take() {
            let _ = thread.join();
        }
    }
}

/// Open the ledger (in Redis at `redis`, else as `[ledger]` says), take back what a
/// previous run left, and start recording `events` (the hub's) and fanning them out to
/// `webhooks`. Sending them is the webhooks' task, started by the caller with this
/// ledger as its queue. `reconnect_grace_ms` is the default restore grace. Needs a
/// Tokio runtime.
pub fn start(
    config: &LedgerConfig,
    redis: Option<Target>,
    reconnect_grace_ms: u64,
    webhooks: Arc<Webhooks>,
    hub: Arc<Hub>,
    events: mpsc::Receiver<(Instant, Event)>,
) -> Result<(Arc<Ledger>, Tasks), String> {
    let lc = config;
    let where_ = match (&redis, &lc.path) {
        (Some(_), _) => "redis".to_string(),
        (None, Some(path)) => path.display().to_string(),
        (None, None) => "memory".to_string(),
    };
    let fail = |e: rows::Error| format!("ledger {where_}: {e}");
    let shared = redis.is_some();
    let db = match redis {
        Some(target) => {
            if lc.path.is_some() {
                tracing::warn!("ledger.path is not used: with redis_url the ledger is kept in Redis");
            }
            if lc.max_sessions.is_some() {
                tracing::warn!(
                    "ledger.max_sessions is not used: a ledger in Redis is bounded by ledger.retention_days"
                );
            }
            Db::Redis(redis::RedisDb::open(target))
        }
        None => Db::open(lc.path.as_deref()).map_err(fail)?,
    };
    if lc.path.is_none() && !shared && !webhooks.config.endpoints.is_empty() {
        tracing::warn!("webhooks: no [ledger] path, so events not yet delivered are lost if the relay stops");
    }
    let grace = lc.restore_grace_ms.unwrap_or(reconnect_grace_ms);
    let mut state = State {
        db,
        book: Book::new(1),
        lanes: webhooks.lanes(),
        recording: false,
    };
    // With a ledger in Redis, events go to this relay's recorder only while it holds
    // the role (it turns them on when it takes it).
    hub.record_events(!shared);
    if matches!(state.db, Db::Sqlite(_)) {
        // This relay's own file: it records from the start, with nothing to replay.
        recorder::take_over(&mut state, &webhooks, now_ms(), grace, Vec::new()).map_err(fail)?;
    }
    let ledger = Arc::new(Ledger {
        state: Mutex::new(state),
        webhooks,
        counts: Counts::default(),
        session_cap: lc.session_cap().filter(|_| !shared),
    });
    // On a thread and a runtime of its own: on the relay's runtime each batch waited
    // for the recorder's turn among every connection's task, and in a fill of 100,000
    // over six relays its queue overflowed (20,001 events dropped by the recorder).
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let recording = recorder::record(ledger.clone(), hub, events, lc.clone(), grace);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("ledger: no runtime for the recorder: {e}"))?;
    let recorder = std::thread::Builder::new()
        .name("ledger-recorder".into())
        .spawn(move || {
            runtime.block_on(async {
                tokio::select! {
                    _ = recording => {}
                    _ = stopped => {}
                }
            })
        })
        .map_err(|e| format!("ledger: no thread for the recorder: {e}"))?;
    Ok((
        ledger,
        Tasks {
            stop: Some(stop),
            recorder: Some(recorder),
        },
    ))
}
