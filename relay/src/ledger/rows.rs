//! The ledger's stored records as both backends hand them out, and their error.

use super::book::Split;
use crate::clock::Ms;
use rollcall_core::protocol::Identity;

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
