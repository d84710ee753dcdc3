//! One presence channel as one Pusher socket sees it: rollcall's snapshot becomes
//! `pusher_internal:subscription_succeeded`, its diffs become `member_added` and
//! `member_removed`.
//!
//! The roster already sends a join only for a user's first client and a leave only after
//! the last, so a second tab of a user adds no member and a refresh within the grace
//! removes none. What is left here is Pusher's view: a socket is never told about its
//! own user (it learns itself from the subscription's hash), and a diff is applied only
//! when it comes after the snapshot (by `seq`): a diff is exactly what changed since the
//! one before, so nothing needs remembering per member. A socket's memory does not
//! depend on the size of the channel.

use rollcall_core::protocol::Member;
use serde_json::{json, Map, Value};

/// Where one socket is in one channel's stream.
#[derive(Debug)]
pub struct Members {
    me: String,
    /// The `seq` of the last snapshot or diff applied; `None` before the snapshot.
    seq: Option<u64>,
}

impl Members {
    /// For a socket subscribed as user `me`.
    pub fn new(me: &str) -> Members {
        Members {
            me: me.to_string(),
            seq: None,
        }
    }

    /// The data of `pusher_internal:subscription_succeeded` for a snapshot's users.
    pub fn snapshot(&mut self, seq: u64, users: &[Member]) -> Value {
        self.seq = Some(seq);
        let ids: Vec<&str> = users.iter().map(|m| m.id.as_str()).collect();
        let hash: Map<String, Value> = users.iter().map(|m| (m.id.clone(), user_info(m))).collect();
        json!({"presence": {"ids": ids, "hash": hash, "count": users.len()}})
    }

    /// The `(event, data)` pairs a diff means for this socket. Nothing before the
    /// snapshot (the subscription's hash will hold it) nor for a diff it already
    /// includes.
    pub fn diff(&mut self, seq: u64, join: &[Member], leave: &[String]) -> Vec<(&'static str, Value)> {
        let mut events = Vec::new();
        if self.seq.is_none_or(|last| seq <= last) {
            return events;
        }
        self.seq = Some(seq);
        for id in leave {
            if *id != self.me {
                events.push(("pusher_internal:member_removed", json!({ "user_id": id })));
            }
        }
        for m in join {
            if m.id != self.me {
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
        let data = m.snapshot(
            1,
            &[
                member("7", Some("ann"), json!({})),
                member("9", None, json!({"role": "editor"})),
            ],
        );
        assert_eq!(
            data,
            json!({"presence": {"ids": ["7", "9"], "hash": {"7": {"name": "ann"}, "9": {"role": "editor"}}, "count": 2}})
        );
    }

    #[test]
    fn a_diff_after_the_snapshot_announces_others_and_never_the_socket_itself() {
        let mut m = Members::new("7");
        assert!(
            m.diff(3, &[member("9", None, json!({}))], &[]).is_empty(),
            "nothing before the snapshot"
        );
        m.snapshot(3, &[member("7", None, json!({})), member("9", None, json!({}))]);
        assert!(
            m.diff(3, &[member("44", None, json!({}))], &[]).is_empty(),
            "a diff the snapshot includes"
        );
        // 7 is this socket's user: only 12 is news.
        let events = m.diff(
            4,
            &[member("7", None, json!({})), member("12", Some("cy"), json!({}))],
            &[],
        );
        assert_eq!(
            events,
            vec![(
                "pusher_internal:member_added",
                json!({"user_id": "12", "user_info": {"name": "cy"}})
            )]
        );
        let events = m.diff(5, &[], &["9".into(), "7".into()]);
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
