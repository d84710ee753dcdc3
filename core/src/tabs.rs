//! The tabs of one browser sharing one connection: the leader's ledger of what each tab
//! wants, and the election that picks a leader where Web Locks are missing.
//!
//! Map of the file:
//! - [`Tabs`] (kept by the leader): per tab, the channels it entered (with meta and a
//!   stamp saying when) and subscribed, and its activity. What the connection must hold
//!   is the union: a channel is entered while any tab wants it, its meta is that of the
//!   tab that entered or updated last, the status is the liveliest tab's, the friends
//!   followed in a channel (capped lists) are those of every tab watching it. Every input
//!   returns the [`Intent`]s that change that union, for the leader's `Client`.
//! - Liveness: the leader pings every [`PING_INTERVAL_MS`]; a follower answers from its
//!   message handler (not a timer, so a hidden tab's throttled timers do not matter)
//!   and heartbeats on its own. A tab that has not answered a ping within
//!   [`PING_ANSWER_MS`] has vanished: its wants are dropped.
//! - A new leader starts a fresh ledger with its own wants and pings; every follower
//!   answers a ping from a leader it has not synced with by sending its whole
//!   [`TabWants`], which [`Tabs::sync`] takes as the truth for that tab.
//! - [`LinkView`]: the connection status a tab shows. The leader's is its client's
//!   [`Link`], told to every tab; a follower shows the last one told. A new leader's
//!   client takes over what its tab showed, so a handover is no reconnect in any tab.
//! - [`Election`]: lowest tab id wins, announced over BroadcastChannel.
//! - [`Tab`] (tabs/tab/): the tab protocol built on these (leading, following, handing over),
//!   and [`BusMsg`] (tabs/bus.rs), what tabs tell each other.

use crate::client::{Client, Link};
use crate::protocol::{Meta, Status};
use crate::smallmap::SmallMap;
use crate::time::{earliest, Instant};
use serde::{Deserialize, Serialize};

/// A tab's random id, made by the shell.
pub type TabId = String;

/// How often the leader asks every tab whether it is still there.
pub const PING_INTERVAL_MS: u64 = 2_000;
/// How long a tab has to answer a ping before its wants are dropped. Shorter than the
/// ping interval, so every ping gets its own verdict.
pub const PING_ANSWER_MS: u64 = 1_500;
/// How often a follower says it is alive without being asked.
pub const HEARTBEAT_INTERVAL_MS: u64 = 2_000;

/// A change to what the connection wants, from one tab (input) or for the whole
/// browser (output). Externally tagged (`{"leave": {"ch": ...}}`): an internally
/// tagged enum costs the browser bundle a buffering deserializer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    Enter {
        ch: String,
        meta: Meta,
    },
    Update {
        ch: String,
        meta: Meta,
    },
    Leave {
        ch: String,
    },
    /// `friends`: people to follow in a capped list (none: only this user).
    Subscribe {
        ch: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        friends: Vec<String>,
    },
    Unsubscribe {
        ch: String,
    },
    Status {
        status: Status,
    },
}

impl Intent {
    /// What takes this want back, once refused for good or when its tab goes: a leave
    /// for an enter, an unsubscribe for a subscribe.
    pub fn undo(&self) -> Option<Intent> {
        match self {
            Intent::Enter { ch, .. } => Some(Intent::Leave { ch: ch.clone() }),
            Intent::Subscribe { ch, .. } => Some(Intent::Unsubscribe { ch: ch.clone() }),
            _ => None,
        }
    }
}

/// Everything one tab wants, as it sends it to a new leader: per channel, what of it.
/// One map rather than one for the channels entered and one for those watched: in the
/// browser's wasm each map's type brings its own copies of the map's code.
#[derive(Clone, Debug, Default)]
pub struct TabWants {
    pub channels: SmallMap<String, ChannelWant>,
    pub status: Status,
}

/// What a tab wants of one channel (never neither).
#[derive(Clone, Debug, Default)]
pub struct ChannelWant {
    /// Entered, with this meta.
    pub meta: Option<Meta>,
    /// Watched, following these friends (often none).
    pub friends: Option<Vec<String>>,
    /// In the leader's ledger, when `meta` was last set (the union's meta is the latest
    /// one's): not part of what the tab wants.
    stamp: u64,
}

impl PartialEq for ChannelWant {
    fn eq(&self, other: &ChannelWant) -> bool {
        self.meta == other.meta && self.friends == other.friends
    }
}

