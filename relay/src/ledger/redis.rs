//! The ledger in Redis, for relays that share state there: any relay answers the API
//! from it, and the one relay that records (see [`RedisDb::claim`]) writes it. A relay
//! that stops, crashes or loses Redis leaves nothing behind that another cannot pick up:
//! the open sessions, the totals and the webhook queue are all here.
//!
//! Keys (all under `rc:l:`, or `rc:{l}:` on a Redis Cluster: one hash tag, one slot,
//! so that a batch is one transaction there too):
//!
//! - `rc:l:s`: hash, session id -> session (JSON); `rc:l:next`: the last id given;
//! - `rc:l:open`: set of open session ids; `rc:l:open:<user>`: the same, per user;
//! - indexes, sorted sets of session ids (score = id): `rc:l:iu` (user sessions),
//!   `rc:l:ic` (channel sessions), `rc:l:iu:<user>`, `rc:l:ic:<user>` (a user's channel
//!   sessions), `rc:l:ich:<channel>`; `rc:l:ended`: ended session ids scored by end time;
//! - `rc:l:users`: hash, user -> identity, first and last seen, time online (JSON);
//!   `rc:l:d:<user>`: hash, `<day>:a|i|h` -> milliseconds active, idle, hidden;
//! - `rc:l:q`: hash, seq -> queued webhook event (JSON); `rc:l:qseq`: the last seq;
//! - `rc:l:alive`: the recorder's last heartbeat; `rc:l:recorder`: which relay records,
//!   with a time to live.
//!
//! Each batch of writes is one MULTI/EXEC transaction, on the master of that slot. Only the recorder writes, so the
//! read-modify-write of a user's totals needs no script.

use super::book::{Session, Split, Write};
use super::rows::{Error, Queued, Result, SessionQuery, UserRow};
use crate::clock::{day_of, Ms};
use crate::redis_conn::Target;
use redis::Commands;
use rollcall_core::protocol::{Identity, Status};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// How long connecting, and each answer, may take. Short: the ledger's state is locked
/// while it waits, and async tasks (the webhooks', `/healthz`) lock it too.
const TIMEOUT: Duration = Duration::from_secs(2);
/// Session ids read per round trip when paging through an index.
const PAGE: isize = 200;
/// Users read in one HMGET.
const READ_CHUNK: usize = 1_000;
/// Most of the book's writes in one transaction.
const COMMIT_CHUNK: usize = 5_000;

/// The ledger's keys. Every one shares a hash tag on a Redis Cluster (`rc:{l}:*`), so one
/// slot, so that a batch is one MULTI transaction; on one server they keep the names
/// they always had (`rc:l:*`).
struct Keys {
    prefix: &'static str,
    sessions: String,
    next: String,
    open: String,
    user_sessions: String,
    channel_sessions: String,
    ended: String,
    users: String,
    queue: String,
    queue_seq: String,
    alive: String,
    recorder: String,
}

impl Keys {
    fn new(cluster: bool) -> Keys {
        let prefix = if cluster { "rc:{l}:" } else { "rc:l:" };
        let k = |name: &str| format!("{prefix}{name}");
        Keys {
            prefix,
            sessions: k("s"),
            next: k("next"),
            open: k("open"),
            user_sessions: k("iu"),
            channel_sessions: k("ic"),
            ended: k("ended"),
            users: k("users"),
            queue: k("q"),
            queue_seq: k("qseq"),
            alive: k("alive"),
            recorder: k("recorder"),
        }
    }
    fn open_of(&self, user: &str) -> String {
        format!("{}open:{user}", self.prefix)
    }
    fn user_index(&self, user: &str) -> String {
        format!("{}iu:{user}", self.prefix)
    }
    fn user_channels_index(&self, user: &str) -> String {
        format!("{}ic:{user}", self.prefix)
    }
    fn channel_index(&self, ch: &str) -> String {
        format!("{}ich:{ch}", self.prefix)
    }
    fn days_of(&self, user: &str) -> String {
        format!("{}d:{user}", self.prefix)
    }
}

/// Become or stay the recorder for `ttl` more: 1 when this relay still held the role,
/// 2 when it was free (never taken, or lapsed: another relay may have held it since this
/// one last did), 0 when another relay holds it.
const CLAIM: &str = r#"
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] or holder == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  if holder == false then return 2 end
  return 1
