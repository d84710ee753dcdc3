//! One suite, both stores: what clients see must not depend on whether the state is in
//! one relay's memory or shared by two relays through Redis (clients spread over both).

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;

const CH: &str = "/site/online";

const CONFIG: &str = r#"
[presence]
checkin_interval_ms = 1000
lease_timeout_ms = 3000
unload_grace_ms = 300
reconnect_grace_ms = 800
flush_interval_ms = 10
"#;

/// Relays and where the n-th client connects.
struct Topology {
    relays: Vec<RelayProcess>,
    _redis: Option<RedisServer>,
}

impl Topology {
    fn memory() -> Topology {
        Topology {
            relays: vec![RelayProcess::spawn(CONFIG, None)],
            _redis: None,
        }
    }

    fn redis() -> Topology {
        let redis = RedisServer::start();
        let relays = (0..2)
            .map(|_| RelayProcess::spawn(CONFIG, Some(&redis.url())))
            .collect();
        Topology {
            relays,
            _redis: Some(redis),
        }
    }

    /// Client `n` of the test, on relay `n` modulo the number of relays.
    async fn client(&self, n: usize, user: &str, client: &str) -> TestClient {
        self.relays[n % self.relays.len()].client(user, client).await
    }
}

async fn joins_updates_and_leaves_are_seen_once(t: Topology) {
    let mut watcher = t.client(0, "w", "w").await;
    watcher.subscribe(CH).await;
    let mut ann = t.client(1, "ann", "a1").await;
    ann.enter(CH, json!({"typing": false})).await.unwrap();
    assert_eq!(watcher.diff().await, ["+ann"]);
    ann.request(json!({"type": "update", "ch": CH, "meta": {"typing": true}}))
        .await
        .unwrap();
    assert_eq!(watcher.diff().await, ["~ann"]);
    ann.request(json!({"type": "leave", "ch": CH})).await.unwrap();
    assert_eq!(watcher.diff().await, ["-ann"]);
    watcher.nothing_for(Duration::from_millis(300)).await;
}

async fn two_clients_of_one_user_are_one_member(t: Topology) {
    let mut watcher = t.client(0, "w", "w").await;
    watcher.subscribe(CH).await;
    let mut laptop = t.client(1, "ann", "laptop").await;
    laptop.enter(CH, json!({})).await.unwrap();
    assert_eq!(watcher.diff().await, ["+ann"]);
    let mut phone = t.client(2, "ann", "phone").await;
    phone.enter(CH, json!({})).await.unwrap();
    laptop.request(json!({"type": "leave", "ch": CH})).await.unwrap();
    watcher.nothing_for(Duration::from_millis(300)).await;
    phone.request(json!({"type": "leave", "ch": CH})).await.unwrap();
    assert_eq!(watcher.diff().await, ["-ann"]);
}

async fn a_refresh_shows_nothing_and_a_close_leaves_after_the_grace(t: Topology) {
    let mut watcher = t.client(0, "w", "w").await;
    watcher.subscribe(CH).await;
    let mut ann = t.client(1, "ann", "a1").await;
    ann.enter(CH, json!({})).await.unwrap();
    assert_eq!(watcher.diff().await, ["+ann"]);
    ann.close_unloading().await;
    // The reloaded page may land on any relay.
    let mut again = t.client(2, "ann", "a1").await;
    again.enter(CH, json!({})).await.unwrap();
    watcher.nothing_for(Duration::from_millis(1_000)).await;
    again.close_unloading().await;
    assert_eq!(watcher.diff().await, ["-ann"]);
}

async fn a_dropped_connection_leaves_after_the_reconnect_grace(t: Topology) {
    let mut watcher = t.client(0, "w", "w").await;
    watcher.subscribe(CH).await;
    let mut ann = t.client(1, "ann", "a1").await;
    ann.enter(CH, json!({})).await.unwrap();
    assert_eq!(watcher.diff().await, ["+ann"]);
    let dropped = std::time::Instant::now();
    ann.drop_tcp();
    assert_eq!(watcher.diff().await, ["-ann"]);
    assert!(
        dropped.elapsed() >= Duration::from_millis(700),
        "{:?}",
        dropped.elapsed()
    );
}

macro_rules! both_stores {
    ($($name:ident),*) => {
        mod memory {
            use super::*;
            $(#[tokio::test] async fn $name() { super::$name(Topology::memory()).await })*
        }
        mod redis {
            use super::*;
            $(#[tokio::test] async fn $name() { super::$name(Topology::redis()).await })*
        }
    };
}

both_stores!(
    joins_updates_and_leaves_are_seen_once,
    two_clients_of_one_user_are_one_member,
    a_refresh_shows_nothing_and_a_close_leaves_after_the_grace,
    a_dropped_connection_leaves_after_the_reconnect_grace
);
