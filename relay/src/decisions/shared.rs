//! The site's answers in Redis, shared by every relay: one answer per (user, channel),
//! stored with its TTL, so a user never passes on one relay and fails on another for
//! the same answer; and the server API's revocations, published to every relay.
//!
//! - `rc:{<channel>}:d:<user>`: the answer as JSON, expiring with it (`PX`). The hash tag
//!   keeps a channel's keys in one Cluster slot, beside its members (`rc:{<channel>}:m`).
//!   An answer is stored only if none is there (`SET NX`): when two relays ask the site
//!   at once, the first stored wins and the other uses it.
//! - `rollcall:decisions`: pub/sub of `{"r": relay, "op": "forget"|"evict", "c": ch,
//!   "u": user}`, applied by every other relay to its own users.

use crate::redis_conn::{Conn, Target};
use rollcall_core::decision::Answer;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The pub/sub channel of revocations.
pub const CHANNEL: &str = "rollcall:decisions";

/// Read an answer and what is left of its TTL, in one round trip.
const GET: &str = r#"
local v = redis.call('GET', KEYS[1])
if not v then return false end
return {v, redis.call('PTTL', KEYS[1])}
"#;

/// Store an answer unless one is there; either way return the answer in force and its
/// TTL. ARGV: the answer, the TTL (ms).
const PUT: &str = r#"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {ARGV[1], tonumber(ARGV[2])} end
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {ARGV[1], tonumber(ARGV[2])}
end
return {v, redis.call('PTTL', KEYS[1])}
"#;

pub fn key(ch: &str, user: &str) -> String {
    format!("rc:{{{ch}}}:d:{user}")
}

/// A pattern for `SCAN MATCH` that matches `text` literally.
fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A revocation, as published.
#[derive(Serialize, Deserialize, Debug, PartialEq, Eq)]
pub struct Notice {
    /// The relay that published it (it skips its own).
    pub r: String,
    pub op: Op,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub c: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub u: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Forget the answers (those in use are asked about again).
    Forget,
    /// Take the user out of the channel now.
    Evict,
}

pub struct Shared {
    target: Target,
    conn: tokio::sync::Mutex<Option<Conn>>,
    id: String,
    up: AtomicBool,
}

impl Shared {
    pub fn new(target: Target) -> Result<Shared, String> {
        Ok(Shared {
            target,
            conn: tokio::sync::Mutex::new(None),
            id: crate::ids::random_id(),
            up: AtomicBool::new(false),
        })
    }

    /// Is the listener subscribed?
    pub fn up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    async fn conn(&self) -> redis::RedisResult<Conn> {
        let mut slot = self.conn.lock().await;
        if let Some(conn) = slot.as_ref() {
            return Ok(conn.clone());
        }
        let conn = self.target.connect(Duration::from_secs(1)).await?;
        *slot = Some(conn.clone());
        Ok(conn)
    }

    /// A failed command may mean a broken connection: make a new one next time.
    async fn reset<T>(&self, result: redis::RedisResult<T>) -> redis::RedisResult<T> {
        if result.is_err() {
            *self.conn.lock().await = None;
        }
        result
    }

    /// The answer in force for `user` in `ch`, and the milliseconds it has left.
    pub async fn get(&self, user: &str, ch: &str) -> redis::RedisResult<Option<(Answer, u64)>> {
        let mut conn = self.conn().await?;
        let found: redis::RedisResult<Option<(String, i64)>> =
            redis::Script::new(GET).key(key(ch, user)).invoke_async(&mut conn).await;
        Ok(self
            .reset(found)
            .await?
            .filter(|(_, ttl)| *ttl > 0)
            .and_then(|(text, ttl)| Answer::parse(text.as_bytes()).ok().map(|a| (a, ttl as u64))))
    }

