//! One WebSocket connection: the hello handshake, then a receive loop that turns frames
//! into roster changes, and a send task that drains the connection's bounded outbox and
//! pings so that even a hidden tab, whose timers the browser throttles, keeps its lease.

use crate::auth::{identity, unix_now};
use crate::hub::{Hub, Kill, Outbox};
use crate::AppState;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use rollcall_core::policy::Claims;
use rollcall_core::protocol::{close, ClientMsg, ErrorCode, ServerMsg, SUPPORTED_VERSIONS};
use rollcall_core::rate::RateLimit;
use rollcall_core::roster::ConnId;
use rollcall_core::Instant;
use std::sync::Arc;
use std::time::Duration;

/// How long a new socket may take to say hello.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest client id accepted.
pub const MAX_CLIENT_ID_BYTES: usize = 64;
/// Read buffer per connection: presence frames are small, and a 128 KiB default per
/// socket would dominate the relay's memory at 10,000 connections.
pub const READ_BUFFER_BYTES: usize = 4 * 1024;
/// Frames refused in a row for the rate limit before the connection is closed.
pub const FLOOD_CLOSE_AFTER: u32 = 200;

pub async fn upgrade(State(app): State<AppState>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    if !app.origin_allowed(headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())) {
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }
    if app.hub.connections() >= app.config.limits.max_connections {
        return (StatusCode::SERVICE_UNAVAILABLE, "the relay is at its connection limit").into_response();
    }
    // The hard cap is larger than the limit so that an oversized frame gets a clear
    // `frame_too_large` instead of a dropped connection.
    let hard_cap = app.config.limits.max_frame_bytes * 4;
    ws.read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_message_size(hard_cap)
        .max_frame_size(hard_cap)
        .on_upgrade(move |socket| run(app, socket))
}

type Sink = SplitSink<WebSocket, Message>;
type Stream = SplitStream<WebSocket>;

async fn run(app: AppState, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let Some((claims, client, expires)) = handshake(&app, &mut sink, &mut stream).await else {
        return;
    };
    let hub = app.hub.clone();
    let reg = hub.register(identity(&claims), &client, expires);
    let welcome = ServerMsg::Welcome {
        v: *SUPPORTED_VERSIONS.last().expect("at least one version"),
        session: reg.session.clone(),
        resumed: reg.attached.resumed,
        user: identity(&claims),
        terms: app.config.presence.terms(),
    };
    if sink.send(Message::Text(welcome.encode().into())).await.is_err() {
        hub.unregister(reg.conn, false);
        return;
    }
    let ping_every = Duration::from_millis((app.config.presence.lease_timeout_ms / 3).clamp(1_000, 20_000));
    let mut sender = tokio::spawn(send_loop(sink, reg.outbox, reg.kill, ping_every));
    let mut conn = Connection {
        app: app.clone(),
        conn: reg.conn,
        claims,
        rate: None,
        limited: 0,
        told_until: Instant::ZERO,
    };
    let mut unloading = false;
    let mut sender_done = false;
    loop {
        tokio::select! {
            // The send task ends when the relay closes this connection (lease expired,
            // replaced, slow, shutting down) or the socket broke.
            _ = &mut sender => {
                sender_done = true;
                break;
            }
            frame = stream.next() => match frame {
                Some(Ok(Message::Text(text))) => conn.on_text(&text),
                Some(Ok(Message::Binary(_))) => conn.refuse(ErrorCode::BadFrame, None, None),
                Some(Ok(Message::Ping(_))) => hub.act(|r, now| r.touch(now, conn.conn, false)),
                Some(Ok(Message::Pong(_))) => hub.act(|r, now| r.touch(now, conn.conn, false)),
                Some(Ok(Message::Close(frame))) => {
                    // Only the SDK's own 4001 (sent from pagehide, with a beacon) means "this
                    // page is going away": a browser whose process died still closes with
                    // 1001, and that must get the reconnect grace.
                    unloading = frame.is_some_and(|f| f.code == close::UNLOADING);
                    break;
                }
                Some(Err(e)) => {
                    tracing::debug!(conn = conn.conn, "socket error: {e}");
                    break;
                }
                None => break,
            },
        }
    }
    hub.unregister(conn.conn, unloading);
    // Unregistering dropped the outbox's sender: the send task finishes its queue and
    // closes; don't wait long for a peer that stopped reading.
    if !sender_done {
        let _ = tokio::time::timeout(Duration::from_secs(2), sender).await;
    }
}

/// Read and check the hello. Refusals are told and closed here.
async fn handshake(app: &AppState, sink: &mut Sink, stream: &mut Stream) -> Option<(Claims, String, Option<Instant>)> {
    let first = match tokio::time::timeout(HELLO_TIMEOUT, stream.next()).await {
        Ok(Some(Ok(Message::Text(text)))) => text,
        Ok(Some(Ok(_))) => return refuse(sink, ErrorCode::HelloFirst).await,
        _ => return None,
    };
    let (v, token, client) = match ClientMsg::decode(&first) {
        Ok(ClientMsg::Hello { v, token, client }) => (v, token, client),
        Ok(_) => return refuse(sink, ErrorCode::HelloFirst).await,
        Err(e) => return refuse(sink, e.code()).await,
    };
    if !v.iter().any(|v| SUPPORTED_VERSIONS.contains(v)) {
        return refuse(sink, ErrorCode::UnsupportedVersion).await;
    }
    if client.is_empty()
        || client.len() > MAX_CLIENT_ID_BYTES
        || !client
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return refuse(sink, ErrorCode::BadClientId).await;
    }
    let claims = match app.verifier.verify(&token) {
        Ok(claims) => claims,
        Err(code) => {
            app.hub.metrics.reject(code);
            return refuse(sink, code).await;
        }
    };
    let expires = expiry(&app.hub, &claims);
    Some((claims, client, expires))
}