end
return 0
"#;

/// Hold the role for `ttl` more, only if this relay holds it now: 1 if so, else 0.
const RENEW: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"#;

/// Renews the recorder's hold on a connection of its own while the ledger's state is
/// busy (a takeover of many users holds it for longer than one term).
#[derive(Clone)]
pub struct Keeper {
    target: Target,
    recorder: String,
    alive: String,
    relay: String,
    ttl_ms: u64,
}

impl Keeper {
    /// Whether the hold was still this relay's, and is now renewed.
    pub fn renew(&self) -> Result<bool> {
        let mut c = self.target.blocking_for(&self.alive, TIMEOUT)?;
        let kept: i64 = redis::cmd("EVAL")
            .arg(RENEW)
            .arg(1)
            .arg(&self.recorder)
            .arg(&self.relay)
            .arg(self.ttl_ms)
            .query(&mut c)?;
        Ok(kept == 1)
    }
}

/// What a claim of the recorder role found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// This relay held the role, without a break: it goes on.
    Kept,
    /// The role was free: held now, but whoever held it last (this relay too) may have
    /// recorded since this relay's book was last right.
    Took,
    /// Another relay holds it.
    Refused,
}

#[derive(Serialize, Deserialize)]
struct StoredSession {
    user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    channel: Option<String>,
    started: Ms,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ended: Option<Ms>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cause: Option<String>,
    status: Status,
    since: Ms,
    active_ms: u64,
    idle_ms: u64,
    hidden_ms: u64,
}

impl StoredSession {
    fn of(s: &Session) -> String {
        serde_json::to_string(&StoredSession {
            user: s.user.clone(),
            channel: s.channel.clone(),
            started: s.started,
            ended: s.ended,
            cause: s.cause.clone(),
            status: s.status,
            since: s.since,
            active_ms: s.split.active_ms,
            idle_ms: s.split.idle_ms,
            hidden_ms: s.split.hidden_ms,
        })
        .expect("serializable")
    }

    fn read(id: i64, text: &str) -> Result<Session> {
        let s: StoredSession = serde_json::from_str(text).map_err(|e| Error::Corrupt(format!("session {id}: {e}")))?;
        Ok(Session {
            id,
            user: s.user,
            channel: s.channel,
            started: s.started,
            ended: s.ended,
            cause: s.cause,
            status: s.status,
            since: s.since,
            split: Split {
                active_ms: s.active_ms,
                idle_ms: s.idle_ms,
                hidden_ms: s.hidden_ms,
            },
        })
    }
}

#[derive(Clone, Serialize, Deserialize)]
struct StoredUser {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    avatar: Option<String>,
    first_seen: Ms,
    last_seen: Ms,
    #[serde(default)]
    active_ms: u64,
    #[serde(default)]
    idle_ms: u64,
    #[serde(default)]
    hidden_ms: u64,
}

#[derive(Serialize, Deserialize)]
struct StoredEvent {
    endpoint: String,
    id: String,
    at: Ms,
    body: String,
}

/// The ledger in Redis. Reconnects on the next call after an error.
pub struct RedisDb {
    target: Target,
    /// Boxed: eleven names, read once per call.
    keys: Box<Keys>,
    conn: Option<redis::Connection>,
    /// The relay name this one last held the recorder role as: its batches are written
    /// only while the role is still its own.
    holder: Option<String>,
    /// How long the last claim held the role for: each commit holds it that long again.
    hold_ms: u64,
}

impl RedisDb {
    pub fn open(target: Target) -> RedisDb {
        RedisDb {
            keys: Box::new(Keys::new(target.is_cluster())),
            target,
            conn: None,
            holder: None,
            hold_ms: 0,
        }
    }

    /// Run `f` on the connection (on a Cluster, to the master of the ledger's slot); a
    /// failed call drops it, so the next one reconnects (and finds the slot's master
    /// again after a failover).
    fn with<T>(&mut self, f: impl FnOnce(&mut redis::Connection, &Keys) -> Result<T>) -> Result<T> {
        if self.conn.is_none() {
            self.conn = Some(self.target.blocking_for(&self.keys.alive, TIMEOUT)?);
        }
        let result = f(self.conn.as_mut().expect("connected above"), &self.keys);
        if matches!(&result, Err(Error::Redis(_))) {
            self.conn = None;
        }
        result
    }

