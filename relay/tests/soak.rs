//! The churn soak: the relay binary on its default configuration, holders who stay and
//! newcomers who enter channels and go (half by closing their page, half by dropping
//! off the network), while the relay's memory is read from /proc.
//!
//! Memory must be flat once every bounded store is full and has settled: the run waits
//! until the ledger (`ledger.max_sessions`, the fullest of them) has evicted three times
//! what it keeps, so that its tables and indexes have turned over (SQLite's pages and the
//! allocator still grow by about 8 % between the second turnover and the third, then
//! stay flat), then measures for the rest
//! of the run, or its second half if that starts later. The short form runs in `cargo test`; `bench/soak.sh` runs the
//! 10-minute form with the same code:
//!
//! - `ROLLCALL_SOAK_SECS`: length of the churn (default 50);
//! - `ROLLCALL_SOAK_RATE`: newcomers per second (default 100);
//! - `ROLLCALL_SOAK_HOLDERS`: users who stay throughout (default 500);
//! - `ROLLCALL_SOAK_CONFIG`: the relay's config file instead of an empty one, to compare
//!   (e.g. `[ledger]` `max_sessions = 0`, the unbounded ledger of old, which fails).

#![cfg(target_os = "linux")]

mod common;

use common::{client_at, keep_alive, rss, RelayProcess, API_KEY};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// Channels each newcomer enters (besides none of the holders'): sessions pile up in
/// the ledger fast enough to reach its cap early in a short run.
const CHANNELS_PER_NEWCOMER: usize = 20;
/// How long a newcomer stays.
const STAY: Duration = Duration::from_secs(2);
/// The holders' channel, whose count must be exact at the end.
const ONLINE: &str = "/site/online";
/// RSS, and SQLite's own count, stay within this fraction of their first sample in the
/// measured window. Without a bound the ledger alone would grow by about 1 MB a second
/// here: a leak shows as many times this.
const TOLERANCE: f64 = 0.10;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// One value of the relay's `/metrics`.
async fn metric(http: &reqwest::Client, addr: &str, name: &str) -> u64 {
    let text = http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("metrics body");
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} in /metrics"))
}

