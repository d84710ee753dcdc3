//! `[ledger]`: where the ledger is kept, how long, and how often the recorder beats.

use serde::Deserialize;
use std::path::PathBuf;

/// Ended sessions a ledger in memory keeps by default (`ledger.max_sessions`): 5 to 7 MB
/// with their users and days in relay/tests/soak.rs, whatever the uptime and churn.
pub const MEMORY_SESSIONS: u64 = 10_000;

/// `[ledger]` in the config file.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LedgerConfig {
    /// The SQLite file; unset keeps the ledger and the webhook queue in memory, lost
    /// when the relay stops.
    pub path: Option<PathBuf>,
    /// Sessions that ended longer ago than this are deleted (0: kept forever).
    pub retention_days: u64,
    /// Most ended sessions kept; the oldest go first, and a user with them once their
    /// last session is gone (0: no cap). Unset: [`MEMORY_SESSIONS`] without a `path`,
    /// no cap with one (the file is bounded by `retention_days`).
    pub max_sessions: Option<u64>,
    /// How often the relay records that it is alive: after a crash, open sessions end
    /// at the last such moment.
    pub heartbeat_ms: u64,
    /// After a restart, how long users whose sessions were open have to reconnect
    /// before those sessions end (default: `presence.reconnect_grace_ms`).
    pub restore_grace_ms: Option<u64>,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        LedgerConfig {
            path: None,
            retention_days: 90,
            max_sessions: None,
            heartbeat_ms: 5_000,
            restore_grace_ms: None,
        }
    }
}

impl LedgerConfig {
    /// The cap on ended sessions kept, if any.
    pub fn session_cap(&self) -> Option<u64> {
        match (self.max_sessions, &self.path) {
            (Some(0), _) | (None, Some(_)) => None,
            (Some(n), _) => Some(n),
            (None, None) => Some(MEMORY_SESSIONS),
        }
    }

    /// Where the ledger is kept and how it is bounded, for the start line.
    pub fn describe(&self, redis: bool) -> String {
        let place = match (&self.path, redis) {
            (_, true) => return "redis".into(),
            (Some(path), false) => path.display().to_string(),
            (None, false) => "memory".into(),
        };
        match self.session_cap() {
            Some(n) => format!("{place} up to {n} sessions"),
            None => place,
        }
    }

    /// Check every value; the message names the key.
    pub fn checked(self) -> Result<LedgerConfig, String> {
        if self.heartbeat_ms == 0 {
            return Err("ledger.heartbeat_ms must be greater than 0".into());
        }
        if let Some(path) = &self.path {
            if path.as_os_str().is_empty() {
                return Err("ledger.path must not be empty (leave it out to keep the ledger in memory)".into());
            }
            let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
            if let Some(dir) = parent {
                if !dir.is_dir() {
                    return Err(format!("ledger.path: the folder {} does not exist", dir.display()));
                }
            }
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ledger_in_memory_is_capped_by_default_and_a_file_by_retention() {
        let memory = LedgerConfig::default();
        assert_eq!(memory.session_cap(), Some(MEMORY_SESSIONS));
        assert_eq!(
            memory.describe(false),
            format!("memory up to {MEMORY_SESSIONS} sessions")
        );
        let file = LedgerConfig {
            path: Some("/var/lib/rollcall/ledger.db".into()),
            ..LedgerConfig::default()
        };
        assert_eq!(file.session_cap(), None);
        assert_eq!(file.describe(false), "/var/lib/rollcall/ledger.db");
        let capped_file = LedgerConfig {
            max_sessions: Some(500),
            ..file
        };
        assert_eq!(
            capped_file.describe(false),
            "/var/lib/rollcall/ledger.db up to 500 sessions"
        );
        let uncapped = LedgerConfig {
            max_sessions: Some(0),
            ..LedgerConfig::default()
        };
        assert_eq!(uncapped.session_cap(), None, "0 turns the cap off");
        assert_eq!(memory.describe(true), "redis");
    }
}
