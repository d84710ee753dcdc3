//! One relay's side of the agreement between relays that share a store: which of
//! another relay's views is the newest, what a resync keeps and drops, when a relay
//! that stopped beating is dead, and what this relay writes.
//!
//! The store (Redis in the relay, a model in the simulation) holds one view per
//! (channel, user, relay) and a table of relays scored by their last heartbeat, in the
//! store's own clock; every write of a view is published to every relay. This machine
//! turns what the store says into [`Roster`] calls and says what to write, as [`Op`]s
//! drained with [`Cluster::poll_op`]. It never reads a clock: inputs carry `now` (the
//! relay's monotonic clock) and heartbeat replies carry the store's time.
//!
//! The rules:
//! - **Order.** Each relay numbers its writes; a view older than one already seen from
//!   the same relay for the same (channel, user) is ignored, so duplicates and reordered
//!   messages change nothing. A removal is remembered for [`ClusterConfig::keep_ms`].
//! - **Death.** A relay whose last heartbeat is older than the lease timeout, in the
//!   store's clock, is dead (silence is counted from this relay's own connection at the
//!   earliest: after the store was away, those coming back are not reaped by the
//!   first): the first relay to see it removes its views from the store
//!   and says so to all ([`Op::Reap`]). A relay whose views are held but which is missing
//!   from the table counts from when it was first missed. A dead name is never accepted
//!   again (for `keep_ms`, longer than any message stays in flight).
//! - **Epochs.** A relay that finds itself missing from the table (reaped while it was
//!   paused or cut off, or the store lost its data) takes a new name, asserts all its
//!   views under it, then reaps its old name: no view of the old name can come back.
//!   The old name's death names its successor, and the others hand each member the old
//!   name held over to it: kept until the successor's view of it arrives, or for a
//!   heartbeat, since a Redis Cluster may deliver the death before the views (they are
//!   published on different nodes). A member the relay still holds never leaves.
//! - **Resync.** On every (re)connection: beat, assert every local view (and remove those
//!   written before that no longer hold), load the store, and drop every remote holder
//!   the store no longer has. When the store may have lost writes (a failover, or this
//!   relay found itself missing), a holder the store no longer has is kept instead until
//!   its relay writes it again, for at most the lease timeout.
//!
//! Together these bound a ghost: the views of a relay that died are gone from every
//! other relay within the lease timeout plus one heartbeat (plus the store's round
//! trip) of its last heartbeat, once the store is reachable (docs/scaling.md).

use crate::pairmap::PairMap;
use crate::protocol::{Identity, Member};
use crate::roster::{EndCause, Roster, RosterConfig, ONLINE};
use crate::time::Instant;
use crate::timing;
use std::collections::{HashMap, HashSet, VecDeque};

/// Timings of the agreement, derived from the presence timings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterConfig {
    /// A relay silent for this long (in the store's clock) is dead.
    pub lease_timeout_ms: u64,
    /// How long a stopping relay's users are kept while its clients move elsewhere.
    pub reconnect_grace_ms: u64,
    /// How often a relay records itself alive and looks for dead relays.
    pub heartbeat_ms: u64,
    /// How long a removal or a dead name is remembered against late messages.
    pub keep_ms: u64,
}

impl ClusterConfig {
    /// The intervals derived from the lease ([`timing`]).
    pub fn from_presence(presence: &RosterConfig) -> ClusterConfig {
        ClusterConfig {
            lease_timeout_ms: presence.lease_timeout_ms,
            reconnect_grace_ms: presence.reconnect_grace_ms,
            heartbeat_ms: timing::relay_heartbeat_ms(presence.lease_timeout_ms),
            keep_ms: timing::cluster_memory_ms(presence.lease_timeout_ms),
        }
    }

    /// How long after a relay's last heartbeat its views may still be held anywhere
    /// (with the store reachable): it is seen dead one lease timeout after that beat, at
    /// the latest one heartbeat later.
    pub fn ghost_bound_ms(&self) -> u64 {
        self.lease_timeout_ms + self.heartbeat_ms
    }
}

