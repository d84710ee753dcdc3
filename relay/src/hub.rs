//! The relay's shared state: the roster, the live connections' outboxes, and the
//! clock mapping. Every change goes through [`Hub::act`], which applies it to the
//! roster, delivers what the roster outputs, and wakes the reaper if a deadline moved
//! earlier.
//!
//! One `std::sync::Mutex` guards it all: each critical section is a few map operations
//! and non-blocking pushes, never an `.await`, so a plain mutex is cheaper than an
//! async one and cannot be held across a suspension point.

use crate::ids::random_bytes;
use crate::metrics::Metrics;
use crate::outbox::{self, Outbox, Pushed};
use bytes::Bytes;
use rollcall_core::protocol::{close, Identity, Member, ServerMsg};
use rollcall_core::roster::{Attached, ConnId, EndCause, Event, Output, Roster, RosterConfig, Stats};
use rollcall_core::Instant;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Notify};

/// What the hub needs of the store that shares its views with other relays: `Memory`
/// (nothing shared) or Redis, both in `crate::store`.
pub trait Store: Send + Sync {
    /// `memory` or `redis`, for the start line, `/healthz` and `/metrics`.
    fn name(&self) -> &'static str;
    /// Is the shared state reachable and readable (always true in memory)? What
    /// `/healthz` and `rollcall_store_up` say.
    fn up(&self) -> bool;
    /// Is this relay connected to the shared state, whatever it holds (the ledger's
    /// recorder needs that, not that every byte there be readable)?
    fn linked(&self) -> bool {
        self.up()
    }
    /// This relay's view of `user` in `ch` changed; `None`: it holds the user no more,
    /// for `cause`.
    fn share(&self, ch: String, user: String, view: Option<Member>, cause: Option<EndCause>);
    /// The relay is stopping: let the others keep its users for the reconnect grace
    /// while its clients move over, then drop them.
    fn drain(&self) -> Option<oneshot::Receiver<()>>;
    /// This relay's id among the relays sharing the store (none in memory).
    fn relay_id(&self) -> Option<&str> {
        None
    }
}

/// Where the hub offers each presence event as it happens (the console's live stream,
/// `crate::console::feed`). Called under the hub's lock, so an offer never waits.
pub trait EventTap: Send + Sync {
    fn offer(&self, at: Instant, event: &Event);
}

/// Presence events waiting for the ledger's recorder at most; more are dropped and
/// counted.
pub const EVENT_QUEUE: usize = 100_000;

struct Handle {
    /// The connection's outbox, and the order to close it.
    tx: outbox::Sender,
    /// The session id's 128 bits, not its text: one per connection, kept twice.
    session: u128,
}

struct Inner {
    roster: Roster,
    conns: HashMap<ConnId, Handle>,
    sessions: HashMap<u128, ConnId>,
    /// The deadline the reaper sleeps until.
    armed: Option<Instant>,
    next_id: ConnId,
}

pub struct Hub {
    inner: Mutex<Inner>,
    start: tokio::time::Instant,
    start_wall: std::time::SystemTime,
    wake: Notify,
    send_queue: usize,
    /// Where this relay's views are shared with other relays (set once at start).
    store: std::sync::OnceLock<Arc<dyn Store>>,
    /// Where presence events go (webhooks, the session ledger), if anywhere.
    events: Option<mpsc::Sender<(Instant, Event)>>,
    /// Whether they go there now: with a ledger in Redis, only the relay that records
    /// takes them (the others would only queue every event of every relay to drop it).
    recording: AtomicBool,
    /// The console's live stream: offered every event, taken only while one listens.
    feed: std::sync::OnceLock<Arc<dyn EventTap>>,
    pub metrics: Metrics,
}

/// A connection registered with the hub.
pub struct Registered {
    pub conn: ConnId,
    pub session: String,
    pub attached: Attached,
    /// What the connection's send task writes, and the hub's order to close it.
    pub outbox: Outbox,
}

impl Hub {
    pub fn new(presence: RosterConfig, send_queue: usize) -> Hub {
        Hub {
            inner: Mutex::new(Inner {
                // A relay starts without the state it had: whoever was here is coming
                // back within the reconnect grace (the hub's clock starts at zero).
                roster: {
                    let grace = presence.reconnect_grace_ms;
                    let mut roster = Roster::new(presence);
                    roster.warm_up(Instant(grace));
                    roster
                },
                conns: HashMap::new(),
                sessions: HashMap::new(),
                armed: None,
                next_id: 1,
            }),
            start: tokio::time::Instant::now(),
            wake: Notify::new(),
            start_wall: crate::clock::now(),
            send_queue,
            events: None,
            recording: AtomicBool::new(true),
            store: std::sync::OnceLock::new(),
            feed: std::sync::OnceLock::new(),
            metrics: Metrics::default(),
        }
    }

