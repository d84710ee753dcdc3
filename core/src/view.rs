//! A channel as one subscriber sees it: snapshot, then consecutive diffs and focus
//! frames. Kept by the leader's `Client` and by every follower tab alike.

use crate::protocol::{Member, ServerMsg};

/// A channel's members sorted by id: found by binary search, kept in one vector
/// (smaller in the browser's wasm than a map, and as fast for what a page shows).
#[derive(Clone, Debug, Default, PartialEq)]
struct Members(Vec<Member>);

impl Members {
    /// Sorted by inserting each in place rather than with `sort`: the relay sends
    /// snapshots in id order (so each lands at the end), and the slice sorts would add
    /// kilobytes to the browser's wasm. The first of two equal ids is kept.
    fn new(members: impl IntoIterator<Item = Member>) -> Members {
        let mut list = Members(Vec::new());
        for member in members {
            if let Err(i) = list.find(&member.id) {
                list.0.insert(i, member);
            }
        }
        list
    }

    fn find(&self, id: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|m| m.id.as_str().cmp(id))
    }

    fn get(&self, id: &str) -> Option<&Member> {
        self.find(id).ok().map(|i| &self.0[i])
    }

    fn remove(&mut self, id: &str) -> Option<Member> {
        self.find(id).ok().map(|i| self.0.remove(i))
    }

    /// Insert or replace; returns the member replaced.
    fn upsert(&mut self, member: Member) -> Option<Member> {
        match self.find(&member.id) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i], member)),
            Err(i) => {
                self.0.insert(i, member);
                None
            }
        }
    }
}

/// What applying a frame to a [`ChannelView`] did.
#[derive(Clone, Debug, PartialEq)]
pub enum Applied {
    /// In order: these are the changes to show.
    Changed(Vec<Change>),
    /// Already seen, or a diff before the snapshot it belongs to: nothing to do.
    Stale,
    /// A diff skipped a sequence number: the view waits for a fresh snapshot.
    Gap,
}

/// One user's change, as the page's `join`/`leave`/`update` listeners see it.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    Join(Member),
    /// The user as last seen (only the id on count-only channels).
    Leave(Member),
    Update(Member),
}

/// A channel's state as one subscriber sees it: snapshot, then consecutive diffs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChannelView {
    seq: Option<u64>,
    count: usize,
    /// `None` on count-only channels.
    users: Option<Members>,
    /// The relay caps this channel's list: `users` holds at most this many of the
    /// shared list, plus this client and the people it follows.
    cap: Option<usize>,
    /// Ignore diffs until the next snapshot (after a gap or a reconnect).
    awaiting: bool,
    /// Made from an initial state the page gave.
    initial: bool,
}

impl ChannelView {
    /// A view shown before any snapshot, e.g. from a server-rendered initial state.
    pub fn with_initial(count: usize, users: Option<Vec<Member>>) -> ChannelView {
        ChannelView {
            seq: None,
            count,
            users: users.map(Members::new),
            cap: None,
            awaiting: true,
            initial: true,
        }
    }

    pub fn seq(&self) -> Option<u64> {
        self.seq
    }

    pub fn count(&self) -> usize {
        self.count
    }

    /// The cap of a capped list: then [`ChannelView::users`] is part of the channel and
    /// [`ChannelView::count`] still counts everyone.
    pub fn cap(&self) -> Option<usize> {
        self.cap
    }

    pub fn is_count_only(&self) -> bool {
        self.seq.is_some() && self.users.is_none()
    }

    pub fn has_snapshot(&self) -> bool {
        self.seq.is_some()
    }

    /// Is there a state to show: a snapshot, or an initial state given by the page?
    pub fn is_known(&self) -> bool {
        self.seq.is_some() || self.initial
    }

    /// Users ordered by id; empty on count-only channels.
    pub fn users(&self) -> impl Iterator<Item = &Member> {
        self.users.iter().flat_map(|u| u.0.iter())
    }

    /// Wait for the next snapshot before applying diffs again.
    pub fn await_snapshot(&mut self) {
        self.awaiting = true;
    }

    /// This view as a snapshot frame, to bring another tab up to date.
    pub fn snapshot(&self, ch: &str) -> Option<ServerMsg> {
        Some(ServerMsg::Snapshot {
            ch: ch.to_string(),
            seq: self.seq?,
            count: self.count,
            users: self.users.as_ref().map(|u| u.0.clone()),
            cap: self.cap,
        })
    }

    /// Apply a snapshot (replaces everything, reporting the difference), a diff
    /// (`join`/`update` are upserts, `leave` removes; only `seq + 1` is accepted) or a
    /// focus (the same without `seq` or `count`, on top of the state it follows).
    ///
    /// `join` means a user came, so a view that knew nobody yet (no snapshot, no
    /// initial users) reports no change for its first snapshot: the users already there
    /// are the state, not arrivals. A later snapshot (after a gap or a reconnect)
    /// reports only the difference from what was shown.
    pub fn apply(&mut self, msg: &ServerMsg) -> Applied {
        match msg {
            ServerMsg::Snapshot {
                seq, count, users, cap, ..
            } => {
                let new = users.as_ref().map(|u| Members::new(u.iter().cloned()));
                let mut changes = Vec::new();
                let knew = self.seq.is_some() || self.users.is_some();
                let empty = Members::default();
                let old = self.users.as_ref().unwrap_or(&empty);
                if let (true, Some(new)) = (knew, &new) {
                    for member in &old.0 {
                        if new.get(&member.id).is_none() {
                            changes.push(Change::Leave(member.clone()));
                        }
                    }
                    for member in &new.0 {
                        match old.get(&member.id) {
                            None => changes.push(Change::Join(member.clone())),
                            Some(before) if before != member => changes.push(Change::Update(member.clone())),
                            Some(_) => {}
                        }
                    }
                }
                self.seq = Some(*seq);
                self.count = *count;
                self.users = new;
                self.cap = *cap;
                self.awaiting = false;
                Applied::Changed(changes)
            }
            ServerMsg::Diff {
                seq,
                count,
                join,
                leave,
                update,
                ..
            } => {
                let Some(current) = self.seq.filter(|_| !self.awaiting) else {
                    return Applied::Stale;
                };
                if *seq <= current {
                    return Applied::Stale;
                }
                if *seq != current + 1 {
                    self.awaiting = true;
                    return Applied::Gap;
                }
                self.seq = Some(*seq);
                self.count = *count;
                Applied::Changed(self.upsert(join, leave, update))
            }
            // Sent only to a connection whose snapshot came first, and only until it
            // subscribes again: one that arrives while awaiting is about a state the
            // next snapshot replaces.
            ServerMsg::Focus {
                join, leave, update, ..
            } if self.seq.is_some() && !self.awaiting => Applied::Changed(self.upsert(join, leave, update)),
            _ => Applied::Stale,
        }
    }

    fn upsert(&mut self, join: &[Member], leave: &[String], update: &[Member]) -> Vec<Change> {
        let mut changes = Vec::new();
        if let Some(users) = &mut self.users {
            for id in leave {
                if let Some(member) = users.remove(id) {
                    changes.push(Change::Leave(member));
                }
            }
            for member in join.iter().chain(update) {
                match users.upsert(member.clone()) {
                    None => changes.push(Change::Join(member.clone())),
                    Some(before) if &before != member => changes.push(Change::Update(member.clone())),
                    Some(_) => {}
                }
            }
        }
        changes
    }
}
