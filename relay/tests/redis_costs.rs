//! What a presence change costs in Redis, measured on a real `redis-server` with two
//! relays: commands per join and per leave, pub/sub messages and their size, and bytes
//! per member held. The figures feed the capacity model in docs/scaling.md; run with
//! `--nocapture` to see them:
//!
//! ```sh
//! cargo test -p rollcall-relay --test redis_costs -- --nocapture
//! ```

mod common;

use common::*;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const CONFIG: &str = r#"
[presence]
flush_interval_ms = 10
[ledger]
heartbeat_ms = 100
"#;

const CH: &str = "/cost/room";
const MEMBERS: usize = 200;

/// Calls per command since the last `CONFIG RESETSTAT` (scripts' own calls included).
fn calls(redis: &RedisServer) -> BTreeMap<String, u64> {
    let text = redis.cli(&["info", "commandstats"]).expect("info");
    text.lines()
        .filter_map(|l| {
            let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
            let n = rest.strip_prefix("calls=")?.split(',').next()?.parse().ok()?;
            Some((name.to_string(), n))
        })
        .collect()
}

fn used_memory(redis: &RedisServer) -> u64 {
    let text = redis.cli(&["info", "memory"]).expect("info");
    text.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("used_memory")
}

/// Wait until the relays' heartbeats are the only traffic, then reset the counters.
async fn quiet(redis: &RedisServer) {
    tokio::time::sleep(Duration::from_millis(500)).await;
    redis.cli(&["config", "resetstat"]).expect("resetstat");
}

