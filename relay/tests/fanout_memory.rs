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

/// A relay that goes quiet after a burst gives back what the burst used within seconds
/// (jemalloc's background purging, `relay/src/main.rs`), rather than keeping it for as
/// long as nothing allocates: after a reconnect storm, most relays are exactly that quiet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_burst_used_goes_back_to_the_system_while_the_relay_is_quiet() {
    const CLIENTS: usize = 1_500;
    let relay = RelayProcess::spawn("[presence]\nreconnect_grace_ms = 100\n", None);
    let idle = rss(relay.pid());
    let mut clients = Vec::new();
    for i in 0..CLIENTS {
        let mut c = relay.client(&format!("burst-{i:05}"), "c").await;
        c.enter(CH, json!({ "bio": "x".repeat(900) })).await.unwrap();
        clients.push(c);
    }
    let peak = rss(relay.pid());
    let grew = peak.saturating_sub(idle);
    assert!(
        grew > 4 << 20,
        "{CLIENTS} connections grew the relay by {} KB only",
        grew / 1024
    );
    drop(clients);
    // What the connections held (their tasks, sockets and buffers) is freed; the
    // roster's tables keep their size and the ledger its rows. With jemalloc's defaults
    // the freed pages stayed (release build: the RSS even grew, to 23 MB over idle 10 s
    // later, against 13 MB with the purge). Nothing to await but the allocator's clock:
    // read the RSS until a fifth of the burst is back, for at most 10 s (the purge is
    // due about a second after the frees).
    let back = peak - grew / 5;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut now = peak;
    while now > back && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        now = rss(relay.pid());
    }
    eprintln!(
        "idle {} KB, peak {} KB, quiet {} KB",
        idle / 1024,
        peak / 1024,
        now / 1024
    );
    assert!(
        now <= back,
        "10 s after {CLIENTS} connections ended the relay still held {} KB of the {} KB they grew it by",
        now.saturating_sub(idle) / 1024,
        grew / 1024
    );
}
