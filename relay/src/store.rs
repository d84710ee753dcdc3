//! Where presence lives beyond this relay: nowhere (memory, the default) or Redis, shared
//! by several relays behind any load balancer.
//!
//! Each relay keeps the roster of its own clients, with their leases and graces, and
//! shares one view per (channel, user) with the others; the others hold it as one more
//! holder of that member, so a user on two relays is one member and leaves only when
//! every relay lets go. How relays agree (which view is newest, what a resync keeps,
//! when a silent relay is dead) is rollcall_core::cluster, proven by a simulation in
//! core/tests/cluster_sim.rs; this file is its transport. In Redis:
//!
//! - `rc:{<channel>}:m`, a hash per channel (the hash tag keeps a channel in one Cluster
//!   slot), field `<user>\t<relay>` = `{"s": seq, "v": member}`, changed by a Lua script
//!   that also publishes the change, in one round trip;
//! - `rollcall:events`, the pub/sub channel every relay listens to;
//! - `rc:relays`, a sorted set of relay names scored by their last heartbeat in Redis's
//!   own clock (`TIME`), and `rc:relay:<name>:ch`, the channels a relay wrote to, so a
//!   relay that died without a word is reaped by the others after `lease_timeout`. A
//!   relay's name is its random id, then `<id>.<epoch>` after it was found missing.
//!
//! When Redis is unreachable a relay goes on serving its own clients from local state,
//! says so in `/healthz` and `/metrics`, and on reconnecting asserts all its views again,
//! removes those that ended meanwhile, and reconciles the others' (no lost members, no
//! duplicates, no leave storm). A Redis restarted empty is noticed the same way (the
//! relay's heartbeat entry is gone).

use crate::hub::{Hub, Store};
use crate::redis_conn::{Conn, Target};
use rollcall_core::cluster::{Beaten, Change, Cluster, ClusterConfig, Message, Op, Stored};
use rollcall_core::protocol::Member;
use rollcall_core::roster::{EndCause, RosterConfig};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The pub/sub channel of presence changes.
pub const EVENTS: &str = "rollcall:events";
/// The sorted set of live relays.
pub const RELAYS: &str = "rc:relays";
/// Most changes written to Redis in one pipeline.
const BATCH: usize = 512;
/// How long connecting may take before Redis counts as unreachable (an answer: see
/// `crate::redis_conn::answer_timeout`).
const TIMEOUT: Duration = Duration::from_secs(2);
/// The first wait before reconnecting to Redis; it doubles at each failed attempt up to
/// [`BACKOFF_MAX`], and starts again from here once a connection got up.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// The longest wait between attempts to reconnect: once Redis is back, a relay is up
/// again within this (plus a connection and a resync, each bounded by [`TIMEOUT`]).
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How long the relay says it is degraded after it found unreadable data in Redis.
pub const UNREADABLE_HOLD: Duration = Duration::from_secs(60);

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
    /// When unreadable data was last found in Redis (or on its pub/sub).
    unreadable: Arc<std::sync::Mutex<Option<tokio::time::Instant>>>,
    id: String,
}

impl Store for Redis {
    fn name(&self) -> &'static str {
        "redis"
    }
    /// Reachable, and no unreadable data found there for [`UNREADABLE_HOLD`]: data
    /// this relay cannot read (another program's, or a relay of another version's) may
    /// hide members, so the operator is told until it is gone.
    fn up(&self) -> bool {
        let clean = self
            .unreadable
            .lock()
            .expect("not poisoned")
            .is_none_or(|at| at.elapsed() > UNREADABLE_HOLD);
        self.up.load(Ordering::Relaxed) && clean
    }
    fn linked(&self) -> bool {
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
    /// Start sharing `hub`'s roster through Redis at `target`. Connects in the
    /// background and keeps reconnecting; never fails the relay's start.
    pub fn start(target: Target, hub: Arc<Hub>, presence: &RosterConfig) -> Result<Redis, String> {
        let (tx, rx) = mpsc::unbounded_channel();
        let up = Arc::new(AtomicBool::new(false));
        let unreadable = Arc::new(std::sync::Mutex::new(None));
        let id = crate::ids::random_id();
        let cluster = Cluster::new(&id, ClusterConfig::from_presence(presence));
        let link = Link {
            target,
            hub,
            up: up.clone(),
            cluster,
            garbage: false,
            unreadable: unreadable.clone(),
            drain: None,
            epoch: None,
            resync: None,
        };
        tokio::spawn(link.run(rx));
        Ok(Redis { tx, up, unreadable, id })
    }
}

