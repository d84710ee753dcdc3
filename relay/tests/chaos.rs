//! Chaos with real processes: two relays, each reaching one Redis through its own fault
//! proxy (common::proxy), while clients come, go, drop and come back, and relays are
//! killed or stopped and replaced; the links are cut (longer than the lease timeout, so
//! a relay is reaped and comes back under a new name), frozen, slowed and reset. After the links heal and the graces pass, every
//! relay's server API tells exactly the truth: no ghost, no lost member; and the
//! webhooks told each user's online and offline, and each join and leave, once each,
//! alternating, ending in the truth.
//!
//! The schedule is drawn from a seed, printed at the start; `ROLLCALL_CHAOS_SEED=N`
//! replays one.

mod common;
mod hooks;

use common::proxy::{FaultProxy, Mode};
use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// The webhook tests' config (graces of 300 and 600 ms, the ledger's heartbeat 100 ms)
/// with a lease timeout short enough for a relay cut from Redis to be reaped.
fn config(receiver: &hooks::Receiver) -> String {
    hooks::config(&receiver.url, None).replace(
        "[presence]\n",
        &format!("[presence]\ncheckin_interval_ms = 1000\nlease_timeout_ms = {LEASE_MS}\n"),
    )
}

const LEASE_MS: u64 = 2_000;

/// `events` (webhook lines) about one subject alternate `on`, `off`, `on`... and end
/// `on` exactly when `present`.
fn alternate(events: &[String], on: &str, off: &str, present: bool) -> Result<(), String> {
    let mut is_on = false;
    for e in events {
        if e == on && !is_on {
            is_on = true;
        } else if e == off && is_on {
            is_on = false;
        } else if e == on || e == off {
            return Err(format!("{e} twice in a row in {events:?}"));
        }
    }
    if is_on != present {
        return Err(format!("ends {} in {events:?}", if is_on { "on" } else { "off" }));
    }
    Ok(())
}

const ROOMS: [&str; 3] = ["/chaos/0", "/chaos/1", "/chaos/2"];
const USERS: usize = 8;
const STEPS: usize = 80;
const STEP: Duration = Duration::from_millis(60);

/// xorshift64*: enough randomness for a schedule, and the same one for the same seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

/// One user's single client and the rooms it is in.
struct User {
    client: Option<Held>,
    /// The relay (0 or 1) its client is on.
    relay: usize,
    rooms: BTreeSet<&'static str>,
    n: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_behind_cut_frozen_slowed_and_reset_links_end_with_the_exact_roster() {
    chaos(false).await;
}

/// The same, and the webhooks told once each: with relays stopped and killed as well
/// as links faulted, the recorder role changes hands under the faults (docs/scaling.md,
/// "Found under faults").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_behind_faulty_links_and_replaced_relays_tell_each_webhook_event_once() {
    chaos(true).await;
}

