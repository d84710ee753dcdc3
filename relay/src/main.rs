//! `rollcall-relay`: run the relay from the command line.

use clap::Parser;
use rollcall_relay::config::{Config, Overrides};
use rollcall_relay::{serve, Relay};
use std::path::PathBuf;
use std::process::ExitCode;

/// rollcall-relay: who is here right now, for any web site.
///
/// Holds presence (who is in which channel, with what status) for browsers running the
/// rollcall SDK, and answers your backend's questions over HTTP.
#[derive(Parser, Debug)]
#[command(version, about, long_about, after_help = AFTER_HELP)]
struct Cli {
    /// TOML config file ([presence], [limits], [auth], [[channel]] rules). See the README.
    #[arg(long, value_name = "FILE", env = "ROLLCALL_CONFIG")]
    config: Option<PathBuf>,

    /// Address to listen on [default: 127.0.0.1:7400; port 0 picks a free one].
    #[arg(long, value_name = "ADDR", env = "ROLLCALL_LISTEN")]
    listen: Option<String>,

    /// Demo mode: serve www/ at /, the SDK at /sdk/, and hand out tokens for anyone at
    /// /demo/token. Never in production.
    #[arg(long)]
    demo: bool,

    /// HS256 secret that browser tokens are signed with (at least 16 bytes).
    #[arg(long, env = "ROLLCALL_SECRET", hide_env_values = true, hide = true)]
    secret: Option<String>,

    /// Bearer key for the server API (GET /v1/presence).
    #[arg(long, env = "ROLLCALL_API_KEY", hide_env_values = true, hide = true)]
    api_key: Option<String>,

    /// Redis URL to share state between relays.
    #[arg(long, env = "ROLLCALL_REDIS_URL", hide = true)]
    redis_url: Option<String>,

    /// `redis_url` names a Redis Cluster (its nodes, comma-separated).
    #[arg(long, env = "ROLLCALL_REDIS_CLUSTER", hide = true, value_parser = clap::builder::BoolishValueParser::new())]
    redis_cluster: Option<bool>,
}

const AFTER_HELP: &str = "\
Environment:
  ROLLCALL_SECRET     HS256 secret for browser tokens (required unless --demo)
  ROLLCALL_API_KEY    bearer key for the server API (GET /v1/presence)
  ROLLCALL_LISTEN     address to listen on (default 127.0.0.1:7400)
  ROLLCALL_CONFIG     same as --config
  ROLLCALL_REDIS_URL  shared state across relays (unset: in memory); for a Redis
                      Cluster, some of its nodes' URLs, comma-separated
  ROLLCALL_REDIS_CLUSTER  1: ROLLCALL_REDIS_URL is a Redis Cluster
  RUST_LOG            log filter, e.g. info or rollcall_relay=debug

Endpoints:
  GET  /v1/ws         WebSocket for the browser SDK (protocol v1, docs/protocol.md)
  POST /v1/beacon     unload notice from navigator.sendBeacon
  GET  /v1/presence   ?channel=A&channel=B, Authorization: Bearer <ROLLCALL_API_KEY>
  GET  /v1/users/ID   online or not, channels, last seen, online time (same key)
  GET  /v1/sessions   ?user=&channel=&since=&until=, paged (same key)
  GET  /healthz       liveness and store
  GET  /metrics       Prometheus text";

/// jemalloc rather than the system's malloc: a relay keeps millions of small strings and
/// nodes (user ids, channel names, views), and jemalloc's size classes carry no header
/// per allocation. Six relays holding a channel of 100,000 took 1,553 MB with glibc's
/// malloc and 1,320 to 1,327 MB with jemalloc, for the same CPU (bench/, BENCHMARKS.md).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read once at its start (the `_RJEM_MALLOC_CONF` environment
/// variable still overrides them). A reconnect storm or a big fill frees tens of
/// megabytes of queues and buffers at once; by default jemalloc gives freed pages back
/// to the system only over 10 s and only while the process keeps allocating, so a relay
/// that goes quiet after a fill kept them for good: 227 MB for two relays holding
/// 20,000 members, against 189 MB with these (BENCHMARKS.md). One background thread
/// returns them within about a second, whether the relay is busy or not.
///
/// No thread cache (`tcache:false`): each thread's cache of freed objects of every size
/// class weighed most in a small relay, 8.2 to 8.6 KB a member of a channel of 1,000
/// against 7.3 to 7.9 KB without it, and 6.1 against 6.0 KB at 10,000. The relay spends
/// most of its time in the kernel, and allocates little per frame sent: the CPU to fill
/// 10,000 and the latency of a join to 2,000 did not rise (BENCHMARKS.md).
#[used]
#[export_name = "_rjem_malloc_conf"]
static MALLOC_CONF: &[u8; 98] =
    b"background_thread:true,max_background_threads:1,dirty_decay_ms:1000,muzzy_decay_ms:0,tcache:false\0";

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn,redis=error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let overrides = Overrides {
        listen: cli.listen,
        secret: cli.secret,
        api_key: cli.api_key,
        redis_url: cli.redis_url,
        redis_cluster: cli.redis_cluster,
        demo: cli.demo,
    };
    let config = match Config::load(cli.config.as_deref(), overrides) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("rollcall-relay: {e}");
            return ExitCode::from(2);
        }
    };
    let listener = match rollcall_relay::listen(config.listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("rollcall-relay: cannot listen on {}: {e}", config.listen);
            return ExitCode::from(1);
        }
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| config.listen.to_string());
    let file = config
        .config_file
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "none".into());
    println!(
        "rollcall-relay listening on http://{addr} (store: {}, ledger: {}, config: {file})",
        config.store_name(),
        config.ledger.describe(config.redis_url.is_some())
    );
    if config.demo {
        println!("demo mode: open http://{addr}/ in two browsers. /demo/token signs a token for anyone who asks: for demos only, never in production.");
    }
    let relay = Relay::start(config);
    match serve(listener, relay, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rollcall-relay: {e}");
            ExitCode::from(1)
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
