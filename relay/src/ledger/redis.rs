//! The ledger in Redis, for relays that share state there: any relay answers the API
//! from it, and the one relay that records (see [`RedisDb::claim`]) writes it. A relay
//! that stops, crashes or loses Redis leaves nothing behind that another cannot pick up:
//! the open sessions, the totals and the webhook queue are all here.
//!
//! Keys (all under `rc:l:`):
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
//! Each batch of writes is one MULTI/EXEC transaction. Only the recorder writes, so the
//! read-modify-write of a user's totals needs no script.

use super::book::{Session, Split, Write};
use super::rows::{Error, Queued, Result, SessionQuery, UserRow};
use crate::clock::{day_of, Ms};
use redis::Commands;
use rollcall_core::protocol::{Identity, Status};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const SESSIONS: &str = "rc:l:s";
const NEXT: &str = "rc:l:next";
const OPEN: &str = "rc:l:open";
const USER_SESSIONS: &str = "rc:l:iu";
const CHANNEL_SESSIONS: &str = "rc:l:ic";
const ENDED: &str = "rc:l:ended";
const USERS: &str = "rc:l:users";
const QUEUE: &str = "rc:l:q";
const QUEUE_SEQ: &str = "rc:l:qseq";
const ALIVE: &str = "rc:l:alive";
const RECORDER: &str = "rc:l:recorder";
/// Session ids read per round trip when paging through an index.
const PAGE: isize = 200;

fn open_of(user: &str) -> String {
    format!("rc:l:open:{user}")
}
fn user_index(user: &str) -> String {
    format!("rc:l:iu:{user}")
}
fn user_channels_index(user: &str) -> String {
    format!("rc:l:ic:{user}")
}
fn channel_index(ch: &str) -> String {
    format!("rc:l:ich:{ch}")
}
fn days_of(user: &str) -> String {
    format!("rc:l:d:{user}")
}

/// Become or stay the recorder: true when this relay holds the role for `ttl` more.
const CLAIM: &str = r#"
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"#;

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
    client: redis::Client,
    conn: Option<redis::Connection>,
}

impl RedisDb {
    pub fn open(url: &str) -> Result<RedisDb> {
        Ok(RedisDb {
            client: redis::Client::open(url)?,
            conn: None,
        })
    }

    /// Run `f` on the connection; a failed call drops it, so the next one reconnects.
    fn with<T>(&mut self, f: impl FnOnce(&mut redis::Connection) -> Result<T>) -> Result<T> {
        if self.conn.is_none() {
            let conn = self.client.get_connection_with_timeout(Duration::from_secs(2))?;
            conn.set_read_timeout(Some(Duration::from_secs(5)))?;
            conn.set_write_timeout(Some(Duration::from_secs(5)))?;
            self.conn = Some(conn);
        }
        let result = f(self.conn.as_mut().expect("connected above"));
        if matches!(&result, Err(Error::Redis(_))) {
            self.conn = None;
        }
        result
    }

    /// Become (or stay) the relay that records, for `ttl_ms`.
    pub fn claim(&mut self, relay: &str, ttl_ms: u64) -> Result<bool> {
        self.with(|c| {
            let got: i64 = redis::cmd("EVAL")
                .arg(CLAIM)
                .arg(1)
                .arg(RECORDER)
                .arg(relay)
                .arg(ttl_ms.max(1))
                .query(c)?;
            Ok(got == 1)
        })
    }

    pub fn alive(&mut self) -> Result<Option<Ms>> {
        self.with(|c| Ok(c.get(ALIVE)?))
    }

    pub fn next_id(&mut self) -> Result<i64> {
        self.with(|c| Ok(c.get::<_, Option<i64>>(NEXT)?.unwrap_or(0) + 1))
    }

