//! The relay's authoritative presence state: users, clients, leases, graces, and the
//! coalesced diffs every subscriber receives.
//!
//! Map of the file:
//! - a **client** (user + browser-profile id) holds presences in channels; it is linked
//!   to one live connection, or away with a deadline (unload or reconnect grace);
//! - a **connection** carries the lease (renewed by any frame or pong), the
//!   subscriptions, the token's expiry and a possible unload notice (beacon);
//! - a **channel** keeps one member per user, whatever the number of their clients, a
//!   sequence number, its subscribers, and the users changed since the last flush.
//!
//! Child modules, by concern, behind the one [`Roster`]: `lease` (local leases, graces
//! and their timers), `merge` (other relays' members, what this relay shares), `flush`
//! (subscribers, warm-up, coalesced diffs and snapshots) and [`capped`] (a capped list).
//!
//! Changes are never sent one by one: [`Roster::handle_timeout`] flushes a changed
//! channel at most once per its flush interval, encoding one diff for all of its
//! subscribers, and one snapshot for all those who subscribed since. A lone change goes
//! out at once (leading edge), even just after a flush that only served snapshots: the
//! interval paces diffs, and snapshots apart. The interval is `flush_interval_ms` for a small channel
//! and grows with the channel's subscribers so that no channel sends more than
//! `fanout_per_second` frames a second ([`RosterConfig::flush_interval_for`]): what one
//! channel costs is bounded whatever its size, and changes simply share larger diffs. Inputs carry `now`;
//! [`Roster::poll_timeout`] says when to call back; outputs are drained with
//! [`Roster::poll_output`].

use crate::channel::validate_name;
use crate::policy::Access;
use crate::protocol::{
    close, meta_size, ErrorCode, Identity, Member, Meta, ServerMsg, Status, Terms, DEFAULT_PAGE, MAX_FRIENDS, MAX_PAGE,
};
use crate::time::{earliest, Instant};
use crate::timing;
use crate::vecmap::{VecMap, VecSet};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, RandomState};

mod capped;
mod flush;
mod lease;
mod merge;

use capped::CappedList;

/// A live connection, numbered by the shell.
pub type ConnId = u64;

/// Timings and limits of presence. Defaults are DESIGN.md's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RosterConfig {
    pub checkin_interval_ms: u64,
    pub lease_timeout_ms: u64,
    pub unload_grace_ms: u64,
    pub reconnect_grace_ms: u64,
    /// Coalescing tick of a small channel: changes within it reach subscribers as one
    /// diff.
    pub flush_interval_ms: u64,
    /// Frames (one per subscriber per diff) a channel may send per second; a larger
    /// channel flushes less often, up to [`MAX_FLUSH_INTERVAL_MS`] apart.
    pub fanout_per_second: u64,
    /// Channels one connection may have entered or subscribed to, together.
    pub max_channels: usize,
    pub max_meta_bytes: usize,
}

impl Default for RosterConfig {
    fn default() -> Self {
        RosterConfig {
            checkin_interval_ms: timing::DEFAULT_CHECKIN_INTERVAL_MS,
            lease_timeout_ms: timing::DEFAULT_LEASE_TIMEOUT_MS,
            unload_grace_ms: timing::DEFAULT_UNLOAD_GRACE_MS,
            reconnect_grace_ms: timing::DEFAULT_RECONNECT_GRACE_MS,
            flush_interval_ms: 20,
            fanout_per_second: 50_000,
            max_channels: 100,
            max_meta_bytes: 1024,
        }
    }
}

/// However large a channel, its changes go out at least this often.
pub const MAX_FLUSH_INTERVAL_MS: u64 = 1_000;

/// Outputs a drained queue keeps room for.
const KEPT_QUEUE: usize = 1_024;

/// Give back what a drained queue grew to beyond [`KEPT_QUEUE`]: a reload of a channel
/// of 100,000 queues an output per member once (46 MB), and a queue never shrinks by
/// itself.
pub(crate) fn shrink_drained<T>(queue: &mut VecDeque<T>) {
    if queue.is_empty() && queue.capacity() > KEPT_QUEUE {
        queue.shrink_to(KEPT_QUEUE);
    }
}

