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

/// Everything one tab wants, as it sends it to a new leader.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TabWants {
    pub entered: SmallMap<String, Meta>,
    pub subscribed: Vec<String>,
    /// The friends a subscribed channel was asked with, where there are any.
    pub friends: SmallMap<String, Vec<String>>,
    pub status: Status,
}

impl TabWants {
    /// Apply one of this tab's own intents to its own record.
    pub fn apply(&mut self, intent: &Intent) {
        match intent {
            Intent::Enter { ch, meta } => {
                self.entered.insert(ch.clone(), meta.clone());
            }
            Intent::Update { ch, meta } => {
                if let Some(m) = self.entered.get_mut(ch) {
                    *m = meta.clone();
                }
            }
            Intent::Leave { ch } => {
                self.entered.remove(ch);
            }
            Intent::Subscribe { ch, friends } => {
                if !self.subscribed.contains(ch) {
                    self.subscribed.push(ch.clone());
                }
                set_friends(&mut self.friends, ch, friends.clone());
            }
            Intent::Unsubscribe { ch } => {
                self.subscribed.retain(|c| c != ch);
                self.friends.remove(ch);
            }
            Intent::Status { status } => self.status = *status,
        }
    }

    /// The intents that bring an empty connection to this state, in a stable order.
    pub fn intents(&self) -> Vec<Intent> {
        let mut out = vec![Intent::Status { status: self.status }];
        out.extend(self.entered.iter().map(|(ch, meta)| Intent::Enter {
            ch: ch.clone(),
            meta: meta.clone(),
        }));
        out.extend(self.subscribed.iter().map(|ch| Intent::Subscribe {
            ch: ch.clone(),
            friends: friends_of(&self.friends, ch).to_vec(),
        }));
        out
    }
}

fn friends_of<'a>(map: &'a SmallMap<String, Vec<String>>, ch: &str) -> &'a [String] {
    map.get(ch).map_or(&[], Vec::as_slice)
}

fn set_friends(map: &mut SmallMap<String, Vec<String>>, ch: &str, friends: Vec<String>) {
    if friends.is_empty() {
        map.remove(ch);
    } else {
        map.insert(ch.to_string(), friends);
    }
}

#[derive(Clone, Debug)]
struct Tab {
    /// Per entered channel: the stamp of the last enter/update, and its meta.
    entered: SmallMap<String, (u64, Meta)>,
    subscribed: Vec<String>,
    friends: SmallMap<String, Vec<String>>,
    status: Status,
    last_seen: Instant,
    /// Said it is unloading: its wants are kept until then, so a refreshed page that
    /// enters again in time changes nothing.
    unloading_until: Option<Instant>,
}

impl Tab {
    fn new(now: Instant) -> Tab {
        Tab {
            entered: SmallMap::default(),
            subscribed: Vec::new(),
            friends: SmallMap::default(),
            status: Status::Hidden,
            last_seen: now,
            unloading_until: None,
        }
    }
}