    fn load(c: &mut redis::Connection, ids: &[i64]) -> Result<Vec<Session>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let texts: Vec<Option<String>> = redis::cmd("HMGET").arg(SESSIONS).arg(ids).query(c)?;
        let mut out = Vec::with_capacity(ids.len());
        for (id, text) in ids.iter().zip(texts) {
            if let Some(text) = text {
                out.push(StoredSession::read(*id, &text)?);
            }
        }
        Ok(out)
    }

    pub fn open_sessions(&mut self) -> Result<Vec<Session>> {
        self.with(|c| {
            let mut ids: Vec<i64> = c.smembers(OPEN)?;
            ids.sort_unstable();
            Self::load(c, &ids)
        })
    }

    pub fn open_sessions_of(&mut self, user: &str) -> Result<Vec<Session>> {
        self.with(|c| {
            let mut ids: Vec<i64> = c.smembers(open_of(user))?;
            ids.sort_unstable();
            Self::load(c, &ids)
        })
    }

    pub fn identities(&mut self, users: &BTreeSet<String>) -> Result<BTreeMap<String, Identity>> {
        if users.is_empty() {
            return Ok(BTreeMap::new());
        }
        self.with(|c| {
            let texts: Vec<Option<String>> = redis::cmd("HMGET").arg(USERS).arg(users).query(c)?;
            let mut out = BTreeMap::new();
            for (user, text) in users.iter().zip(texts) {
                let Some(text) = text else { continue };
                let row: StoredUser =
                    serde_json::from_str(&text).map_err(|e| Error::Corrupt(format!("user {user}: {e}")))?;
                let identity = Identity {
                    id: user.clone(),
                    name: row.name,
                    avatar: row.avatar,
                };
                out.insert(user.clone(), identity);
            }
            Ok(out)
        })
    }

    fn read_user(c: &mut redis::Connection, user: &str) -> Result<Option<StoredUser>> {
        let text: Option<String> = c.hget(USERS, user)?;
        text.map(|t| serde_json::from_str(&t).map_err(|e| Error::Corrupt(format!("user {user}: {e}"))))
            .transpose()
    }

    pub fn apply(&mut self, now: Ms, writes: &[Write], queue: &[(String, String, Ms, String)]) -> Result<Vec<i64>> {
        self.with(|c| {
            // Users' rows change by read-modify-write (only the recorder writes).
            let mut users: BTreeMap<String, Option<StoredUser>> = BTreeMap::new();
            for write in writes {
                let user = match write {
                    Write::Seen { user, .. } => &user.id,
                    Write::Time { user, .. } => user,
                    _ => continue,
                };
                if !users.contains_key(user) {
                    let row = Self::read_user(c, user)?;
                    users.insert(user.clone(), row);
                }
            }
            let first_seq: i64 = if queue.is_empty() {
                0
            } else {
                c.incr::<_, _, i64>(QUEUE_SEQ, queue.len() as i64)? - queue.len() as i64 + 1
            };
            let mut pipe = redis::pipe();
            pipe.atomic();
            let mut last_id = None;
            for write in writes {
                match write {
                    Write::Open(s) | Write::Save(s) => {
                        last_id = last_id.max(Some(s.id));
                        pipe.hset(SESSIONS, s.id, StoredSession::of(s)).ignore();
                        let index = match &s.channel {
                            None => [USER_SESSIONS.to_string(), user_index(&s.user)],
                            Some(_) => [CHANNEL_SESSIONS.to_string(), user_channels_index(&s.user)],
                        };
                        for key in index {
                            pipe.zadd(key, s.id, s.id).ignore();
                        }
                        if let Some(ch) = &s.channel {
                            pipe.zadd(channel_index(ch), s.id, s.id).ignore();
                        }
                        match s.ended {
                            None => {
                                pipe.sadd(OPEN, s.id).ignore();
                                pipe.sadd(open_of(&s.user), s.id).ignore();
                            }
                            Some(ended) => {
                                pipe.srem(OPEN, s.id).ignore();
                                pipe.srem(open_of(&s.user), s.id).ignore();
                                pipe.zadd(ENDED, s.id, ended).ignore();
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
                        let key = days_of(user);
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
                    pipe.hset(USERS, user, serde_json::to_string(row).expect("serializable"))
                        .ignore();
                }
            }
            if let Some(id) = last_id {
                // Ids only grow: keep the largest given.
                let known: Option<i64> = c.get(NEXT)?;
                if known.is_none_or(|k| k < id) {
                    pipe.set(NEXT, id).ignore();
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
                pipe.hset(QUEUE, seq, serde_json::to_string(&event).expect("serializable"))
                    .ignore();
                seqs.push(seq);
            }
            let known: Option<Ms> = c.get(ALIVE)?;
            pipe.set(ALIVE, known.unwrap_or(0).max(now)).ignore();
            let () = pipe.query(c)?;
            Ok(seqs)
        })
    }

    pub fn queued(&mut self) -> Result<Vec<Queued>> {
        self.with(|c| {
            let all: BTreeMap<i64, String> = c.hgetall(QUEUE)?;
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
        self.with(|c| {
            let texts: Vec<Option<String>> = redis::cmd("HMGET").arg(QUEUE).arg(seqs).query(c)?;
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
        self.with(|c| Ok(c.hdel(QUEUE, seqs)?))
    }

    pub fn prune(&mut self, before: Ms) -> Result<usize> {
        self.with(|c| {
            let ids: Vec<i64> = c.zrangebyscore(ENDED, "-inf", format!("({before}"))?;
            let sessions = Self::load(c, &ids)?;
            let mut pipe = redis::pipe();
            pipe.atomic();
            for s in &sessions {
                pipe.hdel(SESSIONS, s.id).ignore();
                pipe.zrem(ENDED, s.id).ignore();
                match &s.channel {
                    None => {
                        pipe.zrem(USER_SESSIONS, s.id).ignore();
                        pipe.zrem(user_index(&s.user), s.id).ignore();
                    }
                    Some(ch) => {
                        pipe.zrem(CHANNEL_SESSIONS, s.id).ignore();
                        pipe.zrem(user_channels_index(&s.user), s.id).ignore();
                        pipe.zrem(channel_index(ch), s.id).ignore();
                    }
                }
            }
            // Days before the cut, for every user with a row.
            let first_day = day_of(before);
            let users: Vec<String> = c.hkeys(USERS)?;
            for user in users {
                let fields: Vec<String> = c.hkeys(days_of(&user))?;
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
                    pipe.hdel(days_of(&user), old).ignore();
                }
            }
            let () = pipe.query(c)?;
            Ok(sessions.len())
        })
    }

    pub fn sessions(&mut self, q: &SessionQuery) -> Result<Vec<Session>> {
        let index = match (&q.user, &q.channel) {
            (Some(user), None) => user_index(user),
            (Some(user), Some(_)) => user_channels_index(user),
            (None, None) => USER_SESSIONS.to_string(),
            (None, Some(None)) => CHANNEL_SESSIONS.to_string(),
            (None, Some(Some(ch))) => channel_index(ch),
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
        self.with(|c| {
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
                for s in Self::load(c, &ids)? {
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
        self.with(|c| {
            Ok(Self::read_user(c, user)?.map(|row| UserRow {
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
        self.with(|c| {
            let fields: BTreeMap<String, u64> = c.hgetall(days_of(user))?;
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
