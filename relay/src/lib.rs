//! rollcall-relay: the authoritative presence state behind a WebSocket, beside any site.
//!
//! - [`config`]: file, environment and flags.
//! - [`limits`]: the `[limits]` section.
//! - [`admission`]: per-address and overall limits on connections, before any WebSocket.
//! - [`auth`]: browser tokens and the server API key.
//! - [`hub`]: the shared roster and the connections' outboxes.
//! - [`state`]: what every handler shares.
//! - [`clock`]: wall-clock time, read in one place; [`ids`]: random ids.
//! - [`upgrade`]: the WebSocket transport: upgrade, shared-frame writes, closing.
//! - [`ws`]: one WebSocket connection.
//! - [`http`]: beacon, server API, health, metrics, demo endpoints.
//! - [`metrics`]: Prometheus counters.
//! - [`ledger`]: sessions, online time, and the durable webhook queue (SQLite).
//! - [`webhooks`]: presence events POSTed to the site, signed and retried.
//! - [`pusher`]: Pusher protocol 7 and HTTP API for presence channels.
//! - [`server`]: hyper on the admitted connections, with a deadline for request heads.
//! - [`decisions`]: channels the site decides: its answers, cached and rechecked.
//! - [`console`]: the operator console at `/console` and its live event stream.
//!
//! A Rust site can mount the relay inside itself:
//!
//! ```no_run
//! # async fn site() {
//! let config = rollcall_relay::config::Config::load(None, Default::default()).unwrap();
//! let relay = rollcall_relay::Relay::start(config);
//! let app = axum::Router::new().nest("/presence", relay.router());
//! # let _ = app;
//! # }
//! ```

pub mod admission;
pub mod auth;
pub mod clock;
pub mod config;
pub mod console;
pub mod decisions;
pub mod http;
pub mod hub;
pub mod ids;
pub mod ledger;
pub mod limits;
pub mod metrics;
pub mod outbox;
pub mod pusher;
pub mod redis_conn;
pub mod server;
pub mod state;
pub mod store;
pub mod upgrade;
pub mod webhooks;
pub mod ws;

pub use state::AppState;

use axum::http::{HeaderValue, Method};
use axum::routing::{delete, get, post};
use axum::Router;
use config::Config;
use hub::Hub;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::services::ServeDir;

/// A running relay: its state and the reaper task that owns its clock.
pub struct Relay {
    state: AppState,
    reaper: tokio::task::JoinHandle<()>,
    /// Stopped when the relay is dropped, as a crash would stop them.
    _ledger_tasks: ledger::Tasks,
    _webhook_sender: Task,
}