impl RosterConfig {
    /// How far apart a channel with `subscribers` watchers flushes: the coalescing tick,
    /// or longer when a flush every tick would send more than `fanout_per_second`
    /// frames a second.
    pub fn flush_interval_for(&self, subscribers: usize) -> u64 {
        let budget = (subscribers as u64).saturating_mul(1_000) / self.fanout_per_second.max(1);
        budget.clamp(
            self.flush_interval_ms,
            MAX_FLUSH_INTERVAL_MS.max(self.flush_interval_ms),
        )
    }

    pub fn terms(&self) -> Terms {
        Terms {
            checkin_interval_ms: self.checkin_interval_ms,
            lease_timeout_ms: self.lease_timeout_ms,
            unload_grace_ms: self.unload_grace_ms,
            reconnect_grace_ms: self.reconnect_grace_ms,
            max_meta_bytes: self.max_meta_bytes,
            max_channels: self.max_channels,
            checkin_answer_ms: Some(timing::checkin_answer_ms(
                self.checkin_interval_ms,
                self.lease_timeout_ms,
            )),
        }
    }
}

/// Why a client's presence ended: the rows of the lease table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EndCause {
    /// An explicit `leave`.
    Left,
    /// The page went away (beacon or unloading close) and did not come back in time.
    Unload,
    /// The socket closed unexpectedly and did not come back in time.
    Reconnect,
    /// Nothing, not even a pong, for `lease_timeout`.
    Timeout,
}

impl EndCause {
    pub const ALL: [EndCause; 4] = [EndCause::Left, EndCause::Unload, EndCause::Reconnect, EndCause::Timeout];

    /// The cause named by [`as_str`](Self::as_str).
    pub fn parse(text: &str) -> Option<EndCause> {
        EndCause::ALL.into_iter().find(|c| c.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EndCause::Left => "leave",
            EndCause::Unload => "unload_grace",
            EndCause::Reconnect => "reconnect_grace",
            EndCause::Timeout => "lease_timeout",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What the shell must do.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Send the same encoded frame to each of these connections.
    Deliver { to: Vec<ConnId>, frame: String },
    /// Send one message to one connection.
    Send { conn: ConnId, msg: ServerMsg },
    /// Close this connection with this WebSocket close code. The roster has already
    /// forgotten it; a later `disconnect` for it is ignored.
    Close {
        conn: ConnId,
        code: u16,
        reason: &'static str,
    },
    /// Something a site may want to act on (webhooks, the session ledger), decided only
    /// after the graces: a refresh or a tab handover produces none.
    Event { at: Instant, event: Event },
    /// This relay's own view of `user` in `ch` changed (`None`: no local client holds
    /// it any more, for `cause`): tell the other relays. Only when sharing is on. `ch`
    /// is [`ONLINE`] for the user being connected here at all.
    Share {
        ch: String,
        user: String,
        view: Option<Member>,
        cause: Option<EndCause>,
    },
}

/// The name under which a relay shares "this user has a client here" with the others:
/// not a channel name, so it can never collide with one.
pub const ONLINE: &str = "~online";

/// A presence transition, at user level, over every relay that shares state: a relay
/// reports the transitions other relays cause too, so each one sees the whole truth
/// (and exactly one of them should act on it).
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The user's first client anywhere.
    UserOnline { user: Identity },
    /// The user's last client anywhere is gone (after its grace).
    UserOffline { user: Identity },
    /// The first user entered the channel.
    ChannelOccupied { ch: String },
    /// The last user left the channel.
    ChannelVacated { ch: String },
    /// The user is in the channel (their first client entered).
    Join { ch: String, user: Identity },
    /// The user is no longer in the channel (their last client left), and why.
    Leave {
        ch: String,
        user: Identity,
        cause: EndCause,
    },
    /// The user's status in the channel (the most active of their clients) changed.
    Status { ch: String, user: String, status: Status },
}

/// The events' names, as webhooks and the console call them: written once, here.
pub mod event_name {
    pub const USER_ONLINE: &str = "user.online";
    pub const USER_OFFLINE: &str = "user.offline";
    pub const CHANNEL_OCCUPIED: &str = "channel.occupied";
    pub const CHANNEL_VACATED: &str = "channel.vacated";
    pub const CHANNEL_JOIN: &str = "channel.join";
    pub const CHANNEL_LEAVE: &str = "channel.leave";
    pub const CHANNEL_STATUS: &str = "channel.status";
}

/// Who an event is about: the whole identity where the event carries it, else the id.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Subject<'a> {
    User(&'a Identity),
    Id(&'a str),
}

impl Subject<'_> {
    pub fn id(&self) -> &str {
        match self {
            Subject::User(user) => &user.id,
            Subject::Id(id) => id,
        }
    }
}

/// An event's parts, so that the shells render, log and count events without a match
/// of their own: a new event type is a variant and its arms here, nothing else.
impl Event {
    pub fn name(&self) -> &'static str {
        match self {
            Event::UserOnline { .. } => event_name::USER_ONLINE,
            Event::UserOffline { .. } => event_name::USER_OFFLINE,
            Event::ChannelOccupied { .. } => event_name::CHANNEL_OCCUPIED,
            Event::ChannelVacated { .. } => event_name::CHANNEL_VACATED,
            Event::Join { .. } => event_name::CHANNEL_JOIN,
            Event::Leave { .. } => event_name::CHANNEL_LEAVE,
            Event::Status { .. } => event_name::CHANNEL_STATUS,
        }
    }

