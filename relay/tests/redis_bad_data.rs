//! Bad input from Redis: data another program (or a relay of an older version) left
//! where rollcall keeps its own, and unreadable messages on its pub/sub channel. Relays
//! skip it, say so once in the log and as `degraded` in `/healthz`, and go on sharing
//! presence and recording the ledger; nothing of it panics a relay.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const CONFIG: &str = r#"
[presence]
checkin_interval_ms = 1000
lease_timeout_ms = 2000
unload_grace_ms = 300
reconnect_grace_ms = 1500
flush_interval_ms = 10
"#;

const CH: &str = "/site/online";

async fn degraded(relay: &RelayProcess) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let health = relay.health().await;
        if health["status"] == "degraded" {
            assert_eq!(health["store"], "redis");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} never said degraded: {health}",
            relay.addr
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_an_old_relays_data_in_redis_make_relays_degraded_never_stopped() {
    let redis = RedisServer::start();
    // Left before the relays start: a field without a relay name, a view in a format
    // this version cannot read, and a channel's key that is not a hash at all.
    let key = format!("rc:{{{CH}}}:m");
    for args in [
        vec!["hset", key.as_str(), "no-relay-in-this-field", "x"],
        vec!["hset", key.as_str(), "old\tr0", r#"{"member": "an older format"}"#],
        vec!["set", "rc:{/other}:m", "a string, not a hash"],
    ] {
        redis.cli(&args).expect("written");
    }
    let a = RelayProcess::start(CONFIG, &redis.url());
    let b = RelayProcess::start(CONFIG, &redis.url());
    degraded(&a).await;
    degraded(&b).await;

    // Unreadable messages on the channel every relay listens to.
    for payload in [
        "{not json",
        r#"{"r": "x", "s": "not a number"}"#,
        r#"{"r": 7}"#,
        "\u{1}\u{2}",
    ] {
        redis.cli(&["publish", "rollcall:events", payload]).expect("published");
    }

    // Presence goes on being shared, in both directions.
    let ann = hold(a.client("ann", "a1").await);
    ann.enter(CH).await.unwrap();
    let bob = hold(b.client("bob", "b1").await);
    bob.enter(CH).await.unwrap();
    let truth: BTreeMap<String, Vec<String>> = [(CH.to_string(), vec!["ann".to_string(), "bob".to_string()])].into();
    converge(&[&a, &b], &truth, Duration::from_secs(10)).await;
    bob.leave(CH).await.unwrap();
    let truth: BTreeMap<String, Vec<String>> = [(CH.to_string(), vec!["ann".to_string()])].into();
    converge(&[&a, &b], &truth, Duration::from_secs(10)).await;

    // A relay started after the messages also reads around the garbage.
    let c = RelayProcess::start(CONFIG, &redis.url());
    converge(&[&c], &truth, Duration::from_secs(10)).await;
    for relay in [&a, &b, &c] {
        let health = relay.health().await;
        assert_eq!(health["status"], "degraded", "{health}");
    }
    // Degraded, yet connected: one relay records the ledger and sends the webhooks.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut recording = 0;
        for relay in [&a, &b, &c] {
            recording += (relay.health().await["recording"] == true) as usize;
        }
        if recording == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "{recording} relays record");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