async fn refuse<T>(sink: &mut Sink, code: ErrorCode) -> Option<T> {
    let _ = sink
        .send(Message::Text(ServerMsg::error(code, None, None).encode().into()))
        .await;
    let _ = sink
        .send(Message::Close(Some(CloseFrame {
            code: close::REFUSED,
            reason: Utf8Bytes::from_static(code.as_str()),
        })))
        .await;
    None
}

/// The token's `exp` on the roster's clock.
fn expiry(hub: &Hub, claims: &Claims) -> Option<Instant> {
    let exp = claims.exp?;
    let left_ms = exp.saturating_sub(unix_now()).saturating_mul(1_000);
    Some(hub.now() + left_ms)
}

async fn send_loop(mut sink: Sink, mut outbox: Outbox, mut kill: Kill, ping_every: Duration) {
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
    loop {
        let msg = tokio::select! {
            biased;
            order = &mut kill => {
                let (code, reason) = order.unwrap_or((close::RELAY_RESTART, "closing"));
                let frame = CloseFrame { code, reason: Utf8Bytes::from_static(reason) };
                let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(Message::Close(Some(frame)))).await;
                return;
            }
            frame = outbox.recv() => match frame {
                Some(text) => Message::Text(text),
                None => return,
            },
            _ = ping.tick() => Message::Ping(Default::default()),
        };
        // A peer that stopped reading must not pin this task: the kill order wins.
        tokio::select! {
            biased;
            order = &mut kill => {
                let _ = order;
                return;
            }
            sent = sink.send(msg) => if sent.is_err() { return },
        }
    }
}

/// The receive side of one connection after its hello.
struct Connection {
    app: AppState,
    conn: ConnId,
    claims: Claims,
    rate: Option<RateLimit>,
    /// Frames refused in a row by the rate limit.
    limited: u32,
    /// Until when the client has been told to wait (told once per window).
    told_until: Instant,
}

impl Connection {
    fn hub(&self) -> &Arc<Hub> {
        &self.app.hub
    }

    fn on_text(&mut self, text: &str) {
        let hub = self.hub().clone();
        hub.metrics.frames_in.inc();
        let now = hub.now();
        let limits = &self.app.config.limits;
        let rate = self
            .rate
            .get_or_insert_with(|| RateLimit::new(now, limits.frames_per_second, limits.frame_burst));
        if let Err(wait) = rate.take(now) {
            self.limited += 1;
            hub.metrics.reject(ErrorCode::RateLimited);
            if self.limited >= FLOOD_CLOSE_AFTER {
                hub.close(self.conn, close::POLICY, "too many frames over the rate limit");
                return;
            }
            if now >= self.told_until {
                self.told_until = now + wait;
                let mut msg = ServerMsg::error(ErrorCode::RateLimited, None, None);
                if let ServerMsg::Error { retry_after_ms, .. } = &mut msg {
                    *retry_after_ms = Some(wait);
                }
                hub.send(self.conn, &msg);
            }
            return;
        }
        self.limited = 0;
        if text.len() > self.app.config.limits.max_frame_bytes {
            return self.refuse(ErrorCode::FrameTooLarge, None, None);
        }
        let msg = match ClientMsg::decode(text) {
            Ok(msg) => msg,
            Err(e) => {
                tracing::debug!(conn = self.conn, "refused frame: {e}");
                return self.refuse(e.code(), None, None);
            }
        };
        let reference = msg.reference();
        let ch = msg.channel().map(str::to_string);
        match self.apply(msg) {
            Ok(()) => {
                if let Some(reference) = reference {
                    hub.send(self.conn, &ServerMsg::Ok { reference });
                }
            }
            Err(code) => self.refuse(code, reference, ch.as_deref()),
        }
    }

    fn apply(&mut self, msg: ClientMsg) -> Result<(), ErrorCode> {
        let conn = self.conn;
        let policy = &self.app.config.policy;
        let hub = self.app.hub.clone();
        match msg {
            ClientMsg::Hello { .. } => Err(ErrorCode::HelloFirst),
            ClientMsg::Enter { ch, meta, status, .. } => {
                let access = policy.access(&self.claims, &ch);
                hub.act(|r, now| r.enter(now, conn, &ch, access, status, meta))
            }
            ClientMsg::Update { ch, meta, status, .. } => hub.act(|r, now| r.update(now, conn, &ch, status, meta)),
            ClientMsg::Leave { ch, .. } => hub.act(|r, now| r.leave(now, conn, &ch)),
            ClientMsg::Subscribe { ch, .. } => {
                let access = policy.access(&self.claims, &ch);
                hub.act(|r, now| r.subscribe(now, conn, &ch, access))
            }
            ClientMsg::Unsubscribe { ch, .. } => hub.act(|r, now| r.unsubscribe(now, conn, &ch)),
            ClientMsg::Checkin { status } => {
                hub.act(|r, now| r.checkin(now, conn, status));
                Ok(())
            }
            ClientMsg::Token { token, .. } => {
                let claims = self.app.verifier.verify(&token)?;
                if claims.sub != self.claims.sub {
                    return Err(ErrorCode::TokenMismatch);
                }
                let expires = expiry(&hub, &claims);
                self.claims = claims;
                hub.act(|r, now| r.refresh_token(now, conn, expires));
                Ok(())
            }
        }
    }

    fn refuse(&self, code: ErrorCode, reference: Option<u64>, ch: Option<&str>) {
        let hub = self.hub();
        hub.metrics.reject(code);
        hub.act(|r, now| r.touch(now, self.conn, false));
        hub.send(self.conn, &ServerMsg::error(code, reference, ch));
    }
}
