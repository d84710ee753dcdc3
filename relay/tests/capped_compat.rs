//! Capped lists and clients written for protocol 1.0: a subscriber that sends no
//! `friends`, knows only `snapshot` and `diff` and ignores every other frame (as the
//! protocol tells a client to) still has the channel's shared list and its exact count.

mod common;

use common::*;
use rollcall_core::protocol::ServerMsg;
use serde_json::json;
use std::collections::BTreeSet;

const CH: &str = "/site/online";

const CAPPED: &str = r#"
[presence]
checkin_interval_ms = 1000
lease_timeout_ms = 1500
unload_grace_ms = 300
reconnect_grace_ms = 600
flush_interval_ms = 10

[[channel]]
pattern = "/site/*"
list_cap = 2
"#;

/// What a 1.0 client keeps: a snapshot, then diffs applied in `seq` order.
#[derive(Default)]
struct OldView {
    /// `None` until the snapshot.
    seq: Option<u64>,
    count: usize,
    users: BTreeSet<String>,
    /// Frames a 1.0 client does not know, skipped.
    ignored: usize,
}

impl OldView {
    fn apply(&mut self, msg: ServerMsg) {
        match msg {
            ServerMsg::Snapshot { seq, count, users, .. } => {
                self.seq = Some(seq);
                self.count = count;
                self.users = users.unwrap_or_default().into_iter().map(|m| m.id).collect();
            }
            ServerMsg::Diff {
                seq,
                count,
                join,
                leave,
                update,
                ..
            } => {
                let Some(last) = self.seq else { return };
                assert_eq!(seq, last + 1, "diffs follow each other");
                self.seq = Some(seq);
                self.count = count;
                for id in leave {
                    self.users.remove(&id);
                }
                self.users.extend(join.into_iter().chain(update).map(|m| m.id));
            }
            ServerMsg::Focus { .. } => self.ignored += 1,
            _ => {}
        }
    }

    /// Read frames until the count is `count` and the list is `users`.
    async fn until(&mut self, c: &mut TestClient, count: usize, users: &[&str]) {
        let want: BTreeSet<String> = users.iter().map(|u| u.to_string()).collect();
        while self.seq.is_none() || self.count != count || self.users != want {
            self.apply(c.recv().await);
        }
    }
}

#[tokio::test]
async fn a_subscriber_without_friends_that_ignores_focus_sees_the_shared_list_and_the_exact_count() {
    let relay = TestRelay::start(CAPPED).await;
    let mut old = relay.connect("old", "o1").await;
    // A 1.0 subscribe: no friends field.
    old.send(json!({"type": "subscribe", "ch": CH, "ref": 100})).await;
    let mut view = OldView::default();
    view.until(&mut old, 0, &[]).await;

    let mut people = Vec::new();
    for (i, user) in ["a", "b", "c", "d"].into_iter().enumerate() {
        let mut p = relay.connect(user, &format!("{user}1")).await;
        p.enter(CH, json!({})).await.unwrap();
        people.push(p);
        let shown: Vec<&str> = ["a", "b"].into_iter().take(i + 1).collect();
        view.until(&mut old, i + 1, &shown).await;
    }
    assert_eq!(view.users.len(), 2, "the first two to arrive, however many come");

    // Its user enters too (from another client: this socket only reads), outside the
    // shared list: that arrival is a focus frame it ignores; the count stays exact.
    let mut other = relay.connect("old", "o2").await;
    other.enter(CH, json!({})).await.unwrap();
    view.until(&mut old, 5, &["a", "b"]).await;

    // A place frees up: the one who waited longest (c) takes it, in the shared diff.
    let a = people.remove(0);
    a.close_unloading().await;
    view.until(&mut old, 4, &["b", "c"]).await;

    // A fresh snapshot (what a 1.0 client asks after a gap) agrees with the diffs: the
    // shared list, plus the subscriber itself, which it follows.
    let fresh = old.subscribe(CH).await;
    assert_eq!(fresh, ["b", "c", "old"]);
    // Every frame was one it can read or skip, and it was told about itself only by focus.
    assert!(view.ignored >= 1, "its own arrival came as focus");
    drop((people, other));
}
