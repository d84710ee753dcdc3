//! Where presence lives beyond this relay: nowhere (memory, the default) or Redis, shared
//! by several relays behind any load balancer.
//!
//! Each relay keeps the roster of its own clients, with their leases and graces, and
//! shares one view per (channel, user) with the others; the others hold it as one more
//! holder of that member, so a user on two relays is one member and leaves only when
//! every relay lets go. In Redis:
//!
//! - `rc:{<channel>}:m`, a hash per channel (the hash tag keeps a channel in one Cluster
//!   slot), field `<user>\t<relay>` = `{"s": seq, "v": member}`, changed by a Lua script
//!   that also publishes the change, in one round trip;
//! - `rollcall:events`, the pub/sub channel every relay listens to;
//! - `rc:relays`, a sorted set of relay ids scored by their last heartbeat (the time is
//!   passed in by the relay), and `rc:relay:<id>:ch`, the channels a relay wrote to, so
//!   a relay that died without a word is reaped by the others after `lease_timeout`.
//!
//! When Redis is unreachable a relay goes on serving its own clients from local state,
//! says so in `/healthz` and `/metrics`, and on reconnecting asserts all its views again
//! and reconciles the others' (no lost members, no duplicates, no leave storm). A Redis
//! restarted empty is noticed the same way (the relay's heartbeat entry is gone).

use crate::config::Config;
use crate::hub::Hub;
use rollcall_core::protocol::{Identity, Member};
use rollcall_core::roster::{EndCause, ONLINE};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};

/// The pub/sub channel of presence changes.
pub const EVENTS: &str = "rollcall:events";
/// The sorted set of live relays.
pub const RELAYS: &str = "rc:relays";
/// Most changes written to Redis in one pipeline.
const BATCH: usize = 512;

/// What the rest of the relay sees of the store.
pub trait Store: Send + Sync {
    /// `memory` or `redis`, for the start line, `/healthz` and `/metrics`.
    fn name(&self) -> &'static str;
    /// Is the shared state reachable (always true in memory)?
    fn up(&self) -> bool;
    /// This relay's view of `user` in `ch` changed; `None`: it holds the user no more,
    /// for `cause`.
    fn share(&self, ch: String, user: String, view: Option<Member>, cause: Option<EndCause>);
    /// The relay is stopping: let the others keep its users for the reconnect grace
    /// while its clients move over, then drop them.
    fn drain(&self) -> Option<oneshot::Receiver<()>>;
    /// This relay's id among the relays sharing the store (none in memory).
    fn relay_id(&self) -> Option<&str> {
        None
    }
}

/// One relay, nothing shared.
pub struct Memory;

impl Store for Memory {
    fn name(&self) -> &'static str {
        "memory"
    }
    fn up(&self) -> bool {
        true
    }
    fn share(&self, _: String, _: String, _: Option<Member>, _: Option<EndCause>) {}
    fn drain(&self) -> Option<oneshot::Receiver<()>> {
        None
    }
}

enum Command {
    Share {
        ch: String,
        user: String,
        view: Option<Member>,
        cause: Option<EndCause>,
    },
    Drain(oneshot::Sender<()>),
}

/// Several relays sharing state through Redis.
pub struct Redis {
    tx: mpsc::UnboundedSender<Command>,
    up: Arc<AtomicBool>,
    id: String,
}

impl Store for Redis {
    fn name(&self) -> &'static str {
        "redis"
    }
    fn up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }
    fn share(&self, ch: String, user: String, view: Option<Member>, cause: Option<EndCause>) {
        let _ = self.tx.send(Command::Share { ch, user, view, cause });
    }
    fn drain(&self) -> Option<oneshot::Receiver<()>> {
        let (done, wait) = oneshot::channel();
        self.tx.send(Command::Drain(done)).ok()?;
        Some(wait)
    }
    fn relay_id(&self) -> Option<&str> {
        Some(&self.id)
    }
}