/// Commands of the relays' own heartbeats and ledger, to subtract: counted over `d`.
async fn background(redis: &RedisServer, d: Duration) -> u64 {
    quiet(redis).await;
    tokio::time::sleep(d).await;
    calls(redis).values().sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_presence_change_costs_a_few_redis_commands_and_one_message_per_relay() {
    let redis = RedisServer::start();
    let a = RelayProcess::start(CONFIG, &redis.url());
    let b = RelayProcess::start(CONFIG, &redis.url());
    // Both relays up and beating.
    let truth: BTreeMap<String, Vec<String>> = [(CH.to_string(), Vec::new())].into();
    converge(&[&a, &b], &truth, Duration::from_secs(10)).await;
    let subscribers: u64 = redis
        .cli(&["pubsub", "numsub", "rollcall:events"])
        .and_then(|o| o.lines().nth(1).and_then(|n| n.trim().parse().ok()))
        .expect("numsub");

    // A listener beside the relays, to weigh the messages.
    let sizes = std::sync::Arc::new(std::sync::Mutex::new(Vec::<usize>::new()));
    let mut pubsub = redis::Client::open(redis.url())
        .unwrap()
        .get_async_pubsub()
        .await
        .unwrap();
    pubsub.subscribe("rollcall:events").await.unwrap();
    let weigh = sizes.clone();
    tokio::spawn(async move {
        use futures_util::StreamExt;
        let mut messages = pubsub.into_on_message();
        while let Some(msg) = messages.next().await {
            weigh.lock().unwrap().push(msg.get_payload_bytes().len());
        }
    });
    let idle = Duration::from_millis(2_000);
    let idle_calls = background(&redis, idle).await;
    let memory_before = used_memory(&redis);

    // Joins, each its own user on relay a, all seen on relay b.
    quiet(&redis).await;
    let started = Instant::now();
    let mut clients = Vec::new();
    for i in 0..MEMBERS {
        let c = a.client(&format!("m{i}"), &format!("m{i}")).await;
        let c = hold(c);
        c.enter(CH).await.unwrap();
        clients.push(c);
    }
    let want: Vec<String> = {
        let mut v: Vec<String> = (0..MEMBERS).map(|i| format!("m{i}")).collect();
        v.sort();
        v
    };
    let truth: BTreeMap<String, Vec<String>> = [(CH.to_string(), want)].into();
    converge(&[&b], &truth, Duration::from_secs(20)).await;
    let joined = started.elapsed();
    let join_calls = calls(&redis);
    // The ledger's sessions (one per user, one per user in the channel), once recorded.
    // Recorded once the count stops growing (the ledger writes every 100 ms here).
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut sessions = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let n: u64 = redis
            .cli(&["hlen", "rc:l:s"])
            .and_then(|o| o.trim().parse().ok())
            .unwrap_or(0);
        if (n > 0 && n == sessions) || Instant::now() > deadline {
            break;
        }
        sessions = n;
    }
    let session_bytes: u64 = redis
        .cli(&["memory", "usage", "rc:l:s", "samples", "0"])
        .and_then(|o| o.trim().parse().ok())
        .unwrap_or(0);
    let memory_after = used_memory(&redis);
    let members_bytes: u64 = redis
        .cli(&["memory", "usage", &format!("rc:{{{CH}}}:m"), "samples", "0"])
        .and_then(|o| o.trim().parse().ok())
        .expect("memory usage");

    // Leaves.
    quiet(&redis).await;
    let started = Instant::now();
    for c in &clients {
        c.leave(CH).await.unwrap();
    }
    let truth: BTreeMap<String, Vec<String>> = [(CH.to_string(), Vec::new())].into();
    converge(&[&b], &truth, Duration::from_secs(20)).await;
    let left = started.elapsed();
    let leave_calls = calls(&redis);

    let per = |calls: &BTreeMap<String, u64>, d: Duration| {
        let background = idle_calls as f64 * d.as_secs_f64() / idle.as_secs_f64();
        (calls.values().sum::<u64>() as f64 - background).max(0.0) / MEMBERS as f64
    };
    let publishes = |calls: &BTreeMap<String, u64>| calls.get("publish").copied().unwrap_or(0) as f64 / MEMBERS as f64;
    let join = per(&join_calls, joined);
    let leave = per(&leave_calls, left);
    eprintln!("redis costs, {MEMBERS} members joining then leaving one channel through relay a, seen on relay b:");
    eprintln!("  commands per join:  {join:.1} (by command: {join_calls:?})");
    eprintln!("  commands per leave: {leave:.1} (by command: {leave_calls:?})");
    eprintln!(
        "  pub/sub: {:.1} PUBLISH per join, {:.1} per leave, each delivered to {subscribers} subscribers",
        publishes(&join_calls),
        publishes(&leave_calls)
    );
    let sizes = sizes.lock().unwrap().clone();
    eprintln!(
        "  message size: {} bytes on average over {} messages (a join carries the member, a leave only names it)",
        sizes.iter().sum::<usize>() / sizes.len().max(1),
        sizes.len()
    );
    eprintln!(
        "  bytes per member: {} in the channel's hash, {} in all (channel, online, the ledger's two sessions and indexes)",
        members_bytes / MEMBERS as u64,
        memory_after.saturating_sub(memory_before) / MEMBERS as u64
    );
    eprintln!(
        "  ledger: {sessions} sessions stored, {} bytes each in rc:l:s (its indexes apart)",
        session_bytes / sessions.max(1)
    );
    eprintln!(
        "  background: {:.1} commands per second for two idle relays",
        idle_calls as f64 / idle.as_secs_f64()
    );
    // The store's own cost does not depend on timing: a user's first channel writes two
    // views (the channel's and `~online`), each one script and one message.
    let store = |calls: &BTreeMap<String, u64>| {
        ["eval", "evalsha", "publish"]
            .iter()
            .map(|c| calls.get(*c).copied().unwrap_or(0))
            .sum::<u64>() as f64
            / MEMBERS as f64
    };
    assert!(
        store(&join_calls) <= 6.0,
        "store commands per join: {}",
        store(&join_calls)
    );
    assert!(publishes(&join_calls) >= 1.0, "every join is published");
    // The ledger's cost does: it commits what arrived in one batch (a MULTI with the
    // recorder's WATCH), so joins that trickle in on a busy machine come one batch per
    // event, about 12 commands each and two events per first join; at ease they share
    // batches and the whole join costs near 10.
    assert!(join > 0.5 && join < 60.0, "commands per join: {join}");
}