/// The same wants, in whatever order their channels came.
impl PartialEq for TabWants {
    fn eq(&self, other: &TabWants) -> bool {
        self.status == other.status
            && self.channels.len() == other.channels.len()
            && self.channels.iter().all(|(ch, w)| other.channels.get(ch) == Some(w))
    }
}

impl TabWants {
    /// Apply one of this tab's own intents to its own record.
    pub fn apply(&mut self, intent: &Intent) {
        let ch = match intent {
            Intent::Status { status } => return self.status = *status,
            Intent::Enter { ch, .. }
            | Intent::Update { ch, .. }
            | Intent::Leave { ch }
            | Intent::Subscribe { ch, .. }
            | Intent::Unsubscribe { ch } => ch.as_str(),
        };
        let w = self.channels.or_default(ch);
        match intent {
            Intent::Enter { meta, .. } => w.meta = Some(meta.clone()),
            Intent::Update { meta, .. } if w.meta.is_some() => w.meta = Some(meta.clone()),
            Intent::Leave { .. } => w.meta = None,
            Intent::Subscribe { friends, .. } => w.friends = Some(friends.clone()),
            Intent::Unsubscribe { .. } => w.friends = None,
            _ => {}
        }
        if w.meta.is_none() && w.friends.is_none() {
            self.channels.remove(ch);
        }
    }

    /// The meta of `ch` if this tab entered it.
    pub fn entered(&self, ch: &str) -> Option<&Meta> {
        self.channels.get(ch).and_then(|w| w.meta.as_ref())
    }

    /// The friends followed in `ch` if this tab watches it.
    pub fn friends(&self, ch: &str) -> Option<&Vec<String>> {
        self.channels.get(ch).and_then(|w| w.friends.as_ref())
    }

    /// The channels entered, with their meta.
    pub fn all_entered(&self) -> impl Iterator<Item = (&String, &Meta)> {
        self.channels.iter().filter_map(|(ch, w)| Some((ch, w.meta.as_ref()?)))
    }

    /// The channels watched, with the friends followed there.
    pub fn all_subscribed(&self) -> impl Iterator<Item = (&String, &Vec<String>)> {
        self.channels
            .iter()
            .filter_map(|(ch, w)| Some((ch, w.friends.as_ref()?)))
    }

    /// The intents that bring an empty connection to this state, in a stable order.
    pub fn intents(&self) -> Vec<Intent> {
        let mut out = vec![Intent::Status { status: self.status }];
        out.extend(self.all_entered().map(|(ch, meta)| Intent::Enter {
            ch: ch.clone(),
            meta: meta.clone(),
        }));
        out.extend(self.all_subscribed().map(|(ch, friends)| Intent::Subscribe {
            ch: ch.clone(),
            friends: friends.clone(),
        }));
        out
    }
}

#[derive(Clone, Debug)]
struct TabState {
    /// What the tab wants, kept by the same rule as the tab keeps its own.
    wants: TabWants,
    last_seen: Instant,
    /// Said it is unloading: its wants are kept until then, so a refreshed page that
    /// enters again in time changes nothing.
    unloading_until: Option<Instant>,
}

impl TabState {
    fn new(now: Instant) -> TabState {
        TabState {
            wants: TabWants {
                status: Status::Hidden,
                ..TabWants::default()
            },
            last_seen: now,
            unloading_until: None,
        }
    }
}

/// What a timer tick asks the leader to do.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tick {
    /// Broadcast a ping to every tab now.
    pub ping: bool,
    /// Tabs that did not answer, now forgotten.
    pub dropped: Vec<TabId>,
    /// The changes their going makes to the union.
    pub intents: Vec<Intent>,
}

/// The leader's ledger of every tab's wants.
#[derive(Clone, Debug)]
pub struct Tabs {
    me: TabId,
    tabs: SmallMap<TabId, TabState>,
    stamp: u64,
    next_ping: Instant,
    /// The last ping still waiting for answers, and when it was sent.
    ping_sent: Option<Instant>,
}

impl Tabs {
    /// A new leader's ledger, holding only its own tab (which never times out).
    pub fn new(me: impl Into<TabId>, now: Instant) -> Tabs {
        let me = me.into();
        let mut tabs = SmallMap::default();
        tabs.push(me.clone(), TabState::new(now));
        Tabs {
            me,
            tabs,
            stamp: 0,
            next_ping: now,
            ping_sent: None,
        }
    }

