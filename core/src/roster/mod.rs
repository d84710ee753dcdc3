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
//! Changes are never sent one by one: [`Roster::handle_timeout`] flushes a changed
//! channel at most once per its flush interval, encoding one diff for all of its
//! subscribers, and one snapshot for all those who subscribed since. A lone change goes
//! out at once (leading edge). The interval is `flush_interval_ms` for a small channel
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
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet, VecDeque};

pub mod capped;

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
            checkin_interval_ms: 30_000,
            lease_timeout_ms: 60_000,
            unload_grace_ms: 3_000,
            reconnect_grace_ms: 15_000,
            flush_interval_ms: 20,
            fanout_per_second: 50_000,
            max_channels: 100,
            max_meta_bytes: 1024,
        }
    }
}

/// However large a channel, its changes go out at least this often.
pub const MAX_FLUSH_INTERVAL_MS: u64 = 1_000;

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
    channels: HashMap<String, Option<(Instant, EndCause)>>,
}

#[derive(Debug)]
struct Conn {
    client: ClientKey,
    last_seen: Instant,
    subscriptions: HashSet<String>,
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
    holders: BTreeMap<String, Holder>,
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
    /// A rule caps the list subscribers are sent.
    list: Option<CappedList>,
    /// This relay's own view of each user, as last shared with other relays.
    shared: HashMap<String, Member>,
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

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Lease(ConnId),
    Unload(ConnId),
    Token(ConnId),
    Away(ClientKey),
    Hold(ClientKey),
}