/// A stored or published view.
#[derive(Serialize, Deserialize)]
struct StoredView {
    s: u64,
    v: Member,
}

/// A message on [`EVENTS`].
#[derive(Serialize, Deserialize)]
struct Wire {
    /// The relay that made it (its name: id and epoch).
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
    /// With `dead`: the name the same relay writes under now (it reaped its old one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    n: Option<String>,
}

impl Wire {
    fn decode(payload: &str) -> Option<Message> {
        let wire: Wire = serde_json::from_str(payload).ok()?;
        if wire.dead {
            return Some(Message::Dead {
                relay: wire.r,
                successor: wire.n,
            });
        }
        Some(Message::Change(Change {
            relay: wire.r,
            ch: wire.c?,
            user: wire.u?,
            seq: wire.s,
            view: wire.v,
            cause: wire.e.as_deref().and_then(EndCause::parse),
        }))
    }
}

/// Set or delete one field and publish the change, atomically, in one round trip.
const SET: &str = r#"
if ARGV[2] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
"#;

/// Heartbeat, in Redis's clock (relays' clocks may disagree or jump): was this relay
/// listed, record it at now + shift, and answer with now and the whole table.
/// ARGV: relay name, shift (ms).
const HEARTBEAT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local known = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return {now, known and 1 or 0, redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')}
"#;

/// Remove a dead relay's fields from one channel hash. ARGV: relay name.
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

/// The background side: one task owns the Redis connections and the cluster machine
/// (rollcall_core::cluster, where the rules live), so this relay's changes reach Redis
/// in the order they happened. What is here is transport: Lua, pub/sub, reconnecting,
/// and Redis replies turned into the machine's inputs.
struct Link {
    target: Target,
    hub: Arc<Hub>,
    up: Arc<AtomicBool>,
    cluster: Cluster,
    /// Unreadable data was seen in Redis (said once per connection).
    garbage: bool,
    /// When unreadable data was last found (shared with [`Redis::up`]).
    unreadable: Arc<std::sync::Mutex<Option<tokio::time::Instant>>>,
    /// The relay asked to stop sharing: done once the drain's beat is written.
    drain: Option<oneshot::Sender<()>>,
    /// On a Redis Cluster, its epoch at the last beat (a failover raises it).
    epoch: Option<u64>,
    /// Why every view must be asserted again, though Redis is reachable.
    resync: Option<String>,
}

/// The waits between attempts to reach Redis: from [`BACKOFF_MIN`], doubling up to
/// [`BACKOFF_MAX`]; a new one after each outage.
struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff(BACKOFF_MIN)
    }
}

impl Backoff {
    /// The wait before this attempt (the next one waits twice as long).
    fn next(&mut self) -> Duration {
        let wait = self.0;
        self.0 = (wait * 2).min(BACKOFF_MAX);
        wait
    }
}

enum Ended {
    /// Redis went away: reconnect.
    Lost(String),
    /// Redis may have lost writes it acknowledged (a Cluster failed over): reconnect
    /// and assert everything again at once.
    Resync(String),
    /// The relay is stopping.
    Stopped,
}