/// One newcomer: hello, enter its channels, stay, then go.
async fn newcomer(addr: String, i: u64) {
    let mut c = client_at(&addr, &format!("n{i}"), "c").await;
    let channels: Vec<String> = (0..CHANNELS_PER_NEWCOMER)
        .map(|k| format!("/soak/{}", (i as usize * 7 + k) % 200))
        .collect();
    for ch in &channels {
        c.send(json!({"type": "enter", "ch": ch, "meta": {"typing": false}}))
            .await;
    }
    tokio::time::sleep(STAY).await;
    if i % 2 == 0 {
        // A page closing: leave, then the close frame that says the page is going away.
        for ch in &channels {
            c.send(json!({"type": "leave", "ch": ch})).await;
        }
        c.close_unloading().await;
    } else {
        c.drop_tcp();
    }
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Duration,
    rss: u64,
    sqlite: u64,
    retained: u64,
    evicted: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_flat_under_churn_on_the_default_configuration() {
    let secs = env("ROLLCALL_SOAK_SECS", 50);
    let rate = env("ROLLCALL_SOAK_RATE", 100).max(1);
    let holders = env("ROLLCALL_SOAK_HOLDERS", 500);
    // An empty config file: every default, as the README starts it.
    let config = std::env::var("ROLLCALL_SOAK_CONFIG").unwrap_or_default();
    let relay = RelayProcess::spawn(&config, None);
    let addr = relay.addr.clone();
    let http = reqwest::Client::new();

    let mut held = Vec::new();
    for h in 0..holders {
        let mut c = relay.client(&format!("h{h}"), "c").await;
        c.enter(ONLINE, json!({})).await.expect("a holder enters");
        if h < 5 {
            c.subscribe(ONLINE).await;
        }
        held.push(keep_alive(c));
    }

    let failures = Arc::new(AtomicUsize::new(0));
    let started = tokio::time::Instant::now();
    let churn = {
        let addr = addr.clone();
        let failures = failures.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut running = tokio::task::JoinSet::new();
            let mut i = 0;
            while started.elapsed() < Duration::from_secs(secs) {
                tick.tick().await;
                running.spawn(newcomer(addr.clone(), i));
                i += 1;
                while let Some(done) = running.try_join_next() {
                    if done.is_err() {
                        failures.fetch_add(1, Relaxed);
                    }
                }
            }
            while let Some(done) = running.join_next().await {
                if done.is_err() {
                    failures.fetch_add(1, Relaxed);
                }
            }
            i
        })
    };

    // A line every 5 s in the short form, every 30 s in the 10-minute one.
    let report_every = (secs / 20).max(5);
    let mut samples: Vec<Sample> = Vec::new();
    let mut every = tokio::time::interval(Duration::from_secs(1));
    while started.elapsed() < Duration::from_secs(secs) {
        every.tick().await;
        let sample = Sample {
            at: started.elapsed(),
            rss: rss(relay.pid()),
            sqlite: metric(&http, &addr, "rollcall_ledger_sqlite_bytes").await,
            retained: metric(&http, &addr, "rollcall_ledger_sessions_retained").await,
            evicted: metric(&http, &addr, "rollcall_ledger_sessions_evicted_total").await,
        };
        if sample.at.as_secs() % report_every == 0 {
            eprintln!(
                "soak t={:>4}s rss={:>6.1} MB sqlite={:>5.1} MB sessions kept={} evicted={}",
                sample.at.as_secs(),
                sample.rss as f64 / 1e6,
                sample.sqlite as f64 / 1e6,
                sample.retained,
                sample.evicted
            );
        }
        samples.push(sample);
    }
    let newcomers = churn.await.expect("the churn ran");
    assert_eq!(failures.load(Relaxed), 0, "every newcomer connected and entered");

    // The measured window: from the ledger's third turnover, or from half-way in a long
    // run, to the end.
    let cap = metric(&http, &addr, "rollcall_ledger_max_sessions").await;
    let settled = samples.iter().position(|s| s.evicted >= 3 * cap).unwrap_or_else(|| {
        panic!("the ledger never turned over three times its cap of {cap} sessions: run longer or faster")
    });
    let from = settled.max(samples.len() / 2);
    let window = &samples[from..];
    assert!(
        window.len() >= 10,
        "only {} s measured after the ledger settled: run longer or faster",
        window.len()
    );
    let base = window[0];
    for s in window {
        let drift = s.rss as f64 / base.rss as f64 - 1.0;
        assert!(
            drift.abs() <= TOLERANCE,
            "RSS moved {:+.1}% from {:.1} MB at {:?} to {:.1} MB at {:?}",
            drift * 100.0,
            base.rss as f64 / 1e6,
            base.at,
            s.rss as f64 / 1e6,
            s.at
        );
        assert!(
            s.retained <= cap + cap / 5,
            "{} sessions kept over a cap of {cap}",
            s.retained
        );
    }
    // SQLite's own count, which no allocator slack blurs: the ledger does not grow.
    let last = window[window.len() - 1];
    assert!(
        last.sqlite as f64 <= base.sqlite as f64 * (1.0 + TOLERANCE),
        "the ledger grew from {} to {} bytes",
        base.sqlite,
        last.sqlite
    );
    eprintln!(
        "soak: {newcomers} newcomers over {secs} s beside {holders} holders; RSS {:.1} -> {:.1} MB over the last {} s",
        base.rss as f64 / 1e6,
        last.rss as f64 / 1e6,
        window.len()
    );

    // The truth stayed exact: every holder, nobody else.
    let presence = http
        .get(format!("http://{addr}/v1/presence?channel={ONLINE}"))
        .bearer_auth(API_KEY)
        .send()
        .await
        .expect("presence answers")
        .text()
        .await
        .expect("a body");
    let presence: serde_json::Value = serde_json::from_str(&presence).expect("presence is JSON");
    assert_eq!(presence[ONLINE]["count"], json!(holders));
    for h in held {
        h.abort();
    }
}
