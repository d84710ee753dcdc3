//! The messages tabs of one browser exchange over BroadcastChannel.
//!
//! Followers send intents, page requests, heartbeats and their whole wants (to a new
//! leader); the leader sends replies, the relay's channel frames (so every tab applies
//! the same snapshot and diffs), pings, the connection's status, and "stopped" when the
//! connection ends for good. In the browser every message is a plain object (the SDK's
//! `codec`); a message this version cannot read is ignored.

pub use crate::client::ErrorBody;
use crate::client::Page;
use crate::protocol::ServerMsg;
use crate::tabs::{Intent, TabWants};

#[derive(Clone, Debug, PartialEq)]
pub enum BusMsg {
    /// Follower -> leader: one change to what this tab wants; answered by `Reply`.
    Intent { tab: String, req: u64, intent: Intent },
    /// Follower -> leader: one page of a channel's members; answered by a `Reply` with
    /// the page.
    Members {
        tab: String,
        req: u64,
        ch: String,
        after: Option<String>,
        limit: Option<usize>,
    },
    /// Leader -> one tab: the answer to its request (with the page it asked for).
    Reply {
        tab: String,
        req: u64,
        error: Option<ErrorBody>,
        page: Option<Page>,
    },
    /// Leader -> all: a snapshot, diff or focus from the relay, in order.
    Frame { frame: ServerMsg },
    /// Leader -> all: "answer if you are there"; also tells whether the relay is up.
    Ping { leader: String, connected: bool },
    /// Leader -> one tab it does not know (new, or dropped as vanished): send your wants.
    Who {
        tab: String,
        leader: String,
        connected: bool,
    },
    /// Follower -> leader: the answer to a ping.
    Pong { tab: String },
    /// Follower -> leader: alive, unasked.
    Heartbeat { tab: String },
    /// Follower -> a leader it has not synced with: everything this tab wants.
    Sync { tab: String, wants: TabWants },
    /// Follower -> leader: this tab is done. `unloading` (pagehide): keep its wants for
    /// the unload grace, so a refreshed page that enters again changes nothing;
    /// otherwise (`presence.close()`) drop them now.
    Bye { tab: String, unloading: bool },
    /// Follower -> leader: my view of `ch` skipped a diff; broadcast a snapshot.
    Resync { tab: String, ch: String },
    /// Leader -> all: the connection's status (`presence.status`) when it changes and
    /// with every ping; `retry_in`: ms to the next attempt (tabs' clocks differ).
    Status { status: String, retry_in: Option<u64> },
    /// Leader -> all: the connection ended for good (replaced, refused, closed).
    Stopped { error: ErrorBody },
    /// Leader -> all: an error for the listeners of `ch`, or of every channel (a token
    /// from the token function refused: the leader goes on trying).
    Error { ch: Option<String>, error: ErrorBody },
    /// Fallback election, for browsers without Web Locks: "I lead".
    Announce { tab: String },
    /// The leader is going away: take over now.
    Resign { tab: String },
}
