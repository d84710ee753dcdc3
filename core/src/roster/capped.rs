//! A channel's capped member list: the members every subscriber is sent (at most `cap`,
//! the first to arrive), the others waiting for a place in arrival order, and who each
//! subscriber follows besides (itself and its friends), whom it is sent wherever they
//! are.
//!
//! The shared part is the same for every subscriber, so its changes are encoded once
//! per channel like any diff; only changes about a followed member outside it are sent
//! to its followers alone. A subscriber's cost is therefore `cap` + what it follows,
//! whatever the size of the channel.

use crate::roster::ConnId;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

#[derive(Debug, Clone)]
pub struct CappedList {
    cap: usize,
    shown: BTreeSet<String>,
    /// Members not shown, by arrival, to fill a place that frees up.
    waiting: BTreeMap<u64, String>,
    arrived: HashMap<String, u64>,
    next_arrival: u64,
    followers: HashMap<String, Followers>,
    follows: HashMap<ConnId, Vec<String>>,
}

/// Who follows one user. Most users are followed by their own connection alone (each
/// subscriber follows itself): that one is kept inline, and only a user followed by
/// several gets a set (a set for one was 64 bytes more per subscriber). The set is
/// boxed so that the inline case stays 16 bytes, not a set's 48.
#[derive(Debug, Clone)]
enum Followers {
    One(ConnId),
    #[allow(clippy::box_collection)]
    Many(Box<HashSet<ConnId>>),
}

impl Followers {
    fn add(&mut self, conn: ConnId) {
        match self {
            Followers::One(one) if *one == conn => {}
            Followers::One(one) => *self = Followers::Many(Box::new(HashSet::from([*one, conn]))),
            Followers::Many(set) => {
                set.insert(conn);
            }
        }
    }

    /// Whether anyone is left.
    fn drop_conn(&mut self, conn: ConnId) -> bool {
        match self {
            Followers::One(one) => *one != conn,
            Followers::Many(set) => {
                set.remove(&conn);
                !set.is_empty()
            }
        }
    }

    fn iter(&self) -> impl Iterator<Item = ConnId> + '_ {
        let (one, many) = match self {
            Followers::One(one) => (Some(*one), None),
            Followers::Many(set) => (None, Some(set.iter().copied())),
        };
        one.into_iter().chain(many.into_iter().flatten())
    }
}

/// What one batch of member changes does to the list.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ListChanges {
    /// Entered the shared list: arrivals while there was room, and members promoted
    /// from the waiting line into a place that freed up.
    pub shown: Vec<String>,
    /// Left the channel from the shared list.
    pub unshown: Vec<String>,
    /// Changed while in the shared list.
    pub updated: Vec<String>,
    /// Arrived, left or changed outside the shared list: told to their followers only.
    pub hidden_joined: Vec<String>,
    pub hidden_left: Vec<String>,
    pub hidden_updated: Vec<String>,
}

impl CappedList {
    pub fn new(cap: usize) -> CappedList {
        CappedList {
            cap: cap.max(1),
            shown: BTreeSet::new(),
            waiting: BTreeMap::new(),
            arrived: HashMap::new(),
            next_arrival: 0,
            followers: HashMap::new(),
            follows: HashMap::new(),
        }
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    pub fn is_shown(&self, user: &str) -> bool {
        self.shown.contains(user)
    }

    /// The shared list, in id order.
    pub fn shown(&self) -> impl Iterator<Item = &String> {
        self.shown.iter()
    }

    /// Members arrived (in the order given), left, and changed. Idempotent: an arrival
    /// already listed counts as a change, a departure of someone not listed is nothing.
    pub fn apply(&mut self, joined: &[String], left: &[String], updated: &[String]) -> ListChanges {
        let mut out = ListChanges::default();
        for user in left {
            if self.shown.remove(user) {
                out.unshown.push(user.clone());
            } else if let Some(at) = self.arrived.remove(user) {
                self.waiting.remove(&at);
                out.hidden_left.push(user.clone());
            }
        }
        // Those who waited longest first, then the newcomers.
        while self.shown.len() < self.cap {
            let Some((_, user)) = self.waiting.pop_first() else {
                break;
            };
            self.arrived.remove(&user);
            self.shown.insert(user.clone());
            out.shown.push(user);
        }
        for user in joined {
            if self.shown.contains(user) || self.arrived.contains_key(user) {
                self.change(user, &mut out);
            } else if self.shown.len() < self.cap {
                self.shown.insert(user.clone());
                out.shown.push(user.clone());
            } else {
                self.arrived.insert(user.clone(), self.next_arrival);
                self.waiting.insert(self.next_arrival, user.clone());
                self.next_arrival += 1;
                out.hidden_joined.push(user.clone());
            }
        }
        for user in updated {
            self.change(user, &mut out);
        }
        out
    }

    fn change(&self, user: &String, out: &mut ListChanges) {
        if out.shown.contains(user) || out.hidden_joined.contains(user) {
            return;
        }
        if self.shown.contains(user) {
            out.updated.push(user.clone());
        } else if self.arrived.contains_key(user) {
            out.hidden_updated.push(user.clone());
        }
    }

    /// `conn` follows these users from now on (replacing what it followed).
    pub fn follow(&mut self, conn: ConnId, users: Vec<String>) {
        self.unfollow(conn);
        for user in &users {
            match self.followers.get_mut(user) {
                Some(followers) => followers.add(conn),
                None => {
                    self.followers.insert(user.clone(), Followers::One(conn));
                }
            }
        }
        self.follows.insert(conn, users);
    }

    pub fn unfollow(&mut self, conn: ConnId) {
        for user in self.follows.remove(&conn).unwrap_or_default() {
            if let Some(followers) = self.followers.get_mut(&user) {
                if !followers.drop_conn(conn) {
                    self.followers.remove(&user);
                }
            }
        }
    }

    pub fn followers(&self, user: &str) -> impl Iterator<Item = ConnId> + '_ {
        self.followers.get(user).into_iter().flat_map(Followers::iter)
    }