    pub fn channel(&self) -> Option<&str> {
        match self {
            Event::UserOnline { .. } | Event::UserOffline { .. } => None,
            Event::ChannelOccupied { ch }
            | Event::ChannelVacated { ch }
            | Event::Join { ch, .. }
            | Event::Leave { ch, .. }
            | Event::Status { ch, .. } => Some(ch),
        }
    }

    pub fn subject(&self) -> Option<Subject<'_>> {
        match self {
            Event::UserOnline { user }
            | Event::UserOffline { user }
            | Event::Join { user, .. }
            | Event::Leave { user, .. } => Some(Subject::User(user)),
            Event::Status { user, .. } => Some(Subject::Id(user)),
            Event::ChannelOccupied { .. } | Event::ChannelVacated { .. } => None,
        }
    }

    pub fn cause(&self) -> Option<EndCause> {
        match self {
            Event::Leave { cause, .. } => Some(*cause),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<Status> {
        match self {
            Event::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Counts for `/metrics`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub connections: usize,
    pub clients: usize,
    pub channels: usize,
    pub members: usize,
    /// Client presences ended, by [`EndCause`] (indexed as [`EndCause::ALL`]).
    pub ended: [u64; 4],
    pub diffs_sent: u64,
    pub snapshots_sent: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct ClientKey {
    user: String,
    client: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    Connected(ConnId),
    Away { until: Instant, cause: EndCause },
}

#[derive(Debug)]
struct Client {
    identity: Identity,
    link: Link,
    /// Channels entered, each with a deadline when it awaits re-confirmation after a
    /// resume (the new connection must `enter` it again before then).
    channels: VecMap<String, Option<(Instant, EndCause)>>,
}

#[derive(Debug)]
struct Conn {
    client: ClientKey,
    last_seen: Instant,
    subscriptions: VecSet<String>,
    /// When a beacon said this page is going away.
    unloading: Option<Instant>,
    token_expires: Option<Instant>,
    token_warned: bool,
    /// The client said it is coming back (`hello.resume`).
    resuming: bool,
}

/// One client's contribution to a member.
#[derive(Debug, Clone)]
struct Holder {
    status: Status,
    meta: Meta,
    /// Order of the last change, so the newest meta wins across a user's clients.
    stamp: u64,
}

#[derive(Debug)]
struct MemberState {
    identity: Identity,
    holders: VecMap<String, Holder>,
}

impl MemberState {
    fn status(&self) -> Status {
        self.holders.values().map(|h| h.status).max().unwrap_or_default()
    }

    fn view(&self) -> Member {
        self.view_of(self.holders.values())
    }

    /// The member as this relay's own clients make it, for sharing with other relays.
    fn local_view(&self) -> Option<Member> {
        let mut local = self
            .holders
            .iter()
            .filter(|(key, _)| !is_remote(key))
            .map(|(_, h)| h)
            .peekable();
        local.peek()?;
        Some(self.view_of(local))
    }

    fn view_of<'a>(&self, holders: impl Iterator<Item = &'a Holder>) -> Member {
        let mut status = None;
        let mut newest: Option<&Holder> = None;
        for h in holders {
            status = status.max(Some(h.status));
            if newest.is_none_or(|n| h.stamp > n.stamp) {
                newest = Some(h);
            }
        }
        Member {
            id: self.identity.id.clone(),
            name: self.identity.name.clone(),
            avatar: self.identity.avatar.clone(),
            status: status.unwrap_or_default(),
            meta: newest.map(|h| h.meta.clone()).unwrap_or_default(),
        }
    }
}

/// What a relay shares under [`ONLINE`] for a user connected to it.
fn online_view(identity: &Identity) -> Member {
    Member {
        id: identity.id.clone(),
        name: identity.name.clone(),
        avatar: identity.avatar.clone(),
        status: Status::Active,
        meta: Meta::default(),
    }
}

/// Holders of other relays are keyed `@<relay id>`; client ids cannot contain `@`.
fn remote_key(relay: &str) -> String {
    format!("@{relay}")
}

fn is_remote(holder: &str) -> bool {
    holder.starts_with('@')
}

#[derive(Debug, Default)]
struct Channel {
    count_only: bool,
    members: BTreeMap<String, MemberState>,
    seq: u64,
    subscribers: HashSet<ConnId>,
    /// Subscribed since the last flush: they get a snapshot at the next one.
    /// A set: in a reconnect storm thousands wait for the same flush.
    awaiting: BTreeSet<ConnId>,
    /// Returning clients whose snapshot waits for the warm-up (see [`Roster::warm_up`]).
    held: BTreeSet<ConnId>,
    /// Users changed since the last flush, with how subscribers last saw them.
    pending: HashMap<String, Option<Member>>,
    /// The count subscribers last saw (count-only channels send nothing else).
    sent_count: usize,
    /// When this channel last flushed, and when it flushes next if it changed since.
    last_flush: Option<Instant>,
    flush_at: Option<Instant>,
    /// When a change last went out to its subscribers: the cadence of member changes
    /// (a flush that only served newcomers' snapshots does not count).
    last_diff: Option<Instant>,
    /// A rule caps the list subscribers are sent.
    list: Option<CappedList>,
    /// This relay's own view of each user as last shared with other relays, by its
    /// fingerprint ([`Roster::fingerprint`]): a share goes out when the view changed.
    shared: HashMap<String, u64>,
    /// Why the last local holder of a user let go, told with the share that follows.
    ended: HashMap<String, EndCause>,
}

impl Channel {
    fn is_idle(&self) -> bool {
        self.members.is_empty()
            && self.subscribers.is_empty()
            && self.awaiting.is_empty()
            && self.held.is_empty()
            && self.pending.is_empty()
    }

    /// From the first access that says so, the channel's list is capped; the members
    /// subscribers already saw (not those still to be told) fill it in id order.
    fn cap_list(&mut self, cap: Option<usize>) {
        let (Some(cap), None) = (cap, &self.list) else { return };
        let mut list = CappedList::new(cap);
        let seen: Vec<String> = self
            .members
            .keys()
            .filter(|u| !matches!(self.pending.get(*u), Some(None)))
            .cloned()
            .collect();
        list.apply(&seen, &[], &[]);
        self.list = Some(list);
    }

    fn note(&mut self, user: &str) {
        if !self.pending.contains_key(user) {
            let before = self.members.get(user).map(MemberState::view);
            self.pending.insert(user.to_string(), before);
        }
    }
}

/// A connection's timers are one or two per connection at all times; a client's are
/// rare (a client away, or back with presences to confirm). The client's key is boxed
/// so that every timer in the heap takes 24 bytes, not 64.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Lease(ConnId),
    Unload(ConnId),
    Token(ConnId),
    Away(Box<ClientKey>),
    Hold(Box<ClientKey>),
}

/// The authoritative presence state of one relay.
#[derive(Debug)]
pub struct Roster {
    config: RosterConfig,
    clients: HashMap<ClientKey, Client>,
    /// Clients per user, for online/offline.
    users: HashMap<String, usize>,
    /// Users connected through other relays, with the relays.
    remote_users: HashMap<String, (Identity, VecSet<String>)>,
    conns: HashMap<ConnId, Conn>,
    channels: HashMap<String, Channel>,
    /// Deadlines, checked lazily: an entry whose condition no longer holds is dropped or
    /// re-armed when it comes up, so renewing a lease costs no heap work.
    timers: BinaryHeap<Reverse<(Instant, Timer)>>,
    /// Channels with changes to send, by when (one entry per channel: see
    /// `Channel::flush_at`).
    flushes: BinaryHeap<Reverse<(Instant, String)>>,
    outputs: VecDeque<Output>,
    stamp: u64,
    /// The key of the views' fingerprints, random per roster.
    prints: RandomState,
    stats: Stats,
    /// Several relays share state: report local views with [`Output::Share`].
    sharing: bool,
    /// Warm-up after a start (see [`Roster::warm_up`]): until when, and when the last
    /// returning client said hello.
    warm_until: Instant,
    last_return: Instant,
}

/// During the warm-up, returning clients' snapshots wait until no other client has
/// come back for this long.
pub const WARM_SETTLE_MS: u64 = 2_000;

/// What [`Roster::revoke`] did, by connection of the user on this relay.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Revoked {
    /// Their client was taken out of the channel.
    pub left: Vec<ConnId>,
    /// They stopped watching the channel.
    pub unwatched: Vec<ConnId>,
    /// They still hold it (entered or watching), as the rights allow.
    pub held: Vec<ConnId>,
}

/// The result of a hello.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attached {
    /// The client still held presences from an earlier connection.
    pub resumed: bool,
}

