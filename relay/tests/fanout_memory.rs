//! A connection's memory does not depend on the size of the channels it watches: one
//! large snapshot written to many subscribers is shared, not copied per connection,
//! and once it has gone out the relay is back to its idle size.

#![cfg(target_os = "linux")]

mod common;

use common::{rss, RelayProcess, TestClient};
use rollcall_core::protocol::ServerMsg;
use serde_json::json;

const CH: &str = "/site/online";
/// Members with a meta of about 900 bytes each: a snapshot of ~180 KB.
const MEMBERS: usize = 200;
const WATCHERS: usize = 250;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_snapshot_to_many_subscribers_is_shared_and_memory_returns_to_idle() {
    let relay = RelayProcess::spawn("", None);
    let mut members = Vec::new();
    for i in 0..MEMBERS {
        let mut c = relay.client(&format!("member-{i:04}"), "c").await;
        c.enter(CH, json!({ "bio": "x".repeat(900) })).await.unwrap();
        members.push(c);
    }
    let mut watchers: Vec<TestClient> = Vec::new();
    for i in 0..WATCHERS {
        watchers.push(relay.client(&format!("watcher-{i:04}"), "w").await);
    }
    let idle = rss(relay.pid());
    // Everyone asks at once; each reads its whole snapshot.
    for w in &mut watchers {
        w.send(json!({"type": "subscribe", "ch": CH})).await;
    }
    let mut snapshot_bytes = 0;
    for w in &mut watchers {
        loop {
            if let ServerMsg::Snapshot { users, .. } = w.recv().await {
                let users = users.expect("a listed channel");
                assert_eq!(users.len(), MEMBERS);
                snapshot_bytes = serde_json::to_string(&users).unwrap().len();
                break;
            }
        }
    }
    let after = rss(relay.pid());
    let copies = (snapshot_bytes * WATCHERS) as u64;
    let grew = after.saturating_sub(idle);
    eprintln!(
        "idle {} KB, after {} KB: +{} KB for {WATCHERS} x {} KB",
        idle / 1024,
        after / 1024,
        grew / 1024,
        snapshot_bytes / 1024
    );
    // A copy per connection would be `copies` (about 45 MB); shared, the snapshot is
    // held once while it is written, and what stays is allocator slack.
    assert!(
        grew < copies / 5,
        "the relay grew by {} KB for {WATCHERS} subscribers of a {} KB snapshot ({} KB if copied)",
        grew / 1024,
        snapshot_bytes / 1024,
        copies / 1024
    );
    drop(members);
}