impl Link {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>) {
        let mut backoff = Backoff::default();
        loop {
            let ended = self.session(&mut rx).await;
            let now = self.hub.now();
            self.cluster.link_down(now);
            match ended {
                Ended::Stopped => return,
                Ended::Resync(why) => {
                    tracing::warn!("{why}; asserting this relay's views again");
                    self.cluster.writes_lost();
                    continue;
                }
                Ended::Lost(why) => {
                    if self.up.swap(false, Ordering::Relaxed) {
                        // The link was up: this is a new outage, not the same one going
                        // on. Without this the wait only grew, so that after a few
                        // outages every reconnection waited the longest backoff.
                        backoff = Backoff::default();
                        tracing::warn!("redis unreachable, serving local clients only: {why}");
                    } else {
                        tracing::debug!("redis still unreachable: {why}");
                    }
                }
            }
            // While Redis is away, changes are not queued: reconnecting asserts
            // everything again (and removes what ended meanwhile).
            let wait = tokio::time::sleep(backoff.next());
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
        }
    }

    async fn session(&mut self, rx: &mut mpsc::UnboundedReceiver<Command>) -> Ended {
        let mut conn = match self.target.connect(TIMEOUT).await {
            Ok(c) => c,
            Err(e) => return Ended::Lost(e.to_string()),
        };
        let mut pubsub = match self.target.pubsub(TIMEOUT).await {
            Ok(p) => p,
            Err(e) => return Ended::Lost(e.to_string()),
        };
        // Bounded like every other answer: a link that goes silent here would otherwise
        // hold the session, and the relay's reconnection, for as long as it stays so.
        match tokio::time::timeout(TIMEOUT, pubsub.subscribe(EVENTS)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Ended::Lost(e.to_string()),
            Err(_) => return Ended::Lost("no answer to SUBSCRIBE".into()),
        }
        let mut messages = pubsub.into_on_message();
        self.garbage = false;
        self.epoch = None;
        self.resync = None;
        // Subscribed first, then loaded: a change made meanwhile arrives as a message
        // after the load and wins by its seq.
        self.cluster.link_up(self.hub.now());
        if let Err(e) = self.run_ops(&mut conn, rx).await {
            return Ended::Lost(e.to_string());
        }
        self.up.store(true, Ordering::Relaxed);
        tracing::info!("redis connected; relay name {}", self.cluster.name());
        use futures_util::StreamExt;
        loop {
            let beat = self.cluster.poll_timeout().map(|at| self.hub.instant_of(at));
            let sleep = tokio::time::sleep_until(
                beat.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600)),
            );
            tokio::select! {
                cmd = rx.recv() => {
                    let Some(cmd) = cmd else { return Ended::Stopped };
                    let now = self.hub.now();
                    self.command(now, cmd);
                    while let Ok(cmd) = rx.try_recv() {
                        self.command(now, cmd);
                    }
                }
                msg = messages.next() => {
                    let Some(msg) = msg else { return Ended::Lost("the pub/sub connection closed".into()) };
                    let Ok(payload) = msg.get_payload::<String>() else { continue };
                    let Some(message) = Wire::decode(&payload) else {
                        self.unreadable(EVENTS);
                        continue;
                    };
                    let cluster = &mut self.cluster;
                    self.hub.act(|r, now| cluster.message(now, r, message));
                }
                _ = sleep => {
                    let cluster = &mut self.cluster;
                    self.hub.act(|r, now| cluster.handle_timeout(now, r));
                }
            }
            if let Err(e) = self.run_ops(&mut conn, rx).await {
                return Ended::Lost(e.to_string());
            }
            if let Some(why) = self.resync.take() {
                return Ended::Resync(why);
            }
            if let Some(done) = self.drain.take() {
                self.cluster.drain(self.hub.now());
                let result = self.run_ops(&mut conn, rx).await;
                let _ = done.send(());
                return match result {
                    Ok(()) => Ended::Stopped,
                    Err(e) => Ended::Lost(e.to_string()),
                };
            }
        }
    }

    fn command(&mut self, now: rollcall_core::Instant, cmd: Command) {
        match cmd {
            Command::Share { ch, user, view, cause } => self.cluster.share(now, &ch, &user, view, cause),
            Command::Drain(done) => self.drain = Some(done),
        }
    }

    /// Do what the cluster machine asks, in order: its writes in pipelines, its beats
    /// and loads with their answers fed back.
    async fn run_ops(&mut self, conn: &mut Conn, rx: &mut mpsc::UnboundedReceiver<Command>) -> redis::RedisResult<()> {
        loop {
            let mut sets = Vec::new();
            let mut writes = 0;
            let mut channels: HashMap<String, HashSet<String>> = HashMap::new();
            let mut next = None;
            while let Some(op) = self.cluster.poll_op() {
                match op {
                    Op::Set(change) => {
                        if change.view.is_some() {
                            channels
                                .entry(change.relay.clone())
                                .or_default()
                                .insert(change.ch.clone());
                        }
                        sets.push((channel_key(&change.ch), set_command(&change)));
                        writes += 1;
                        if writes >= BATCH {
                            break;
                        }
                    }
                    other => {
                        next = Some(other);
                        break;
                    }
                }
            }
            // The channels first, so that a reaper finds every view this relay wrote
            // (on one server, one pipeline in this order; on a Cluster, one per slot).
            let mut cmds = Vec::new();
            for (relay, chs) in channels {
                let key = relay_channels_key(&relay);
                let mut sadd = redis::cmd("SADD");
                sadd.arg(&key).arg(chs.into_iter().collect::<Vec<_>>());
                cmds.push((key, sadd));
            }
            cmds.extend(sets);
            conn.run(cmds).await?;
            match next {
                None if writes == 0 => return Ok(()),
                None => {}
                Some(Op::Set(_)) => unreachable!("sets are pipelined above"),
                Some(Op::Beat { relay, shift_ms }) => self.beat(conn, rx, &relay, shift_ms).await?,
                Some(Op::Reap { relay, successor }) => self.reap(conn, &relay, successor).await?,
                Some(Op::Load) => self.load(conn, rx).await?,
            }
        }
    }

    /// Record this relay alive; the machine decides who is dead.
    async fn beat(
        &mut self,
        conn: &mut Conn,
        rx: &mut mpsc::UnboundedReceiver<Command>,
        relay: &str,
        shift_ms: i64,
    ) -> redis::RedisResult<()> {
        let (store_ms, known, flat): (i64, i64, Vec<String>) = redis::cmd("EVAL")
            .arg(HEARTBEAT)
            .arg(1)
            .arg(RELAYS)
            .arg(relay)
            .arg(shift_ms)
            .query_async(conn)
            .await?;
        let mut table = Vec::new();
        for pair in flat.chunks(2) {
            if let [name, score] = pair {
                match score.parse::<f64>() {
                    Ok(score) => table.push((name.clone(), score.max(0.0) as u64)),
                    Err(_) => self.unreadable(RELAYS),
                }
            }
        }
        if let Some(epoch) = conn.epoch().await? {
            if let Some(before) = self.epoch.filter(|before| epoch > *before) {
                self.resync = Some(format!("the redis cluster failed over (epoch {before} -> {epoch})"));
            }
            self.epoch = Some(self.epoch.map_or(epoch, |before| before.max(epoch)));
        }
        let beaten = Beaten {
            store_ms: store_ms.max(0) as u64,
            known: known == 1,
            table,
        };
        self.with_roster(rx, |cluster, r, now| cluster.beaten(now, r, beaten));
        Ok(())
    }

    /// Feed the machine an answer that may make it assert every local view. The
    /// changes this relay shared before (already queued, from the hub's lock) are taken
    /// first, under the same lock, so that none of them is written after the assertion
    /// that supersedes it.
    fn with_roster(
        &mut self,
        rx: &mut mpsc::UnboundedReceiver<Command>,
        f: impl FnOnce(&mut Cluster, &mut rollcall_core::roster::Roster, rollcall_core::Instant),
    ) {
        let cluster = &mut self.cluster;
        let drain = &mut self.drain;
        self.hub.act(|r, now| {
            while let Ok(cmd) = rx.try_recv() {
                match cmd {
                    Command::Share { ch, user, view, cause } => cluster.share(now, &ch, &user, view, cause),
                    Command::Drain(done) => *drain = Some(done),
                }
            }
            f(cluster, r, now);
        });
    }

    /// Every view in Redis, for the machine's resync.
    async fn load(&mut self, conn: &mut Conn, rx: &mut mpsc::UnboundedReceiver<Command>) -> redis::RedisResult<()> {
        let keys = conn.scan("rc:{*}:m").await?;
        let mut stored = Vec::new();
        for key in keys {
            let Some(ch) = key.strip_prefix("rc:{").and_then(|k| k.strip_suffix("}:m")) else {
                continue;
            };
            let fields = match read_hash(conn, &key).await {
                Ok(fields) => fields,
                // Not a hash (WRONGTYPE), or not text: not ours to read.
                Err(e) if e.kind() == redis::ErrorKind::TypeError || e.code() == Some("WRONGTYPE") => {
                    self.unreadable(&key);
                    continue;
                }
                Err(e) => return Err(e),
            };
            for (field, value) in fields {
                let Some((user, relay)) = field.split_once('\t') else {
                    self.unreadable(&key);
                    continue;
                };
                let Ok(view) = serde_json::from_str::<StoredView>(&value) else {
                    self.unreadable(&key);
                    continue;
                };
                stored.push(Stored {
                    relay: relay.to_string(),
                    ch: ch.to_string(),
                    user: user.to_string(),
                    seq: view.s,
                    view: view.v,
                });
            }
        }
        self.with_roster(rx, |cluster, r, now| cluster.loaded(now, r, stored));
        Ok(())
    }

    fn unreadable(&mut self, key: &str) {
        *self.unreadable.lock().expect("not poisoned") = Some(tokio::time::Instant::now());
        if !std::mem::replace(&mut self.garbage, true) {
            tracing::warn!(
                "unreadable data in redis at {key} (another program, or a relay of another version?); skipped, and /healthz says degraded for {} s",
                UNREADABLE_HOLD.as_secs()
            );
        }
    }

    /// Take a dead relay out of the table first (if it beats again it finds itself
    /// missing and comes back under a new name), then remove its views and tell all.
    async fn reap(&mut self, conn: &mut Conn, relay: &str, successor: Option<String>) -> redis::RedisResult<()> {
        match &successor {
            Some(next) => tracing::info!("relay {relay} is {next} now; removing the old name's views"),
            None => tracing::info!("relay {relay} stopped beating; removing its clients"),
        }
        redis::cmd("ZREM")
            .arg(RELAYS)
            .arg(relay)
            .query_async::<()>(conn)
            .await?;
        let channels: Vec<String> = redis::cmd("SMEMBERS")
            .arg(relay_channels_key(relay))
            .query_async(conn)
            .await?;
        let mut cmds = Vec::new();
        for ch in &channels {
            let mut eval = redis::cmd("EVAL");
            eval.arg(REAP).arg(1).arg(channel_key(ch)).arg(relay);
            cmds.push((channel_key(ch), eval));
        }
        conn.run(cmds).await?;
        let dead = Wire {
            r: relay.to_string(),
            c: None,
            u: None,
            s: 0,
            v: None,
            e: None,
            dead: true,
            n: successor,
        };
        // Views first, then the list of its channels and the word to all: a reaper
        // that fails half way is followed by another that finds the list.
        redis::cmd("DEL")
            .arg(relay_channels_key(relay))
            .query_async::<()>(&mut *conn)
            .await?;
        redis::cmd("PUBLISH")
            .arg(EVENTS)
            .arg(serde_json::to_string(&dead).expect("serializable"))
            .query_async::<()>(&mut *conn)
            .await
    }
}

