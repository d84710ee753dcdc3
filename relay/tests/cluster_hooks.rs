//! Webhooks and the ledger with several relays on one Redis: a user is told online once
//! however many relays they are on, the ledger is one, readable from any relay, and when
//! the relay that records dies another takes over what it had not yet delivered.
//!
//! Relay processes and a private `redis-server`; graces, the lease timeout and the
//! ledger's heartbeat (100 ms: the recorder role moves within 300 ms) are short, so every
//! wait is bounded by a few seconds.

mod common;
mod hooks;

use common::{keep_alive, RedisServer, RelayProcess};
use hooks::Receiver;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const CH: &str = "/doc/1";

/// The webhook test config with a lease timeout short enough for a killed relay.
fn config(receiver: &Receiver) -> String {
    hooks::config(&receiver.url, None).replace(
        "[presence]\n",
        "[presence]\ncheckin_interval_ms = 500\nlease_timeout_ms = 1500\n",
    )
}

async fn wait_until(what: &str, mut ok: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ok().await {
        assert!(Instant::now() < deadline, "waited 10 s for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Which of the relays records (exactly one, once the role is taken).
async fn recorder<'a>(relays: &'a [&'a RelayProcess]) -> usize {
    let mut found = None;
    wait_until("one relay to record", async || {
        let mut recording = Vec::new();
        for (i, relay) in relays.iter().enumerate() {
            if relay.health().await["recording"] == json!(true) {
                recording.push(i);
            }
        }
        found = recording.first().copied();
        recording.len() == 1
    })
    .await;
    found.unwrap()
}

async fn get(relay: &RelayProcess, path: &str) -> Value {
    let (status, body) = hooks::get_at(&relay.addr, path, Some(hooks::API_KEY)).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn a_user_on_two_relays_is_online_once_offline_once_and_one_session_seen_from_either() {
    let receiver = Receiver::start().await;
    let redis = RedisServer::start();
    let a = RelayProcess::start(&config(&receiver), &redis.url());
    let b = RelayProcess::start(&config(&receiver), &redis.url());
    recorder(&[&a, &b]).await;

    let mut laptop = a.client("ann", "laptop").await;
    laptop.enter(CH, json!({})).await.unwrap();
    receiver
        .wait_for(&["user.online ann", "channel.occupied /doc/1", "channel.join ann /doc/1"])
        .await;
    let mut phone = b.client("ann", "phone").await;
    phone.enter(CH, json!({})).await.unwrap();
    // The laptop closes for good; the phone keeps her online and in the document.
    laptop.close_unloading().await;
    tokio::time::sleep(Duration::from_millis(300 + 600)).await; // the unload grace, and a batch
    let phone = keep_alive(phone);
    let lines = receiver.lines();
    assert_eq!(
        lines,
        ["user.online ann", "channel.occupied /doc/1", "channel.join ann /doc/1"],
        "a second relay and the first one's leaving tell nothing"
    );
    for relay in [&a, &b] {
        let user = get(relay, "/v1/users/ann").await;
        assert_eq!(user["online"], true, "{user}");
        assert_eq!(user["channels"], json!([CH]), "{user}");
    }
    phone.abort(); // the phone's connection drops: the reconnect grace, then she is gone
    receiver
        .wait_for(&["channel.leave ann /doc/1", "channel.vacated /doc/1", "user.offline ann"])
        .await;
    assert_eq!(receiver.lines().len(), 6, "{:?}", receiver.lines());
    for relay in [&a, &b] {
        let user = get(relay, "/v1/users/ann").await;
        assert_eq!(user["online"], false, "{user}");
        let sessions = get(relay, "/v1/sessions?user=ann").await;
        let sessions = sessions["sessions"].as_array().unwrap();
        assert_eq!(sessions.len(), 1, "one session for both relays: {sessions:?}");
        assert_eq!(sessions[0]["open"], false);
        let channel = get(relay, "/v1/sessions?user=ann&channel=/doc/1").await;
        assert_eq!(channel["sessions"].as_array().unwrap().len(), 1, "{channel}");
    }
}

#[tokio::test]
async fn when_the_recording_relay_dies_another_delivers_its_queue_and_ends_its_users() {
    let receiver = Receiver::start().await;
    let redis = RedisServer::start();
    let mut relays = vec![
        RelayProcess::start(&config(&receiver), &redis.url()),
        RelayProcess::start(&config(&receiver), &redis.url()),
    ];
    let i = recorder(&relays.iter().collect::<Vec<_>>()).await;
    let survivor = 1 - i;
    // The site is down for a while: what the recorder sends stays queued (in Redis).
    receiver.fail_next(usize::MAX);
    let mut ann = relays[i].client("ann", "a1").await;
    ann.enter(CH, json!({})).await.unwrap();
    let mut bob = relays[survivor].client("bob", "b1").await;
    bob.enter(CH, json!({})).await.unwrap();
    let bob = keep_alive(bob);
    wait_until("the recorder to try the site", async || receiver.attempts() > 0).await;
    let ann = keep_alive(ann);
    relays[i].kill();
    ann.abort();
    assert_eq!(recorder(&[&relays[survivor]]).await, 0);
    receiver.fail_next(0);
    // The queued events arrive, then ann's end: her relay stopped beating, so the
    // survivor reaps it after the lease timeout and tells her leave and offline.
    let lines = receiver
        .wait_for(&[
            "user.online ann",
            "user.online bob",
            "channel.join ann /doc/1",
            "channel.join bob /doc/1",
            "channel.leave ann /doc/1",
            "user.offline ann",
        ])
        .await;
    let count = |l: &str| lines.iter().filter(|x| *x == l).count();
    for l in [
        "user.online ann",
        "user.online bob",
        "channel.join ann /doc/1",
        "user.offline ann",
    ] {
        assert_eq!(count(l), 1, "{l} once: {lines:?}");
    }
    assert_eq!(count("channel.vacated /doc/1"), 0, "bob is still there: {lines:?}");
    let leave = receiver
        .events()
        .into_iter()
        .find(|e| hooks::line(e) == "channel.leave ann /doc/1")
        .unwrap();
    assert_eq!(leave["cause"], "lease_timeout", "{leave}");
    let sessions = get(&relays[survivor], "/v1/sessions?user=ann").await;
    assert_eq!(sessions["sessions"][0]["open"], false, "{sessions}");
    let sessions = get(&relays[survivor], "/v1/sessions?user=bob").await;
    assert_eq!(
        sessions["sessions"][0]["open"], true,
        "bob's session goes on: {sessions}"
    );
    assert_eq!(sessions["sessions"].as_array().unwrap().len(), 1, "{sessions}");
    bob.abort();
    relays.clear();
}

/// The election's word on a lapse. A recorder whose hold lapsed (a stalled Redis call
/// held its lock past the role's time to live) while another relay took the role,
/// recorded and died must learn it on its next claim: it finds the role free, not kept,
/// and takes over afresh instead of going on from a book that missed what the other told
/// (that was a second `user.online` for a user told online once already).
#[test]
fn a_claim_tells_a_role_kept_without_a_break_from_one_found_free_again() {
    use rollcall_relay::ledger::db::Claim;
    use rollcall_relay::ledger::redis::RedisDb;
    let redis = RedisServer::start();
    let target = || rollcall_relay::redis_conn::Target::open(&redis.url(), false).unwrap();
    let (mut a, mut b) = (RedisDb::open(target()), RedisDb::open(target()));
    assert_eq!(a.claim("a", 60_000).unwrap(), Claim::Took);
    assert_eq!(a.claim("a", 60_000).unwrap(), Claim::Kept);
    assert_eq!(b.claim("b", 60_000).unwrap(), Claim::Refused);
    // a's time runs out; b takes the role, and its own runs out (b died).
    redis.cli(&["DEL", "rc:l:recorder"]).unwrap();
    assert_eq!(b.claim("b", 60_000).unwrap(), Claim::Took);
    redis.cli(&["PEXPIRE", "rc:l:recorder", "1"]).unwrap();
    while redis.cli(&["EXISTS", "rc:l:recorder"]).unwrap().trim() != "0" {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(a.claim("a", 60_000).unwrap(), Claim::Took, "free again, not kept");
    assert_eq!(a.claim("a", 60_000).unwrap(), Claim::Kept);
}

/// A relay that starts before its Redis answers takes the recorder role as soon as the
/// link is up, not a heartbeat later: it records from then on, instead of taking over
/// from the truth of every client that came meanwhile (after a deploy, all of them).
#[tokio::test]
async fn a_relay_whose_redis_answers_late_records_as_soon_as_it_links() {
    let redis = RedisServer::start();
    redis.stop();
    // A heartbeat longer than `wait_until`'s bound: the role must not wait for it.
    let relay = RelayProcess::start("[ledger]\nheartbeat_ms = 30000\n", &redis.url());
    let health = relay.health().await;
    assert_eq!(health["store_up"], json!(false), "{health}");
    assert_eq!(health["recording"], json!(false), "{health}");
    redis.run();
    wait_until("the link to Redis", async || {
        relay.health().await["store_up"] == json!(true)
    })
    .await;
    wait_until("the relay to record", async || {
        relay.health().await["recording"] == json!(true)
    })
    .await;
}