    /// Share this relay's views through `store` from now on.
    pub fn attach_store(&self, store: Arc<dyn Store>) {
        let shared = store.name() != "memory";
        if self.store.set(store).is_ok() && shared {
            self.lock().roster.share(true);
        }
    }

    /// The store in use: its name and whether it is reachable.
    pub fn store_status(&self) -> (&'static str, bool) {
        self.store.get().map_or(("memory", true), |s| (s.name(), s.up()))
    }

    /// Connected to the shared state, readable or not (see `Store::linked`).
    pub fn store_linked(&self) -> bool {
        self.store.get().is_none_or(|s| s.linked())
    }

    /// Stop sharing: let other relays keep this relay's users for the reconnect grace.
    pub async fn drain_store(&self) {
        if let Some(wait) = self.store.get().and_then(|s| s.drain()) {
            let _ = tokio::time::timeout(Duration::from_secs(2), wait).await;
        }
    }

    /// Send every presence event (after the graces decided) to `sink`.
    pub fn with_events(mut self, sink: mpsc::Sender<(Instant, Event)>) -> Hub {
        self.events = Some(sink);
        self
    }

    /// Send the events to the sink from now on (`true`, the default) or not. Called
    /// inside [`Hub::act`] by a relay that takes the recorder role, this puts the
    /// truth it takes and the first event after it under the same lock.
    pub fn record_events(&self, on: bool) {
        self.recording.store(on, Relaxed);
    }

    /// Offer every presence event to the console's live stream from now on.
    pub fn attach_feed(&self, feed: Arc<dyn EventTap>) {
        let _ = self.feed.set(feed);
    }

    /// The wall-clock time of a roster instant, for webhooks and ledgers.
    pub fn wall_time(&self, at: Instant) -> std::time::SystemTime {
        self.start_wall + Duration::from_millis(at.0)
    }

    /// The roster's clock: milliseconds since this hub was made.
    pub fn now(&self) -> Instant {
        Instant(self.start.elapsed().as_millis() as u64)
    }

    pub fn instant_of(&self, at: Instant) -> tokio::time::Instant {
        self.start + Duration::from_millis(at.0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere must not take every connection down with a poisoned lock.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Apply a change to the roster and deliver its consequences.
    pub fn act<R>(&self, f: impl FnOnce(&mut Roster, Instant) -> R) -> R {
        let now = self.now();
        let mut inner = self.lock();
        let result = f(&mut inner.roster, now);
        self.settle(&mut inner);
        result
    }

    /// A connection said a valid hello.
    pub fn register(&self, identity: Identity, client: &str, token_expires: Option<Instant>) -> Registered {
        let now = self.now();
        let (tx, outbox) = outbox::outbox(self.send_queue);
        let session = u128::from_be_bytes(random_bytes::<16>());
        let mut inner = self.lock();
        let conn = inner.next_id;
        inner.next_id += 1;
        inner.conns.insert(conn, Handle { tx, session });
        inner.sessions.insert(session, conn);
        let attached = inner.roster.connect(now, conn, identity, client, token_expires);
        self.settle(&mut inner);
        self.metrics.connections_total.inc();
        Registered {
            conn,
            session: session_text(session),
            attached,
            outbox,
        }
    }

    /// The socket is gone. `unloading`: the page said so in its close frame.
    pub fn unregister(&self, conn: ConnId, unloading: bool) {
        let now = self.now();
        let mut inner = self.lock();
        if let Some(handle) = inner.conns.remove(&conn) {
            inner.sessions.remove(&handle.session);
        }
        inner.roster.disconnect(now, conn, unloading);
        self.settle(&mut inner);
    }

    /// Close a connection on the relay's initiative; its presences enter the reconnect
    /// grace like any dropped connection.
    pub fn close(&self, conn: ConnId, code: u16, reason: &'static str) {
        let now = self.now();
        let mut inner = self.lock();
        inner.roster.disconnect(now, conn, false);
        self.kill(&mut inner, conn, code, reason);
        self.settle(&mut inner);
    }

    /// A `POST /v1/beacon` for `session`. False if no such connection.
    pub fn beacon(&self, session: &str) -> bool {
        let now = self.now();
        let mut inner = self.lock();
        let Some(&conn) = session_bits(session).and_then(|s| inner.sessions.get(&s)) else {
            return false;
        };
        inner.roster.beacon(now, conn);
        self.settle(&mut inner);
        true
    }

    /// Queue one message for one connection.
    pub fn send(&self, conn: ConnId, msg: &ServerMsg) {
        let mut inner = self.lock();
        let frame = Bytes::from(msg.encode());
        self.push(&mut inner, conn, frame);
        self.settle(&mut inner);
    }

    /// Run every deadline due now; returns the next one.
    pub fn tick(&self) -> Option<Instant> {
        let now = self.now();
        let mut inner = self.lock();
        inner.roster.handle_timeout(now);
        self.settle(&mut inner);
        let next = inner.roster.poll_timeout();
        inner.armed = next;
        next
    }

    /// Sleep until there is work for [`tick`](Self::tick).
    pub async fn wait(&self, next: Option<Instant>) {
        match next {
            Some(at) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(self.instant_of(at)) => {}
                    _ = self.wake.notified() => {}
                }
            }
            None => self.wake.notified().await,
        }
    }

