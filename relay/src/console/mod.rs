//! The operator console at `/console`: a page shipped inside the binary and the JSON and
//! Server-Sent Events it reads, behind the server API key (open in `--demo` mode).
//!
//! - [`feed`]: the live event stream; costs nothing while nobody listens;
//! - [`api`]: what the page shows: now, one channel, webhooks, ledger charts;
//! - [`routes`]: the page, the API's routes and the key check in front of them;
//! - [`relays`]: with Redis, each relay's own counts, and relays coming and going;
//! - `assets/`: the page, its script and its style, served as they are (no build step).
//!
//! The key travels only in an `Authorization` header (the page keeps it in
//! `sessionStorage`), never in a URL. Wrong keys are counted: past
//! `console.login_attempts_per_minute` in a minute, every console request is refused
//! with 429 until the minute ends, so a key cannot be guessed at network speed.

pub mod api;
pub mod feed;
pub mod relays;
pub mod routes;

use crate::hub::Hub;
use crate::redis_conn::Target;
use feed::Feed;
use serde::Deserialize;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Events kept for the live stream; a console further behind is told how many it missed.
pub const FEED_CAPACITY: usize = 1_024;
/// Consoles streaming at once; more get 503.
pub const MAX_LISTENERS: usize = 8;
/// Wrong keys accepted in a minute before the console refuses everyone until it ends.
pub const LOGIN_ATTEMPTS_PER_MINUTE: u32 = 10;

const WINDOW: Duration = Duration::from_secs(60);

/// `[console]` in the config file.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// Serve `/console` at all.
    pub enabled: bool,
    /// Events a listening console may fall behind by before it is told it missed some.
    pub feed_capacity: usize,
    /// Consoles streaming live events at once.
    pub max_listeners: usize,
    /// Wrong API keys tolerated per minute (then 429 for everyone until it ends).
    pub login_attempts_per_minute: u32,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            enabled: true,
            feed_capacity: FEED_CAPACITY,
            max_listeners: MAX_LISTENERS,
            login_attempts_per_minute: LOGIN_ATTEMPTS_PER_MINUTE,
        }
    }
}

impl ConsoleConfig {
    /// Check every value; the message names the key.
    pub fn checked(self) -> Result<ConsoleConfig, String> {
        for (key, value) in [
            ("console.feed_capacity", self.feed_capacity as u64),
            ("console.max_listeners", self.max_listeners as u64),
            (
                "console.login_attempts_per_minute",
                self.login_attempts_per_minute as u64,
            ),
        ] {
            if value == 0 {
                return Err(format!("{key} must be greater than 0"));
            }
        }
        Ok(self)
    }
}

/// What the console shares between its handlers.
pub struct Console {
    pub config: ConsoleConfig,
    pub feed: Arc<Feed>,
    /// With Redis: this relay's id in `rc:relays` and the link that reads the others.
    pub relays: Option<relays::Relays>,
    /// Wrong keys in the current minute. A plain mutex: two integers, never held across
    /// an `.await`.
    attempts: Mutex<(tokio::time::Instant, u32)>,
    pub refused: AtomicU64,
}

impl Console {
    pub fn new(config: ConsoleConfig, relays: Option<relays::Relays>) -> Console {
        Console {
            feed: Arc::new(Feed::new(config.feed_capacity)),
            config,
            relays,
            attempts: Mutex::new((tokio::time::Instant::now(), 0)),
            refused: AtomicU64::new(0),
        }
    }

    /// The console's lines for `/metrics` (Prometheus text).
    pub fn render_metrics(&self) -> String {
        let rows: [(&str, &str, &str, u64); 4] = [
            (
                "rollcall_console_listeners",
                "gauge",
                "Consoles streaming live events now.",
                self.feed.listeners() as u64,
            ),
            (
                "rollcall_console_events_total",
                "counter",
                "Presence events put on the console's live stream (none while no console listens).",
                self.feed.sent.load(Relaxed),
            ),
            (
                "rollcall_console_events_dropped_total",
                "counter",
                "Live events a console missed because it read too slowly (console.feed_capacity).",
                self.feed.dropped.load(Relaxed),
            ),
            (
                "rollcall_console_refused_total",
                "counter",
                "Console requests refused for a missing or wrong API key, or while wrong keys are rate limited.",
                self.refused.load(Relaxed),
            ),
        ];
        rows.iter()
            .map(|(name, kind, help, value)| format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"))
            .collect()
    }

    /// Seconds until wrong keys are accepted again, if they are limited now.
    pub(crate) fn limited(&self) -> Option<u64> {
        let now = tokio::time::Instant::now();
        let mut attempts = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
        if now.duration_since(attempts.0) >= WINDOW {
            *attempts = (now, 0);
        }
        (attempts.1 >= self.config.login_attempts_per_minute)
            .then(|| (WINDOW - now.duration_since(attempts.0)).as_secs().max(1))
    }

    pub(crate) fn wrong_key(&self) {
        let mut attempts = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
        attempts.1 = attempts.1.saturating_add(1);
    }
}

/// Make the console and offer the hub's events to its live stream. With Redis (a
/// `relay_id`), also start writing this relay's counts for the others' consoles.
pub fn start(config: &ConsoleConfig, redis: Option<Target>, relay_id: Option<String>, hub: Arc<Hub>) -> Console {
    let mut console = Console::new(config.clone(), None);
    if let (Some(target), Some(id), true) = (redis, relay_id, config.enabled) {
        match relays::Relays::start(target, id, hub.clone(), console.feed.clone()) {
            Ok(relays) => console.relays = Some(relays),
            Err(e) => tracing::warn!("console: cannot show the other relays: {e}"),
        }
    }
    if config.enabled {
        hub.attach_feed(console.feed.clone());
    }
    console
}