impl Roster {
    pub fn new(config: RosterConfig) -> Roster {
        Roster {
            config,
            clients: HashMap::new(),
            users: HashMap::new(),
            remote_users: HashMap::new(),
            conns: HashMap::new(),
            channels: HashMap::new(),
            timers: BinaryHeap::new(),
            flushes: BinaryHeap::new(),
            outputs: VecDeque::new(),
            stamp: 0,
            prints: RandomState::new(),
            stats: Stats::default(),
            sharing: false,
            warm_until: Instant::ZERO,
            last_return: Instant::ZERO,
        }
    }

    /// A view's fingerprint: a 64-bit SipHash under this roster's random key. Kept for
    /// each view shared with other relays instead of a copy of it (a copy was 2 MB of
    /// 10,000 members on each relay); two views that differ have the same fingerprint
    /// with a chance of 2⁻⁶⁴, and nobody outside knows the key to aim at one.
    fn fingerprint(prints: &RandomState, view: &Member) -> u64 {
        prints.hash_one(view)
    }

    pub fn config(&self) -> &RosterConfig {
        &self.config
    }

    /// One page of `ch`'s members in id order after `after`, for a connection that may
    /// see its list: (count, members, the `after` of the next page).
    pub fn page(
        &self,
        conn: ConnId,
        ch: &str,
        access: Access,
        after: Option<&str>,
        limit: Option<usize>,
    ) -> Result<(usize, Vec<Member>, Option<String>), ErrorCode> {
        validate_name(ch)?;
        if !self.conns.contains_key(&conn) {
            return Err(ErrorCode::HelloFirst);
        }
        if !access.view || access.count_only {
            return Err(ErrorCode::ForbiddenView);
        }
        let Some(channel) = self.channels.get(ch).filter(|c| !c.count_only) else {
            return Ok((0, Vec::new(), None));
        };
        let limit = limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
        let from = match after {
            Some(after) => std::ops::Bound::Excluded(after),
            None => std::ops::Bound::Unbounded,
        };
        let mut users: Vec<Member> = channel
            .members
            .range::<str, _>((from, std::ops::Bound::Unbounded))
            .take(limit + 1)
            .map(|(_, m)| m.view())
            .collect();
        let next = (users.len() > limit).then(|| {
            users.truncate(limit);
            users.last().map(|m| m.id.clone()).unwrap_or_default()
        });
        Ok((channel.members.len(), users, next))
    }

