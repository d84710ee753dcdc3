//! Where the ledger is kept: [`Sqlite`] (one relay: a file, or memory) or
//! [`super::shared::RedisDb`] (several relays sharing Redis). Both keep sessions,
//! per-user totals by day, the webhook delivery queue and the heartbeat, and apply each
//! batch of presence events atomically, so a crash never leaves half of one.
//!
//! The SQLite file is in WAL mode, so readers never wait for the writer's fsync.

use super::book::{Session, Split, Write};
use super::calendar::Ms;
use rollcall_core::protocol::{Identity, Status};
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A failure of the ledger's storage.
#[derive(Debug)]
pub enum Error {
    Sqlite(rusqlite::Error),
    Redis(redis::RedisError),
    /// A stored record that cannot be read back.
    Corrupt(String),
    /// This relay lost the recorder role before its batch was written (another relay
    /// took over from the truth; the batch is not needed).
    NotRecorder,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Sqlite(e) => write!(f, "sqlite: {e}"),
            Error::Redis(e) => write!(f, "redis: {e}"),
            Error::Corrupt(what) => write!(f, "unreadable record: {what}"),
            Error::NotRecorder => write!(f, "this relay no longer records (another relay took over)"),
        }
    }
}

impl std::error::Error for Error {}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Error {
        Error::Sqlite(e)
    }
}

impl From<redis::RedisError> for Error {
    fn from(e: redis::RedisError) -> Error {
        Error::Redis(e)
    }
}

pub type Result<T> = std::result::Result<T, Error>;
type SqlResult<T> = rusqlite::Result<T>;

/// The ledger's storage.
pub enum Db {
    Sqlite(Sqlite),
    Redis(super::shared::RedisDb),
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