impl Relay {
    /// Build the state and start the reaper. Needs a Tokio runtime.
    pub fn start(mut config: Config) -> Relay {
        if config.demo && config.secrets.is_empty() {
            config.secrets.push(ids::random_id());
        }
        // Presence events (after the graces) feed the session ledger and the webhooks.
        let (events, recorded) = tokio::sync::mpsc::channel(hub::EVENT_QUEUE);
        let hub = Arc::new(Hub::new(config.presence.clone(), config.limits.send_queue).with_events(events));
        let config = Arc::new(config);
        // Where Redis is, resolved once; each subsystem that keeps state there is handed it.
        let redis = config
            .redis()
            .transpose()
            .unwrap_or_else(|e| panic!("rollcall-relay: {e}"));
        let store: Arc<dyn hub::Store> = match &redis {
            Some(target) => Arc::new(
                store::Redis::start(target.clone(), hub.clone(), &config.presence)
                    .unwrap_or_else(|e| panic!("rollcall-relay: {e}")),
            ),
            None => Arc::new(store::Memory),
        };
        let relay_id = store.relay_id().map(str::to_string);
        hub.attach_store(store);
        let console = Arc::new(console::start(&config.console, redis.clone(), relay_id, hub.clone()));
        let webhooks = Arc::new(webhooks::Webhooks::new(config.webhooks.clone(), config.policy.clone()));
        let (ledger, ledger_tasks) = ledger::start(
            &config.ledger,
            redis.clone(),
            config.presence.reconnect_grace_ms,
            webhooks.clone(),
            hub.clone(),
            recorded,
        )
        .unwrap_or_else(|e| panic!("rollcall-relay: {e}"));
        // The sender takes its batches from the ledger's queue.
        let webhook_sender = Task(tokio::spawn(webhooks::run(ledger.clone(), webhooks)));
        let verifier = Arc::new(auth::Verifier::new(&config.secrets));
        let decisions = decisions::Decisions::start(&config.decisions, &config.policy, redis, hub.clone());
        let admission = Arc::new(admission::Admission::new(config.limits.clone(), hub.clone()));
        let reaper = tokio::spawn(reap(hub.clone()));
        Relay {
            state: AppState {
                hub,
                config,
                verifier,
                ledger,
                console,
                decisions,
                admission,
            },
            reaper,
            _ledger_tasks: ledger_tasks,
            _webhook_sender: webhook_sender,
        }
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The relay's routes, to serve alone or to nest in a site's own router.
    pub fn router(&self) -> Router {
        router(self.state.clone())
    }

    /// Close every connection with "relay restarting" and stop the reaper.
    pub fn shutdown(&self) {
        self.state.hub.shutdown();
        self.state.decisions.stop();
        self.reaper.abort();
    }
}

/// A task aborted when dropped.
struct Task(tokio::task::JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The reaper: the only owner of the relay's clock. It sleeps until the roster's next
/// deadline (or until a change brings one closer) and runs it.
async fn reap(hub: Arc<Hub>) {
    loop {
        let next = hub.tick();
        hub.wait(next).await;
    }
}

pub fn router(state: AppState) -> Router {
    let cors = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([axum::http::header::AUTHORIZATION, axum::http::header::CONTENT_TYPE])
        .allow_origin(if state.config.allowed_origins.is_empty() {
            AllowOrigin::any()
        } else {
            AllowOrigin::list(
                state
                    .config
                    .allowed_origins
                    .iter()
                    .filter_map(|o| HeaderValue::from_str(o).ok()),
            )
        });
    let admit = axum::middleware::from_fn_with_state(state.admission.clone(), admission::admit);
    let admit_pusher = axum::middleware::from_fn_with_state(state.admission.clone(), admission::admit_pusher);
    let mut app = Router::new()
        .route("/v1/ws", get(ws::upgrade).route_layer(admit))
        .route("/v1/beacon", post(http::beacon))
        .route("/v1/presence", get(http::presence))
        .route("/v1/users/{id}", get(ledger::api::user))
        .route("/v1/sessions", get(ledger::api::sessions))
        .route("/healthz", get(http::healthz))
        .route("/metrics", get(http::metrics))
        .route("/v1/channels/{ch}/users/{id}", delete(decisions::api::remove_user))
        .route("/v1/decisions", delete(decisions::api::forget));
    app = app.merge(console::routes::routes(&state));
    app = app
        .route("/app/{key}", get(pusher::upgrade).route_layer(admit_pusher))
        .route("/apps/{id}/channels/{channel}", get(pusher::api::channel))
        .route("/apps/{id}/channels/{channel}/users", get(pusher::api::users))
        .route("/apps/{id}/events", post(pusher::api::events))
        .route("/apps/{id}/batch_events", post(pusher::api::events));
    if state.config.demo {
        app = app
            .route("/demo/token", get(http::demo_token))
            .route("/demo/presence", get(http::demo_presence))
            .nest_service("/sdk", ServeDir::new(demo_dir("sdk/dist")))
            .fallback_service(ServeDir::new(demo_dir("www")));
    }
    app.layer(cors).with_state(state)
}

/// A folder of the repository: from the working directory if it is there, else next to
/// the sources this binary was built from.
fn demo_dir(rel: &str) -> PathBuf {
    let here = PathBuf::from(rel);
    if here.is_dir() {
        return here;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

/// The accept queue asked of the kernel, which caps it at `net.core.somaxconn`.
pub const LISTEN_BACKLOG: u32 = 65_535;

/// Listen on `addr` with a long accept queue: when every browser reconnects at once
/// (after a restart, a network blip), the connections wait in the queue instead of
/// having their SYNs dropped and retried by the browser a second later.
pub fn listen(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serve until `shutdown` resolves, then close every connection with "relay restarting".
pub async fn serve(
    listener: TcpListener,
    relay: Relay,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = relay.router();
    let hub = relay.state.hub.clone();
    let (stopped_tx, stopped_rx) = tokio::sync::oneshot::channel::<()>();
    let graceful = async move {
        shutdown.await;
        let _ = stopped_tx.send(());
    };
    // Each connection is counted under its address until it ends (see `admission`).
    let listener = admission::Listener::new(listener, relay.state.admission.clone());
    let server = tokio::spawn(server::run(listener, app, graceful));
    let _ = stopped_rx.await;
    // Other relays keep this relay's users while its clients move over to them.
    hub.drain_store().await;
    relay.shutdown();
    // Upgraded sockets are not tracked by the HTTP server: wait (bounded) for the close
    // frames to go out before the process ends.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(3);
    while hub.connections() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    server.await.map_err(std::io::Error::other)
}