    /// The next moment [`handle_timeout`](Self::handle_timeout) has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        earliest(
            self.timers.peek().map(|Reverse((at, _))| *at),
            self.flushes.peek().map(|Reverse((at, _))| *at),
        )
    }

    /// Run every deadline due at `now`: end leases and graces, flush diffs.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, _))) = self.timers.peek() {
            if *at > now {
                break;
            }
            let Reverse((_, timer)) = self.timers.pop().expect("peeked");
            self.fire(now, timer);
        }
        while let Some(Reverse((at, _))) = self.flushes.peek() {
            if *at > now {
                break;
            }
            let Reverse((at, ch)) = self.flushes.pop().expect("peeked");
            self.flush(now, at, ch);
        }
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        let out = self.outputs.pop_front();
        if out.is_none() {
            shrink_drained(&mut self.outputs);
        }
        out
    }

    /// Who is in `ch` now, identities included (for the trusted server API). `None`
    /// when nobody is there.
    pub fn presence(&self, ch: &str) -> Option<Vec<Member>> {
        let channel = self.channels.get(ch)?;
        if channel.members.is_empty() {
            return None;
        }
        Some(channel.members.values().map(MemberState::view).collect())
    }

    /// Connections of this relay watching `ch`: subscribed, or waiting for their first
    /// snapshot.
    pub fn watchers(&self, ch: &str) -> usize {
        self.channels
            .get(ch)
            .map_or(0, |c| c.subscribers.len() + c.awaiting.len() + c.held.len())
    }

    /// How many browser profiles of each user have a live connection here.
    pub fn clients_by_user(&self) -> HashMap<String, usize> {
        let profiles: HashSet<&ClientKey> = self.conns.values().map(|c| &c.client).collect();
        let mut out: HashMap<String, usize> = HashMap::new();
        for key in profiles {
            *out.entry(key.user.clone()).or_default() += 1;
        }
        out
    }

    pub fn stats(&self) -> Stats {
        Stats {
            connections: self.conns.len(),
            clients: self.clients.len(),
            channels: self.channels.values().filter(|c| !c.members.is_empty()).count(),
            members: self.channels.values().map(|c| c.members.len()).sum(),
            ..self.stats.clone()
        }
    }

    /// Does this connection exist (said hello and was not closed or replaced)?
    pub fn is_connected(&self, conn: ConnId) -> bool {
        self.conns.contains_key(&conn)
    }

    /// Is `ch` count-only, as the last access to it here said (false for a channel this
    /// relay does not know)? Another relay's view keeps what this relay made of it.
    pub fn is_count_only(&self, ch: &str) -> bool {
        self.channels.get(ch).is_some_and(|c| c.count_only)
    }

    fn emit(&mut self, at: Instant, event: Event) {
        self.outputs.push_back(Output::Event { at, event });
    }

    fn arm(&mut self, at: Instant, timer: Timer) {
        self.timers.push(Reverse((at, timer)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timer_in_the_heap_takes_24_bytes() {
        assert_eq!(std::mem::size_of::<Reverse<(Instant, Timer)>>(), 24);
    }

    #[test]
    fn a_drained_queue_gives_back_what_a_burst_grew_it_to() {
        let mut roster = Roster::new(RosterConfig::default());
        for i in 0..10_000 {
            roster.outputs.push_back(Output::Close {
                conn: i,
                code: close::GOING_AWAY,
                reason: "",
            });
        }
        assert!(roster.outputs.capacity() >= 10_000);
        while roster.poll_output().is_some() {}
        assert!(roster.outputs.capacity() <= KEPT_QUEUE, "{}", roster.outputs.capacity());
        // A small queue keeps its room.
        roster.outputs.extend((0..100).map(|i| Output::Close {
            conn: i,
            code: close::GOING_AWAY,
            reason: "",
        }));
        let room = roster.outputs.capacity();
        while roster.poll_output().is_some() {}
        assert_eq!(roster.outputs.capacity(), room);
    }
}