    pub fn presence(&self, ch: &str) -> Option<Vec<Member>> {
        self.lock().roster.presence(ch)
    }

    /// Connections of this relay watching `ch`.
    pub fn watchers(&self, ch: &str) -> usize {
        self.lock().roster.watchers(ch)
    }

    pub fn stats(&self) -> Stats {
        self.lock().roster.stats()
    }

    pub fn connections(&self) -> usize {
        self.lock().conns.len()
    }

    /// How many browser profiles of each user are connected to this relay.
    pub fn clients_by_user(&self) -> HashMap<String, usize> {
        self.lock().roster.clients_by_user()
    }

    /// Close every connection with "relay restarting": clients reconnect at once, to
    /// this relay's successor or another one, inside their grace.
    pub fn shutdown(&self) {
        let inner = self.lock();
        for handle in inner.conns.values() {
            handle.tx.close(close::RELAY_RESTART, "relay restarting");
        }
    }

    /// Deliver what the roster produced and re-arm the reaper if needed.
    fn settle(&self, inner: &mut Inner) {
        while let Some(out) = inner.roster.poll_output() {
            match out {
                Output::Deliver { to, frame } => {
                    let frame = Bytes::from(frame);
                    for conn in to {
                        self.push(inner, conn, frame.clone());
                    }
                }
                Output::Send { conn, msg } => self.push(inner, conn, Bytes::from(msg.encode())),
                Output::Close { conn, code, reason } => self.kill(inner, conn, code, reason),
                Output::Share { ch, user, view, cause } => {
                    if let Some(store) = self.store.get() {
                        store.share(ch, user, view, cause);
                    }
                }
                Output::Event { at, event } => {
                    if let Some(feed) = self.feed.get() {
                        feed.offer(at, &event);
                    }
                    let sink = self.events.as_ref();
                    if let Some(sink) = sink.filter(|_| self.recording.load(Relaxed)) {
                        // A recorder that fell this far behind (a stalled disk, Redis
                        // away) loses events rather than the relay its memory.
                        if let Err(mpsc::error::TrySendError::Full(_)) = sink.try_send((at, event)) {
                            if self.metrics.events_dropped.get() == 0 {
                                tracing::warn!("the ledger's recorder is {EVENT_QUEUE} events behind: dropping events (rollcall_events_dropped_total)");
                            }
                            self.metrics.events_dropped.inc();
                        }
                    }
                }
            }
        }
        let next = inner.roster.poll_timeout();
        if let Some(at) = next {
            if inner.armed.is_none_or(|armed| at < armed) {
                inner.armed = Some(at);
                self.wake.notify_one();
            }
        }
    }

    fn push(&self, inner: &mut Inner, conn: ConnId, frame: Bytes) {
        let Some(handle) = inner.conns.get(&conn) else { return };
        match handle.tx.push(frame) {
            Pushed::Queued => self.metrics.frames_out.inc(),
            Pushed::Full => {
                // A client that does not read cannot make the relay hold its frames
                // forever: drop it; it reconnects inside its grace and resyncs.
                self.metrics.slow_consumers.inc();
                let now = self.now();
                inner.roster.disconnect(now, conn, false);
                self.kill(inner, conn, close::SLOW_CONSUMER, "too slow to read");
            }
            Pushed::Gone => {}
        }
    }

    fn kill(&self, inner: &mut Inner, conn: ConnId, code: u16, reason: &'static str) {
        if let Some(handle) = inner.conns.remove(&conn) {
            inner.sessions.remove(&handle.session);
            handle.tx.close(code, reason);
        }
    }
}

/// A session id as the client is told it: 128 random bits, hex (unguessable, so it can
/// authorise a beacon).
fn session_text(bits: u128) -> String {
    format!("{bits:032x}")
}