/// One relay's view of one user in one channel, as written to the store and published.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// The relay's name (its id and epoch).
    pub relay: String,
    pub ch: String,
    pub user: String,
    /// The relay's write counter.
    pub seq: u64,
    /// `None`: the relay holds the user no more.
    pub view: Option<Member>,
    /// Why the view is gone, when it is.
    pub cause: Option<EndCause>,
}

/// What arrives from the other relays through the store's pub/sub.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    Change(Change),
    /// `relay` was found dead and its views removed from the store.
    Dead {
        relay: String,
        /// The name the same relay writes under now, when it reaped its old name itself
        /// (it found that name missing and came back under a new one). Its views under
        /// the new name were published before this, but may arrive after it: a Redis
        /// Cluster does not keep the order of messages published on different nodes.
        successor: Option<String>,
    },
}

/// What the store must do, in this order.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Write (or remove, `view: None`) this relay's view and publish it, atomically.
    Set(Change),
    /// Record `relay` alive at the store's time plus `shift_ms`, then answer with
    /// [`Cluster::beaten`]: the store's time, whether `relay` was in the table before,
    /// and the whole table.
    Beat { relay: String, shift_ms: i64 },
    /// Take `relay` out of the table, remove its views, and publish
    /// [`Message::Dead`] (with `successor`).
    Reap { relay: String, successor: Option<String> },
    /// Read every view in the store and answer with [`Cluster::loaded`].
    Load,
}

/// The answer to [`Op::Beat`].
#[derive(Clone, Debug, PartialEq)]
pub struct Beaten {
    /// The store's clock, in milliseconds.
    pub store_ms: u64,
    /// The relay was in the table before this beat.
    pub known: bool,
    /// Every relay in the table with its score (its last beat, in the store's clock).
    pub table: Vec<(String, u64)>,
}

/// A view read from the store by [`Op::Load`].
#[derive(Clone, Debug, PartialEq)]
pub struct Stored {
    pub relay: String,
    pub ch: String,
    pub user: String,
    pub seq: u64,
    pub view: Member,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    /// The store is unreachable: local changes are not written (the resync asserts
    /// everything again).
    Down,
    /// Connected and subscribed; waiting for the first beat's answer.
    Beating,
    /// Views asserted; waiting for the store's views.
    Loading,
    Up,
    /// Stopping: nothing more is written.
    Draining,
}

/// The newest seq seen of one (relay, channel, user), and since when it says "gone".
#[derive(Clone, Copy, Debug)]
struct Seen {
    seq: u64,
    gone: Option<Instant>,
}

type Key = (String, String, String);

/// This relay's side of the agreement. See the module's documentation.
#[derive(Debug)]
pub struct Cluster {
    config: ClusterConfig,
    base: String,
    epoch: u32,
    name: String,
    seq: u64,
    link: Link,
    /// The name was in the table once: missing from it now means reaped or lost.
    registered: bool,
    /// By relay, then (channel, user): each name kept once, not with every member.
    seen: HashMap<String, PairMap<Seen>>,
    /// (channel, user) this relay's current name has a view of in the store.
    mine: PairMap<()>,
    /// Other relays' last beat in the store's clock (or when first missed).
    beats: HashMap<String, u64>,
    /// The store's time at the first beat of this link: silence is counted from no
    /// earlier, so that relays coming back after the store was away are not reaped by
    /// the first one back.
    linked_at: Option<u64>,
    /// Names found dead, and when: never accepted again while remembered.
    dead: HashMap<String, Instant>,
    next_beat: Option<Instant>,
    /// Members a relay that came back under a new name held under its old one, keyed
    /// (old name, channel, user): kept until its new name's view of them arrives, or
    /// until the deadline, so that nobody sees them leave and come back in between.
    handover: HashMap<Key, (String, Instant)>,
    /// The store may have lost writes (it restarted empty, was flushed, or failed over
    /// to a replica that lacked them): the next resync waits for what it misses.
    lost_writes: bool,
    ops: VecDeque<Op>,
}