/// What the union of all tabs wants.
#[derive(Clone, Debug, PartialEq)]
struct Union {
    entered: SmallMap<String, Meta>,
    subscribed: Vec<String>,
    friends: SmallMap<String, Vec<String>>,
    status: Status,
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
    tabs: SmallMap<TabId, Tab>,
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
        tabs.insert(me.clone(), Tab::new(now));
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
        self.tabs.iter().filter(|(_, t)| t.entered.contains_key(ch)).count()
    }

    /// What the connection must hold: what a new leader re-asserts.
    pub fn wants(&self) -> TabWants {
        let u = self.union();
        TabWants {
            entered: u.entered,
            subscribed: u.subscribed,
            friends: u.friends,
            status: u.status,
        }
    }

    /// One tab's intent; returns the changes to the union (often none: a second tab
    /// entering a channel the browser is already in changes nothing).
    pub fn apply(&mut self, now: Instant, tab: &str, intent: Intent) -> Vec<Intent> {
        let before = self.union();
        self.stamp += 1;
        let stamp = self.stamp;
        if !self.tabs.contains_key(tab) {
            self.tabs.insert(tab.to_string(), Tab::new(now));
        }
        // No `expect`: a panic path carries its message and location into the wasm.
        let Some(t) = self.tabs.get_mut(tab) else {
            return Vec::new();
        };
        t.last_seen = now;
        match intent {
            Intent::Enter { ch, meta } => {
                t.entered.insert(ch, (stamp, meta));
            }
            Intent::Update { ch, meta } => {
                if let Some(entry) = t.entered.get_mut(&ch) {
                    *entry = (stamp, meta);
                }
            }
            Intent::Leave { ch } => {
                t.entered.remove(&ch);
            }
            Intent::Subscribe { ch, friends } => {
                set_friends(&mut t.friends, &ch, friends);
                if !t.subscribed.contains(&ch) {
                    t.subscribed.push(ch);
                }
            }
            Intent::Unsubscribe { ch } => {
                t.friends.remove(&ch);
                t.subscribed.retain(|c| *c != ch);
            }
            Intent::Status { status } => t.status = status,
        }
        changes(&before, &self.union())
    }

    /// A tab's whole state, e.g. sent to a new leader: replaces what was known of it.
    pub fn sync(&mut self, now: Instant, tab: &str, wants: TabWants) -> Vec<Intent> {
        let before = self.union();
        let mut t = Tab::new(now);
        for (ch, meta) in wants.entered.0 {
            self.stamp += 1;
            t.entered.insert(ch, (self.stamp, meta));
        }
        t.subscribed = wants.subscribed;
        t.friends = wants.friends;
        t.status = wants.status;
        self.tabs.insert(tab.to_string(), t);
        changes(&before, &self.union())
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
        let before = self.union();
        self.tabs.remove(tab);
        changes(&before, &self.union())
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
            let before = self.union();
            for id in &gone {
                self.tabs.remove(id);
            }
            tick.intents = changes(&before, &self.union());
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
        let unloading = self.tabs.iter().filter_map(|(_, t)| t.unloading_until).min();
        earliest(
            earliest(Some(self.next_ping), self.ping_sent.map(|s| s + PING_ANSWER_MS)),
            unloading,
        )
    }

    fn union(&self) -> Union {
        let mut latest: SmallMap<&str, (u64, &Meta)> = SmallMap::default();
        let mut subscribed: Vec<String> = Vec::new();
        let mut friends: SmallMap<String, Vec<String>> = SmallMap::default();
        let mut status = Status::Hidden;
        for (_, t) in self.tabs.iter() {
            for (ch, (stamp, meta)) in t.entered.iter() {
                match latest.get_mut(ch.as_str()) {
                    Some(e) if *stamp > e.0 => *e = (*stamp, meta),
                    Some(_) => {}
                    None => {
                        latest.insert(ch.as_str(), (*stamp, meta));
                    }
                }
            }
            for ch in &t.subscribed {
                if !subscribed.contains(ch) {
                    subscribed.push(ch.clone());
                }
            }
            for (ch, theirs) in t.friends.iter() {
                let all = friends.or_default(ch.as_str());
                for friend in theirs {
                    if !all.contains(friend) {
                        all.push(friend.clone());
                    }
                }
            }
            status = status.max(t.status);
        }
        Union {
            entered: SmallMap(
                latest
                    .0
                    .into_iter()
                    .map(|(ch, (_, m))| (ch.to_string(), m.clone()))
                    .collect(),
            ),
            subscribed,
            friends,
            status,
        }
    }
}

