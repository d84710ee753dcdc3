//! The HTTP server: hyper on the connections [`crate::admission::Listener`] accepted,
//! each request carrying its connection as `ConnectInfo<Peer>`, with a deadline for
//! request heads, and a graceful stop.
//!
//! The deadline is why this is not `axum::serve`, which gives hyper no timer: there, a
//! client that sends a request head a byte a minute (slowloris) holds its connection
//! and a file descriptor for as long as it likes.

use crate::admission::{Listener, Peer};
use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::time::Duration;
use tower::ServiceExt;

/// How long a client has to send a whole request head (the line and the headers), from
/// the connection's start or the end of the previous response; then the connection is
/// closed. Far above what a browser needs, even on a slow phone.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Serve `app` on `listener` until `stop` resolves, then let the requests under way end.
/// Upgraded sockets are not waited for: they belong to the WebSocket code once upgraded.
pub async fn run(mut listener: Listener, app: Router, stop: impl Future<Output = ()>) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT);
    // WebSockets over HTTP/2 (RFC 8441), as `axum::serve` allows them.
    builder.http2().timer(TokioTimer::new()).enable_connect_protocol();
    let graceful = GracefulShutdown::new();
    tokio::pin!(stop);
    loop {
        let io = tokio::select! {
            (io, _) = axum::serve::Listener::accept(&mut listener) => io,
            _ = &mut stop => break,
        };
        let peer: Peer = io.peer();
        // Not `app.clone().layer(Extension(..))`: `Router::layer` wraps every route again,
        // 60 boxed services and their tables per connection (1.5 KB), held as long as
        // hyper holds the connection's service. A clone of the router is an `Arc`.
        let service = TowerToHyperService::new(app.clone().map_request(
            move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer.clone()));
                req
            },
        ));
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(io), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::trace!("connection ended: {e}");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
