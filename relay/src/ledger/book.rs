//! The ledger's rules: which sessions are open, how their time splits into active, idle
//! and hidden, and which webhook events a change produces. Pure: every input carries
//! `now` (unix milliseconds), and the outputs are [`Write`]s that the shell applies to
//! the database in one transaction.
//!
//! A user session runs from `user.online` to `user.offline`; a channel session from
//! `channel.join` to `channel.leave`. Time is accounted in segments of one status: a
//! segment closes when the status changes or the session ends, and its milliseconds go
//! to the session and (for user sessions) to the UTC days it spans.
//!
//! After a restart, the sessions the previous run left open are [restored](Book::restore):
//! a user who reconnects before the grace is over simply goes on (no `user.online`
//! twice), and whatever nobody claims ends at the last moment the previous run was known
//! to be alive, with the webhook events a site needs so that no flag stays stuck.

use crate::clock::{day_of, Ms, DAY_MS};
use crate::webhooks::event::{Kind, Notice};
use rollcall_core::protocol::{Identity, Status};
use rollcall_core::roster::Event;
use rollcall_core::vecmap::VecMap;
use std::collections::{BTreeMap, BTreeSet};

/// The end cause of sessions that a restart ended.
pub const RESTART_CAUSE: &str = "relay_restart";
/// The end cause of a user session.
pub const OFFLINE_CAUSE: &str = "offline";

/// Milliseconds by activity status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Split {
    pub active_ms: u64,
    pub idle_ms: u64,
    pub hidden_ms: u64,
}

impl Split {
    pub fn of(status: Status, ms: u64) -> Split {
        let mut split = Split::default();
        split.add(status, ms);
        split
    }

    pub fn add(&mut self, status: Status, ms: u64) {
        match status {
            Status::Active => self.active_ms += ms,
            Status::Idle => self.idle_ms += ms,
            Status::Hidden => self.hidden_ms += ms,
        }
    }

    pub fn plus(self, other: Split) -> Split {
        Split {
            active_ms: self.active_ms + other.active_ms,
            idle_ms: self.idle_ms + other.idle_ms,
            hidden_ms: self.hidden_ms + other.hidden_ms,
        }
    }

    /// All the time online, whatever the status.
    pub fn online_ms(&self) -> u64 {
        self.active_ms + self.idle_ms + self.hidden_ms
    }
}

/// One user session (`channel` is `None`) or one channel session.
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    pub id: i64,
    pub user: String,
    pub channel: Option<String>,
    pub started: Ms,
    pub ended: Option<Ms>,
    pub cause: Option<String>,
    /// The status of the segment running since `since`.
    pub status: Status,
    pub since: Ms,
    /// The time accounted up to `since`.
    pub split: Split,
}

impl Session {
    fn open(id: i64, user: &str, channel: Option<&str>, at: Ms) -> Session {
        Session {
            id,
            user: user.to_string(),
            channel: channel.map(str::to_string),
            started: at,
            ended: None,
            cause: None,
            status: Status::Active,
            since: at,
            split: Split::default(),
        }
    }

    /// Close the running segment at `now`: returns it as (from, to, status).
    fn accrue(&mut self, now: Ms) -> (Ms, Ms, Status) {
        let from = self.since;
        let to = now.max(from);
        self.split.add(self.status, to - from);
        self.since = to;
        (from, to, self.status)
    }

    /// The split as of `now`, counting the running segment of an open session.
    pub fn split_at(&self, now: Ms) -> Split {
        let mut split = self.split;
        if self.ended.is_none() {
            split.add(self.status, now.saturating_sub(self.since));
        }
        split
    }

    /// From start to end, or to `now` while open.
    pub fn duration_at(&self, now: Ms) -> u64 {
        self.ended.unwrap_or(now).saturating_sub(self.started)
    }
}