/// The intents that turn `before` into `after`.
fn changes(before: &Union, after: &Union) -> Vec<Intent> {
    let mut out = Vec::new();
    for (ch, meta) in after.entered.iter() {
        match before.entered.get(ch) {
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
    for (ch, _) in before.entered.iter() {
        if !after.entered.contains_key(ch) {
            out.push(Intent::Leave { ch: ch.clone() });
        }
    }
    for ch in &after.subscribed {
        let friends = friends_of(&after.friends, ch);
        // Followed by another set of friends: subscribed again, the relay replaces them.
        if !before.subscribed.contains(ch) || friends_of(&before.friends, ch) != friends {
            out.push(Intent::Subscribe {
                ch: ch.clone(),
                friends: friends.to_vec(),
            });
        }
    }
    for ch in before.subscribed.iter().filter(|c| !after.subscribed.contains(c)) {
        out.push(Intent::Unsubscribe { ch: ch.clone() });
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
    /// This tab now leads: open the connection.
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
    pub fn heard_announce(&mut self, now: Instant, from: &str, jitter: f64) -> Vec<Vote> {
        if from == self.me {
            return Vec::new();
        }
        if self.leading {
            if from < self.me.as_str() {
                self.leading = false;
                self.leader = Some(from.to_string());
                self.deadline = now + LEADER_TIMEOUT_MS + spread(jitter);
                return vec![Vote::SteppedDown {
                    leader: from.to_string(),
                }];
            }
            // The other one will step down when it hears us; say it now.
            return vec![Vote::Announce];
        }
        self.leader = Some(from.to_string());
        self.deadline = now + LEADER_TIMEOUT_MS + spread(jitter);
        Vec::new()
    }

    /// The leader said it is going away: claim soon, spread so one tab wins cleanly.
    pub fn heard_resign(&mut self, now: Instant, from: &str, jitter: f64) {
        if !self.leading && self.leader.as_deref() == Some(from) {
            self.leader = None;
            self.deadline = now + spread(jitter);
        }
    }

    pub fn handle_timeout(&mut self, now: Instant, jitter: f64) -> Vec<Vote> {
        if now < self.deadline {
            return Vec::new();
        }
        self.deadline = now + ANNOUNCE_INTERVAL_MS;
        if self.leading {
            return vec![Vote::Announce];
        }
        let _ = jitter;
        self.leading = true;
        self.leader = None;
        vec![Vote::BecameLeader, Vote::Announce]
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T0: Instant = Instant(10_000);

    fn meta(v: serde_json::Value) -> Meta {
        v.as_object().unwrap().clone()
    }

    fn enter(ch: &str, v: serde_json::Value) -> Intent {
        Intent::Enter {
            ch: ch.into(),
            meta: meta(v),
        }
    }

    fn leave(ch: &str) -> Intent {
        Intent::Leave { ch: ch.into() }
    }

    #[test]
    fn a_channel_is_entered_once_and_left_only_when_no_tab_wants_it() {
        let mut tabs = Tabs::new("a", T0);
        assert_eq!(
            tabs.apply(T0, "a", enter("/x/y", json!({}))),
            vec![enter("/x/y", json!({}))]
        );
        assert_eq!(tabs.apply(T0, "b", enter("/x/y", json!({}))), vec![]);
        assert_eq!(tabs.apply(T0, "c", enter("/x/y", json!({}))), vec![]);
        assert_eq!(tabs.enter_count("/x/y"), 3);
        assert_eq!(tabs.apply(T0, "a", leave("/x/y")), vec![]);
        assert_eq!(tabs.apply(T0, "c", leave("/x/y")), vec![]);
        assert_eq!(tabs.apply(T0, "b", leave("/x/y")), vec![leave("/x/y")]);
    }

    #[test]
    fn enter_meta_is_the_last_tabs_update_and_falls_back_when_it_leaves() {
        let mut tabs = Tabs::new("a", T0);
        tabs.apply(T0, "a", enter("/x/y", json!({"typing": false})));
        assert_eq!(
            tabs.apply(T0, "b", enter("/x/y", json!({"typing": true}))),
            vec![Intent::Update {
                ch: "/x/y".into(),
                meta: meta(json!({"typing": true}))
            }]
        );
        assert_eq!(
            tabs.apply(
                T0,
                "a",
                Intent::Update {
                    ch: "/x/y".into(),
                    meta: meta(json!({"typing": "a"}))
                }
            ),
            vec![Intent::Update {
                ch: "/x/y".into(),
                meta: meta(json!({"typing": "a"}))
            }]
        );
        // The latest updater leaves: the other tab's meta is what remains.
        assert_eq!(
            tabs.apply(T0, "a", leave("/x/y")),
            vec![Intent::Update {
                ch: "/x/y".into(),
                meta: meta(json!({"typing": true}))
            }]
        );
    }

    #[test]
    fn an_update_for_a_channel_the_tab_did_not_enter_changes_nothing() {
        let mut tabs = Tabs::new("a", T0);
        let out = tabs.apply(
            T0,
            "b",
            Intent::Update {
                ch: "/x/y".into(),
                meta: Meta::new(),
            },
        );
        assert!(out.is_empty());
        assert_eq!(tabs.wants(), TabWants::default_with(Status::Hidden));
    }

    #[test]
    fn subscriptions_are_reference_counted_too() {
        let mut tabs = Tabs::new("a", T0);
        let sub = |ch: &str| Intent::Subscribe {
            ch: ch.into(),
            friends: vec![],
        };
        let unsub = |ch: &str| Intent::Unsubscribe { ch: ch.into() };
        assert_eq!(tabs.apply(T0, "a", sub("/x/y")), vec![sub("/x/y")]);
        assert_eq!(tabs.apply(T0, "b", sub("/x/y")), vec![]);
        assert_eq!(tabs.apply(T0, "a", unsub("/x/y")), vec![]);
        assert_eq!(tabs.apply(T0, "b", unsub("/x/y")), vec![unsub("/x/y")]);
    }

    #[test]
    fn a_channel_follows_the_friends_of_every_tab_watching_it() {
        let mut tabs = Tabs::new("a", T0);
        let sub = |friends: &[&str]| Intent::Subscribe {
            ch: "/site/online".into(),
            friends: friends.iter().map(|f| f.to_string()).collect(),
        };
        assert_eq!(tabs.apply(T0, "a", sub(&["40"])), vec![sub(&["40"])]);
        // Another tab's friends are added: subscribed again with both.
        assert_eq!(tabs.apply(T0, "b", sub(&["41", "40"])), vec![sub(&["40", "41"])]);
        // The same friends again change nothing.
        assert_eq!(tabs.apply(T0, "b", sub(&["41"])), vec![]);
        assert_eq!(tabs.wants().intents().last(), Some(&sub(&["40", "41"])));
        // Its tab gone, a friend is no longer followed; the channel stays watched.
        assert_eq!(tabs.remove("b"), vec![sub(&["40"])]);
        assert_eq!(
            tabs.apply(
                T0,
                "a",
                Intent::Unsubscribe {
                    ch: "/site/online".into()
                }
            ),
            vec![Intent::Unsubscribe {
                ch: "/site/online".into()
            }]
        );
        assert!(tabs.wants().friends.is_empty());
    }

    #[test]
    fn status_is_the_liveliest_tabs() {
        let mut tabs = Tabs::new("a", T0);
        let st = |s| Intent::Status { status: s };
        assert_eq!(tabs.apply(T0, "a", st(Status::Idle)), vec![st(Status::Idle)]);
        assert_eq!(tabs.apply(T0, "b", st(Status::Active)), vec![st(Status::Active)]);
        assert_eq!(tabs.apply(T0, "a", st(Status::Hidden)), vec![]);
        assert_eq!(tabs.remove("b"), vec![st(Status::Hidden)]);
    }

    #[test]
    fn a_tab_that_stops_answering_pings_is_dropped_with_its_wants() {
        let mut tabs = Tabs::new("a", T0);
        tabs.apply(T0, "b", enter("/x/y", json!({})));
        tabs.apply(T0, "c", enter("/x/y", json!({})));
        let mut now = T0;
        let mut dropped = Vec::new();
        let mut left = Vec::new();
        // "c" answers every ping; "b" went silent.
        while now < T0 + 20_000 {
            now = tabs.poll_timeout().unwrap();
            let tick = tabs.handle_timeout(now);
            if tick.ping {
                tabs.heartbeat(now + 50, "c");
            }
            dropped.extend(tick.dropped);
            left.extend(tick.intents);
        }
        assert_eq!(dropped, vec!["b".to_string()]);
        assert!(left.is_empty(), "c still wants /x/y: {left:?}");
        assert!(tabs.knows("c"));
        assert!(!tabs.knows("b"));
        // Now "c" goes silent too: the channel is left.
        let mut intents = Vec::new();
        for _ in 0..4 {
            now = tabs.poll_timeout().unwrap();
            intents.extend(tabs.handle_timeout(now).intents);
        }
        assert_eq!(intents, vec![leave("/x/y")]);
    }

    #[test]
    fn a_tab_is_dropped_within_one_ping_interval_and_answer_window() {
        let mut tabs = Tabs::new("a", T0);
        tabs.apply(T0, "b", enter("/x/y", json!({})));
        let now = loop {
            let now = tabs.poll_timeout().unwrap();
            if !tabs.handle_timeout(now).dropped.is_empty() {
                break now;
            }
        };
        assert!(now.since(T0) <= PING_INTERVAL_MS + PING_ANSWER_MS, "{now:?}");
    }

    #[test]
    fn an_unloading_tab_keeps_its_wants_through_the_grace_so_a_refresh_shows_nothing() {
        let mut tabs = Tabs::new("a", T0);
        tabs.apply(T0, "old", enter("/x/y", json!({"n": 1})));
        tabs.unloading(T0 + 10, "old", 3_000);
        let mut intents = Vec::new();
        // The refreshed page is a new tab that enters again a second later.
        let mut now = T0;
        while now < T0 + 1_000 {
            now = tabs.poll_timeout().unwrap();
            intents.extend(tabs.handle_timeout(now).intents);
        }
        assert!(
            intents.is_empty(),
            "kept through the grace despite unanswered pings: {intents:?}"
        );
        assert!(tabs.knows("old"));
        tabs.apply(T0 + 1_000, "new", enter("/x/y", json!({"n": 1})));
        let mut dropped = Vec::new();
        while now < T0 + 5_000 {
            now = tabs.poll_timeout().unwrap();
            tabs.heartbeat(now, "new");
            let tick = tabs.handle_timeout(now);
            intents.extend(tick.intents);
            dropped.extend(tick.dropped);
        }
        assert_eq!(dropped, vec!["old".to_string()]);
        assert!(intents.is_empty(), "the channel never left: {intents:?}");
    }

    #[test]
    fn an_unloading_tab_that_does_not_come_back_is_left_after_the_grace() {
        let mut tabs = Tabs::new("a", T0);
        tabs.apply(T0, "b", enter("/x/y", json!({})));
        tabs.unloading(T0, "b", 3_000);
        assert_eq!(tabs.poll_timeout().map(|t| t <= T0 + 3_000), Some(true));
        let mut left_at = None;
        while left_at.is_none() {
            let now = tabs.poll_timeout().unwrap();
            if tabs.handle_timeout(now).intents == vec![leave("/x/y")] {
                left_at = Some(now);
            }
        }
        assert_eq!(left_at, Some(T0 + 3_000));
    }

    #[test]
    fn the_leaders_own_tab_never_times_out() {
        let mut tabs = Tabs::new("a", T0);
        tabs.apply(T0, "a", enter("/x/y", json!({})));
        for i in 0..20 {
            let tick = tabs.handle_timeout(T0 + i * 1_000);
            assert!(tick.dropped.is_empty());
        }
        assert_eq!(tabs.enter_count("/x/y"), 1);
        assert!(tabs.remove("a").is_empty());
    }

    #[test]
    fn a_late_timer_does_not_drop_tabs_that_answer_promptly() {
        // The leader's own timers may fire late (a hidden tab): the verdict is about
        // answers to pings actually sent, not about wall time since the last heartbeat.
        let mut tabs = Tabs::new("a", T0);
        tabs.apply(T0, "b", enter("/x/y", json!({})));
        let tick = tabs.handle_timeout(T0);
        assert!(tick.ping);
        tabs.heartbeat(T0 + 10, "b");
        let late = T0 + 60_000;
        let tick = tabs.handle_timeout(late);
        assert!(tick.dropped.is_empty());
        assert!(tick.ping);
        tabs.heartbeat(late + 10, "b");
        assert!(tabs.handle_timeout(late + PING_ANSWER_MS).dropped.is_empty());
    }

    #[test]
    fn a_new_leader_reasserts_the_union_of_every_tabs_wants() {
        let mut a = TabWants::default();
        a.apply(&enter("/x/y", json!({"n": 1})));
        a.apply(&Intent::Subscribe {
            ch: "/x/y".into(),
            friends: vec![],
        });
        a.status = Status::Active;
        let mut b = TabWants::default();
        b.apply(&enter("/p/q", json!({})));
        b.apply(&Intent::Subscribe {
            ch: "/w/w".into(),
            friends: vec!["40".into()],
        });
        b.status = Status::Hidden;

        let mut tabs = Tabs::new("b", T0);
        let mut client_side: Vec<Intent> = Vec::new();
        client_side.extend(tabs.sync(T0, "b", b.clone()));
        client_side.extend(tabs.sync(T0 + 5, "a", a.clone()));
        let w = tabs.wants();
        let mut entered: Vec<&str> = w.entered.iter().map(|(ch, _)| ch.as_str()).collect();
        entered.sort();
        assert_eq!(entered, vec!["/p/q", "/x/y"]);
        let mut subscribed = w.subscribed.clone();
        subscribed.sort();
        assert_eq!(subscribed, vec!["/w/w", "/x/y"]);
        assert_eq!(w.friends.get("/w/w"), Some(&vec!["40".to_string()]));
        assert_eq!(w.status, Status::Active);
        // Every part of the union was handed to the client exactly once.
        for intent in w.intents() {
            assert!(client_side.contains(&intent), "{intent:?} in {client_side:?}");
        }
        // A re-sync of the same wants changes nothing.
        assert!(tabs.sync(T0 + 6, "a", a).is_empty());
    }

    #[test]
    fn intents_keep_their_serde_shape() {
        let i: Intent = serde_json::from_str(r#"{"leave":{"ch":"/x/y"}}"#).unwrap();
        assert_eq!(i, leave("/x/y"));
    }

    #[test]
    fn unknown_tabs_are_told_apart_by_heartbeat() {
        let mut tabs = Tabs::new("a", T0);
        assert!(!tabs.heartbeat(T0, "b"));
        tabs.sync(T0, "b", TabWants::default());
        assert!(tabs.heartbeat(T0, "b"));
    }

    // ----- the status every tab shows -----

    use crate::client::{Client, Link};
    use crate::protocol::{close, Identity, ServerMsg, Terms};

    fn welcome(resumed: bool) -> String {
        ServerMsg::Welcome {
            v: 1,
            session: "s1".into(),
            resumed,
            user: Identity {
                id: "7".into(),
                name: None,
                avatar: None,
            },
            terms: Terms {
                checkin_interval_ms: 30_000,
                lease_timeout_ms: 60_000,
                unload_grace_ms: 3_000,
                reconnect_grace_ms: 15_000,
                max_meta_bytes: 1024,
                max_channels: 100,
            },
        }
        .encode()
    }

    /// One leader's client and the views of every tab, the leader's included; after each
    /// step the leader tells its link to every view (as the shell does), and what each
    /// tab shows is recorded.
    struct Browser {
        client: Client,
        leader: usize,
        views: Vec<LinkView>,
        seen: Vec<Vec<Link>>,
    }

    impl Browser {
        fn new(tabs: usize) -> Browser {
            Browser {
                client: Client::new("c1", false),
                leader: 0,
                views: vec![LinkView::new(true); tabs],
                seen: vec![Vec::new(); tabs],
            }
        }

        fn step(&mut self, f: impl FnOnce(&mut Client)) {
            f(&mut self.client);
            while self.client.poll_event().is_some() {}
            while self.client.poll_transmit().is_some() {}
            let link = self.client.link();
            for (i, view) in self.views.iter_mut().enumerate() {
                view.told(link);
                self.seen[i].push(view.shown());
            }
        }

        fn connect(&mut self, now: Instant, resumed: bool) {
            self.step(|c| c.start(now));
            self.step(|c| c.opened(now + 1, "tok".into()));
            self.step(|c| c.handle_frame(now + 2, &welcome(resumed)));
        }

        /// The leader tab is gone (its client with it); `next` leads with a new client.
        fn hand_over(&mut self, now: Instant, next: usize) {
            self.views.remove(self.leader);
            self.seen.remove(self.leader);
            self.leader = next;
            let mut client = Client::new("c1", false);
            self.views[next].lead(now, &mut client);
            self.client = client;
        }
    }

    #[test]
    fn a_leader_handover_shows_no_reconnect_in_any_tab() {
        let mut b = Browser::new(3);
        b.connect(T0, false);
        for seen in &mut b.seen {
            seen.clear();
        }
        // The leader tab closes; tab 0 of the two left takes over and reconnects as the
        // same client.
        b.hand_over(T0 + 1_000, 0);
        b.connect(T0 + 1_100, true);
        for (tab, seen) in b.seen.iter().enumerate() {
            assert_eq!(seen, &vec![Link::Connected; 3], "tab {tab}");
        }
    }

    #[test]
    fn a_handover_whose_socket_fails_is_a_reconnect_seen_by_every_tab() {
        let mut b = Browser::new(3);
        b.connect(T0, false);
        b.hand_over(T0 + 1_000, 0);
        b.step(|c| c.start(T0 + 1_000));
        b.step(|c| c.closed(T0 + 1_010, 1006, 0.0));
        let retry = b.client.poll_timeout().unwrap();
        for seen in &b.seen {
            assert_eq!(seen.last(), Some(&Link::Reconnecting { at: Some(retry) }));
        }
    }

    #[test]
    fn followers_show_the_leaders_status_through_a_relay_restart() {
        let mut b = Browser::new(2);
        b.step(|_| {});
        b.connect(T0, false);
        b.step(|c| c.closed(T0 + 10, close::RELAY_RESTART, 0.0));
        b.step(|c| c.opened(T0 + 11, "tok".into()));
        b.step(|c| c.handle_frame(T0 + 12, &welcome(true)));
        let expected = vec![
            Link::Connecting,
            Link::Connecting,
            Link::Connecting,
            Link::Connected,
            Link::Reconnecting { at: None },
            Link::Reconnecting { at: None },
            Link::Connected,
        ];
        assert_eq!(b.seen[0], expected);
        assert_eq!(b.seen[1], b.seen[0], "the follower sees what the leader sees");
    }

    #[test]
    fn a_follower_shows_connecting_until_told_offline_when_its_browser_says_and_closed_last() {
        let mut v = LinkView::new(true);
        assert_eq!(v.shown(), Link::Connecting);
        assert!(v.told(Link::Connected));
        assert!(!v.told(Link::Connected), "the same status is no change");
        assert!(v.set_online(false));
        assert_eq!(v.shown(), Link::Offline);
        // The leader's news while offline is kept for when the network is back.
        assert!(!v.told(Link::Reconnecting { at: None }));
        assert!(v.set_online(true));
        assert_eq!(v.shown(), Link::Reconnecting { at: None });
        // A connection ended for good, or this tab closed: closed, offline or not.
        assert!(v.told(Link::Closed));
        v.set_online(false);
        assert_eq!(v.shown(), Link::Closed);
        let mut v = LinkView::new(false);
        assert_eq!(v.shown(), Link::Offline);
        assert!(v.close());
        assert_eq!(v.shown(), Link::Closed);
    }

    #[test]
    fn a_new_leader_started_offline_waits_for_the_network() {
        let mut v = LinkView::new(true);
        v.told(Link::Connected);
        v.set_online(false);
        let mut c = Client::new("c1", false);
        v.lead(T0, &mut c);
        c.start(T0);
        assert_eq!(c.link(), Link::Offline);
        c.closed(T0 + 5, 1006, 0.0);
        assert_eq!(c.poll_timeout(), None);
    }

    #[test]
    fn a_lone_tab_claims_leadership_after_the_claim_wait() {
        let mut e = Election::new("m", T0, 0.0);
        assert!(e.handle_timeout(T0 + CLAIM_WAIT_MS - 1, 0.0).is_empty());
        assert_eq!(
            e.handle_timeout(T0 + CLAIM_WAIT_MS, 0.0),
            vec![Vote::BecameLeader, Vote::Announce]
        );
        assert!(e.is_leader());
        assert_eq!(e.handle_timeout(e.poll_timeout(), 0.0), vec![Vote::Announce]);
    }

    #[test]
    fn a_tab_that_hears_a_leader_follows_and_takes_over_when_it_falls_silent() {
        let mut e = Election::new("m", T0, 0.0);
        e.heard_announce(T0 + 100, "k", 0.0);
        assert!(e.handle_timeout(T0 + 1_000, 0.0).is_empty());
        assert_eq!(e.leader(), Some("k"));
        let claim = e.poll_timeout();
        assert_eq!(claim, T0 + 100 + LEADER_TIMEOUT_MS);
        assert!(e.handle_timeout(claim, 0.0).contains(&Vote::BecameLeader));
    }

    #[test]
    fn of_two_leaders_the_lower_id_keeps_the_role() {
        let mut low = Election::new("a", T0, 0.0);
        let mut high = Election::new("b", T0, 0.0);
        low.handle_timeout(T0 + 1_000, 0.0);
        high.handle_timeout(T0 + 1_000, 0.0);
        assert_eq!(low.heard_announce(T0 + 1_001, "b", 0.0), vec![Vote::Announce]);
        assert_eq!(
            high.heard_announce(T0 + 1_002, "a", 0.0),
            vec![Vote::SteppedDown { leader: "a".into() }]
        );
        assert!(low.is_leader() && !high.is_leader());
    }

    #[test]
    fn a_resigning_leader_is_replaced_without_waiting_for_the_timeout() {
        let mut e = Election::new("m", T0, 0.0);
        e.heard_announce(T0, "k", 0.0);
        e.heard_resign(T0 + 10, "k", 0.5);
        assert!(e.poll_timeout() <= T0 + 10 + CLAIM_WAIT_MS);
        assert!(e.handle_timeout(e.poll_timeout(), 0.0).contains(&Vote::BecameLeader));
    }

    impl TabWants {
        fn default_with(status: Status) -> TabWants {
            TabWants {
                status,
                ..TabWants::default()
            }
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    mod props {
        use super::*;
        use proptest::prelude::*;
        use std::collections::{BTreeMap, BTreeSet};

        /// What the connection holds after applying the ledger's output intents.
        #[derive(Default)]
        struct Connection {
            entered: BTreeMap<String, Meta>,
            subscribed: BTreeSet<String>,
            friends: BTreeMap<String, BTreeSet<String>>,
        }

        impl Connection {
            fn apply(&mut self, intents: Vec<Intent>) {
                for i in intents {
                    match i {
                        Intent::Enter { ch, meta } => {
                            assert!(self.entered.insert(ch, meta).is_none(), "entered twice");
                        }
                        Intent::Update { ch, meta } => {
                            assert!(self.entered.insert(ch, meta).is_some(), "update before enter");
                        }
                        Intent::Leave { ch } => {
                            assert!(self.entered.remove(&ch).is_some(), "left twice");
                        }
                        Intent::Subscribe { ch, friends } => {
                            let friends: BTreeSet<String> = friends.into_iter().collect();
                            // Again only to follow other friends.
                            let again = !self.subscribed.insert(ch.clone());
                            assert!(!again || self.friends.get(&ch) != Some(&friends), "subscribed twice");
                            self.friends.insert(ch, friends);
                        }
                        Intent::Unsubscribe { ch } => {
                            assert!(self.subscribed.remove(&ch));
                            self.friends.remove(&ch);
                        }
                        Intent::Status { .. } => {}
                    }
                }
            }
        }

        fn op() -> impl Strategy<Value = (u8, u8, u8, u8)> {
            // (tab, kind, channel, meta value)
            (0u8..3, 0u8..6, 0u8..3, 0u8..3)
        }

        proptest! {
            #[test]
            fn the_connection_holds_exactly_what_some_tab_wants(ops in proptest::collection::vec(op(), 0..60)) {
                let mut tabs = Tabs::new("t0", T0);
                let mut conn = Connection::default();
                // Each tab's own record, as the tab itself keeps it.
                let mut own: BTreeMap<String, TabWants> = BTreeMap::new();
                for (tab, kind, ch, v) in ops {
                    let tab = format!("t{tab}");
                    let ch = format!("/c/{ch}");
                    let meta = meta(json!({ "v": v }));
                    let intent = match kind {
                        0 => Intent::Enter { ch, meta },
                        1 => Intent::Update { ch, meta },
                        2 => Intent::Leave { ch },
                        // Friends: none, one, or two, by the meta value.
                        3 => Intent::Subscribe {
                            ch,
                            friends: ["f1", "f2"].iter().take(v as usize).map(|f| format!("{f}-{tab}")).collect(),
                        },
                        4 => Intent::Unsubscribe { ch },
                        _ => {
                            if tab != "t0" {
                                own.remove(&tab);
                            }
                            conn.apply(tabs.remove(&tab));
                            continue;
                        }
                    };
                    own.entry(tab.clone()).or_default().apply(&intent);
                    conn.apply(tabs.apply(T0, &tab, intent));
                }
                // The leader's own tab cannot be removed; it keeps what it asked for.
                let mine = |id: &str| own.get(id).cloned().unwrap_or_default();
                let live: Vec<TabWants> = ["t0", "t1", "t2"]
                    .iter()
                    .filter(|id| **id == "t0" || tabs.knows(id))
                    .map(|id| mine(id))
                    .collect();
                let want_entered: BTreeSet<&String> = live.iter().flat_map(|w| w.entered.iter().map(|(c, _)| c)).collect();
                let want_subscribed: BTreeSet<&String> = live.iter().flat_map(|w| w.subscribed.iter()).collect();
                prop_assert_eq!(conn.entered.keys().collect::<BTreeSet<_>>(), want_entered);
                prop_assert_eq!(conn.subscribed.iter().collect::<BTreeSet<_>>(), want_subscribed);
                // A watched channel follows the friends every live tab asked for there.
                for ch in &conn.subscribed {
                    let want: BTreeSet<String> = live
                        .iter()
                        .flat_map(|w| w.friends.get(ch.as_str()).into_iter().flatten().cloned())
                        .collect();
                    prop_assert_eq!(conn.friends.get(ch).cloned().unwrap_or_default(), want, "friends of {}", ch);
                }
                // And the meta held is one that a tab in the channel asked for.
                for (ch, meta) in &conn.entered {
                    prop_assert!(live.iter().any(|w| w.entered.get(ch.as_str()) == Some(meta)));
                }
            }
        }
    }
}