/// The bits of a session id the relay gave out; `None` for any other text.
fn session_bits(text: &str) -> Option<u128> {
    if text.len() != 32 || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    u128::from_str_radix(text, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollcall_core::policy::Access;

    fn who(id: &str) -> Identity {
        Identity {
            id: id.into(),
            name: None,
            avatar: None,
        }
    }

    #[test]
    fn a_session_id_is_read_back_only_in_the_form_it_was_given() {
        let bits = 0x0123_4567_89ab_cdef_0011_2233_4455_6677;
        let text = session_text(bits);
        assert_eq!(text, "0123456789abcdef0011223344556677");
        assert_eq!(session_bits(&text), Some(bits));
        let longer = format!("{text}0");
        for other in [
            "",
            "0123456789ABCDEF0011223344556677",
            "+123456789abcdef0011223344556677",
            "0x23456789abcdef0011223344556677",
            "é123456789abcdef001122334455667",
            &longer,
        ] {
            assert_eq!(session_bits(other), None, "{other}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_does_not_read_is_dropped_when_its_queue_fills() {
        let hub = Hub::new(RosterConfig::default(), 4);
        let slow = hub.register(who("slow"), "s", None);
        hub.act(|r, now| r.subscribe(now, slow.conn, "/site/online", Access::OPEN))
            .unwrap();
        for i in 0..8 {
            let c = hub.register(who(&format!("u{i}")), "c", None);
            hub.act(|r, now| r.enter(now, c.conn, "/site/online", Access::OPEN, None, None))
                .unwrap();
            // One flush per join: one frame each for the subscriber, who never reads.
            tokio::time::advance(Duration::from_millis(25)).await;
            hub.tick();
        }
        assert_eq!(slow.outbox.order().map(|(code, _)| code), Some(close::SLOW_CONSUMER));
        assert_eq!(hub.metrics.slow_consumers.get(), 1);
        assert!(
            slow.outbox.len() <= 4,
            "the queue stayed bounded: {}",
            slow.outbox.len()
        );
        assert_eq!(hub.connections(), 8, "only the slow one is gone");
        // Its presence is not torn down at once: it is in its reconnect grace.
        assert!(!hub.lock().roster.is_connected(slow.conn));
    }

    #[tokio::test(start_paused = true)]
    async fn a_recorder_that_falls_behind_loses_events_not_the_relays_memory() {
        let (sink, mut recorded) = mpsc::channel(4);
        let hub = Hub::new(RosterConfig::default(), 16).with_events(sink);
        for i in 0..10 {
            let c = hub.register(who(&format!("u{i}")), "c", None);
            hub.act(|r, now| r.enter(now, c.conn, "/site/online", Access::OPEN, None, None))
                .unwrap();
        }
        assert_eq!(recorded.len(), 4, "the queue holds what it may");
        assert!(hub.metrics.events_dropped.get() > 0);
        // Once the recorder reads again, new events flow.
        while recorded.try_recv().is_ok() {}
        let dropped = hub.metrics.events_dropped.get();
        let c = hub.register(who("late"), "c", None);
        hub.act(|r, now| r.enter(now, c.conn, "/site/online", Access::OPEN, None, None))
            .unwrap();
        assert!(!recorded.is_empty());
        assert_eq!(hub.metrics.events_dropped.get(), dropped);
    }

    #[tokio::test(start_paused = true)]
    async fn a_relay_that_does_not_record_queues_no_events() {
        let (sink, mut recorded) = mpsc::channel(16);
        let hub = Hub::new(RosterConfig::default(), 16).with_events(sink);
        hub.record_events(false);
        let c = hub.register(who("ann"), "c", None);
        hub.act(|r, now| r.enter(now, c.conn, "/site/online", Access::OPEN, None, None))
            .unwrap();
        assert!(recorded.is_empty());
        assert_eq!(hub.metrics.events_dropped.get(), 0);
        // Taking the role: the truth and every event after it.
        let truth = hub.act(|r, _| {
            hub.record_events(true);
            r.truth()
        });
        assert!(!truth.is_empty(), "ann is in the truth");
        let c = hub.register(who("bob"), "c", None);
        hub.act(|r, now| r.enter(now, c.conn, "/site/online", Access::OPEN, None, None))
            .unwrap();
        let mut told = Vec::new();
        while let Ok((_, event)) = recorded.try_recv() {
            told.push(format!("{event:?}"));
        }
        assert!(
            !told.is_empty() && told.iter().all(|e| e.contains("bob") && !e.contains("ann")),
            "{told:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_reaper_is_woken_when_a_change_brings_a_deadline_closer() {
        let hub = Arc::new(Hub::new(RosterConfig::default(), 16));
        assert_eq!(hub.tick(), None);
        let waiting = tokio::spawn({
            let hub = hub.clone();
            async move { hub.wait(None).await }
        });
        tokio::task::yield_now().await;
        let c = hub.register(who("ann"), "a", None);
        hub.act(|r, now| r.enter(now, c.conn, "/site/online", Access::OPEN, None, None))
            .unwrap();
        tokio::time::timeout(Duration::from_millis(1), waiting)
            .await
            .expect("woken at once")
            .unwrap();
        // The lone change was flushed by this tick at once; what is left is the lease.
        let next = hub.tick().expect("a lease is due");
        assert_eq!(next, hub.now() + RosterConfig::default().lease_timeout_ms);
    }
}