/// The stretch from `from` to `to` cut at UTC midnights: (day, milliseconds) pairs.
pub fn by_day(from: Ms, to: Ms) -> Vec<(i64, u64)> {
    let mut out = Vec::new();
    let mut at = from;
    while at < to {
        let day = day_of(at);
        let end = ((day as u64 + 1) * DAY_MS).min(to);
        out.push((day, end - at));
        at = end;
    }
    out
}

/// What the shell writes, in order, in one transaction.
#[derive(Clone, Debug, PartialEq)]
pub enum Write {
    /// A new session.
    Open(Session),
    /// A session's status, split or end changed.
    Save(Session),
    /// Who the user is and when they were last seen.
    Seen { user: Identity, at: Ms },
    /// Time a user was online on one UTC day.
    Time { user: String, day: i64, split: Split },
    /// Tell the site.
    Notify(Notice),
}

#[derive(Debug)]
struct OpenUser {
    identity: Identity,
    session: Session,
    /// Most users are in one channel or a few: a sorted vector holds exactly them,
    /// where a `BTreeMap`'s first node is 11 sessions (2 KB a user).
    channels: VecMap<String, Session>,
}

/// Sessions a previous run left open, waiting for their users to come back.
#[derive(Debug)]
struct Restored {
    until: Ms,
    /// The last moment the previous run was known to be alive.
    alive: Ms,
    users: BTreeSet<String>,
    channels: BTreeSet<(String, String)>,
}

/// The open sessions and the rules that change them.
#[derive(Debug)]
pub struct Book {
    next_id: i64,
    users: BTreeMap<String, OpenUser>,
    /// Users with an open session per channel: occupied and vacated follow from it.
    occupancy: BTreeMap<String, usize>,
    restored: Option<Restored>,
    out: Vec<Write>,
}

/// A user as the book knows them now.
#[derive(Clone, Debug, PartialEq)]
pub struct Presence {
    pub identity: Identity,
    pub session: Session,
    pub channels: Vec<String>,
}

impl Book {
    /// An empty book that numbers new sessions from `next_id`.
    pub fn new(next_id: i64) -> Book {
        Book {
            next_id,
            users: BTreeMap::new(),
            occupancy: BTreeMap::new(),
            restored: None,
            out: Vec::new(),
        }
    }

    /// Take back the sessions a previous run left open (`alive`: the last moment it was
    /// known alive). Their users have until `until` to come back; then what is still
    /// unclaimed ends at `alive`.
    pub fn restore(&mut self, open: Vec<Session>, identities: &BTreeMap<String, Identity>, alive: Ms, until: Ms) {
        let mut restored = Restored {
            until,
            alive,
            users: BTreeSet::new(),
            channels: BTreeSet::new(),
        };
        let (users, channels): (Vec<_>, Vec<_>) = open.into_iter().partition(|s| s.channel.is_none());
        for session in users {
            self.next_id = self.next_id.max(session.id + 1);
            let identity = identities.get(&session.user).cloned().unwrap_or_else(|| Identity {
                id: session.user.clone(),
                name: None,
                avatar: None,
            });
            restored.users.insert(session.user.clone());
            self.users.insert(
                session.user.clone(),
                OpenUser {
                    identity,
                    session,
                    channels: VecMap::new(),
                },
            );
        }
        for mut session in channels {
            self.next_id = self.next_id.max(session.id + 1);
            let ch = session.channel.clone().expect("partitioned");
            match self.users.get_mut(&session.user) {
                Some(user) => {
                    *self.occupancy.entry(ch.clone()).or_default() += 1;
                    restored.channels.insert((session.user.clone(), ch.clone()));
                    user.channels.insert(ch, session);
                }
                None => {
                    // A channel session without its user session: nothing to tell, but
                    // it must not stay open.
                    session.accrue(alive);
                    session.ended = Some(session.since);
                    session.cause = Some(RESTART_CAUSE.into());
                    self.out.push(Write::Save(session));
                }
            }
        }
        if !restored.users.is_empty() || !self.out.is_empty() {
            self.restored = Some(restored);
        }
    }