impl Cluster {
    /// `id` must be unique among relays (a random id per process) and contain neither
    /// a tab nor a dot.
    pub fn new(id: &str, config: ClusterConfig) -> Cluster {
        Cluster {
            config,
            base: id.to_string(),
            epoch: 0,
            name: id.to_string(),
            seq: 0,
            link: Link::Down,
            registered: false,
            seen: HashMap::new(),
            mine: PairMap::default(),
            beats: HashMap::new(),
            linked_at: None,
            dead: HashMap::new(),
            next_beat: None,
            handover: HashMap::new(),
            lost_writes: false,
            ops: VecDeque::new(),
        }
    }

    /// The name this relay writes under now.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// Is the store reachable and this relay's views in it?
    pub fn is_up(&self) -> bool {
        self.link == Link::Up
    }

    /// The next thing the store must do.
    pub fn poll_op(&mut self) -> Option<Op> {
        let op = self.ops.pop_front();
        if op.is_none() {
            crate::roster::shrink_drained(&mut self.ops);
        }
        op
    }

    /// When [`handle_timeout`](Self::handle_timeout) has work: the next heartbeat, or
    /// the end of a handover (while the link is up; a resync settles what it kept).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.link != Link::Up {
            return self.next_beat;
        }
        let handover = self.handover.values().map(|(_, at)| *at).min();
        match (self.next_beat, handover) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The heartbeat, when due. A handover that ran out has its members dropped: the new
    /// name did not hold them (their users left while the relay was away).
    pub fn handle_timeout(&mut self, now: Instant, roster: &mut Roster) {
        if self.link != Link::Up {
            return;
        }
        let mut over: Vec<Key> = self
            .handover
            .iter()
            .filter(|(_, (_, at))| *at <= now)
            .map(|(key, _)| key.clone())
            .collect();
        over.sort_by(|a, b| (a.1 == ONLINE, a).cmp(&(b.1 == ONLINE, b)));
        for key in over {
            self.handover.remove(&key);
            let (relay, ch, user) = key;
            roster.remote_gone(now, &ch, &relay, &user, EndCause::Timeout);
        }
        if self.next_beat.is_none_or(|at| at > now) {
            return;
        }
        self.next_beat = Some(now + self.config.heartbeat_ms);
        self.beat(0);
    }

    /// Connected to the store and subscribed to its messages: begin the resync.
    pub fn link_up(&mut self, _now: Instant) {
        if self.link == Link::Draining {
            return;
        }
        self.link = Link::Beating;
        self.linked_at = None;
        self.next_beat = None;
        self.beat(0);
    }

    /// The store may have lost writes it acknowledged (a Redis Cluster failed over to a
    /// replica). Call before the [`link_up`](Self::link_up) of the resync that follows.
    pub fn writes_lost(&mut self) {
        self.lost_writes = true;
    }

    /// The store became unreachable (or a reply never came).
    pub fn link_down(&mut self, _now: Instant) {
        if self.link != Link::Draining {
            self.link = Link::Down;
        }
        self.next_beat = None;
        self.ops.clear();
    }

    /// The relay is stopping: have the others keep its users for the reconnect grace
    /// (its clients reconnect elsewhere meanwhile), then reap them.
    pub fn drain(&mut self, _now: Instant) {
        if self.link == Link::Up {
            let shift = self.config.reconnect_grace_ms as i64 - self.config.lease_timeout_ms as i64;
            self.beat(shift);
        }
        self.link = Link::Draining;
        self.next_beat = None;
    }

    /// The roster's [`Output::Share`](crate::roster::Output::Share): this relay's own
    /// view of `user` in `ch` changed.
    pub fn share(&mut self, _now: Instant, ch: &str, user: &str, view: Option<Member>, cause: Option<EndCause>) {
        if matches!(self.link, Link::Down | Link::Draining) {
            return;
        }
        self.write(ch, user, view, cause);
    }

    /// The answer to [`Op::Beat`].
    pub fn beaten(&mut self, now: Instant, roster: &mut Roster, beaten: Beaten) {
        if matches!(self.link, Link::Down | Link::Draining) {
            return;
        }
        if !beaten.known && self.registered {
            // Reaped while away, or the store lost its data: others may hold this name
            // as dead. Start afresh under a new one.
            self.new_epoch(now, roster);
            return;
        }
        self.registered = true;
        self.find_dead(&beaten);
        self.forget_old(now);
        if self.link == Link::Beating {
            self.assert_views(roster);
            self.link = Link::Loading;
            self.ops.push_back(Op::Load);
        }
    }

    /// The answer to [`Op::Load`]: every view in the store.
    pub fn loaded(&mut self, now: Instant, roster: &mut Roster, stored: Vec<Stored>) {
        if self.link != Link::Loading {
            return;
        }
        self.handover.clear();
        let lost_writes = std::mem::take(&mut self.lost_writes);
        let mut present = HashSet::new();
        let mut leftovers = Vec::new();
        for s in stored {
            if s.relay == self.name {
                // A removal that never reached the store (the link fell meanwhile).
                if !self.mine.contains(&s.ch, &s.user) {
                    leftovers.push((s.ch, s.user));
                }
                continue;
            }
            present.insert((s.ch.clone(), s.relay.clone(), s.user.clone()));
            self.accept(
                now,
                roster,
                Change {
                    relay: s.relay,
                    ch: s.ch,
                    user: s.user,
                    seq: s.seq,
                    view: Some(s.view),
                    cause: None,
                },
            );
        }
        for (ch, relay, user) in roster.remote_entries() {
            if present.contains(&(ch.clone(), relay.clone(), user.clone())) {
                continue;
            }
            if lost_writes && !self.dead.contains_key(&relay) {
                // The store lost it, maybe, rather than its relay let go: that relay
                // writes its views again once it notices (at its next beat, or as it
                // reconnects), as this one does now. Kept until then, for at most the
                // lease timeout, so that nobody sees the member leave and come back.
                let until = now + self.config.lease_timeout_ms;
                self.handover.insert((relay.clone(), ch, user), (relay, until));
                continue;
            }
            // Gone from the store while this relay was away from it: the cause is
            // unknown. (A handover ends here too: what the store holds is the answer.) Remembered as gone, so that a late copy of an older view cannot
            // bring it back.
            let seq = self.seen_of(&relay, &ch, &user).map_or(0, |s| s.seq);
            self.see(&relay, &ch, &user, Seen { seq, gone: Some(now) });
            roster.remote_gone(now, &ch, &relay, &user, EndCause::Timeout);
        }
        leftovers.sort();
        for (ch, user) in leftovers {
            self.write(&ch, &user, None, None);
        }
        self.link = Link::Up;
        self.next_beat = Some(now + self.config.heartbeat_ms);
    }

    /// A message from the store's pub/sub.
    pub fn message(&mut self, now: Instant, roster: &mut Roster, message: Message) {
        if matches!(self.link, Link::Down | Link::Draining) {
            return;
        }
        match message {
            Message::Dead { relay, .. } if relay == self.name => {
                // Found dead while paused or cut off: the others dropped this relay's
                // users. Come back under a new name at once.
                if self.registered {
                    self.new_epoch(now, roster);
                }
            }
            Message::Dead { relay, successor } => {
                if !self.dead.contains_key(&relay) {
                    self.bury(now, roster, &relay, successor);
                }
            }
            Message::Change(change) => self.accept(now, roster, change),
        }
    }

    fn accept(&mut self, now: Instant, roster: &mut Roster, change: Change) {
        if change.relay == self.name || self.dead.contains_key(&change.relay) {
            return;
        }
        let (relay, ch, user) = (change.relay, change.ch, change.user);
        if self.seen_of(&relay, &ch, &user).is_some_and(|s| s.seq >= change.seq) {
            return;
        }
        let gone = change.view.is_none().then_some(now);
        self.see(&relay, &ch, &user, Seen { seq: change.seq, gone });
        let handed: Vec<Key> = self
            .handover
            .iter()
            .filter(|((_, c, u), (next, _))| *next == relay && *c == ch && *u == user)
            .map(|(key, _)| key.clone())
            .collect();
        let cause = change.cause;
        match change.view {
            Some(view) if view.id != user => {}
            Some(view) if ch == ONLINE => {
                let identity = Identity {
                    id: view.id,
                    name: view.name,
                    avatar: view.avatar,
                };
                roster.remote_online(now, &relay, &user, Some(identity));
            }
            Some(view) => {
                let count_only = roster.is_count_only(&ch);
                roster.remote(now, &ch, &relay, view, count_only);
            }
            None => {
                let cause = cause.unwrap_or(EndCause::Left);
                roster.remote_gone(now, &ch, &relay, &user, cause);
            }
        }
        // The new name's word on a member its old name held: the old hold goes, after
        // the new one came (nobody sees a leave), or with the new name's leave.
        for key in handed {
            self.handover.remove(&key);
            let (old, ch, user) = key;
            // (A view kept for its own relay after a loss is simply written again.)
            if old != relay {
                roster.remote_gone(now, &ch, &old, &user, cause.unwrap_or(EndCause::Left));
            }
        }
    }

    fn seen_of(&self, relay: &str, ch: &str, user: &str) -> Option<&Seen> {
        self.seen.get(relay)?.get(ch, user)
    }

    fn see(&mut self, relay: &str, ch: &str, user: &str, seen: Seen) {
        match self.seen.get_mut(relay) {
            Some(views) => views.insert(ch, user, seen),
            None => self.seen.entry(relay.to_string()).or_default().insert(ch, user, seen),
        };
    }

    fn write(&mut self, ch: &str, user: &str, view: Option<Member>, cause: Option<EndCause>) {
        self.seq += 1;
        if view.is_some() {
            self.mine.insert(ch, user, ());
        } else {
            self.mine.remove(ch, user);
        }
        self.ops.push_back(Op::Set(Change {
            relay: self.name.clone(),
            ch: ch.to_string(),
            user: user.to_string(),
            seq: self.seq,
            view,
            cause: if self.link == Link::Draining { None } else { cause },
        }));
    }

    fn beat(&mut self, shift_ms: i64) {
        self.ops.push_back(Op::Beat {
            relay: self.name.clone(),
            shift_ms,
        });
    }

    /// Write every view of this relay's own clients again, and remove the ones written
    /// before that no longer hold (a leave not yet shared when the link came back).
    fn assert_views(&mut self, roster: &mut Roster) {
        let views = roster.local_views();
        let now_held: HashSet<(&str, &str)> = views.iter().map(|(ch, v)| (ch.as_str(), v.id.as_str())).collect();
        let mut stale: Vec<(String, String)> = self
            .mine
            .iter()
            .filter(|(ch, user, _)| !now_held.contains(&(*ch, *user)))
            .map(|(ch, user, _)| (ch.to_string(), user.to_string()))
            .collect();
        stale.sort();
        for (ch, user) in stale {
            self.write(&ch, &user, None, None);
        }
        for (ch, view) in views {
            let user = view.id.clone();
            self.write(&ch, &user, Some(view), None);
        }
    }

    /// Take a new name: beat under it, assert everything, then reap the old one.
    fn new_epoch(&mut self, now: Instant, roster: &mut Roster) {
        let old = std::mem::take(&mut self.name);
        self.epoch += 1;
        self.name = format!("{}.{}", self.base, self.epoch);
        self.dead.insert(old.clone(), now);
        self.mine.clear();
        // The new name registers with its first beat.
        self.registered = false;
        self.beat(0);
        self.assert_views(roster);
        let successor = Some(self.name.clone());
        self.ops.push_back(Op::Reap { relay: old, successor });
        if self.link == Link::Beating {
            // Missing from the table as the link came up: the store may have lost the
            // others' views too.
            self.lost_writes = true;
            self.link = Link::Loading;
            self.ops.push_back(Op::Load);
        }
    }

    /// Every relay silent for longer than the lease timeout, in the store's clock.
    fn find_dead(&mut self, beaten: &Beaten) {
        let store = beaten.store_ms;
        let since = *self.linked_at.get_or_insert(store);
        for (relay, score) in &beaten.table {
            // The table's word is final, even when it goes back: a relay that stops
            // dates its last beat back so that it is reaped after the reconnect grace.
            if *relay != self.name && !self.dead.contains_key(relay) {
                self.beats.insert(relay.clone(), *score);
            }
        }
        let held: HashSet<&str> = self
            .seen
            .iter()
            .filter(|(_, views)| views.iter().any(|(_, _, s)| s.gone.is_none()))
            .map(|(relay, _)| relay.as_str())
            .collect();
        for relay in &held {
            if !self.beats.contains_key(*relay) {
                // Held but not in the table: count from now.
                self.beats.insert(relay.to_string(), store);
            }
        }
        let listed: HashSet<&str> = beaten.table.iter().map(|(r, _)| r.as_str()).collect();
        let held: HashSet<String> = held.into_iter().map(str::to_string).collect();
        self.beats
            .retain(|relay, _| listed.contains(relay.as_str()) || held.contains(relay));
        let mut dead: Vec<String> = self
            .beats
            .iter()
            .filter(|(relay, last)| **relay != self.name && (**last).max(since) + self.config.lease_timeout_ms < store)
            .map(|(relay, _)| relay.clone())
            .collect();
        dead.sort();
        // Buried when the store says it is done (the reap's own message comes back):
        // a reap lost with the link is decided again, never half done.
        for relay in dead {
            self.ops.push_back(Op::Reap { relay, successor: None });
        }
    }

    /// `relay` is dead: never accepted again. What it held goes now, or, when the same
    /// relay came back as `successor`, once the successor's view of each member came
    /// (nobody sees a member it still holds leave and come back) or within a heartbeat.
    fn bury(&mut self, now: Instant, roster: &mut Roster, relay: &str, successor: Option<String>) {
        self.dead.insert(relay.to_string(), now);
        self.beats.remove(relay);
        self.seen.remove(relay);
        let successor = successor.filter(|next| *next != self.name && !self.dead.contains_key(next));
        // Members handed over to this relay pass on to its successor, or go with it.
        let passed: Vec<Key> = self
            .handover
            .iter()
            .filter(|(_, (next, _))| next == relay)
            .map(|(key, _)| key.clone())
            .collect();
        let deadline = now + self.config.heartbeat_ms;
        let mut gone = Vec::new();
        for key in passed {
            match &successor {
                Some(next) => {
                    self.handover.insert(key, (next.clone(), deadline));
                }
                None => {
                    self.handover.remove(&key);
                    gone.push(key);
                }
            }
        }
        let mut held: Vec<Key> = roster
            .remote_entries()
            .into_iter()
            .filter(|(_, holder, _)| holder == relay)
            .map(|(ch, holder, user)| (holder, ch, user))
            .collect();
        match &successor {
            Some(next) => {
                for (old, ch, user) in held.drain(..) {
                    let now_held = self.seen_of(next, &ch, &user).is_some_and(|s| s.gone.is_none());
                    if now_held {
                        gone.push((old, ch, user));
                    } else {
                        self.handover.insert((old, ch, user), (next.clone(), deadline));
                    }
                }
            }
            None => gone.append(&mut held),
        }
        // Channels first, so that a user's leaves come before their going offline.
        gone.sort_by(|a, b| (a.1 == ONLINE, a).cmp(&(b.1 == ONLINE, b)));
        for (old, ch, user) in gone {
            roster.remote_gone(now, &ch, &old, &user, EndCause::Timeout);
        }
    }

    /// Removals and dead names older than `keep_ms` are forgotten: relays and users who
    /// come and go do not grow this state forever.
    fn forget_old(&mut self, now: Instant) {
        let keep = self.config.keep_ms;
        for views in self.seen.values_mut() {
            views.retain(|_, _, s| s.gone.is_none_or(|at| now.since(at) < keep));
        }
        self.seen.retain(|_, views| !views.is_empty());
        self.dead.retain(|_, at| now.since(*at) < keep);
    }
}

#[cfg(test)]
mod tests;
