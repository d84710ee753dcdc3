//! Several relays, one truth: relay processes sharing state through a real
//! `redis-server` on a private port.
//!
//! Graces and the lease timeout are short here (set in the config below) so that a
//! dead relay is noticed within seconds; waits are bounded by them.

mod common;

use common::*;
use serde_json::json;
use std::time::{Duration, Instant};

const CH: &str = "/site/online";

const CLUSTER: &str = r#"
[presence]
checkin_interval_ms = 1000
lease_timeout_ms = 2000
unload_grace_ms = 300
reconnect_grace_ms = 1500
flush_interval_ms = 10
"#;

/// Two relays on one Redis.
fn cluster() -> (RedisServer, RelayProcess, RelayProcess) {
    let redis = RedisServer::start();
    let a = RelayProcess::start(CLUSTER, &redis.url());
    let b = RelayProcess::start(CLUSTER, &redis.url());
    (redis, a, b)
}

/// Wait until a fresh subscription to `ch` on `relay` shows exactly `want` (the store
/// links relays within milliseconds; the bound turns a bug into a failure).
async fn converge(relay: &RelayProcess, want: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut n = 0;
    loop {
        n += 1;
        let mut c = relay.client("probe", &format!("probe{n}")).await;
        let mut seen = c.subscribe(CH).await;
        seen.sort();
        if seen == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "relay {} shows {seen:?}, not {want:?}",
            relay.addr
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn users_on_two_relays_see_each_others_joins_updates_and_leaves() {
    let (_redis, a, b) = cluster();
    let mut watch_a = a.client("wa", "wa").await;
    let mut watch_b = b.client("wb", "wb").await;
    watch_a.subscribe(CH).await;
    watch_b.subscribe(CH).await;

    let mut ann = a.client("ann", "a1").await;
    ann.enter(CH, json!({"typing": false})).await.unwrap();
    assert_eq!(watch_b.diff().await, ["+ann"]);
    assert_eq!(watch_a.diff().await, ["+ann"]);
    let mut bob = b.client("bob", "b1").await;
    bob.enter(CH, json!({})).await.unwrap();
    assert_eq!(watch_a.diff().await, ["+bob"]);
    assert_eq!(watch_b.diff().await, ["+bob"]);

    ann.request(json!({"type": "update", "ch": CH, "meta": {"typing": true}}))
        .await
        .unwrap();
    assert_eq!(watch_b.diff().await, ["~ann"]);
    ann.request(json!({"type": "leave", "ch": CH})).await.unwrap();
    assert_eq!(watch_b.diff().await, ["-ann"]);
    assert_eq!(a.health().await["store"], "redis");
    assert_eq!(a.health().await["store_up"], true);
}

#[tokio::test]
async fn a_user_with_clients_on_both_relays_is_one_member_until_both_go() {
    let (_redis, a, b) = cluster();
    let mut watcher = b.client("w", "w").await;
    watcher.subscribe(CH).await;
    let mut laptop = a.client("ann", "laptop").await;
    laptop.enter(CH, json!({})).await.unwrap();
    assert_eq!(watcher.diff().await, ["+ann"]);
    let mut phone = b.client("ann", "phone").await;
    phone.enter(CH, json!({})).await.unwrap();
    laptop.request(json!({"type": "leave", "ch": CH})).await.unwrap();
    watcher.nothing_for(Duration::from_millis(300)).await;
    phone.request(json!({"type": "leave", "ch": CH})).await.unwrap();
    assert_eq!(watcher.diff().await, ["-ann"]);
}

#[tokio::test]
async fn a_killed_relay_is_one_leave_of_its_users_within_the_lease_timeout() {
    let (_redis, mut a, b) = cluster();
    let mut watcher = b.client("w", "w").await;
    watcher.subscribe(CH).await;
    let mut ann = a.client("ann", "a1").await;
    ann.enter(CH, json!({})).await.unwrap();
    let mut cid = a.client("cid", "c1").await;
    cid.enter(CH, json!({})).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        seen.extend(watcher.diff().await);
    }
    let killed = Instant::now();
    a.kill();
    let mut gone = Vec::new();
    while gone.len() < 2 {
        gone.extend(watcher.diff().await);
    }
    gone.sort();
    assert_eq!(gone, ["-ann", "-cid"]);
    let waited = killed.elapsed();
    // The lease timeout (2 s) plus at most one heartbeat interval (500 ms) and slack.
    assert!(waited < Duration::from_millis(4_000), "{waited:?}");
    watcher.nothing_for(Duration::from_millis(1_000)).await;
}

#[tokio::test]
async fn a_client_moving_to_another_relay_inside_the_grace_is_invisible() {
    let (_redis, mut a, b) = cluster();
    let mut watch_b = b.client("w", "w").await;
    watch_b.subscribe(CH).await;
    let mut ann = a.client("ann", "a1").await;
    ann.enter(CH, json!({})).await.unwrap();
    assert_eq!(watch_b.diff().await, ["+ann"]);
    // Relay A dies; ann's browser reconnects through the load balancer to relay B.
    a.kill();
    let mut again = b.client("ann", "a1").await;
    again.enter(CH, json!({})).await.unwrap();
    let _again = keep_alive(again);
    watch_b.nothing_for(Duration::from_millis(4_000)).await;
    converge(&b, &["ann"]).await;
}

#[tokio::test]
async fn a_stopping_relay_hands_its_clients_over_without_a_leave() {
    let (_redis, mut a, b) = cluster();
    let mut watch_b = b.client("w", "w").await;
    watch_b.subscribe(CH).await;
    let mut ann = a.client("ann", "a1").await;
    ann.enter(CH, json!({})).await.unwrap();
    assert_eq!(watch_b.diff().await, ["+ann"]);
    let closing = tokio::spawn(async move { ann.closed().await });
    a.terminate();
    assert_eq!(closing.await.unwrap(), Some(1012), "told to reconnect at once");
    let mut again = b.client("ann", "a1").await;
    again.enter(CH, json!({})).await.unwrap();
    let _again = keep_alive(again);
    watch_b.nothing_for(Duration::from_millis(3_000)).await;
}

#[tokio::test]
async fn redis_stopped_and_restarted_empty_ends_with_the_exact_roster() {
    let (redis, a, b) = cluster();
    let mut ann = a.client("ann", "a1").await;
    ann.enter(CH, json!({})).await.unwrap();
    let mut bob = b.client("bob", "b1").await;
    bob.enter(CH, json!({})).await.unwrap();
    let _ann = keep_alive(ann);
    converge(&a, &["ann", "bob"]).await;

    redis.stop();
    // Both relays go on serving their own clients and say they are degraded.
    let deadline = Instant::now() + Duration::from_secs(10);
    while a.health().await["store_up"] != false {
        assert!(Instant::now() < deadline, "relay a never noticed redis going away");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(a.health().await["status"], "degraded");
    let mut cid = a.client("cid", "c1").await;
    cid.enter(CH, json!({})).await.unwrap();
    let _cid = keep_alive(cid);
    bob.request(json!({"type": "leave", "ch": CH})).await.unwrap();

    redis.run();
    converge(&a, &["ann", "cid"]).await;
    converge(&b, &["ann", "cid"]).await;
    assert_eq!(b.health().await["store_up"], true);
}

#[tokio::test]
async fn a_leave_while_redis_is_unreachable_leaves_no_ghost_once_it_is_back() {
    let (redis, a, b) = cluster();
    let mut ann = a.client("ann", "a1").await;
    ann.enter(CH, json!({})).await.unwrap();
    let mut bob = b.client("bob", "b1").await;
    bob.enter(CH, json!({})).await.unwrap();
    let _bob = keep_alive(bob);
    converge(&b, &["ann", "bob"]).await;

    // Redis keeps its data but answers nobody for a while: the relays lose it, and
    // ann's leave cannot be written meanwhile.
    redis.cli(&["client", "pause", "6000", "all"]).expect("client pause");
    let deadline = Instant::now() + Duration::from_secs(10);
    while a.health().await["store_up"] != false {
        assert!(Instant::now() < deadline, "relay a never noticed redis going away");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Ann's page closes meanwhile (her connection was silent while redis went away).
    ann.close_unloading().await;

    // Back: relay a removes the view that ended while it was away, on both relays.
    converge(&a, &["bob"]).await;
    converge(&b, &["bob"]).await;
    assert_eq!(b.health().await["store_up"], true);
}

/// A relay that starts beside a channel larger than one page of `HSCAN` loads all of
/// it: 2,500 members another relay (alive in the heartbeat table) wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_loads_a_channel_larger_than_one_page() {
    let redis = RedisServer::start();
    let key = format!("rc:{{{CH}}}:m");
    let fill = r#"for i = 1, 2500 do
  redis.call('HSET', KEYS[1], 'u' .. i .. '\t' .. ARGV[1], '{"s":1,"v":{"id":"u' .. i .. '"}}')
end
return 1"#;
    redis.cli(&["eval", fill, "1", &key, "other-relay"]).expect("written");
    // Alive for as long as the test runs, in Redis's clock (ms).
    redis
        .cli(&["zadd", "rc:relays", "99999999999999", "other-relay"])
        .expect("listed");
    let relay = RelayProcess::start(CLUSTER, &redis.url());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let seen = relay.presence(CH).await;
        if seen.len() == 2_500 {
            assert!(seen.contains(&"u1".to_string()) && seen.contains(&"u2500".to_string()));
            break;
        }
        assert!(Instant::now() < deadline, "{} of 2,500 members loaded", seen.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