    pub fn me(&self) -> &str {
        &self.me
    }

    pub fn knows(&self, tab: &str) -> bool {
        self.tabs.contains_key(tab)
    }

    pub fn tab_ids(&self) -> impl Iterator<Item = &str> {
        self.tabs.iter().map(|(id, _)| id.as_str())
    }

    /// How many tabs want `ch` entered.
    pub fn enter_count(&self, ch: &str) -> usize {
        self.tabs.iter().filter(|(_, t)| t.wants.entered(ch).is_some()).count()
    }

    /// One tab's intent; returns the changes to the union (often none: a second tab
    /// entering a channel the browser is already in changes nothing).
    pub fn apply(&mut self, now: Instant, tab: &str, intent: &Intent) -> Vec<Intent> {
        let before = self.wants();
        self.stamp += 1;
        let stamp = self.stamp;
        if !self.tabs.contains_key(tab) {
            self.tabs.push(tab.to_string(), TabState::new(now));
        }
        // No `expect`: a panic path carries its message and location into the wasm.
        let Some(t) = self.tabs.get_mut(tab) else {
            return Vec::new();
        };
        t.last_seen = now;
        t.wants.apply(intent);
        t.stamp(intent, stamp);
        changes(&before, &self.wants())
    }

    /// A tab's whole state, e.g. sent to a new leader: replaces what was known of it.
    pub fn sync(&mut self, now: Instant, tab: &str, wants: TabWants) -> Vec<Intent> {
        let before = self.wants();
        let mut t = TabState::new(now);
        t.wants = wants;
        for (_, w) in t.wants.channels.iter_mut() {
            if w.meta.is_some() {
                self.stamp += 1;
                w.stamp = self.stamp;
            }
        }
        self.tabs.insert(tab.to_string(), t);
        changes(&before, &self.wants())
    }

    /// The relay took a channel back: `undo` (a leave or an unsubscribe) holds for every
    /// tab. The client has dropped the want already, so nothing changes on the wire.
    pub fn forget(&mut self, undo: &Intent) {
        if let Intent::Leave { .. } | Intent::Unsubscribe { .. } = undo {
            for (_, t) in self.tabs.iter_mut() {
                t.wants.apply(undo);
            }
        }
    }

    /// A tab said it is alive. `false`: the leader does not know it (it must sync).
    pub fn heartbeat(&mut self, now: Instant, tab: &str) -> bool {
        match self.tabs.get_mut(tab) {
            Some(t) => {
                t.last_seen = t.last_seen.max(now);
                t.unloading_until = None;
                true
            }
            None => false,
        }
    }

    /// A tab's page is unloading (pagehide): keep its wants for `grace_ms` (the relay's
    /// unload grace), then drop them. A refresh comes back as a new tab within it.
    pub fn unloading(&mut self, now: Instant, tab: &str, grace_ms: u64) {
        if tab == self.me {
            return;
        }
        if let Some(t) = self.tabs.get_mut(tab) {
            t.unloading_until = Some(now + grace_ms);
        }
    }

    /// A tab is done (`presence.close()`): drop its wants now.
    pub fn remove(&mut self, tab: &str) -> Vec<Intent> {
        if tab == self.me {
            return Vec::new();
        }
        let before = self.wants();
        self.tabs.remove(tab);
        changes(&before, &self.wants())
    }

    /// Pings and the verdict on tabs that did not answer the last one.
    pub fn handle_timeout(&mut self, now: Instant) -> Tick {
        let mut tick = Tick::default();
        let verdict = self.ping_sent.filter(|&s| now.since(s) >= PING_ANSWER_MS);
        if verdict.is_some() {
            self.ping_sent = None;
        }
        let me = self.me.clone();
        let gone: Vec<TabId> = self
            .tabs
            .iter()
            .filter(|(id, t)| {
                **id != me
                    && match t.unloading_until {
                        Some(until) => until <= now,
                        None => verdict.is_some_and(|sent| t.last_seen < sent),
                    }
            })
            .map(|(id, _)| id.clone())
            .collect();
        if !gone.is_empty() {
            let before = self.wants();
            for id in &gone {
                self.tabs.remove(id);
            }
            tick.intents = changes(&before, &self.wants());
            tick.dropped = gone;
        }
        if now >= self.next_ping {
            tick.ping = true;
            self.next_ping = now + PING_INTERVAL_MS;
            if self.ping_sent.is_none() {
                self.ping_sent = Some(now);
            }
        }
        tick
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.tabs.iter().fold(
            earliest(Some(self.next_ping), self.ping_sent.map(|s| s + PING_ANSWER_MS)),
            |d, (_, t)| earliest(d, t.unloading_until),
        )
    }

