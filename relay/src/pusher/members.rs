//! One presence channel as one Pusher socket sees it: rollcall's snapshot becomes
//! `pusher_internal:subscription_succeeded`, its diffs become `member_added` and
//! `member_removed`.
//!
//! The roster already sends a join only for a user's first client and a leave only after
//! the last, so a second tab of a user adds no member and a refresh within the grace
//! removes none. What is left here is Pusher's view: a socket is never told about its
//! own user (it learns itself from the subscription's hash), and an id is announced only
//! when it changes from absent to present or back, since a diff may repeat what the
//! snapshot already showed.

use rollcall_core::protocol::Member;
use serde_json::{json, Map, Value};
use std::collections::HashSet;

/// The members one socket knows in one channel.
#[derive(Debug)]
pub struct Members {
    me: String,
    known: HashSet<String>,
    ready: bool,
}

impl Members {
    /// For a socket subscribed as user `me`.
    pub fn new(me: &str) -> Members {
        Members {
            me: me.to_string(),
            known: HashSet::new(),
            ready: false,
        }
    }

    /// The data of `pusher_internal:subscription_succeeded` for a snapshot's users.
    pub fn snapshot(&mut self, users: &[Member]) -> Value {
        self.ready = true;
        self.known = users.iter().map(|m| m.id.clone()).collect();
        let ids: Vec<&str> = users.iter().map(|m| m.id.as_str()).collect();
        let hash: Map<String, Value> = users.iter().map(|m| (m.id.clone(), user_info(m))).collect();
        json!({"presence": {"ids": ids, "hash": hash, "count": users.len()}})
    }

    /// The `(event, data)` pairs a diff means for this socket. Nothing before the
    /// snapshot: the subscription's hash will hold it.
    pub fn diff(&mut self, join: &[Member], leave: &[String]) -> Vec<(&'static str, Value)> {
        let mut events = Vec::new();
        if !self.ready {
            return events;
        }
        for id in leave {
            if *id != self.me && self.known.remove(id) {
                events.push(("pusher_internal:member_removed", json!({ "user_id": id })));
            }
        }
        for m in join {
            if m.id != self.me && self.known.insert(m.id.clone()) {
                events.push((
                    "pusher_internal:member_added",
                    json!({"user_id": m.id, "user_info": user_info(m)}),
                ));
            }
        }
        events
    }
}

/// A member's `user_info` for Pusher clients: the name and avatar rollcall knows, then
/// the member's meta (a Pusher user's own `user_info` is kept there whole).
pub fn user_info(m: &Member) -> Value {
    let mut info = Map::new();
    if let Some(name) = &m.name {
        info.insert("name".into(), Value::String(name.clone()));
    }
    if let Some(avatar) = &m.avatar {
        info.insert("avatar".into(), Value::String(avatar.clone()));
    }
    for (k, v) in &m.meta {
        info.insert(k.clone(), v.clone());
    }
    Value::Object(info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollcall_core::protocol::Status;

    fn member(id: &str, name: Option<&str>, meta: Value) -> Member {
        Member {
            id: id.into(),
            name: name.map(str::to_string),
            avatar: None,
            status: Status::Active,
            meta: meta.as_object().cloned().unwrap_or_default(),
        }
    }

    #[test]
    fn the_snapshot_is_pushers_presence_hash_with_the_socket_itself_in_it() {
        let mut m = Members::new("7");
        let data = m.snapshot(&[
            member("7", Some("ann"), json!({})),
            member("9", None, json!({"role": "editor"})),
        ]);
        assert_eq!(
            data,
            json!({"presence": {"ids": ["7", "9"], "hash": {"7": {"name": "ann"}, "9": {"role": "editor"}}, "count": 2}})
        );
    }

    #[test]
    fn a_diff_announces_others_once_and_never_the_socket_itself() {
        let mut m = Members::new("7");
        assert!(
            m.diff(&[member("9", None, json!({}))], &[]).is_empty(),
            "nothing before the snapshot"
        );
        m.snapshot(&[member("7", None, json!({})), member("9", None, json!({}))]);
        // 9 repeated from the snapshot, 7 is this socket's user: only 12 is news.
        let events = m.diff(
            &[
                member("9", None, json!({})),
                member("7", None, json!({})),
                member("12", Some("cy"), json!({})),
            ],
            &[],
        );
        assert_eq!(
            events,
            vec![(
                "pusher_internal:member_added",
                json!({"user_id": "12", "user_info": {"name": "cy"}})
            )]
        );
        let events = m.diff(&[], &["9".into(), "9".into(), "7".into(), "44".into()]);
        assert_eq!(
            events,
            vec![("pusher_internal:member_removed", json!({"user_id": "9"}))]
        );
    }

    #[test]
    fn user_info_is_name_and_avatar_overridden_by_meta() {
        let mut m = member("1", Some("ann"), json!({"name": "Ann B.", "x": 1}));
        m.avatar = Some("https://example.com/a.png".into());
        assert_eq!(
            user_info(&m),
            json!({"name": "Ann B.", "avatar": "https://example.com/a.png", "x": 1})
        );
    }
}
