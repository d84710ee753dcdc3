//! The operator console at `/console`: a page shipped inside the binary and the JSON and
//! Server-Sent Events it reads, behind the server API key (open in `--demo` mode).
//!
//! - [`feed`]: the live event stream; costs nothing while nobody listens;
//! - [`api`]: what the page shows: now, one channel, webhooks, ledger charts;
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

use crate::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use feed::Feed;
use serde::Deserialize;
use serde_json::json;
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

/// The page's Content-Security-Policy: its own script and style only, no inline code,
/// no frames, requests to this relay only.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

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
    fn limited(&self) -> Option<u64> {
        let now = tokio::time::Instant::now();
        let mut attempts = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
        if now.duration_since(attempts.0) >= WINDOW {
            *attempts = (now, 0);
        }
        (attempts.1 >= self.config.login_attempts_per_minute)
            .then(|| (WINDOW - now.duration_since(attempts.0)).as_secs().max(1))
    }

    fn wrong_key(&self) {
        let mut attempts = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
        attempts.1 = attempts.1.saturating_add(1);
    }
}

/// Make the console and offer the hub's events to its live stream. With Redis (a
/// `relay_id`), also start writing this relay's counts for the others' consoles.
pub fn start(config: &crate::config::Config, relay_id: Option<String>, hub: Arc<crate::hub::Hub>) -> Console {
    let feed_config = config.console.clone();
    let mut console = Console::new(feed_config, None);
    if let (Some(target), Some(id), true) = (config.redis(), relay_id, config.console.enabled) {
        match target.and_then(|target| relays::Relays::start(target, id, hub.clone(), console.feed.clone())) {
            Ok(relays) => console.relays = Some(relays),
            Err(e) => tracing::warn!("console: cannot show the other relays: {e}"),
        }
    }
    if config.console.enabled {
        hub.attach_feed(console.feed.clone());
    }
    console
}

const INDEX_HTML: &str = include_str!("assets/index.html");
const CONSOLE_JS: &str = include_str!("assets/console.js");
const CONSOLE_CSS: &str = include_str!("assets/console.css");
const CHARTS_JS: &str = include_str!("assets/charts.js");

/// The console's routes, to merge into the relay's router (nothing when disabled).
pub fn routes(app: &AppState) -> Router<AppState> {
    if !app.console.config.enabled {
        return Router::new();
    }
    let api = Router::new()
        .route("/console/api/login", post(api::login))
        .route("/console/api/now", get(api::now))
        .route("/console/api/channel", get(api::channel))
        .route("/console/api/events", get(feed::stream))
        .route("/console/api/webhooks", get(api::webhooks))
        .route("/console/api/webhooks/{index}/test", post(api::test_webhook))
        .route("/console/api/ledger/online", get(api::ledger_online))
        .route("/console/api/ledger/status", get(api::ledger_status))
        .route("/console/api/ledger/user", get(api::ledger_user))
        .route_layer(axum::middleware::from_fn_with_state(app.clone(), guard));
    Router::new()
        // Relative links from the page resolve under `/console/`, wherever the relay is
        // mounted.
        .route("/console", get(|| async { Redirect::permanent("console/") }))
        .route(
            "/console/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/console/console.js",
            get(|| async { asset("text/javascript; charset=utf-8", CONSOLE_JS) }),
        )
        .route(
            "/console/charts.js",
            get(|| async { asset("text/javascript; charset=utf-8", CHARTS_JS) }),
        )
        .route(
            "/console/console.css",
            get(|| async { asset("text/css; charset=utf-8", CONSOLE_CSS) }),
        )
        .merge(api)
        .layer(axum::middleware::from_fn(headers))
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}

/// Every console response: the strict policy, no sniffing, no referrer, no caching of
/// what the API says.
async fn headers(req: Request, next: Next) -> Response {
    let api = req.uri().path().contains("/console/api/");
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if api {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// The API key check (none in `--demo` mode), with wrong keys rate limited.
async fn guard(State(app): State<AppState>, req: Request, next: Next) -> Response {
    if app.config.demo {
        return next.run(req).await;
    }
    let console = &app.console;
    if let Some(wait) = console.limited() {
        console.refused.fetch_add(1, Relaxed);
        let mut res = (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({
                "error": "rate_limited",
                "message": format!("too many wrong keys; try again in {wait} s"),
            })),
        )
            .into_response();
        res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait));
        return res;
    }
    match crate::http::authorize(&app, req.headers()) {
        Ok(()) => next.run(req).await,
        Err(e) => {
            console.refused.fetch_add(1, Relaxed);
            // Only a presented key counts as an attempt: a page loading without one
            // must not lock the operator out.
            if req.headers().contains_key(header::AUTHORIZATION) {
                tracing::warn!("console: a wrong API key was presented");
                console.wrong_key();
            }
            e.into_response()
        }
    }
}