    /// What every tab wants together, which the connection must hold (what a new leader
    /// re-asserts): a channel entered by several tabs has the meta of the one that
    /// entered or updated last.
    pub fn wants(&self) -> TabWants {
        let mut union = TabWants {
            status: Status::Hidden,
            ..TabWants::default()
        };
        for (_, t) in self.tabs.iter() {
            let w = &t.wants;
            for (ch, theirs) in w.channels.iter() {
                let all = union.channels.or_default(ch.as_str());
                if let Some(meta) = &theirs.meta {
                    if all.meta.is_none() || theirs.stamp > all.stamp {
                        all.meta = Some(meta.clone());
                        all.stamp = theirs.stamp;
                    }
                }
                if let Some(theirs) = &theirs.friends {
                    let friends = all.friends.get_or_insert_with(Vec::new);
                    for friend in theirs {
                        if !friends.contains(friend) {
                            friends.push(friend.clone());
                        }
                    }
                }
            }
            union.status = union.status.max(w.status);
        }
        union
    }
}

impl TabState {
    /// Stamp an enter or update that took.
    fn stamp(&mut self, intent: &Intent, stamp: u64) {
        if let Intent::Enter { ch, .. } | Intent::Update { ch, .. } = intent {
            if let Some(w) = self.wants.channels.get_mut(ch.as_str()).filter(|w| w.meta.is_some()) {
                w.stamp = stamp;
            }
        }
    }
}

/// The intents that turn `before` into `after`.
fn changes(before: &TabWants, after: &TabWants) -> Vec<Intent> {
    let mut out = Vec::new();
    for (ch, meta) in after.all_entered() {
        match before.entered(ch) {
            None => out.push(Intent::Enter {
                ch: ch.clone(),
                meta: meta.clone(),
            }),
            Some(old) if old != meta => out.push(Intent::Update {
                ch: ch.clone(),
                meta: meta.clone(),
            }),
            Some(_) => {}
        }
    }
    for (ch, _) in before.all_entered() {
        if after.entered(ch).is_none() {
            out.push(Intent::Leave { ch: ch.clone() });
        }
    }
    for (ch, friends) in after.all_subscribed() {
        // Followed by another set of friends: subscribed again, the relay replaces them.
        if before.friends(ch) != Some(friends) {
            out.push(Intent::Subscribe {
                ch: ch.clone(),
                friends: friends.clone(),
            });
        }
    }
    for (ch, _) in before.all_subscribed() {
        if after.friends(ch).is_none() {
            out.push(Intent::Unsubscribe { ch: ch.clone() });
        }
    }
    if after.status != before.status {
        out.push(Intent::Status { status: after.status });
    }
    out
}

/// The connection status one tab shows (`presence.status`).
///
/// - The leader tab is told its own client's [`Client::link`] after every input, and
///   tells every other tab when it changes (and again with its pings, for tabs that
///   came later).
/// - A follower shows what its leader last told: `connecting` before anything is told,
///   and the same status as the leader after. Its own browser's `offline` shows at
///   once (every tab hears it), and a closed tab shows `closed`.
/// - A tab that becomes the leader starts its client from what it showed
///   ([`LinkView::lead`]): a connected browser stays connected through the handover,
///   in this tab and in the others, unless the new socket fails.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkView {
    told: Option<Link>,
    online: bool,
    closed: bool,
}

impl LinkView {
    pub fn new(online: bool) -> LinkView {
        LinkView {
            told: None,
            online,
            closed: false,
        }
    }

    /// The leader's link: its own client's in the leader tab, a message in the others.
    /// Returns whether what this tab shows changed.
    pub fn told(&mut self, link: Link) -> bool {
        let before = self.shown();
        self.told = Some(link);
        self.shown() != before
    }

    /// The browser's `online`/`offline`. Returns whether what this tab shows changed.
    pub fn set_online(&mut self, online: bool) -> bool {
        let before = self.shown();
        self.online = online;
        self.shown() != before
    }

    pub fn is_online(&self) -> bool {
        self.online
    }

    /// This tab is done with the connection (`presence.close()`, or it ended for good).
    pub fn close(&mut self) -> bool {
        let before = self.shown();
        self.closed = true;
        self.shown() != before
    }