    /// A keeper of the hold the last claim took, if it took one.
    pub fn keeper(&self) -> Option<Keeper> {
        Some(Keeper {
            target: self.target.clone(),
            recorder: self.keys.recorder.clone(),
            alive: self.keys.alive.clone(),
            relay: self.holder.clone()?,
            ttl_ms: self.hold_ms,
        })
    }

    /// Become (or stay) the relay that records, for `ttl_ms`.
    pub fn claim(&mut self, relay: &str, ttl_ms: u64) -> Result<Claim> {
        self.holder = Some(relay.to_string());
        self.hold_ms = ttl_ms.max(1);
        self.with(|c, k| {
            let got: i64 = redis::cmd("EVAL")
                .arg(CLAIM)
                .arg(1)
                .arg(&k.recorder)
                .arg(relay)
                .arg(ttl_ms.max(1))
                .query(c)?;
            Ok(match got {
                1 => Claim::Kept,
                2 => Claim::Took,
                _ => Claim::Refused,
            })
        })
    }

    pub fn alive(&mut self) -> Result<Option<Ms>> {
        self.with(|c, k| Ok(c.get(&k.alive)?))
    }

    pub fn next_id(&mut self) -> Result<i64> {
        self.with(|c, k| Ok(c.get::<_, Option<i64>>(&k.next)?.unwrap_or(0) + 1))
    }