/// Fields of a channel's hash read in one `HSCAN` page.
const PAGE: usize = 1_000;

/// A whole channel hash, page by page: each page is bounded like any other answer, where
/// one `HGETALL` of a channel of 100,000 could outlast the timeout, and every reload
/// after it, for good.
async fn read_hash(conn: &mut Conn, key: &str) -> redis::RedisResult<HashMap<String, String>> {
    let mut fields = HashMap::new();
    let mut cursor = 0u64;
    loop {
        let (next, page): (u64, Vec<(String, String)>) = redis::cmd("HSCAN")
            .arg(key)
            .arg(cursor)
            .arg("COUNT")
            .arg(PAGE)
            .query_async(&mut *conn)
            .await?;
        // A field may come twice while the hash is resized: the map keeps one.
        fields.extend(page);
        if next == 0 {
            return Ok(fields);
        }
        cursor = next;
    }
}

fn set_command(change: &Change) -> redis::Cmd {
    let field = format!("{}\t{}", change.user, change.relay);
    let stored = change.view.as_ref().map(|v| {
        serde_json::to_string(&StoredView {
            s: change.seq,
            v: v.clone(),
        })
        .expect("serializable")
    });
    let wire = Wire {
        r: change.relay.clone(),
        c: Some(change.ch.clone()),
        u: Some(change.user.clone()),
        s: change.seq,
        v: change.view.clone(),
        e: change.cause.map(|c| c.as_str().to_string()),
        dead: false,
        n: None,
    };
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(SET)
        .arg(1)
        .arg(channel_key(&change.ch))
        .arg(field)
        .arg(stored.unwrap_or_default())
        .arg(EVENTS)
        .arg(serde_json::to_string(&wire).expect("serializable"));
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnecting_waits_double_up_to_the_cap_and_a_new_outage_starts_short() {
        let mut backoff = Backoff::default();
        let waits: Vec<u64> = (0..8).map(|_| backoff.next().as_millis() as u64).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1_600, 3_200, 5_000, 5_000]);
        // What Link::run does when a link that was up is lost.
        backoff = Backoff::default();
        assert_eq!(backoff.next(), BACKOFF_MIN);
    }
}
