//! Where the ledger is kept: [`Sqlite`] (one relay: a file, or memory) or
//! [`RedisDb`] (several relays sharing Redis). Both keep sessions,
//! per-user totals by day, the webhook delivery queue and the heartbeat, and apply each
//! batch of presence events atomically, so a crash never leaves half of one.

use super::book::{Session, Split, Write};
pub use super::redis::Claim;
use super::redis::RedisDb;
use super::rows::{Queued, Result, SessionQuery, UserRow};
use super::sqlite::Sqlite;
use crate::clock::Ms;
use crate::webhooks::Stored;
use rollcall_core::protocol::Identity;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The ledger's storage.
pub enum Db {
    Sqlite(Sqlite),
    Redis(RedisDb),
}

macro_rules! each {
    ($self:ident, $db:ident => $e:expr) => {
        match $self {
            Db::Sqlite($db) => Ok($e?),
            Db::Redis($db) => Ok($e?),
        }
    };
}

impl Db {
    /// SQLite at `path`, or in memory.
    pub fn open(path: Option<&Path>) -> Result<Db> {
        Ok(Db::Sqlite(Sqlite::open(path)?))
    }

    /// Try to be (or stay) the one relay that records, for `ttl_ms`. A file of one
    /// relay's own is always kept.
    pub fn claim(&mut self, relay: &str, ttl_ms: u64) -> Result<Claim> {
        match self {
            Db::Sqlite(_) => Ok(Claim::Kept),
            Db::Redis(db) => db.claim(relay, ttl_ms),
        }
    }

    /// The last moment a run was known alive (the heartbeat), if any run wrote one.
    pub fn alive(&mut self) -> Result<Option<Ms>> {
        each!(self, db => db.alive())
    }

    /// The id the next session gets.
    pub fn next_id(&mut self) -> Result<i64> {
        each!(self, db => db.next_id())
    }

    pub fn open_sessions(&mut self) -> Result<Vec<Session>> {
        each!(self, db => db.open_sessions())
    }

    /// The open sessions of one user: theirs and their channels'.
    pub fn open_sessions_of(&mut self, user: &str) -> Result<Vec<Session>> {
        each!(self, db => db.open_sessions_of(user))
    }

    /// Names and avatars of these users (those without a row left out).
    pub fn identities(&mut self, users: &BTreeSet<String>) -> Result<BTreeMap<String, Identity>> {
        each!(self, db => db.identities(users))
    }

    /// Apply the book's writes and queue webhook events (endpoint, event id, time,
    /// body), atomically, renewing the heartbeat. Returns the queued events' sequence
    /// numbers, in order.
    pub fn apply(&mut self, now: Ms, writes: &[Write], queue: &[(String, String, Ms, String)]) -> Result<Vec<i64>> {
        each!(self, db => db.apply(now, writes, queue))
    }

    /// Every queued webhook event, oldest first.
    pub fn queued(&mut self) -> Result<Vec<Queued>> {
        each!(self, db => db.queued())
    }

    /// The bodies of these queued events, in the order given (missing ones skipped).
    pub fn bodies(&mut self, seqs: &[i64]) -> Result<Vec<String>> {
        each!(self, db => db.bodies(seqs))
    }

    /// Forget queued events: delivered, or given up on.
    pub fn dequeue(&mut self, seqs: &[i64]) -> Result<()> {
        each!(self, db => db.dequeue(seqs))
    }

    /// Delete sessions that ended before `before`, and days before its day.
    pub fn prune(&mut self, before: Ms) -> Result<usize> {
        each!(self, db => db.prune(before))
    }

    /// Keep at most `keep` ended sessions: delete the oldest others, and the users (with
    /// their days) who have no session left. Returns (sessions deleted, sessions kept).
    /// A ledger in Redis is bounded by `retention_days` only: `(0, 0)`.
    pub fn trim(&mut self, keep: usize) -> Result<(usize, usize)> {
        match self {
            Db::Sqlite(db) => Ok(db.trim(keep)?),
            Db::Redis(_) => Ok((0, 0)),
        }
    }

    pub fn sessions(&mut self, q: &SessionQuery) -> Result<Vec<Session>> {
        each!(self, db => db.sessions(q))
    }

    pub fn user(&mut self, user: &str) -> Result<Option<UserRow>> {
        each!(self, db => db.user(user))
    }

    /// A user's accounted time on the days `from..=to`, by day (days without time
    /// omitted).
    pub fn days(&mut self, user: &str, from: i64, to: i64) -> Result<BTreeMap<i64, Split>> {
        each!(self, db => db.days(user, from, to))
    }
}

/// The webhook queue as the sender sees it.
impl Stored for Db {
    fn bodies(&mut self, seqs: &[i64]) -> std::result::Result<Vec<String>, String> {
        Db::bodies(self, seqs).map_err(|e| e.to_string())
    }

    fn dequeue(&mut self, seqs: &[i64]) -> std::result::Result<(), String> {
        Db::dequeue(self, seqs).map_err(|e| e.to_string())
    }
}