    /// Store `answer` for `ttl_ms` unless another relay stored one first; the answer in
    /// force and its TTL.
    pub async fn put(&self, user: &str, ch: &str, answer: &Answer, ttl_ms: u64) -> redis::RedisResult<(Answer, u64)> {
        let mut conn = self.conn().await?;
        let text = serde_json::to_string(answer).expect("serializable");
        let stored: redis::RedisResult<(String, i64)> = redis::Script::new(PUT)
            .key(key(ch, user))
            .arg(text)
            .arg(ttl_ms)
            .invoke_async(&mut conn)
            .await;
        let (text, ttl) = self.reset(stored).await?;
        match Answer::parse(text.as_bytes()) {
            Ok(found) if ttl > 0 => Ok((found, ttl as u64)),
            _ => Ok((answer.clone(), ttl_ms)),
        }
    }

    /// Delete the stored answers for `ch` and/or `user` (at least one is set).
    pub async fn forget(&self, ch: Option<&str>, user: Option<&str>) -> redis::RedisResult<usize> {
        let mut conn = self.conn().await?;
        let keys: Vec<String> = match (ch, user) {
            (Some(ch), Some(user)) => vec![key(ch, user)],
            _ => {
                let pattern = format!(
                    "rc:{{{}}}:d:{}",
                    ch.map_or("*".to_string(), glob_escape),
                    user.map_or("*".to_string(), glob_escape)
                );
                let scanned = conn.scan(&pattern).await;
                self.reset(scanned).await?
            }
        };
        if keys.is_empty() {
            return Ok(0);
        }
        let deleted: redis::RedisResult<usize> = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await;
        self.reset(deleted).await
    }

    /// Tell the other relays.
    pub async fn publish(&self, op: Op, ch: Option<&str>, user: Option<&str>) -> redis::RedisResult<()> {
        let notice = Notice {
            r: self.id.clone(),
            op,
            c: ch.map(str::to_string),
            u: user.map(str::to_string),
        };
        let mut conn = self.conn().await?;
        let sent: redis::RedisResult<()> = redis::cmd("PUBLISH")
            .arg(CHANNEL)
            .arg(serde_json::to_string(&notice).expect("serializable"))
            .query_async(&mut conn)
            .await;
        self.reset(sent).await
    }

    /// Hand the other relays' notices to `apply`, reconnecting whenever Redis goes away.
    pub async fn listen(self: Arc<Self>, apply: impl Fn(&Notice) + Send + 'static) {
        use futures_util::StreamExt;
        let mut backoff = Duration::from_millis(100);
        loop {
            let subscribed = async {
                let mut pubsub = self.target.pubsub(Duration::from_secs(2)).await?;
                pubsub.subscribe(CHANNEL).await?;
                redis::RedisResult::Ok(pubsub)
            };
            match subscribed.await {
                Ok(pubsub) => {
                    self.up.store(true, Ordering::Relaxed);
                    backoff = Duration::from_millis(100);
                    let mut messages = pubsub.into_on_message();
                    while let Some(msg) = messages.next().await {
                        let Ok(payload) = msg.get_payload::<String>() else {
                            continue;
                        };
                        match serde_json::from_str::<Notice>(&payload) {
                            Ok(notice) if notice.r != self.id => apply(&notice),
                            Ok(_) => {}
                            Err(_) => tracing::warn!("unreadable message on {CHANNEL}"),
                        }
                    }
                    self.up.store(false, Ordering::Relaxed);
                    tracing::warn!("decisions: the pub/sub connection to redis closed; reconnecting");
                }
                Err(e) => tracing::debug!("decisions: redis unreachable: {e}"),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_the_channels_slot_and_patterns_match_literally() {
        assert_eq!(key("/topic/1", "7"), "rc:{/topic/1}:d:7");
        assert_eq!(glob_escape("/a/*?[x]\\"), "/a/\\*\\?\\[x\\]\\\\");
        let notice = Notice {
            r: "r1".into(),
            op: Op::Evict,
            c: Some("/t/1".into()),
            u: None,
        };
        let text = serde_json::to_string(&notice).unwrap();
        assert_eq!(text, r#"{"r":"r1","op":"evict","c":"/t/1"}"#);
        assert_eq!(serde_json::from_str::<Notice>(&text).unwrap(), notice);
    }
}