    /// Apply one presence event from the roster.
    pub fn handle(&mut self, now: Ms, event: &Event) {
        match event {
            Event::UserOnline { user, .. } => self.online(now, user),
            Event::UserOffline { user, .. } => self.offline(now, &user.id),
            Event::Join { ch, user, .. } => self.join(now, ch, user),
            Event::Leave { ch, user, cause, .. } => self.leave(now, ch, &user.id, cause.as_str()),
            Event::Status { ch, user, status, .. } => self.status(now, ch, user, *status),
            // Derived from joins and leaves instead, so that a channel restored after a
            // restart stays occupied.
            Event::ChannelOccupied { .. } | Event::ChannelVacated { .. } => {}
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) has work.
    pub fn poll_timeout(&self) -> Option<Ms> {
        self.restored.as_ref().map(|r| r.until)
    }

    /// End what a restart left unclaimed once its grace is over.
    pub fn handle_timeout(&mut self, now: Ms) {
        if self.restored.as_ref().is_none_or(|r| r.until > now) {
            return;
        }
        let restored = self.restored.take().expect("checked");
        let alive = restored.alive;
        let mut touched = BTreeSet::new();
        for (user, ch) in &restored.channels {
            if self.end_channel(alive, user, ch, RESTART_CAUSE) {
                touched.insert(user.clone());
            }
        }
        for user in &restored.users {
            touched.remove(user);
            self.end_user(alive, user, RESTART_CAUSE);
        }
        for user in touched {
            self.restatus(now, &user);
        }
    }

    /// What to write, in order.
    pub fn drain(&mut self) -> Vec<Write> {
        std::mem::take(&mut self.out)
    }

    /// The user's open session and channels, if online.
    pub fn presence(&self, user: &str) -> Option<Presence> {
        self.users.get(user).map(|u| Presence {
            identity: u.identity.clone(),
            session: u.session.clone(),
            channels: u.channels.keys().cloned().collect(),
        })
    }

    /// Every open session (user and channel).
    pub fn open_sessions(&self) -> impl Iterator<Item = &Session> {
        self.users
            .values()
            .flat_map(|u| std::iter::once(&u.session).chain(u.channels.values()))
    }

    fn notify(&mut self, kind: Kind, at: Ms, user: Option<&Identity>, channel: Option<&str>, cause: Option<&str>) {
        self.out.push(Write::Notify(Notice {
            kind,
            at,
            user: user.cloned(),
            channel: channel.map(str::to_string),
            cause: cause.map(str::to_string),
        }));
    }

    fn online(&mut self, now: Ms, identity: &Identity) {
        if let Some(restored) = &mut self.restored {
            if restored.users.remove(&identity.id) {
                if let Some(user) = self.users.get_mut(&identity.id) {
                    user.identity = identity.clone();
                }
                self.out.push(Write::Seen {
                    user: identity.clone(),
                    at: now,
                });
                return;
            }
        }
        if self.users.contains_key(&identity.id) {
            return;
        }
        let session = Session::open(self.take_id(), &identity.id, None, now);
        self.out.push(Write::Open(session.clone()));
        self.out.push(Write::Seen {
            user: identity.clone(),
            at: now,
        });
        self.users.insert(
            identity.id.clone(),
            OpenUser {
                identity: identity.clone(),
                session,
                channels: VecMap::new(),
            },
        );
        self.notify(Kind::UserOnline, now, Some(identity), None, None);
    }

    fn offline(&mut self, now: Ms, user: &str) {
        if self.restored.as_ref().is_some_and(|r| r.users.contains(user)) {
            // Still the previous run's: this run never saw the user come back.
            return;
        }
        self.end_user(now, user, OFFLINE_CAUSE);
    }

    fn join(&mut self, now: Ms, ch: &str, identity: &Identity) {
        if !self.users.contains_key(&identity.id)
            || self.restored.as_ref().is_some_and(|r| r.users.contains(&identity.id))
        {
            self.online(now, identity);
        }
        let key = (identity.id.clone(), ch.to_string());
        if self.restored.as_mut().is_some_and(|r| r.channels.remove(&key)) {
            return;
        }
        if self.users[&identity.id].channels.contains_key(ch) {
            return;
        }
        let session = Session::open(self.take_id(), &identity.id, Some(ch), now);
        let user = self.users.get_mut(&identity.id).expect("online above");
        user.channels.insert(ch.to_string(), session.clone());
        self.out.push(Write::Open(session));
        let count = self.occupancy.entry(ch.to_string()).or_default();
        *count += 1;
        if *count == 1 {
            self.notify(Kind::ChannelOccupied, now, None, Some(ch), None);
        }
        self.notify(Kind::ChannelJoin, now, Some(identity), Some(ch), None);
        self.restatus(now, &identity.id);
    }

    fn leave(&mut self, now: Ms, ch: &str, user: &str, cause: &str) {
        if self.end_channel(now, user, ch, cause) {
            self.restatus(now, user);
        }
    }

    fn status(&mut self, now: Ms, ch: &str, user: &str, status: Status) {
        let Some(session) = self.users.get_mut(user).and_then(|u| u.channels.get_mut(ch)) else {
            return;
        };
        if session.status == status {
            return;
        }
        session.accrue(now);
        session.status = status;
        self.out.push(Write::Save(session.clone()));
        self.restatus(now, user);
    }

    /// A user's status is the most active of their channels' (active with none).
    fn restatus(&mut self, now: Ms, user: &str) {
        let Some(open) = self.users.get_mut(user) else {
            return;
        };
        let status = open.channels.values().map(|s| s.status).max().unwrap_or(Status::Active);
        if open.session.status == status {
            return;
        }
        let segment = open.session.accrue(now);
        open.session.status = status;
        let session = open.session.clone();
        self.account(user, segment);
        self.out.push(Write::Save(session));
    }

    /// Book a closed segment of a user session on the days it spans.
    fn account(&mut self, user: &str, (from, to, status): (Ms, Ms, Status)) {
        for (day, ms) in by_day(from, to) {
            self.out.push(Write::Time {
                user: user.to_string(),
                day,
                split: Split::of(status, ms),
            });
        }
    }

    /// End one channel session at `at`; false if it was not open.
    fn end_channel(&mut self, at: Ms, user: &str, ch: &str, cause: &str) -> bool {
        let Some(open) = self.users.get_mut(user) else {
            return false;
        };
        let Some(mut session) = open.channels.remove(ch) else {
            return false;
        };
        let identity = open.identity.clone();
        session.accrue(at);
        session.ended = Some(session.since);
        session.cause = Some(cause.to_string());
        self.out.push(Write::Save(session));
        self.notify(Kind::ChannelLeave, at, Some(&identity), Some(ch), Some(cause));
        if let Some(count) = self.occupancy.get_mut(ch) {
            *count -= 1;
            if *count == 0 {
                self.occupancy.remove(ch);
                self.notify(Kind::ChannelVacated, at, None, Some(ch), None);
            }
        }
        true
    }

    /// End a user session (and any channel session left) at `at`.
    fn end_user(&mut self, at: Ms, user: &str, cause: &str) {
        let channels: Vec<String> = match self.users.get(user) {
            Some(open) => open.channels.keys().cloned().collect(),
            None => return,
        };
        for ch in channels {
            self.end_channel(at, user, &ch, cause);
        }
        let mut open = self.users.remove(user).expect("checked");
        let segment = open.session.accrue(at);
        self.account(user, segment);
        open.session.ended = Some(open.session.since);
        open.session.cause = Some(cause.to_string());
        let end = open.session.since;
        self.out.push(Write::Save(open.session));
        self.out.push(Write::Seen {
            user: open.identity.clone(),
            at: end,
        });
        self.notify(Kind::UserOffline, end, Some(&open.identity), None, None);
    }

    fn take_id(&mut self) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }
}