async fn chaos(check_webhooks: bool) {
    let seed = std::env::var("ROLLCALL_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("chaos: ROLLCALL_CHAOS_SEED={seed}");
    let mut rng = Rng(seed);
    let started = Instant::now();
    let receiver = hooks::Receiver::start().await;
    let config = config(&receiver);
    let redis = RedisServer::start();
    let upstream = format!("127.0.0.1:{}", redis.port);
    let proxies = [FaultProxy::start(&upstream).await, FaultProxy::start(&upstream).await];
    let mut relays = [
        RelayProcess::start(&config, &proxies[0].url()),
        RelayProcess::start(&config, &proxies[1].url()),
    ];
    let mut users: Vec<User> = (0..USERS)
        .map(|_| User {
            client: None,
            relay: 0,
            rooms: BTreeSet::new(),
            n: 0,
        })
        .collect();
    // Which proxy is faulted, and at which step it heals.
    let mut healing: [Option<usize>; 2] = [None, None];
    let mut faults = Vec::new();
    for step in 0..STEPS {
        for (i, heal) in healing.iter_mut().enumerate() {
            if *heal == Some(step) {
                proxies[i].set(Mode::Pass);
                *heal = None;
            }
        }
        if step % 8 == 4 {
            let i = rng.below(2);
            let (mode, steps) = match rng.below(4) {
                // Longer than the lease timeout: the other relay reaps this one.
                0 => (Mode::Cut, (LEASE_MS as u128 * 5 / 4 / STEP.as_millis()) as usize),
                1 => (Mode::Freeze, 5 + rng.below(30)),
                2 => (Mode::Slow(Duration::from_millis(20 + rng.below(200) as u64)), 10),
                _ => {
                    proxies[i].reset();
                    faults.push(format!("{step}: reset {i}"));
                    (Mode::Pass, 0)
                }
            };
            if mode != Mode::Pass {
                faults.push(format!("{step}: {mode:?} {i} for {steps} steps"));
                proxies[i].set(mode);
                healing[i] = Some(step + steps);
            }
        }
        // A relay crashes (SIGKILL) or is stopped for a deploy (SIGTERM), and a new one
        // takes its place behind the same link; its clients are gone.
        if step % 30 == 15 {
            let i = rng.below(2);
            let crash = rng.below(2) == 0;
            if crash {
                relays[i].kill();
            } else {
                relays[i].terminate();
            }
            faults.push(format!(
                "{step}: relay {i} {}",
                if crash { "killed" } else { "stopped" }
            ));
            for user in users.iter_mut().filter(|u| u.relay == i) {
                user.client = None;
                user.rooms.clear();
            }
            relays[i] = RelayProcess::start(&config, &proxies[i].url());
        }
        let u = rng.below(USERS);
        let user = &mut users[u];
        let name = format!("u{u}");
        match (&user.client, rng.below(10)) {
            (None, _) => {
                user.n += 1;
                user.relay = rng.below(2);
                let relay = &relays[user.relay];
                user.client = Some(hold(relay.client(&name, &format!("{name}-{}", user.n)).await));
                user.rooms.clear();
            }
            (Some(client), 0..=4) => {
                let room = ROOMS[rng.below(ROOMS.len())];
                client.enter(room).await.unwrap();
                user.rooms.insert(room);
            }
            (Some(client), 5..=7) => {
                let room = ROOMS[rng.below(ROOMS.len())];
                client.leave(room).await.unwrap();
                user.rooms.remove(room);
            }
            // The network drops (no close frame): gone after the reconnect grace.
            (Some(_), _) => {
                user.client = None;
                user.rooms.clear();
            }
        }
        tokio::time::sleep(STEP).await;
    }
    for p in &proxies {
        p.set(Mode::Pass);
    }
    let healed = Instant::now();
    eprintln!("chaos: faults {faults:?}");
    let mut truth: BTreeMap<String, Vec<String>> = ROOMS.iter().map(|r| (r.to_string(), Vec::new())).collect();
    for (u, user) in users.iter().enumerate() {
        for room in &user.rooms {
            truth.get_mut(*room).unwrap().push(format!("u{u}"));
        }
    }
    for members in truth.values_mut() {
        members.sort();
    }
    // Healed: the relays reconnect (after their backoff, at most store::BACKOFF_MAX),
    // resync, and the graces pass. The roster may be exact before a relay whose link
    // failed last is linked again: both are awaited.
    converge(&[&relays[0], &relays[1]], &truth, Duration::from_secs(25)).await;
    store_up(&[&relays[0], &relays[1]]).await;
    eprintln!("chaos: exact and linked {:?} after healing", healed.elapsed());
    // And it stays so: no late ghost comes back.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    converge(&[&relays[0], &relays[1]], &truth, Duration::from_secs(1)).await;

    // The webhooks (deduplicated by event id, as a receiver does): once each, in turn.
    if !check_webhooks {
        eprintln!("chaos: seed {seed} green in {:?}", started.elapsed());
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lines = receiver.lines();
        let mut wrong = Vec::new();
        for (u, user) in users.iter().enumerate() {
            let on = format!("user.online u{u}");
            let off = format!("user.offline u{u}");
            let about: Vec<String> = lines.iter().filter(|l| **l == on || **l == off).cloned().collect();
            if let Err(e) = alternate(&about, &on, &off, user.client.is_some()) {
                wrong.push(e);
            }
            for room in ROOMS {
                let on = format!("channel.join u{u} {room}");
                let off = format!("channel.leave u{u} {room}");
                let about: Vec<String> = lines.iter().filter(|l| **l == on || **l == off).cloned().collect();
                if let Err(e) = alternate(&about, &on, &off, user.rooms.contains(room)) {
                    wrong.push(e);
                }
            }
        }
        if wrong.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "webhooks: {wrong:#?}\nall: {:#?}",
            receiver.raw_events()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("chaos: seed {seed} green in {:?}", started.elapsed());
}