impl Redis {
    /// Start sharing `hub`'s roster through Redis at `url`. Connects in the background
    /// and keeps reconnecting; never fails the relay's start.
    pub fn start(url: &str, hub: Arc<Hub>, config: Arc<Config>) -> Result<Redis, String> {
        let client = redis::Client::open(url).map_err(|e| format!("redis_url / ROLLCALL_REDIS_URL: {e}"))?;
        let (tx, rx) = mpsc::unbounded_channel();
        let up = Arc::new(AtomicBool::new(false));
        let id = crate::hub::random_id();
        let link = Link {
            client,
            id: id.clone(),
            hub,
            config,
            up: up.clone(),
            seq: 0,
            seen: HashMap::new(),
        };
        tokio::spawn(link.run(rx));
        Ok(Redis { tx, up, id })
    }
}

/// A stored or published view.
#[derive(Serialize, Deserialize)]
struct Stored {
    s: u64,
    v: Member,
}

/// A message on [`EVENTS`].
#[derive(Serialize, Deserialize)]
struct Change {
    /// The relay that made it.
    r: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    c: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    u: Option<String>,
    #[serde(default)]
    s: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    v: Option<Member>,
    /// Why the view is gone (an [`EndCause`]), when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    e: Option<String>,
    /// This relay was found dead and its views removed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    dead: bool,
}

/// Set or delete one field and publish the change, atomically, in one round trip.
const SET: &str = r#"
if ARGV[2] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
"#;

/// Heartbeat: record this relay's time, and list the relays silent for longer than the
/// lease timeout. ARGV: now (ms), lease timeout (ms), relay id, score to record.
const HEARTBEAT: &str = r#"
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. (tonumber(ARGV[1]) - tonumber(ARGV[2])))
"#;

/// Remove a dead relay's fields from one channel hash. ARGV: relay id.
const REAP: &str = r#"
local gone = 0
local suffix = '\t' .. ARGV[1]
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(field, -string.len(suffix)) == suffix then
    redis.call('HDEL', KEYS[1], field)
    gone = gone + 1
  end
end
return gone
"#;

fn channel_key(ch: &str) -> String {
    format!("rc:{{{ch}}}:m")
}

