//! With Redis: the console's view of the other relays.
//!
//! Every relay writes its own counts (connections, clients) under its id in the hash
//! `rc:console:relays` every [`REPORT_EVERY`]; the relays alive are those beating in
//! `rc:relays` (see `crate::store`). While a console listens, the set of live relays
//! is compared on each round and its changes go on the live stream as `relay.up` and
//! `relay.down`.

use super::feed::{Feed, Item};
use crate::hub::Hub;
use crate::redis_conn::{Conn, Target};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// The hash of each relay's counts, by relay id.
pub const COUNTS: &str = "rc:console:relays";
/// How often a relay writes its counts.
pub const REPORT_EVERY: Duration = Duration::from_secs(5);
/// How often the live relays are compared while a console listens.
pub const WATCH_EVERY: Duration = Duration::from_secs(1);
/// Counts of a relay gone from `rc:relays` are deleted after this long.
const FORGET_AFTER_MS: u64 = 3_600_000;

pub struct Relays {
    /// This relay's id, as it beats in `rc:relays`.
    pub id: String,
    target: Target,
}

/// One relay as the console shows it.
pub struct RelayRow {
    pub id: String,
    /// Its last heartbeat (unix ms), if it is still in `rc:relays`.
    pub beat_ms: Option<u64>,
    /// What it last wrote about itself.
    pub counts: Value,
}

impl Relays {
    /// Start writing this relay's counts. Needs a Tokio runtime.
    pub fn start(target: Target, id: String, hub: Arc<Hub>, feed: Arc<Feed>) -> Result<Relays, String> {
        tokio::spawn(report(target.clone(), id.clone(), hub, feed));
        Ok(Relays { id, target })
    }

    /// Every relay known: alive ones and those that wrote counts within the hour.
    pub async fn list(&self) -> Result<Vec<RelayRow>, String> {
        let mut conn = self.target.connect(TIMEOUT).await.map_err(|e| e.to_string())?;
        let beats = beats(&mut conn).await.map_err(|e| e.to_string())?;
        let counts: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(COUNTS)
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        let mut rows: BTreeMap<String, RelayRow> = BTreeMap::new();
        for (id, text) in counts {
            let counts: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            rows.insert(
                id.clone(),
                RelayRow {
                    beat_ms: beats.get(&id).copied(),
                    id,
                    counts,
                },
            );
        }
        for (id, beat) in beats {
            rows.entry(id.clone()).or_insert(RelayRow {
                id,
                beat_ms: Some(beat),
                counts: Value::Null,
            });
        }
        Ok(rows.into_values().collect())
    }
}

/// How long connecting, and each answer, may take.
const TIMEOUT: Duration = Duration::from_secs(2);

async fn beats(conn: &mut Conn) -> redis::RedisResult<BTreeMap<String, u64>> {
    let pairs: Vec<(String, f64)> = redis::cmd("ZRANGE")
        .arg(crate::store::RELAYS)
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query_async(conn)
        .await?;
    Ok(pairs.into_iter().map(|(id, score)| (id, score as u64)).collect())
}

/// The writer: this relay's counts every [`REPORT_EVERY`], and while a console
/// listens, the live relays compared every [`WATCH_EVERY`].
async fn report(target: Target, id: String, hub: Arc<Hub>, feed: Arc<Feed>) {
    let mut conn = None;
    let mut known: Option<BTreeSet<String>> = None;
    let mut last_report: Option<tokio::time::Instant> = None;
    loop {
        if conn.is_none() {
            conn = target.connect(TIMEOUT).await.ok();
        }
        if let Some(c) = conn.as_mut() {
            let mut ok = true;
            if last_report.is_none_or(|at| at.elapsed() >= REPORT_EVERY) {
                ok &= write_counts(c, &id, &hub).await.is_ok();
                last_report = Some(tokio::time::Instant::now());
            }
            if feed.listeners() > 0 {
                match beats(c).await {
                    Ok(beats) => {
                        let now: BTreeSet<String> = beats.into_keys().collect();
                        let at_ms = crate::clock::now_ms();
                        if let Some(before) = &known {
                            for up in now.difference(before) {
                                feed.push(Item::Relay {
                                    id: up.clone(),
                                    up: true,
                                    at_ms,
                                });
                            }
                            for down in before.difference(&now) {
                                feed.push(Item::Relay {
                                    id: down.clone(),
                                    up: false,
                                    at_ms,
                                });
                            }
                        }
                        known = Some(now);
                    }
                    Err(_) => ok = false,
                }
            } else {
                known = None;
            }
            if !ok {
                conn = None;
            }
        }
        tokio::time::sleep(WATCH_EVERY).await;
    }
}

async fn write_counts(conn: &mut Conn, id: &str, hub: &Hub) -> redis::RedisResult<()> {
    let stats = hub.stats();
    let now = crate::clock::now_ms();
    let counts = json!({
        "connections": hub.connections(),
        "clients": stats.clients,
        "at_ms": now,
    });
    redis::cmd("HSET")
        .arg(COUNTS)
        .arg(id)
        .arg(counts.to_string())
        .query_async::<()>(&mut *conn)
        .await?;
    // Forget relays gone for an hour, so the hash stays as small as the fleet.
    let all: HashMap<String, String> = redis::cmd("HGETALL").arg(COUNTS).query_async(&mut *conn).await?;
    let stale: Vec<&String> = all
        .iter()
        .filter(|(_, text)| {
            serde_json::from_str::<Value>(text)
                .ok()
                .and_then(|v| v["at_ms"].as_u64())
                .is_none_or(|at| now.saturating_sub(at) > FORGET_AFTER_MS)
        })
        .map(|(id, _)| id)
        .collect();
    if !stale.is_empty() {
        redis::cmd("HDEL")
            .arg(COUNTS)
            .arg(stale)
            .query_async::<()>(&mut *conn)
            .await?;
    }
    Ok(())
}