    fn load(c: &mut redis::Connection, k: &Keys, ids: &[i64]) -> Result<Vec<Session>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let texts: Vec<Option<String>> = redis::cmd("HMGET").arg(&k.sessions).arg(ids).query(c)?;
        let mut out = Vec::with_capacity(ids.len());
        for (id, text) in ids.iter().zip(texts) {
            if let Some(text) = text {
                out.push(StoredSession::read(*id, &text)?);
            }
        }
        Ok(out)
    }

    pub fn open_sessions(&mut self) -> Result<Vec<Session>> {
        self.with(|c, k| {
            let mut ids: Vec<i64> = c.smembers(&k.open)?;
            ids.sort_unstable();
            Self::load(c, k, &ids)
        })
    }

    pub fn open_sessions_of(&mut self, user: &str) -> Result<Vec<Session>> {
        self.with(|c, k| {
            let mut ids: Vec<i64> = c.smembers(k.open_of(user))?;
            ids.sort_unstable();
            Self::load(c, k, &ids)
        })
    }

    pub fn identities(&mut self, users: &BTreeSet<String>) -> Result<BTreeMap<String, Identity>> {
        if users.is_empty() {
            return Ok(BTreeMap::new());
        }
        self.with(|c, k| {
            let rows = Self::read_users(c, k, users.iter().map(String::as_str).collect())?;
            Ok(rows
                .into_iter()
                .filter_map(|(user, row)| {
                    let row = row?;
                    let identity = Identity {
                        id: user.clone(),
                        name: row.name,
                        avatar: row.avatar,
                    };
                    Some((user, identity))
                })
                .collect())
        })
    }

    fn read_user(c: &mut redis::Connection, k: &Keys, user: &str) -> Result<Option<StoredUser>> {
        Ok(Self::read_users(c, k, BTreeSet::from([user]))?.remove(user).flatten())
    }

    /// Many users' rows, a few round trips in all: a takeover's batch names every
    /// user online (100,000 of them took a round trip each, longer than the role's
    /// hold, so the role went from relay to relay without one ever committing).
    fn read_users(
        c: &mut redis::Connection,
        k: &Keys,
        users: BTreeSet<&str>,
    ) -> Result<BTreeMap<String, Option<StoredUser>>> {
        let users: Vec<&str> = users.into_iter().collect();
        let mut rows = BTreeMap::new();
        for chunk in users.chunks(READ_CHUNK) {
            let texts: Vec<Option<String>> = redis::cmd("HMGET").arg(&k.users).arg(chunk).query(c)?;
            for (user, text) in chunk.iter().zip(texts) {
                let row = text
                    .map(|t| serde_json::from_str(&t).map_err(|e| Error::Corrupt(format!("user {user}: {e}"))))
                    .transpose()?;
                rows.insert(user.to_string(), row);
            }
        }
        Ok(rows)
    }

    /// Commit the book's writes and the webhook events queued with them, fenced by the
    /// role, in transactions of at most [`COMMIT_CHUNK`] writes (the events with the
    /// last): a takeover writes every user online at once, and one transaction of
    /// 460,000 commands outlasted both the command timeout and the role's hold. A
    /// failure part-way leaves what a crash between two commits leaves: the next
    /// recorder takes over from the sessions left open.
    pub fn apply(&mut self, now: Ms, writes: &[Write], queue: &[(String, String, Ms, String)]) -> Result<Vec<i64>> {
        let mut chunks = writes.chunks(COMMIT_CHUNK).peekable();
        let mut seqs = Vec::new();
        while let Some(chunk) = chunks.next() {
            let last = chunks.peek().is_none();
            seqs = self.apply_chunk(now, chunk, if last { queue } else { &[] })?;
        }
        if writes.is_empty() {
            seqs = self.apply_chunk(now, &[], queue)?;
        }
        Ok(seqs)
    }

    fn apply_chunk(&mut self, now: Ms, writes: &[Write], queue: &[(String, String, Ms, String)]) -> Result<Vec<i64>> {
        let holder = self.holder.clone();
        let hold_ms = self.hold_ms;
        self.with(|c, k| {
            // Fenced by the role: a batch from a relay whose role lapsed (a slow link,
            // a pause) while another took over would tell events twice. WATCH makes the
            // transaction fail if the role changes hands (or expires) before EXEC.
            if let Some(me) = &holder {
                redis::cmd("WATCH").arg(&k.recorder).query::<()>(c)?;
                let now_holder: Option<String> = c.get(&k.recorder)?;
                if now_holder.as_deref() != Some(me.as_str()) {
                    redis::cmd("UNWATCH").query::<()>(c)?;
                    return Err(Error::NotRecorder);
                }
            }
            let mut write = || -> Result<Vec<i64>> {
                // Users' rows change by read-modify-write (only the recorder writes).
                let wanted: BTreeSet<&str> = writes
                    .iter()
                    .filter_map(|write| match write {
                        Write::Seen { user, .. } => Some(user.id.as_str()),
                        Write::Time { user, .. } => Some(user.as_str()),
                        _ => None,
                    })
                    .collect();
                let mut users = Self::read_users(c, k, wanted)?;
                let first_seq: i64 = if queue.is_empty() {
                    0
                } else {
                    c.incr::<_, _, i64>(&k.queue_seq, queue.len() as i64)? - queue.len() as i64 + 1
                };
                let mut pipe = redis::pipe();
                pipe.atomic();
                let mut last_id = None;
                for write in writes {
                    match write {
                        Write::Open(s) | Write::Save(s) => {
                            last_id = last_id.max(Some(s.id));
                            pipe.hset(&k.sessions, s.id, StoredSession::of(s)).ignore();
                            let index = match &s.channel {
                                None => [k.user_sessions.clone(), k.user_index(&s.user)],
                                Some(_) => [k.channel_sessions.clone(), k.user_channels_index(&s.user)],
                            };
                            for key in index {
                                pipe.zadd(key, s.id, s.id).ignore();
                            }
                            if let Some(ch) = &s.channel {
                                pipe.zadd(k.channel_index(ch), s.id, s.id).ignore();
                            }
                            match s.ended {
                                None => {
                                    pipe.sadd(&k.open, s.id).ignore();
                                    pipe.sadd(k.open_of(&s.user), s.id).ignore();
                                }
                                Some(ended) => {
                                    pipe.srem(&k.open, s.id).ignore();
                                    pipe.srem(k.open_of(&s.user), s.id).ignore();
                                    pipe.zadd(&k.ended, s.id, ended).ignore();
                                }
                            }
                        }
                        Write::Seen { user, at } => {
                            let row = users.get_mut(&user.id).expect("read above");
                            let stored = row.get_or_insert_with(|| StoredUser {
                                name: None,
                                avatar: None,
                                first_seen: *at,
                                last_seen: *at,
                                active_ms: 0,
                                idle_ms: 0,
                                hidden_ms: 0,
                            });
                            stored.name = user.name.clone();
                            stored.avatar = user.avatar.clone();
                            stored.last_seen = stored.last_seen.max(*at);
                        }
                        Write::Time { user, day, split } => {
                            let key = k.days_of(user);
                            for (suffix, ms) in [("a", split.active_ms), ("i", split.idle_ms), ("h", split.hidden_ms)] {
                                if ms > 0 {
                                    pipe.hincr(&key, format!("{day}:{suffix}"), ms).ignore();
                                }
                            }
                            // Like SQLite's UPDATE: totals only for a user with a row.
                            if let Some(Some(row)) = users.get_mut(user) {
                                row.active_ms += split.active_ms;
                                row.idle_ms += split.idle_ms;
                                row.hidden_ms += split.hidden_ms;
                            }
                        }
                        Write::Notify(_) => {}
                    }
                }
                for (user, row) in &users {
                    if let Some(row) = row {
                        pipe.hset(&k.users, user, serde_json::to_string(row).expect("serializable"))
                            .ignore();
                    }
                }
                if let Some(id) = last_id {
                    // Ids only grow: keep the largest given.
                    let known: Option<i64> = c.get(&k.next)?;
                    if known.is_none_or(|k| k < id) {
                        pipe.set(&k.next, id).ignore();
                    }
                }
                let mut seqs = Vec::with_capacity(queue.len());
                for (i, (endpoint, id, at, body)) in queue.iter().enumerate() {
                    let seq = first_seq + i as i64;
                    let event = StoredEvent {
                        endpoint: endpoint.clone(),
                        id: id.clone(),
                        at: *at,
                        body: body.clone(),
                    };
                    pipe.hset(&k.queue, seq, serde_json::to_string(&event).expect("serializable"))
                        .ignore();
                    seqs.push(seq);
                }
                let known: Option<Ms> = c.get(&k.alive)?;
                pipe.set(&k.alive, known.unwrap_or(0).max(now)).ignore();
                if holder.is_some() {
                    // A relay that commits is alive: its hold runs from here, in the same
                    // fenced transaction, so a takeover's many transactions cannot
                    // outlast it between two claims.
                    pipe.pexpire(&k.recorder, hold_ms as i64).ignore();
                }
                let done: Option<redis::Value> = pipe.query(c)?;
                if done.is_none() {
                    return Err(Error::NotRecorder);
                }
                Ok(seqs)
            };
            let result = write();
            if result.is_err() && holder.is_some() {
                // A batch that failed before EXEC leaves no WATCH behind.
                let _ = redis::cmd("UNWATCH").query::<()>(c);
            }
            result
        })
    }

    pub fn queued(&mut self) -> Result<Vec<Queued>> {
        self.with(|c, k| {
            let all: BTreeMap<i64, String> = c.hgetall(&k.queue)?;
            let mut out = Vec::with_capacity(all.len());
            for (seq, text) in all {
                let event: StoredEvent =
                    serde_json::from_str(&text).map_err(|e| Error::Corrupt(format!("webhook event {seq}: {e}")))?;
                out.push(Queued {
                    seq,
                    endpoint: event.endpoint,
                    at: event.at,
                });
            }
            Ok(out)
        })
    }

    pub fn bodies(&mut self, seqs: &[i64]) -> Result<Vec<String>> {
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        self.with(|c, k| {
            let texts: Vec<Option<String>> = redis::cmd("HMGET").arg(&k.queue).arg(seqs).query(c)?;
            let mut out = Vec::with_capacity(seqs.len());
            for text in texts.into_iter().flatten() {
                let event: StoredEvent =
                    serde_json::from_str(&text).map_err(|e| Error::Corrupt(format!("webhook event: {e}")))?;
                out.push(event.body);
            }
            Ok(out)
        })
    }

    pub fn dequeue(&mut self, seqs: &[i64]) -> Result<()> {
        if seqs.is_empty() {
            return Ok(());
        }
        self.with(|c, k| Ok(c.hdel(&k.queue, seqs)?))
    }

    pub fn prune(&mut self, before: Ms) -> Result<usize> {
        self.with(|c, k| {
            let ids: Vec<i64> = c.zrangebyscore(&k.ended, "-inf", format!("({before}"))?;
            let sessions = Self::load(c, k, &ids)?;
            let mut pipe = redis::pipe();
            pipe.atomic();
            for s in &sessions {
                pipe.hdel(&k.sessions, s.id).ignore();
                pipe.zrem(&k.ended, s.id).ignore();
                match &s.channel {
                    None => {
                        pipe.zrem(&k.user_sessions, s.id).ignore();
                        pipe.zrem(k.user_index(&s.user), s.id).ignore();
                    }
                    Some(ch) => {
                        pipe.zrem(&k.channel_sessions, s.id).ignore();
                        pipe.zrem(k.user_channels_index(&s.user), s.id).ignore();
                        pipe.zrem(k.channel_index(ch), s.id).ignore();
                    }
                }
            }
            // Days before the cut, for every user with a row.
            let first_day = day_of(before);
            let users: Vec<String> = c.hkeys(&k.users)?;
            for user in users {
                let fields: Vec<String> = c.hkeys(k.days_of(&user))?;
                let old: Vec<&String> = fields
                    .iter()
                    .filter(|f| {
                        f.split(':')
                            .next()
                            .and_then(|d| d.parse::<i64>().ok())
                            .is_some_and(|d| d < first_day)
                    })
                    .collect();
                if !old.is_empty() {
                    pipe.hdel(k.days_of(&user), old).ignore();
                }
            }
            let () = pipe.query(c)?;
            Ok(sessions.len())
        })
    }

    pub fn sessions(&mut self, q: &SessionQuery) -> Result<Vec<Session>> {
        let k = &self.keys;
        let index = match (&q.user, &q.channel) {
            (Some(user), None) => k.user_index(user),
            (Some(user), Some(_)) => k.user_channels_index(user),
            (None, None) => k.user_sessions.clone(),
            (None, Some(None)) => k.channel_sessions.clone(),
            (None, Some(Some(ch))) => k.channel_index(ch),
        };
        let wanted = |s: &Session| {
            let channel_ok = match &q.channel {
                Some(Some(ch)) => s.channel.as_deref() == Some(ch.as_str()),
                _ => true,
            };
            let since_ok = q.since.is_none_or(|since| s.ended.unwrap_or(q.now) > since);
            let until_ok = q.until.is_none_or(|until| s.started < until);
            channel_ok && since_ok && until_ok
        };
        self.with(|c, k| {
            let mut out = Vec::new();
            let mut max = match q.before {
                Some(before) => format!("({before}"),
                None => "+inf".to_string(),
            };
            while out.len() < q.limit {
                let ids: Vec<i64> = redis::cmd("ZRANGE")
                    .arg(&index)
                    .arg(&max)
                    .arg("-inf")
                    .arg("BYSCORE")
                    .arg("REV")
                    .arg("LIMIT")
                    .arg(0)
                    .arg(PAGE)
                    .query(c)?;
                let Some(&last) = ids.last() else { break };
                for s in Self::load(c, k, &ids)? {
                    if out.len() < q.limit && wanted(&s) {
                        out.push(s);
                    }
                }
                if (ids.len() as isize) < PAGE {
                    break;
                }
                max = format!("({last}");
            }
            Ok(out)
        })
    }

    pub fn user(&mut self, user: &str) -> Result<Option<UserRow>> {
        self.with(|c, k| {
            Ok(Self::read_user(c, k, user)?.map(|row| UserRow {
                identity: Identity {
                    id: user.to_string(),
                    name: row.name,
                    avatar: row.avatar,
                },
                first_seen: row.first_seen,
                last_seen: row.last_seen,
                total: Split {
                    active_ms: row.active_ms,
                    idle_ms: row.idle_ms,
                    hidden_ms: row.hidden_ms,
                },
            }))
        })
    }

    pub fn days(&mut self, user: &str, from: i64, to: i64) -> Result<BTreeMap<i64, Split>> {
        self.with(|c, k| {
            let fields: BTreeMap<String, u64> = c.hgetall(k.days_of(user))?;
            let mut out: BTreeMap<i64, Split> = BTreeMap::new();
            for (field, ms) in fields {
                let Some((day, kind)) = field.split_once(':') else {
                    continue;
                };
                let Ok(day) = day.parse::<i64>() else { continue };
                if !(from..=to).contains(&day) {
                    continue;
                }
                let split = out.entry(day).or_default();
                match kind {
                    "a" => split.active_ms += ms,
                    "i" => split.idle_ms += ms,
                    "h" => split.hidden_ms += ms,
                    _ => {}
                }
            }
            Ok(out)
        })
    }
}