    /// Try to be (or stay) the one relay that records, for `ttl_ms`. Always true for a
    /// file of one relay's own.
    pub fn claim(&mut self, relay: &str, ttl_ms: u64) -> Result<bool> {
        match self {
            Db::Sqlite(_) => Ok(true),
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

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sessions (
    id        INTEGER PRIMARY KEY,
    user      TEXT NOT NULL,
    channel   TEXT,
    started   INTEGER NOT NULL,
    ended     INTEGER,
    cause     TEXT,
    status    TEXT NOT NULL,
    since     INTEGER NOT NULL,
    active_ms INTEGER NOT NULL,
    idle_ms   INTEGER NOT NULL,
    hidden_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (user, id);
CREATE INDEX IF NOT EXISTS sessions_by_channel ON sessions (channel, id);
CREATE INDEX IF NOT EXISTS sessions_open ON sessions (id) WHERE ended IS NULL;
CREATE INDEX IF NOT EXISTS sessions_by_end ON sessions (ended);
CREATE TABLE IF NOT EXISTS users (
    user       TEXT PRIMARY KEY,
    name       TEXT,
    avatar     TEXT,
    first_seen INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    active_ms  INTEGER NOT NULL DEFAULT 0,
    idle_ms    INTEGER NOT NULL DEFAULT 0,
    hidden_ms  INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS days (
    user      TEXT NOT NULL,
    day       INTEGER NOT NULL,
    active_ms INTEGER NOT NULL,
    idle_ms   INTEGER NOT NULL,
    hidden_ms INTEGER NOT NULL,
    PRIMARY KEY (user, day)
);
CREATE TABLE IF NOT EXISTS webhook_queue (
    seq      INTEGER PRIMARY KEY,
    endpoint TEXT NOT NULL,
    event_id TEXT NOT NULL,
    at       INTEGER NOT NULL,
    body     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
";

const SESSION_COLUMNS: &str = "id, user, channel, started, ended, cause, status, since, active_ms, idle_ms, hidden_ms";

/// A webhook event waiting for its endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Queued {
    pub seq: i64,
    pub endpoint: String,
    pub at: Ms,
}

/// A user's row: who they are and their time online, all days together.
#[derive(Clone, Debug, PartialEq)]
pub struct UserRow {
    pub identity: Identity,
    pub first_seen: Ms,
    pub last_seen: Ms,
    pub total: Split,
}

/// Which sessions `GET /v1/sessions` lists.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SessionQuery {
    pub user: Option<String>,
    /// `None`: user sessions; `Some(None)`: channel sessions in any channel;
    /// `Some(Some(ch))`: sessions in `ch`.
    pub channel: Option<Option<String>>,
    /// Sessions that overlap `since..until`.
    pub since: Option<Ms>,
    pub until: Option<Ms>,
    /// What "now" is for sessions still open.
    pub now: Ms,
    /// Only sessions with a smaller id (the page before).
    pub before: Option<i64>,
    pub limit: usize,
}

/// One relay's ledger in a SQLite file (or in memory).
pub struct Sqlite {
    conn: Connection,
}

fn status_text(status: Status) -> &'static str {
    status.as_str()
}

fn parse_status(text: &str) -> Status {
    match text {
        "idle" => Status::Idle,
        "hidden" => Status::Hidden,
        _ => Status::Active,
    }
}

fn ms(value: i64) -> Ms {
    value.max(0) as Ms
}

fn session_of(row: &rusqlite::Row<'_>) -> SqlResult<Session> {
    Ok(Session {
        id: row.get(0)?,
        user: row.get(1)?,
        channel: row.get(2)?,
        started: ms(row.get(3)?),
        ended: row.get::<_, Option<i64>>(4)?.map(ms),
        cause: row.get(5)?,
        status: parse_status(&row.get::<_, String>(6)?),
        since: ms(row.get(7)?),
        split: Split {
            active_ms: ms(row.get(8)?),
            idle_ms: ms(row.get(9)?),
            hidden_ms: ms(row.get(10)?),
        },
    })
}

impl Sqlite {
    /// Open (or create) the file at `path`; `None` keeps everything in memory.
    pub fn open(path: Option<&Path>) -> SqlResult<Sqlite> {
        let conn = match path {
            Some(path) => Connection::open(path)?,
            None => Connection::open_in_memory()?,
        };
        if path.is_some() {
            conn.pragma_update(None, "journal_mode", "WAL")?;
            // Safe against a crash of the process (what the queue must survive); only a
            // power cut may lose the last transactions.
            conn.pragma_update(None, "synchronous", "NORMAL")?;
        }
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(Sqlite { conn })
    }

    /// The last moment a run was known alive (the heartbeat), if any run wrote one.
    pub fn alive(&self) -> SqlResult<Option<Ms>> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = 'alive'", [], |r| r.get::<_, i64>(0))
            .optional()
            .map(|v| v.map(ms))
    }

    /// The id the next session gets.
    pub fn next_id(&self) -> SqlResult<i64> {
        self.conn
            .query_row("SELECT coalesce(max(id), 0) + 1 FROM sessions", [], |r| r.get(0))
    }

    pub fn open_sessions(&self) -> SqlResult<Vec<Session>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE ended IS NULL ORDER BY id"
        ))?;
        let rows = stmt.query_map([], session_of)?;
        rows.collect()
    }

    pub fn open_sessions_of(&self, user: &str) -> SqlResult<Vec<Session>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE user = ?1 AND ended IS NULL ORDER BY id"
        ))?;
        let rows = stmt.query_map(params![user], session_of)?;
        rows.collect()
    }

    /// Names and avatars of the users who have a row.
    pub fn identities(&self, users: &BTreeSet<String>) -> SqlResult<BTreeMap<String, Identity>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT user, name, avatar FROM users WHERE user = ?1")?;
        let mut out = BTreeMap::new();
        for user in users {
            let found = stmt
                .query_row(params![user], |r| {
                    Ok(Identity {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        avatar: r.get(2)?,
                    })
                })
                .optional()?;
            if let Some(identity) = found {
                out.insert(user.clone(), identity);
            }
        }
        Ok(out)
    }

    /// Apply the book's writes and queue webhook events (endpoint, event id, time,
    /// body), in one transaction that also renews the heartbeat. Returns the queued
    /// events' sequence numbers, in order.
    pub fn apply(&mut self, now: Ms, writes: &[Write], queue: &[(String, String, Ms, String)]) -> SqlResult<Vec<i64>> {
        let tx = self.conn.transaction()?;
        for write in writes {
            match write {
                Write::Open(s) => {
                    tx.execute(
                        &format!("INSERT INTO sessions ({SESSION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
                        params![
                            s.id,
                            s.user,
                            s.channel,
                            s.started as i64,
                            s.ended.map(|e| e as i64),
                            s.cause,
                            status_text(s.status),
                            s.since as i64,
                            s.split.active_ms as i64,
                            s.split.idle_ms as i64,
                            s.split.hidden_ms as i64
                        ],
                    )?;
                }
                Write::Save(s) => {
                    tx.execute(
                        "UPDATE sessions SET ended = ?2, cause = ?3, status = ?4, since = ?5,
                         active_ms = ?6, idle_ms = ?7, hidden_ms = ?8 WHERE id = ?1",
                        params![
                            s.id,
                            s.ended.map(|e| e as i64),
                            s.cause,
                            status_text(s.status),
                            s.since as i64,
                            s.split.active_ms as i64,
                            s.split.idle_ms as i64,
                            s.split.hidden_ms as i64
                        ],
                    )?;
                }
                Write::Seen { user, at } => {
                    tx.execute(
                        "INSERT INTO users (user, name, avatar, first_seen, last_seen) VALUES (?1, ?2, ?3, ?4, ?4)
                         ON CONFLICT (user) DO UPDATE SET name = excluded.name, avatar = excluded.avatar,
                         last_seen = max(last_seen, excluded.last_seen)",
                        params![user.id, user.name, user.avatar, *at as i64],
                    )?;
                }
                Write::Time { user, day, split } => {
                    let (a, i, h) = (split.active_ms as i64, split.idle_ms as i64, split.hidden_ms as i64);
                    tx.execute(
                        "INSERT INTO days (user, day, active_ms, idle_ms, hidden_ms) VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT (user, day) DO UPDATE SET active_ms = active_ms + excluded.active_ms,
                         idle_ms = idle_ms + excluded.idle_ms, hidden_ms = hidden_ms + excluded.hidden_ms",
                        params![user, day, a, i, h],
                    )?;
                    tx.execute(
                        "UPDATE users SET active_ms = active_ms + ?2, idle_ms = idle_ms + ?3, hidden_ms = hidden_ms + ?4
                         WHERE user = ?1",
                        params![user, a, i, h],
                    )?;
                }
                Write::Notify(_) => {}
            }
        }
        let mut seqs = Vec::with_capacity(queue.len());
        for (endpoint, id, at, body) in queue {
            tx.execute(
                "INSERT INTO webhook_queue (endpoint, event_id, at, body) VALUES (?1, ?2, ?3, ?4)",
                params![endpoint, id, *at as i64, body],
            )?;
            seqs.push(tx.last_insert_rowid());
        }
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('alive', ?1)
             ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
            params![now as i64],
        )?;
        tx.commit()?;
        Ok(seqs)
    }

    /// Every queued webhook event, oldest first.
    pub fn queued(&self) -> SqlResult<Vec<Queued>> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, endpoint, at FROM webhook_queue ORDER BY seq")?;
        let rows = stmt.query_map([], |r| {
            Ok(Queued {
                seq: r.get(0)?,
                endpoint: r.get(1)?,
                at: ms(r.get(2)?),
            })
        })?;
        rows.collect()
    }

    /// The bodies of these queued events, in the order given (missing ones skipped).
    pub fn bodies(&self, seqs: &[i64]) -> SqlResult<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT body FROM webhook_queue WHERE seq = ?1")?;
        let mut out = Vec::with_capacity(seqs.len());
        for seq in seqs {
            if let Some(body) = stmt.query_row(params![seq], |r| r.get(0)).optional()? {
                out.push(body);
            }
        }
        Ok(out)
    }

    /// Forget queued events: delivered, or given up on.
    pub fn dequeue(&mut self, seqs: &[i64]) -> SqlResult<()> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached("DELETE FROM webhook_queue WHERE seq = ?1")?;
            for seq in seqs {
                stmt.execute(params![seq])?;
            }
        }
        tx.commit()
    }

    /// Delete sessions that ended before `before`, and days before its day.
    pub fn prune(&self, before: Ms) -> SqlResult<usize> {
        let sessions = self.conn.execute(
            "DELETE FROM sessions WHERE ended IS NOT NULL AND ended < ?1",
            params![before as i64],
        )?;
        self.conn.execute(
            "DELETE FROM days WHERE day < ?1",
            params![super::calendar::day_of(before)],
        )?;
        Ok(sessions)
    }

    /// Keep the newest `keep` ended sessions; see [`Db::trim`].
    pub fn trim(&mut self, keep: usize) -> SqlResult<(usize, usize)> {
        let tx = self.conn.transaction()?;
        let evicted = {
            let mut stmt = tx.prepare_cached(
                "SELECT id, user FROM sessions WHERE ended IS NOT NULL ORDER BY ended DESC, id DESC LIMIT -1 OFFSET ?1",
            )?;
            let rows = stmt.query_map(params![keep as i64], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })?;
            rows.collect::<SqlResult<Vec<_>>>()?
        };
        {
            let mut delete = tx.prepare_cached("DELETE FROM sessions WHERE id = ?1")?;
            for (id, _) in &evicted {
                delete.execute(params![id])?;
            }
            // A user is forgotten with their last session: users and days stay bounded
            // by the sessions kept, however many distinct users came and went.
            let users: BTreeSet<&str> = evicted.iter().map(|(_, user)| user.as_str()).collect();
            let mut forget_user = tx.prepare_cached(
                "DELETE FROM users WHERE user = ?1 AND NOT EXISTS (SELECT 1 FROM sessions WHERE user = ?1)",
            )?;
            let mut forget_days = tx.prepare_cached(
                "DELETE FROM days WHERE user = ?1 AND NOT EXISTS (SELECT 1 FROM users WHERE user = ?1)",
            )?;
            for user in users {
                forget_user.execute(params![user])?;
                forget_days.execute(params![user])?;
            }
        }
        let kept: i64 = tx.query_row("SELECT count(*) FROM sessions WHERE ended IS NOT NULL", [], |r| {
            r.get(0)
        })?;
        tx.commit()?;
        Ok((evicted.len(), kept.max(0) as usize))
    }

    pub fn sessions(&self, q: &SessionQuery) -> SqlResult<Vec<Session>> {
        let mut sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE 1 = 1");
        let mut args: Vec<Value> = Vec::new();
        if let Some(user) = &q.user {
            args.push(Value::Text(user.clone()));
            sql += &format!(" AND user = ?{}", args.len());
        }
        match &q.channel {
            None => sql += " AND channel IS NULL",
            Some(None) => sql += " AND channel IS NOT NULL",
            Some(Some(ch)) => {
                args.push(Value::Text(ch.clone()));
                sql += &format!(" AND channel = ?{}", args.len());
            }
        }
        if let Some(since) = q.since {
            args.push(Value::Integer(since as i64));
            args.push(Value::Integer(q.now as i64));
            sql += &format!(" AND coalesce(ended, ?{}) > ?{}", args.len(), args.len() - 1);
        }
        if let Some(until) = q.until {
            args.push(Value::Integer(until as i64));
            sql += &format!(" AND started < ?{}", args.len());
        }
        if let Some(before) = q.before {
            args.push(Value::Integer(before));
            sql += &format!(" AND id < ?{}", args.len());
        }
        args.push(Value::Integer(q.limit as i64));
        sql += &format!(" ORDER BY id DESC LIMIT ?{}", args.len());
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params_from_iter(args), session_of)?;
        rows.collect()
    }

    pub fn user(&self, user: &str) -> SqlResult<Option<UserRow>> {
        self.conn
            .query_row(
                "SELECT user, name, avatar, first_seen, last_seen, active_ms, idle_ms, hidden_ms FROM users WHERE user = ?1",
                params![user],
                |r| {
                    Ok(UserRow {
                        identity: Identity {
                            id: r.get(0)?,
                            name: r.get(1)?,
                            avatar: r.get(2)?,
                        },
                        first_seen: ms(r.get(3)?),
                        last_seen: ms(r.get(4)?),
                        total: Split {
                            active_ms: ms(r.get(5)?),
                            idle_ms: ms(r.get(6)?),
                            hidden_ms: ms(r.get(7)?),
                        },
                    })
                },
            )
            .optional()
    }

    /// A user's accounted time on the days `from..=to`, by day (days without time
    /// omitted).
    pub fn days(&self, user: &str, from: i64, to: i64) -> SqlResult<BTreeMap<i64, Split>> {
        let mut stmt = self
            .conn
            .prepare("SELECT day, active_ms, idle_ms, hidden_ms FROM days WHERE user = ?1 AND day BETWEEN ?2 AND ?3")?;
        let rows = stmt.query_map(params![user, from, to], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                Split {
                    active_ms: ms(r.get(1)?),
                    idle_ms: ms(r.get(2)?),
                    hidden_ms: ms(r.get(3)?),
                },
            ))
        })?;
        rows.collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(id: i64, user: &str, channel: Option<&str>, started: Ms, ended: Option<Ms>) -> Session {
        Session {
            id,
            user: user.into(),
            channel: channel.map(str::to_string),
            started,
            ended,
            cause: ended.map(|_| "left".into()),
            status: Status::Active,
            since: ended.unwrap_or(started),
            split: Split::default(),
        }
    }

    fn seen(user: &str, at: Ms) -> Write {
        Write::Seen {
            user: Identity {
                id: user.into(),
                name: None,
                avatar: None,
            },
            at,
        }
    }

    fn count(db: &Sqlite, table: &str) -> i64 {
        db.conn
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn trimming_keeps_the_newest_ended_sessions_and_forgets_users_left_without_any() {
        let mut db = Sqlite::open(None).unwrap();
        let day = 86_400_000;
        let mut writes = Vec::new();
        // 100 users came and went, one after another: a user session and a channel
        // session each, and a day of time.
        for i in 0..100i64 {
            let user = format!("u{i}");
            let at = 10 * day + i as Ms * 1_000;
            writes.push(seen(&user, at));
            writes.push(Write::Open(session(2 * i + 1, &user, None, at, Some(at + 500))));
            writes.push(Write::Open(session(
                2 * i + 2,
                &user,
                Some("/site/a"),
                at,
                Some(at + 500),
            )));
            writes.push(Write::Time {
                user: user.clone(),
                day: 10,
                split: Split::of(Status::Active, 500),
            });
        }
        // One user still online, since before all of them.
        writes.push(seen("here", day));
        writes.push(Write::Open(session(1_000, "here", None, day, None)));
        db.apply(20 * day, &writes, &[]).unwrap();
        assert_eq!(count(&db, "sessions"), 201);

        assert_eq!(db.trim(40).unwrap(), (160, 40));
        assert_eq!(count(&db, "sessions"), 41, "the 40 newest ended and the open one");
        // The 20 newest users keep their rows and days; the 80 others are forgotten.
        assert_eq!(count(&db, "users"), 21);
        assert_eq!(count(&db, "days"), 20);
        assert!(db.user("u99").unwrap().is_some());
        assert!(db.user("u0").unwrap().is_none());
        assert_eq!(db.open_sessions().unwrap().len(), 1, "an open session is never evicted");
        assert!(db.user("here").unwrap().is_some());
        // Within the cap, nothing more goes.
        assert_eq!(db.trim(40).unwrap(), (0, 40));
    }
}