    pub fn shown(&self) -> Link {
        match self.told {
            _ if self.closed => Link::Closed,
            Some(Link::Closed) => Link::Closed,
            _ if !self.online => Link::Offline,
            Some(link) => link,
            None => Link::Connecting,
        }
    }

    /// This tab becomes the leader: its new client (not started yet) takes over what
    /// the tab showed, and the browser's online flag.
    pub fn lead(&self, now: Instant, client: &mut Client) {
        client.take_over(self.told.unwrap_or(Link::Connecting));
        client.set_online(now, self.online);
    }
}

/// How long a starting tab listens for a leader before claiming the role itself.
pub const CLAIM_WAIT_MS: u64 = 300;
/// How often a leader elected over BroadcastChannel says so.
pub const ANNOUNCE_INTERVAL_MS: u64 = 1_000;
/// A follower that has not heard its leader for this long takes over.
pub const LEADER_TIMEOUT_MS: u64 = 3_500;

/// What an [`Election`] asks the shell to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Vote {
    /// Broadcast "I lead" now.
    Announce,
    /// This tab now leads: open the connection, then broadcast "I lead".
    BecameLeader,
    /// Another tab leads: close the connection, follow `leader`.
    SteppedDown { leader: TabId },
}

/// Leader election over BroadcastChannel, for browsers without Web Locks: a leader
/// announces itself; a follower that hears no leader for [`LEADER_TIMEOUT_MS`] (or
/// [`CLAIM_WAIT_MS`] at start) takes over; of two leaders, the lower id keeps the role.
#[derive(Clone, Debug)]
pub struct Election {
    me: TabId,
    leading: bool,
    leader: Option<TabId>,
    /// Follower: when to claim. Leader: when to announce again.
    deadline: Instant,
}

impl Election {
    /// `jitter` in `[0, 1)` spreads the claims of tabs that start together.
    pub fn new(me: impl Into<TabId>, now: Instant, jitter: f64) -> Election {
        Election {
            me: me.into(),
            leading: false,
            leader: None,
            deadline: now + CLAIM_WAIT_MS + spread(jitter),
        }
    }

    pub fn is_leader(&self) -> bool {
        self.leading
    }

    pub fn leader(&self) -> Option<&str> {
        if self.leading {
            Some(&self.me)
        } else {
            self.leader.as_deref()
        }
    }

    /// Another tab announced that it leads.
    pub fn heard_announce(&mut self, now: Instant, from: &str, jitter: f64) -> Option<Vote> {
        if from == self.me {
            return None;
        }
        if self.leading {
            if from < self.me.as_str() {
                self.leading = false;
                self.leader = Some(from.to_string());
                self.deadline = now + LEADER_TIMEOUT_MS + spread(jitter);
                return Some(Vote::SteppedDown {
                    leader: from.to_string(),
                });
            }
            // The other one will step down when it hears us; say it now.
            return Some(Vote::Announce);
        }
        self.leader = Some(from.to_string());
        self.deadline = now + LEADER_TIMEOUT_MS + spread(jitter);
        None
    }

    /// The leader said it is going away: claim soon, spread so one tab wins cleanly.
    pub fn heard_resign(&mut self, now: Instant, from: &str, jitter: f64) {
        if !self.leading && self.leader.as_deref() == Some(from) {
            self.leader = None;
            self.deadline = now + spread(jitter);
        }
    }

    pub fn handle_timeout(&mut self, now: Instant, jitter: f64) -> Option<Vote> {
        if now < self.deadline {
            return None;
        }
        self.deadline = now + ANNOUNCE_INTERVAL_MS;
        if self.leading {
            return Some(Vote::Announce);
        }
        let _ = jitter;
        self.leading = true;
        self.leader = None;
        Some(Vote::BecameLeader)
    }

    pub fn poll_timeout(&self) -> Instant {
        self.deadline
    }
}

fn spread(jitter: f64) -> u64 {
    if jitter.is_finite() {
        (jitter.clamp(0.0, 1.0) * CLAIM_WAIT_MS as f64) as u64
    } else {
        0
    }
}

// Parts of this module kept in files of their own: what tabs tell each other, and the
// tab protocol built on `Tabs`.
mod bus;
mod tab;

pub use bus::{BusMsg, ErrorBody};
pub use tab::{Ask, Output, Tab, TabSetup};
#[cfg(test)]
mod tests;