    /// Whom `conn` follows, in the order it said.
    pub fn follows(&self, conn: ConnId) -> &[String] {
        self.follows.get(&conn).map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn the_first_to_arrive_are_shown_and_a_freed_place_goes_to_who_waited_longest() {
        let mut list = CappedList::new(2);
        let c = list.apply(&users(&["ann", "bob", "cy", "di"]), &[], &[]);
        assert_eq!(c.shown, users(&["ann", "bob"]));
        assert_eq!(c.hidden_joined, users(&["cy", "di"]));
        let c = list.apply(&users(&["eve"]), &users(&["ann"]), &[]);
        assert_eq!(c.unshown, users(&["ann"]));
        assert_eq!(c.shown, users(&["cy"]), "cy waited longest");
        assert_eq!(c.hidden_joined, users(&["eve"]));
        let c = list.apply(&[], &users(&["di"]), &users(&["bob", "eve"]));
        assert_eq!(c.hidden_left, users(&["di"]));
        assert_eq!(c.updated, users(&["bob"]));
        assert_eq!(c.hidden_updated, users(&["eve"]));
        assert_eq!(list.shown().cloned().collect::<Vec<_>>(), users(&["bob", "cy"]));
    }

    #[test]
    fn applying_the_same_arrival_twice_is_a_change_and_an_unknown_departure_nothing() {
        let mut list = CappedList::new(1);
        list.apply(&users(&["ann", "bob"]), &[], &[]);
        let c = list.apply(&users(&["ann", "bob"]), &users(&["zed"]), &[]);
        assert_eq!(
            c,
            ListChanges {
                updated: users(&["ann"]),
                hidden_updated: users(&["bob"]),
                ..ListChanges::default()
            }
        );
    }

    #[test]
    fn followers_are_replaced_and_forgotten() {
        let mut list = CappedList::new(1);
        list.follow(7, users(&["ann", "bob"]));
        list.follow(8, users(&["bob"]));
        assert_eq!(list.followers("bob").count(), 2);
        list.follow(7, users(&["cy"]));
        assert_eq!(list.followers("ann").count(), 0);
        assert_eq!(list.follows(7), users(&["cy"]).as_slice());
        list.unfollow(8);
        assert_eq!(list.followers("bob").count(), 0);
        assert!(list.followers.is_empty() || list.followers.contains_key("cy"));
    }

    #[test]
    fn a_user_followed_by_one_then_many_then_none_is_forgotten() {
        let mut list = CappedList::new(1);
        list.follow(1, users(&["ann", "ann"]));
        assert_eq!(list.followers("ann").collect::<Vec<_>>(), vec![1]);
        list.follow(2, users(&["ann"]));
        list.follow(3, users(&["ann"]));
        let mut all: Vec<ConnId> = list.followers("ann").collect();
        all.sort();
        assert_eq!(all, vec![1, 2, 3]);
        list.unfollow(1);
        list.unfollow(3);
        assert_eq!(list.followers("ann").collect::<Vec<_>>(), vec![2]);
        list.unfollow(2);
        assert_eq!(list.followers("ann").count(), 0);
        assert!(list.followers.is_empty(), "nobody follows ann: her entry is gone");
    }
}