/// The authoritative presence state of one relay.
#[derive(Debug)]
pub struct Roster {
    config: RosterConfig,
    clients: HashMap<ClientKey, Client>,
    /// Clients per user, for online/offline.
    users: HashMap<String, usize>,
    /// Users connected through other relays, with the relays.
    remote_users: HashMap<String, (Identity, BTreeSet<String>)>,
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
            stats: Stats::default(),
            sharing: false,
            warm_until: Instant::ZERO,
            last_return: Instant::ZERO,
        }
    }

    pub fn config(&self) -> &RosterConfig {
        &self.config
    }

    /// A connection said hello as `identity` from browser profile `client`.
    pub fn connect(
        &mut self,
        now: Instant,
        conn: ConnId,
        identity: Identity,
        client: &str,
        token_expires: Option<Instant>,
    ) -> Attached {
        let key = ClientKey {
            user: identity.id.clone(),
            client: client.to_string(),
        };
        self.conns.insert(
            conn,
            Conn {
                client: key.clone(),
                last_seen: now,
                subscriptions: HashSet::new(),
                unloading: None,
                token_expires,
                token_warned: false,
                resuming: false,
            },
        );
        self.arm(now + self.config.lease_timeout_ms, Timer::Lease(conn));
        if let Some(at) = token_expires {
            self.arm(at, Timer::Token(conn));
        }
        let Some(existing) = self.clients.get_mut(&key) else {
            let count = self.users.entry(key.user.clone()).or_default();
            *count += 1;
            if *count == 1 {
                if !self.remote_users.contains_key(&key.user) {
                    self.emit(now, Event::UserOnline { user: identity.clone() });
                }
                self.share_online(&identity, true);
            }
            self.clients.insert(
                key,
                Client {
                    identity,
                    link: Link::Connected(conn),
                    channels: HashMap::new(),
                },
            );
            return Attached { resumed: false };
        };
        existing.identity = identity;
        let previous = std::mem::replace(&mut existing.link, Link::Connected(conn));
        // The presences survive; the new connection confirms those it still wants.
        let (until, cause) = match previous {
            Link::Away { until, cause } => (until.max(now), cause),
            Link::Connected(_) => (now + self.config.reconnect_grace_ms, EndCause::Reconnect),
        };
        for hold in existing.channels.values_mut() {
            *hold = Some((until, cause));
        }
        let resumed = !existing.channels.is_empty();
        if resumed {
            self.arm(until, Timer::Hold(key));
        }
        if let Link::Connected(old) = previous {
            if old != conn {
                self.forget_conn(old);
                self.outputs.push_back(Output::Close {
                    conn: old,
                    code: close::REPLACED,
                    reason: "replaced by a newer connection of this client",
                });
            }
        }
        Attached { resumed }
    }

    /// Any sign of life from a connection: a frame (`frame = true`) or a pong.
    pub fn touch(&mut self, now: Instant, conn: ConnId, frame: bool) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.last_seen = c.last_seen.max(now);
            if frame {
                // A page that still talks after its beacon was not going away after all
                // (a cancelled navigation, a page restored from the back-forward cache).
                c.unloading = None;
            }
        }
    }

    /// Enter `ch`, or re-enter it (which confirms a presence held over a reconnect).
    pub fn enter(
        &mut self,
        now: Instant,
        conn: ConnId,
        ch: &str,
        access: Access,
        status: Option<Status>,
        meta: Option<Meta>,
    ) -> Result<(), ErrorCode> {
        validate_name(ch)?;
        if !access.enter {
            return Err(ErrorCode::ForbiddenEnter);
        }
        self.check_meta(meta.as_ref())?;
        let key = self.conns.get(&conn).ok_or(ErrorCode::HelloFirst)?.client.clone();
        let already = self.clients[&key].channels.contains_key(ch);
        if !already
            && self.channels_in_use(conn) >= self.config.max_channels
            && !self.conns[&conn].subscriptions.contains(ch)
        {
            return Err(ErrorCode::TooManyChannels);
        }
        let identity = self.clients[&key].identity.clone();
        let channel = self.channels.get(ch);
        let present = channel.is_some_and(|c| c.members.contains_key(&key.user));
        if let (Some(max), false) = (access.max_members, present) {
            if channel.map_or(0, |c| c.members.len()) >= max {
                return Err(ErrorCode::ChannelFull);
            }
        }
        self.touch(now, conn, true);
        self.clients
            .get_mut(&key)
            .expect("conn's client exists")
            .channels
            .insert(ch.to_string(), None);
        self.stamp += 1;
        let stamp = self.stamp;
        let channel = self.channel_mut(now, ch, access.count_only);
        channel.cap_list(access.list_cap);
        channel.note(&key.user);
        let occupied = channel.members.is_empty();
        let before = channel.members.get(&key.user).map(MemberState::status);
        let member = channel.members.entry(key.user.clone()).or_insert_with(|| MemberState {
            identity: identity.clone(),
            holders: BTreeMap::new(),
        });
        member.identity = identity.clone();
        match member.holders.get_mut(&key.client) {
            Some(holder) => {
                if let Some(status) = status {
                    holder.status = status;
                }
                if let Some(meta) = meta {
                    holder.meta = meta;
                    holder.stamp = stamp;
                }
            }
            None => {
                member.holders.insert(
                    key.client.clone(),
                    Holder {
                        status: status.unwrap_or_default(),
                        meta: meta.unwrap_or_default(),
                        stamp,
                    },
                );
            }
        }
        let after = member.status();
        self.emit_arrival(now, ch, identity, occupied, before, after);
        Ok(())
    }

    /// Change status and/or meta in an entered channel.
    pub fn update(
        &mut self,
        now: Instant,
        conn: ConnId,
        ch: &str,
        status: Option<Status>,
        meta: Option<Meta>,
    ) -> Result<(), ErrorCode> {
        validate_name(ch)?;
        self.check_meta(meta.as_ref())?;
        let key = self.conns.get(&conn).ok_or(ErrorCode::HelloFirst)?.client.clone();
        if !self.clients[&key].channels.contains_key(ch) {
            return Err(ErrorCode::NotEntered);
        }
        self.touch(now, conn, true);
        self.stamp += 1;
        let stamp = self.stamp;
        self.mark_dirty(now, ch);
        let channel = self.channels.get_mut(ch).expect("an entered channel exists");
        channel.note(&key.user);
        let member = channel
            .members
            .get_mut(&key.user)
            .expect("an entered client's user is a member");
        let before = member.status();
        let holder = member.holders.get_mut(&key.client).expect("an entered client holds");
        if let Some(status) = status {
            holder.status = status;
        }
        if let Some(meta) = meta {
            holder.meta = meta;
            holder.stamp = stamp;
        }
        let after = member.status();
        self.emit_status(now, ch, &key.user, Some(before), after);
        Ok(())
    }

    /// Leave `ch` now. Leaving a channel not entered is not an error.
    pub fn leave(&mut self, now: Instant, conn: ConnId, ch: &str) -> Result<(), ErrorCode> {
        validate_name(ch)?;
        let key = self.conns.get(&conn).ok_or(ErrorCode::HelloFirst)?.client.clone();
        self.touch(now, conn, true);
        if self
            .clients
            .get_mut(&key)
            .expect("conn's client exists")
            .channels
            .remove(ch)
            .is_some()
        {
            self.remove_presence(now, &key, ch, EndCause::Left);
        }
        Ok(())
    }

    /// Watch `ch`: a snapshot at the next flush, then every diff. Subscribing again asks
    /// for a fresh snapshot (what a client does after a gap in `seq`).
    pub fn subscribe(&mut self, now: Instant, conn: ConnId, ch: &str, access: Access) -> Result<(), ErrorCode> {
        self.subscribe_following(now, conn, ch, access, &[])
    }

    /// Watch `ch`, and in a capped list also follow `friends` (besides itself): they are
    /// sent to this subscriber wherever they are in the list. The first
    /// [`MAX_FRIENDS`] count.
    pub fn subscribe_following(
        &mut self,
        now: Instant,
        conn: ConnId,
        ch: &str,
        access: Access,
        friends: &[String],
    ) -> Result<(), ErrorCode> {
        validate_name(ch)?;
        if !access.view {
            return Err(ErrorCode::ForbiddenView);
        }
        let c = self.conns.get(&conn).ok_or(ErrorCode::HelloFirst)?;
        let counted = c.subscriptions.contains(ch) || self.clients[&c.client].channels.contains_key(ch);
        if !counted && self.channels_in_use(conn) >= self.config.max_channels {
            return Err(ErrorCode::TooManyChannels);
        }
        self.touch(now, conn, true);
        self.conns
            .get_mut(&conn)
            .expect("checked above")
            .subscriptions
            .insert(ch.to_string());
        let user = self.conns[&conn].client.user.clone();
        let hold = self.conns[&conn].resuming && self.held_until(now).is_some();
        let channel = self.channel_mut(now, ch, access.count_only);
        channel.cap_list(access.list_cap);
        channel.subscribers.remove(&conn);
        if hold {
            channel.held.insert(conn);
        } else {
            channel.awaiting.insert(conn);
        }
        if let Some(list) = &mut channel.list {
            let mut follows = vec![user];
            for friend in friends.iter().take(MAX_FRIENDS) {
                if !follows.contains(friend) {
                    follows.push(friend.clone());
                }
            }
            list.follow(conn, follows);
        }
        Ok(())
    }

    /// This relay has just started without the state it had (a restart, a deploy):
    /// every client it had is coming back at once. Until `until` (the reconnect grace,
    /// after which whoever has not come back has left anyway), the snapshots of
    /// returning clients (see [`resuming`](Self::resuming)) wait until no returning
    /// client has said hello for [`WARM_SETTLE_MS`]: a page that had a full list keeps
    /// it, and then sees only who really left, instead of a channel that empties and
    /// fills again. A newcomer, who had no list, is answered at once.
    pub fn warm_up(&mut self, until: Instant) {
        self.warm_until = until;
    }

    /// `conn`'s client had a connection before this one (`hello.resume`).
    pub fn resuming(&mut self, now: Instant, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.resuming = true;
            self.last_return = self.last_return.max(now);
        }
    }

    /// While returning clients' snapshots wait: until when, at the latest.
    fn held_until(&self, now: Instant) -> Option<Instant> {
        let settled = self.last_return + WARM_SETTLE_MS;
        (now < self.warm_until && now < settled).then(|| settled.min(self.warm_until))
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

    pub fn unsubscribe(&mut self, now: Instant, conn: ConnId, ch: &str) -> Result<(), ErrorCode> {
        validate_name(ch)?;
        let c = self.conns.get_mut(&conn).ok_or(ErrorCode::HelloFirst)?;
        c.subscriptions.remove(ch);
        self.touch(now, conn, true);
        self.drop_subscriber(ch, conn);
        Ok(())
    }

    /// A periodic check-in: proof of life plus the status for every entered channel.
    pub fn checkin(&mut self, now: Instant, conn: ConnId, status: Status) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let key = c.client.clone();
        self.touch(now, conn, true);
        let channels: Vec<String> = self.clients[&key].channels.keys().cloned().collect();
        for ch in channels {
            let same = self
                .channels
                .get(&ch)
                .and_then(|c| c.members.get(&key.user))
                .and_then(|m| m.holders.get(&key.client))
                .is_some_and(|h| h.status == status);
            if !same {
                let _ = self.update(now, conn, &ch, Some(status), None);
            }
        }
    }

    /// A beacon from a page that is going away: its presences end after the unload
    /// grace unless the same client comes back.
    pub fn beacon(&mut self, now: Instant, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.unloading = Some(now);
            self.arm(now + self.config.unload_grace_ms, Timer::Unload(conn));
        }
    }

    /// The connection's token was renewed.
    pub fn refresh_token(&mut self, now: Instant, conn: ConnId, expires: Option<Instant>) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.token_expires = expires;
            c.token_warned = false;
            if let Some(at) = expires {
                self.arm(at, Timer::Token(conn));
            }
            self.touch(now, conn, true);
        }
    }

    /// The socket closed. `unloading`: the page said it is going away (close code 4001
    /// or 1001); otherwise the network or the relay dropped it.
    pub fn disconnect(&mut self, now: Instant, conn: ConnId, unloading: bool) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let beacon = c.unloading;
        let key = c.client.clone();
        self.forget_conn(conn);
        let (until, cause) = match (beacon, unloading) {
            (Some(at), _) => ((at + self.config.unload_grace_ms).max(now), EndCause::Unload),
            (None, true) => (now + self.config.unload_grace_ms, EndCause::Unload),
            (None, false) => (now + self.config.reconnect_grace_ms, EndCause::Reconnect),
        };
        let Some(client) = self.clients.get_mut(&key) else {
            return;
        };
        if client.link != Link::Connected(conn) {
            return;
        }
        // Even a client that only watched stays through the grace, so that a refresh
        // does not flap the user offline and online.
        client.link = Link::Away { until, cause };
        self.arm(until, Timer::Away(key));
    }

    /// `user`'s rights in `ch` are now `access` (the site took some back, or an operator
    /// removed them): on this relay, their clients leave `ch` at once unless they may
    /// still enter (subscribers see `leave`), and their connections stop watching it
    /// unless they may still view. With rights unchanged nothing moves, and the answer
    /// says who still holds the channel.
    pub fn revoke(&mut self, now: Instant, ch: &str, user: &str, access: Access) -> Revoked {
        let mut out = Revoked::default();
        let Some(channel) = self.channels.get(ch) else {
            return out;
        };
        let holders: Vec<ClientKey> = channel
            .members
            .get(user)
            .map(|m| m.holders.keys().filter(|k| !is_remote(k)))
            .into_iter()
            .flatten()
            .map(|client| ClientKey {
                user: user.to_string(),
                client: client.clone(),
            })
            .collect();
        let mut watchers: Vec<ConnId> = channel
            .subscribers
            .iter()
            .chain(&channel.awaiting)
            .copied()
            .filter(|c| self.conns.get(c).is_some_and(|c| c.client.user == user))
            .collect();
        watchers.sort_unstable();
        watchers.dedup();
        for key in holders {
            let conn = match self.clients.get(&key).map(|c| c.link) {
                Some(Link::Connected(conn)) => Some(conn),
                _ => None,
            };
            if access.enter {
                out.held.extend(conn);
                continue;
            }
            if let Some(client) = self.clients.get_mut(&key) {
                client.channels.remove(ch);
            }
            self.remove_presence(now, &key, ch, EndCause::Left);
            out.left.extend(conn);
        }
        for conn in watchers {
            if access.view {
                out.held.push(conn);
                continue;
            }
            if let Some(c) = self.conns.get_mut(&conn) {
                c.subscriptions.remove(ch);
            }
            self.drop_subscriber(ch, conn);
            out.unwatched.push(conn);
        }
        out.held.sort_unstable();
        out.held.dedup();
        out
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
        self.outputs.pop_front()
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

    /// Share this relay's views with other relays from now on.
    pub fn share(&mut self, on: bool) {
        self.sharing = on;
    }

    /// Is `ch` count-only, as the last access to it here said (false for a channel this
    /// relay does not know)? Another relay's view keeps what this relay made of it.
    pub fn is_count_only(&self, ch: &str) -> bool {
        self.channels.get(ch).is_some_and(|c| c.count_only)
    }

    /// Another relay's view of a user in `ch`. Its holder merges with local clients like
    /// any other, so a user on two relays is one member; the [`Event`]s it causes are
    /// those of the merged member (a user already here through a local client does not
    /// join again).
    pub fn remote(&mut self, now: Instant, ch: &str, relay: &str, view: Member, count_only: bool) {
        if validate_name(ch).is_err() {
            return;
        }
        let key = remote_key(relay);
        self.stamp += 1;
        let stamp = self.stamp;
        let channel = self.channel_mut(now, ch, count_only);
        channel.note(&view.id);
        let identity = Identity {
            id: view.id.clone(),
            name: view.name,
            avatar: view.avatar,
        };
        let occupied = channel.members.is_empty();
        let before = channel.members.get(&view.id).map(MemberState::status);
        let member = channel.members.entry(view.id).or_insert_with(|| MemberState {
            identity: identity.clone(),
            holders: BTreeMap::new(),
        });
        member.identity = identity.clone();
        match member.holders.get_mut(&key) {
            // Keep the stamp when the meta is unchanged, so a status change alone does
            // not make this relay's meta the newest.
            Some(old) if old.meta == view.meta => old.status = view.status,
            _ => {
                member.holders.insert(
                    key,
                    Holder {
                        status: view.status,
                        meta: view.meta,
                        stamp,
                    },
                );
            }
        }
        let after = member.status();
        self.emit_arrival(now, ch, identity, occupied, before, after);
    }

    /// Another relay has a client of this user (`Some`), or none any more (`None`).
    pub fn remote_online(&mut self, now: Instant, relay: &str, user: &str, identity: Option<Identity>) {
        let local = self.users.contains_key(user);
        match identity {
            Some(identity) if identity.id == user => match self.remote_users.get_mut(user) {
                Some((known, relays)) => {
                    *known = identity;
                    relays.insert(relay.to_string());
                }
                None => {
                    if !local {
                        self.emit(now, Event::UserOnline { user: identity.clone() });
                    }
                    let relays = BTreeSet::from([relay.to_string()]);
                    self.remote_users.insert(user.to_string(), (identity, relays));
                }
            },
            Some(_) => {}
            None => {
                let Some((_, relays)) = self.remote_users.get_mut(user) else {
                    return;
                };
                relays.remove(relay);
                if relays.is_empty() {
                    let (identity, _) = self.remote_users.remove(user).expect("just seen");
                    if !local {
                        self.emit(now, Event::UserOffline { user: identity });
                    }
                }
            }
        }
    }

    /// Forget `relay`'s view of `user` in `ch`, which it let go of for `cause`.
    pub fn remote_gone(&mut self, now: Instant, ch: &str, relay: &str, user: &str, cause: EndCause) {
        if ch == ONLINE {
            self.remote_online(now, relay, user, None);
            return;
        }
        let key = remote_key(relay);
        let holds = self
            .channels
            .get(ch)
            .and_then(|c| c.members.get(user))
            .is_some_and(|m| m.holders.contains_key(&key));
        if !holds {
            return;
        }
        self.release(now, ch, user, &key, cause);
    }

    /// Forget everything `relay` held: it stopped beating for the lease timeout (it
    /// died or lost its network), or handed its clients over when it stopped.
    pub fn drop_relay(&mut self, now: Instant, relay: &str) {
        let mut entries = self.remote_entries();
        // Channels first, so that a user's leaves come before their going offline.
        entries.sort_by_key(|(ch, _, _)| ch == ONLINE);
        for (ch, holder, user) in entries {
            if holder == relay {
                self.remote_gone(now, &ch, &holder, &user, EndCause::Timeout);
            }
        }
    }

    /// Every (channel, relay, user) another relay holds, as this roster knows it
    /// (channel [`ONLINE`]: the user is connected there).
    pub fn remote_entries(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for (user, (_, relays)) in &self.remote_users {
            for relay in relays {
                out.push((ONLINE.to_string(), relay.clone(), user.clone()));
            }
        }
        for (ch, channel) in &self.channels {
            for (user, member) in &channel.members {
                for key in member.holders.keys().filter(|k| is_remote(k)) {
                    out.push((ch.clone(), key[1..].to_string(), user.clone()));
                }
            }
        }
        out
    }

    /// The present state of every relay, told as the events that would have led to it
    /// from nothing: each online user, then each member of each channel (with its
    /// status when not active). For whoever starts recording mid-way.
    pub fn truth(&self) -> Vec<Event> {
        let mut online: BTreeMap<&str, &Identity> = BTreeMap::new();
        for client in self.clients.values() {
            online.insert(&client.identity.id, &client.identity);
        }
        for (user, (identity, _)) in &self.remote_users {
            online.entry(user).or_insert(identity);
        }
        let mut out: Vec<Event> = online
            .into_values()
            .map(|identity| Event::UserOnline { user: identity.clone() })
            .collect();
        let mut channels: Vec<(&String, &Channel)> =
            self.channels.iter().filter(|(_, c)| !c.members.is_empty()).collect();
        channels.sort_by_key(|(ch, _)| *ch);
        for (ch, channel) in channels {
            out.push(Event::ChannelOccupied { ch: ch.clone() });
            for (user, member) in &channel.members {
                out.push(Event::Join {
                    ch: ch.clone(),
                    user: member.identity.clone(),
                });
                let status = member.status();
                if status != Status::Active {
                    out.push(Event::Status {
                        ch: ch.clone(),
                        user: user.clone(),
                        status,
                    });
                }
            }
        }
        out
    }

    /// Every view this relay's own clients make, to assert them all again (after the
    /// shared store was unreachable or lost its data).
    pub fn local_views(&mut self) -> Vec<(String, Member)> {
        let mut out = Vec::new();
        let mut online = HashSet::new();
        for client in self.clients.values() {
            if online.insert(client.identity.id.clone()) {
                out.push((ONLINE.to_string(), online_view(&client.identity)));
            }
        }
        for (ch, channel) in &mut self.channels {
            channel.shared.clear();
            for member in channel.members.values() {
                if let Some(view) = member.local_view() {
                    channel.shared.insert(view.id.clone(), view.clone());
                    out.push((ch.clone(), view));
                }
            }
        }
        out
    }

    fn fire(&mut self, now: Instant, timer: Timer) {
        match timer {
            Timer::Lease(conn) => {
                let Some(c) = self.conns.get(&conn) else {
                    return;
                };
                let due = c.last_seen + self.config.lease_timeout_ms;
                if due > now {
                    self.arm(due, Timer::Lease(conn));
                    return;
                }
                self.end_conn(
                    now,
                    conn,
                    EndCause::Timeout,
                    close::LEASE_EXPIRED,
                    "nothing arrived within the lease timeout",
                );
            }
            Timer::Unload(conn) => {
                let Some(c) = self.conns.get(&conn) else {
                    return;
                };
                if c.unloading.is_some_and(|at| at + self.config.unload_grace_ms <= now) {
                    self.end_conn(now, conn, EndCause::Unload, close::UNLOADING, "the page went away");
                }
            }
            Timer::Token(conn) => {
                let grace = self.config.reconnect_grace_ms;
                let Some(c) = self.conns.get_mut(&conn) else {
                    return;
                };
                let Some(expires) = c.token_expires else {
                    return;
                };
                if expires > now {
                    return;
                }
                if !c.token_warned {
                    c.token_warned = true;
                    self.outputs.push_back(Output::Send {
                        conn,
                        msg: ServerMsg::error(ErrorCode::TokenExpired, None, None),
                    });
                    self.arm(expires + grace, Timer::Token(conn));
                } else if expires + grace <= now {
                    // Not a lease end: the client reconnects with a new token inside the
                    // reconnect grace and nobody sees a thing.
                    self.disconnect(now, conn, false);
                    self.outputs.push_back(Output::Close {
                        conn,
                        code: close::TOKEN_EXPIRED,
                        reason: "the token expired",
                    });
                }
            }
            Timer::Away(key) => {
                let Some(client) = self.clients.get(&key) else {
                    return;
                };
                let Link::Away { until, cause } = client.link else {
                    return;
                };
                if until <= now {
                    self.drop_client(now, &key, cause);
                }
            }
            Timer::Hold(key) => {
                let Some(client) = self.clients.get_mut(&key) else {
                    return;
                };
                let expired: Vec<(String, EndCause)> = client
                    .channels
                    .iter()
                    .filter_map(|(ch, hold)| {
                        hold.filter(|(until, _)| *until <= now)
                            .map(|(_, cause)| (ch.clone(), cause))
                    })
                    .collect();
                for (ch, _) in &expired {
                    client.channels.remove(ch);
                }
                for (ch, cause) in expired {
                    self.remove_presence(now, &key, &ch, cause);
                }
            }
        }
    }

    /// End a connection and, at once, every presence of its client.
    fn end_conn(&mut self, now: Instant, conn: ConnId, cause: EndCause, code: u16, reason: &'static str) {
        let key = self.conns[&conn].client.clone();
        self.forget_conn(conn);
        self.drop_client(now, &key, cause);
        self.outputs.push_back(Output::Close { conn, code, reason });
    }

    /// Forget a client: its presences end with `cause`, and its user goes offline if it
    /// was their last client.
    fn drop_client(&mut self, now: Instant, key: &ClientKey, cause: EndCause) {
        let Some(client) = self.clients.remove(key) else {
            return;
        };
        for ch in client.channels.keys() {
            self.remove_presence(now, key, ch, cause);
        }
        if let Some(count) = self.users.get_mut(&key.user) {
            *count -= 1;
            if *count == 0 {
                self.users.remove(&key.user);
                self.share_online(&client.identity, false);
                if !self.remote_users.contains_key(&key.user) {
                    self.emit(now, Event::UserOffline { user: client.identity });
                }
            }
        }
    }

    /// Tell the other relays that the user has a client here, or none any more.
    fn share_online(&mut self, identity: &Identity, on: bool) {
        if self.sharing {
            self.outputs.push_back(Output::Share {
                ch: ONLINE.to_string(),
                user: identity.id.clone(),
                view: on.then(|| online_view(identity)),
                cause: None,
            });
        }
    }

    fn emit(&mut self, at: Instant, event: Event) {
        self.outputs.push_back(Output::Event { at, event });
    }

    fn forget_conn(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.remove(&conn) {
            for ch in &c.subscriptions {
                self.drop_subscriber(ch, conn);
            }
        }
    }

    fn drop_subscriber(&mut self, ch: &str, conn: ConnId) {
        if let Some(channel) = self.channels.get_mut(ch) {
            channel.subscribers.remove(&conn);
            channel.awaiting.remove(&conn);
            channel.held.remove(&conn);
            if let Some(list) = &mut channel.list {
                list.unfollow(conn);
            }
            if channel.is_idle() {
                self.channels.remove(ch);
            }
        }
    }

    fn remove_presence(&mut self, now: Instant, key: &ClientKey, ch: &str, cause: EndCause) {
        self.stats.ended[cause.index()] += 1;
        self.release(now, ch, &key.user, &key.client, cause);
    }

    /// `holder` (a local client, or `@relay`) lets go of `user` in `ch` for `cause`: the
    /// member leaves with its last holder, or its status may change.
    fn release(&mut self, now: Instant, ch: &str, user: &str, holder: &str, cause: EndCause) {
        self.mark_dirty(now, ch);
        let Some(channel) = self.channels.get_mut(ch) else {
            return;
        };
        channel.note(user);
        let Some(member) = channel.members.get_mut(user) else {
            return;
        };
        let before = member.status();
        member.holders.remove(holder);
        if !member.holders.keys().any(|k| !is_remote(k)) {
            // This relay's own view ends: the others are told why with the share.
            channel.ended.insert(user.to_string(), cause);
        }
        if !member.holders.is_empty() {
            let after = member.status();
            self.emit_status(now, ch, user, Some(before), after);
            return;
        }
        let member = channel.members.remove(user).expect("just seen");
        let vacated = channel.members.is_empty();
        self.emit(
            now,
            Event::Leave {
                ch: ch.to_string(),
                user: member.identity,
                cause,
            },
        );
        if vacated {
            self.emit(now, Event::ChannelVacated { ch: ch.to_string() });
        }
    }

    /// A holder came or changed: a member that was not there (`before` is `None`)
    /// joins (after the channel's occupied, if it was empty); one that was may change
    /// status.
    fn emit_arrival(
        &mut self,
        now: Instant,
        ch: &str,
        identity: Identity,
        occupied: bool,
        before: Option<Status>,
        after: Status,
    ) {
        if before.is_none() {
            if occupied {
                self.emit(now, Event::ChannelOccupied { ch: ch.to_string() });
            }
            let user = identity.id.clone();
            self.emit(
                now,
                Event::Join {
                    ch: ch.to_string(),
                    user: identity,
                },
            );
            // Joins count as active; say so when they are not (a background tab).
            self.emit_status(now, ch, &user, Some(Status::Active), after);
        } else {
            self.emit_status(now, ch, &identity.id, before, after);
        }
    }

    fn emit_status(&mut self, now: Instant, ch: &str, user: &str, before: Option<Status>, after: Status) {
        if before != Some(after) {
            self.emit(
                now,
                Event::Status {
                    ch: ch.to_string(),
                    user: user.to_string(),
                    status: after,
                },
            );
        }
    }

    fn check_meta(&self, meta: Option<&Meta>) -> Result<(), ErrorCode> {
        match meta {
            Some(meta) if meta_size(meta) > self.config.max_meta_bytes => Err(ErrorCode::MetaTooLarge),
            _ => Ok(()),
        }
    }

    fn channels_in_use(&self, conn: ConnId) -> usize {
        let c = &self.conns[&conn];
        let entered = &self.clients[&c.client].channels;
        entered.len() + c.subscriptions.iter().filter(|ch| !entered.contains_key(*ch)).count()
    }

    fn channel_mut(&mut self, now: Instant, ch: &str, count_only: bool) -> &mut Channel {
        self.channels.entry(ch.to_string()).or_default().count_only = count_only;
        self.mark_dirty(now, ch);
        self.channels.get_mut(ch).expect("just made")
    }

    fn mark_dirty(&mut self, now: Instant, ch: &str) {
        let Some(channel) = self.channels.get_mut(ch) else {
            return;
        };
        // Leading edge: a lone change goes out at once; only changes that follow within
        // the channel's interval wait, together. (A flush set later, for snapshots held
        // in a warm-up, is brought forward.)
        let interval = self
            .config
            .flush_interval_for(channel.subscribers.len() + channel.awaiting.len());
        let at = channel.last_flush.map_or(now, |last| last + interval).max(now);
        if channel.flush_at.is_none_or(|set| at < set) {
            channel.flush_at = Some(at);
            self.flushes.push(Reverse((at, ch.to_string())));
        }
    }

    fn arm(&mut self, at: Instant, timer: Timer) {
        self.timers.push(Reverse((at, timer)));
    }

    /// One diff for the channel's subscribers, then one snapshot for those who
    /// subscribed since the last flush.
    fn flush(&mut self, now: Instant, due: Instant, ch: String) {
        let release = self.held_until(now);
        {
            // An entry left by a channel that was dropped and made again is stale.
            let Some(channel) = self.channels.get_mut(&ch).filter(|c| c.flush_at == Some(due)) else {
                return;
            };
            channel.flush_at = None;
            channel.last_flush = Some(now);
            let pending = std::mem::take(&mut channel.pending);
            let ended = std::mem::take(&mut channel.ended);
            let count = channel.members.len();
            let (mut join, mut leave, mut update) = (Vec::new(), Vec::new(), Vec::new());
            for (user, before) in pending {
                if self.sharing {
                    let local = channel.members.get(&user).and_then(MemberState::local_view);
                    if local.as_ref() != channel.shared.get(&user) {
                        match &local {
                            Some(view) => channel.shared.insert(user.clone(), view.clone()),
                            None => channel.shared.remove(&user),
                        };
                        let cause = if local.is_none() {
                            ended.get(&user).copied()
                        } else {
                            None
                        };
                        self.outputs.push_back(Output::Share {
                            ch: ch.clone(),
                            user: user.clone(),
                            view: local,
                            cause,
                        });
                    }
                }
                let after = channel.members.get(&user).map(MemberState::view);
                match (before, after) {
                    (None, Some(now)) => join.push(now),
                    (Some(_), None) => leave.push(user),
                    (Some(before), Some(now)) if before != now => update.push(now),
                    _ => {}
                }
            }
            // A capped list: the shared diff tells only what changes in the shared part;
            // what happens beyond it goes to the followers of whom it concerns.
            let mut focus: HashMap<ConnId, (Vec<Member>, Vec<String>, Vec<Member>)> = HashMap::new();
            if let (Some(list), false) = (&mut channel.list, channel.count_only) {
                let ids = |members: &[Member]| members.iter().map(|m| m.id.clone()).collect::<Vec<_>>();
                let mut joined = ids(&join);
                joined.sort();
                let changes = list.apply(&joined, &leave, &ids(&update));
                let view = |user: &String| channel.members.get(user).map(MemberState::view);
                join = changes.shown.iter().filter_map(view).collect();
                leave = changes.unshown;
                update = changes.updated.iter().filter_map(view).collect();
                let subscribers = &channel.subscribers;
                let mut tell = |user: &String, f: &mut dyn FnMut(&mut (Vec<Member>, Vec<String>, Vec<Member>))| {
                    for conn in list.followers(user).filter(|c| subscribers.contains(c)) {
                        f(focus.entry(conn).or_default());
                    }
                };
                for user in &changes.hidden_joined {
                    if let Some(m) = view(user) {
                        tell(user, &mut |f| f.0.push(m.clone()));
                    }
                }
                for user in &changes.hidden_left {
                    tell(user, &mut |f| f.1.push(user.clone()));
                }
                for user in &changes.hidden_updated {
                    if let Some(m) = view(user) {
                        tell(user, &mut |f| f.2.push(m.clone()));
                    }
                }
            }
            let changed = if channel.count_only {
                count != channel.sent_count
            } else if channel.list.is_some() {
                count != channel.sent_count || !(join.is_empty() && leave.is_empty() && update.is_empty())
            } else {
                !(join.is_empty() && leave.is_empty() && update.is_empty())
            };
            if changed {
                channel.seq += 1;
                channel.sent_count = count;
                if !channel.subscribers.is_empty() {
                    if channel.count_only {
                        (join, leave, update) = (Vec::new(), Vec::new(), Vec::new());
                    } else {
                        // Deterministic order for subscribers and tests.
                        join.sort_by(|a, b| a.id.cmp(&b.id));
                        leave.sort();
                        update.sort_by(|a, b| a.id.cmp(&b.id));
                    }
                    let frame = ServerMsg::Diff {
                        ch: ch.clone(),
                        seq: channel.seq,
                        count,
                        join,
                        leave,
                        update,
                    }
                    .encode();
                    let mut to: Vec<ConnId> = channel.subscribers.iter().copied().collect();
                    to.sort_unstable();
                    self.stats.diffs_sent += to.len() as u64;
                    self.outputs.push_back(Output::Deliver { to, frame });
                }
            }
            if !channel.held.is_empty() {
                match release {
                    None => channel.awaiting.append(&mut channel.held),
                    Some(at) if channel.flush_at.is_none() => {
                        channel.flush_at = Some(at);
                        self.flushes.push(Reverse((at, ch.clone())));
                    }
                    Some(_) => {}
                }
            }
            let mut focus: Vec<_> = focus.into_iter().collect();
            focus.sort_unstable_by_key(|(conn, _)| *conn);
            for (conn, (join, leave, update)) in focus {
                let msg = ServerMsg::Focus {
                    ch: ch.clone(),
                    join,
                    leave,
                    update,
                };
                self.outputs.push_back(Output::Send { conn, msg });
            }
            match (&channel.list, channel.count_only) {
                _ if channel.awaiting.is_empty() => {}
                (Some(list), false) => {
                    // The shared part once, then each newcomer's own people beside it.
                    let shown: Vec<Member> = list
                        .shown()
                        .filter_map(|u| channel.members.get(u).map(MemberState::view))
                        .collect();
                    let to = std::mem::take(&mut channel.awaiting);
                    for &conn in &to {
                        let mut users = shown.clone();
                        for user in list.follows(conn).iter().filter(|u| !list.is_shown(u)) {
                            users.extend(channel.members.get(user).map(MemberState::view));
                        }
                        let msg = ServerMsg::Snapshot {
                            ch: ch.clone(),
                            seq: channel.seq,
                            count,
                            users: Some(users),
                            cap: Some(list.cap()),
                        };
                        self.outputs.push_back(Output::Send { conn, msg });
                    }
                    channel.subscribers.extend(to.iter().copied());
                    self.stats.snapshots_sent += to.len() as u64;
                }
                _ => {
                    let users =
                        (!channel.count_only).then(|| channel.members.values().map(MemberState::view).collect());
                    let frame = ServerMsg::Snapshot {
                        ch: ch.clone(),
                        seq: channel.seq,
                        count,
                        users,
                        cap: None,
                    }
                    .encode();
                    let to: Vec<ConnId> = std::mem::take(&mut channel.awaiting).into_iter().collect();
                    channel.subscribers.extend(to.iter().copied());
                    self.stats.snapshots_sent += to.len() as u64;
                    self.outputs.push_back(Output::Deliver { to, frame });
                }
            }
            if channel.is_idle() {
                self.channels.remove(&ch);
            }
        }
    }
}