fn relay_channels_key(relay: &str) -> String {
    format!("rc:relay:{relay}:ch")
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The background side: one task owns the Redis connections, so this relay's changes
/// reach Redis in the order they happened.
struct Link {
    client: redis::Client,
    id: String,
    hub: Arc<Hub>,
    config: Arc<Config>,
    up: Arc<AtomicBool>,
    /// This relay's change counter: others ignore anything older than what they saw.
    seq: u64,
    /// The newest seq seen per (relay, channel, user), and when it said "gone". A gone
    /// entry is kept a while (a view loaded at a resync may be older than a message still
    /// queued), then forgotten, so users who come and go do not grow this map forever.
    seen: HashMap<(String, String, String), (u64, Option<std::time::Instant>)>,
}

enum Ended {
    /// Redis went away: reconnect.
    Lost(String),
    /// The relay is stopping.
    Stopped,
}

impl Link {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>) {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.session(&mut rx).await {
                Ended::Stopped => return,
                Ended::Lost(why) => {
                    if self.up.swap(false, Ordering::Relaxed) {
                        tracing::warn!("redis unreachable, serving local clients only: {why}");
                    } else {
                        tracing::debug!("redis still unreachable: {why}");
                    }
                }
            }
            // While Redis is away, changes are not queued: reconnecting asserts
            // everything again.
            let wait = tokio::time::sleep(backoff);
            tokio::pin!(wait);
            loop {
                tokio::select! {
                    _ = &mut wait => break,
                    cmd = rx.recv() => match cmd {
                        None => return,
                        Some(Command::Drain(done)) => {
                            let _ = done.send(());
                            return;
                        }
                        Some(Command::Share { .. }) => {}
                    },
                }
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    fn heartbeat_every(&self) -> Duration {
        Duration::from_millis((self.config.presence.lease_timeout_ms / 4).clamp(100, 5_000))
    }

    async fn session(&mut self, rx: &mut mpsc::UnboundedReceiver<Command>) -> Ended {
        let timeouts = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Duration::from_secs(2))
            .set_response_timeout(Duration::from_secs(2));
        let mut conn = match self
            .client
            .get_multiplexed_async_connection_with_config(&timeouts)
            .await
        {
            Ok(c) => c,
            Err(e) => return Ended::Lost(e.to_string()),
        };
        let mut pubsub = match self.client.get_async_pubsub().await {
            Ok(p) => p,
            Err(e) => return Ended::Lost(e.to_string()),
        };
        if let Err(e) = pubsub.subscribe(EVENTS).await {
            return Ended::Lost(e.to_string());
        }
        let mut messages = pubsub.into_on_message();
        // Subscribed first, then loaded: a change made meanwhile arrives as a message
        // after the load and wins by its seq.
        if let Err(e) = self.resync(&mut conn).await {
            return Ended::Lost(e.to_string());
        }
        self.up.store(true, Ordering::Relaxed);
        tracing::info!("redis connected; relay id {}", self.id);
        let mut beat = tokio::time::interval(self.heartbeat_every());
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        use futures_util::StreamExt;
        loop {
            tokio::select! {
                cmd = rx.recv() => {
                    let Some(cmd) = cmd else { return Ended::Stopped };
                    let mut batch = vec![cmd];
                    while batch.len() < BATCH {
                        match rx.try_recv() {
                            Ok(cmd) => batch.push(cmd),
                            Err(_) => break,
                        }
                    }
                    match self.write(&mut conn, batch).await {
                        Ok(true) => return Ended::Stopped,
                        Ok(false) => {}
                        Err(e) => return Ended::Lost(e.to_string()),
                    }
                }
                msg = messages.next() => {
                    let Some(msg) = msg else { return Ended::Lost("the pub/sub connection closed".into()) };
                    if let Ok(payload) = msg.get_payload::<String>() {
                        self.apply(&payload);
                    }
                }
                _ = beat.tick() => {
                    if let Err(e) = self.heartbeat(&mut conn).await {
                        return Ended::Lost(e.to_string());
                    }
                }
            }
        }
    }

    /// Write a batch of this relay's changes; `Ok(true)` when told to drain and done.
    async fn write(
        &mut self,
        conn: &mut redis::aio::MultiplexedConnection,
        batch: Vec<Command>,
    ) -> redis::RedisResult<bool> {
        let mut pipe = redis::pipe();
        let mut drained = None;
        let mut channels = HashSet::new();
        for cmd in batch {
            match cmd {
                Command::Share { ch, user, view, cause } => {
                    self.seq += 1;
                    pipe.add_command(self.set_command(&ch, &user, view, cause)).ignore();
                    channels.insert(ch);
                }
                Command::Drain(done) => drained = Some(done),
            }
        }
        if !channels.is_empty() {
            pipe.cmd("SADD")
                .arg(relay_channels_key(&self.id))
                .arg(channels.into_iter().collect::<Vec<_>>())
                .ignore();
        }
        if let Some(done) = drained {
            // Score the heartbeat so that the others reap this relay once the reconnect
            // grace is over: its clients reconnect elsewhere meanwhile, unseen.
            let p = &self.config.presence;
            let score = (wall_ms() + p.reconnect_grace_ms).saturating_sub(p.lease_timeout_ms);
            pipe.cmd("ZADD").arg(RELAYS).arg(score).arg(&self.id).ignore();
            let result: redis::RedisResult<()> = pipe.query_async(conn).await;
            let _ = done.send(());
            return result.map(|_| true);
        }
        pipe.query_async::<()>(conn).await?;
        Ok(false)
    }

    fn set_command(&self, ch: &str, user: &str, view: Option<Member>, cause: Option<EndCause>) -> redis::Cmd {
        let field = format!("{user}\t{}", self.id);
        let stored = view.as_ref().map(|v| {
            serde_json::to_string(&Stored {
                s: self.seq,
                v: v.clone(),
            })
            .expect("serializable")
        });
        let change = Change {
            r: self.id.clone(),
            c: Some(ch.to_string()),
            u: Some(user.to_string()),
            s: self.seq,
            v: view,
            e: cause.map(|c| c.as_str().to_string()),
            dead: false,
        };
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(SET)
            .arg(1)
            .arg(channel_key(ch))
            .arg(field)
            .arg(stored.unwrap_or_default())
            .arg(EVENTS)
            .arg(serde_json::to_string(&change).expect("serializable"));
        cmd
    }

    /// A change published by any relay (this one's own echoes are skipped).
    fn apply(&mut self, payload: &str) {
        let Ok(change) = serde_json::from_str::<Change>(payload) else {
            tracing::warn!("unreadable message on {EVENTS}");
            return;
        };
        if change.r == self.id {
            // Even a "dead" verdict on this relay (a long pause, a partition) needs no
            // answer here: the next heartbeat finds this relay's entry gone and asserts
            // everything again under fresh seqs.
            return;
        }
        if change.dead {
            self.seen.retain(|(relay, _, _), _| *relay != change.r);
            self.hub.act(|r, now| r.drop_relay(now, &change.r));
            return;
        }
        let (Some(ch), Some(user)) = (change.c, change.u) else {
            return;
        };
        let cause = change.e.as_deref().and_then(EndCause::parse).unwrap_or(EndCause::Left);
        self.accept(change.r, ch, user, change.s, change.v, cause);
    }

    /// Apply another relay's view if it is newer than what was seen.
    fn accept(&mut self, relay: String, ch: String, user: String, seq: u64, view: Option<Member>, cause: EndCause) {
        let key = (relay, ch, user);
        if self.seen.get(&key).is_some_and(|&(s, _)| s >= seq) {
            return;
        }
        let gone = view.is_none().then(std::time::Instant::now);
        self.seen.insert(key.clone(), (seq, gone));
        let (relay, ch, user) = key;
        match view {
            Some(view) if view.id == user && ch == ONLINE => {
                let identity = Identity {
                    id: view.id,
                    name: view.name,
                    avatar: view.avatar,
                };
                self.hub
                    .act(|r, now| r.remote_online(now, &relay, &user, Some(identity)));
            }
            Some(view) if view.id == user => {
                let count_only = self.config.policy.rule_for(&ch).is_some_and(|r| r.count_only);
                self.hub.act(|r, now| r.remote(now, &ch, &relay, view, count_only));
            }
            Some(_) => tracing::warn!("a view for {user} names another user; ignored"),
            None => self.hub.act(|r, now| r.remote_gone(now, &ch, &relay, &user, cause)),
        }
    }

    /// On every (re)connection: assert every local view, load every other relay's, and
    /// drop the remote holders Redis no longer has.
    async fn resync(&mut self, conn: &mut redis::aio::MultiplexedConnection) -> redis::RedisResult<()> {
        self.heartbeat(conn).await?;
        self.resync_views(conn).await?;
        let mut keys: Vec<String> = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg("rc:{*}:m")
                .arg("COUNT")
                .arg(500)
                .query_async(conn)
                .await?;
            keys.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        let mut present = HashSet::new();
        for key in keys {
            let Some(ch) = key.strip_prefix("rc:{").and_then(|k| k.strip_suffix("}:m")) else {
                continue;
            };
            let fields: HashMap<String, String> = redis::cmd("HGETALL").arg(&key).query_async(conn).await?;
            for (field, value) in fields {
                let Some((user, relay)) = field.split_once('\t') else {
                    continue;
                };
                if relay == self.id {
                    continue;
                }
                let Ok(stored) = serde_json::from_str::<Stored>(&value) else {
                    continue;
                };
                present.insert((ch.to_string(), relay.to_string(), user.to_string()));
                self.accept(
                    relay.to_string(),
                    ch.to_string(),
                    user.to_string(),
                    stored.s,
                    Some(stored.v),
                    EndCause::Left,
                );
            }
        }
        let stale: Vec<(String, String, String)> = self
            .hub
            .act(|r, _| r.remote_entries())
            .into_iter()
            .filter(|entry| !present.contains(entry))
            .collect();
        for (ch, relay, user) in stale {
            self.seen.remove(&(relay.clone(), ch.clone(), user.clone()));
            // Gone from Redis while this relay was away from it: the cause is unknown.
            self.hub
                .act(|r, now| r.remote_gone(now, &ch, &relay, &user, EndCause::Timeout));
        }
        Ok(())
    }

    /// Record this relay as alive; reap the relays that stopped beating.
    async fn heartbeat(&mut self, conn: &mut redis::aio::MultiplexedConnection) -> redis::RedisResult<()> {
        let keep = Duration::from_millis(self.config.presence.lease_timeout_ms.max(10_000));
        self.seen
            .retain(|_, (_, gone)| gone.is_none_or(|at| at.elapsed() < keep));
        let now = wall_ms();
        let lease = self.config.presence.lease_timeout_ms;
        let known: Option<f64> = redis::cmd("ZSCORE").arg(RELAYS).arg(&self.id).query_async(conn).await?;
        let dead: Vec<String> = redis::cmd("EVAL")
            .arg(HEARTBEAT)
            .arg(1)
            .arg(RELAYS)
            .arg(now)
            .arg(lease)
            .arg(&self.id)
            .arg(now)
            .query_async(conn)
            .await?;
        if known.is_none() && self.up.load(Ordering::Relaxed) {
            // Redis restarted empty, or the others reaped this relay: assert everything.
            tracing::warn!("this relay's entry was missing from redis; asserting its clients again");
            return self.resync_views(conn).await;
        }
        let dead: Vec<String> = dead.into_iter().filter(|r| *r != self.id).collect();
        for relay in dead {
            self.reap(conn, &relay).await?;
        }
        Ok(())
    }

    /// Assert every view of this relay's own clients again.
    async fn resync_views(&mut self, conn: &mut redis::aio::MultiplexedConnection) -> redis::RedisResult<()> {
        let mine = self.hub.act(|r, _| r.local_views());
        for chunk in mine.chunks(BATCH) {
            let mut pipe = redis::pipe();
            for (ch, view) in chunk {
                self.seq += 1;
                pipe.add_command(self.set_command(ch, &view.id, Some(view.clone()), None))
                    .ignore();
                pipe.cmd("SADD").arg(relay_channels_key(&self.id)).arg(ch).ignore();
            }
            pipe.query_async::<()>(conn).await?;
        }
        Ok(())
    }

    /// Remove a dead relay's views from Redis and tell everyone.
    async fn reap(&mut self, conn: &mut redis::aio::MultiplexedConnection, relay: &str) -> redis::RedisResult<()> {
        tracing::info!("relay {relay} stopped beating; removing its clients");
        let channels: Vec<String> = redis::cmd("SMEMBERS")
            .arg(relay_channels_key(relay))
            .query_async(conn)
            .await?;
        let mut pipe = redis::pipe();
        for ch in &channels {
            pipe.cmd("EVAL")
                .arg(REAP)
                .arg(1)
                .arg(channel_key(ch))
                .arg(relay)
                .ignore();
        }
        let change = Change {
            r: relay.to_string(),
            c: None,
            u: None,
            s: 0,
            v: None,
            e: None,
            dead: true,
        };
        pipe.cmd("DEL").arg(relay_channels_key(relay)).ignore();
        pipe.cmd("ZREM").arg(RELAYS).arg(relay).ignore();
        pipe.cmd("PUBLISH")
            .arg(EVENTS)
            .arg(serde_json::to_string(&change).expect("serializable"))
            .ignore();
        pipe.query_async::<()>(conn).await?;
        self.seen.retain(|(r, _, _), _| r != relay);
        self.hub.act(|r, now| r.drop_relay(now, relay));
        Ok(())
    }
}
