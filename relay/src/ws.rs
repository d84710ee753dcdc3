//! One WebSocket connection: the hello handshake, then a receive loop that turns frames
//! into roster changes, and a send task that drains the connection's bounded outbox and
//! pings so that even a hidden tab, whose timers the browser throttles, keeps its lease.
//!
//! How a connection ends decides who says what: a client's close frame is answered by
//! the stream itself; a close the relay decides (lease, flood, frame too large, slow
//! reader, restart) goes out after whatever the client was told, and the socket is then
//! read until the client answers, so nothing told is lost to a reset.

use crate::auth::identity;
use crate::clock::unix_now;
use crate::decisions::Action;
use crate::hub::Hub;
use crate::outbox::{Next, Outbox};
use crate::state::AppState;
use crate::upgrade::{self, Socket};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use rollcall_core::policy::{Access, Claims};
use rollcall_core::protocol::{close, ClientMsg, ErrorCode, ServerMsg, SUPPORTED_VERSIONS};
use rollcall_core::rate::RateLimit;
use rollcall_core::roster::ConnId;
use rollcall_core::timing;
use rollcall_core::Instant;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_websockets::Message;

/// How long a new socket may take to say hello.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest client id accepted.
pub const MAX_CLIENT_ID_BYTES: usize = 64;
/// Frames refused in a row for the rate limit before the connection is closed.
pub const FLOOD_CLOSE_AFTER: u32 = 200;
/// Longest the relay waits to write its last frames and the close to a client.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

pub async fn upgrade(State(app): State<AppState>, req: Request) -> Response {
    if !app.origin_allowed(req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok())) {
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }
    if app.hub.connections() >= app.config.limits.max_connections {
        return (StatusCode::SERVICE_UNAVAILABLE, "the relay is at its connection limit").into_response();
    }
    let max_frame = app.config.limits.max_frame_bytes;
    upgrade::accept(req, max_frame, move |socket| run(app, socket))
}

type Sink = SplitSink<Socket, Message>;
type Stream = SplitStream<Socket>;

/// How the receive loop ended.
enum Ended {
    /// The client sent a close frame (the stream answers it).
    ByClient { unloading: bool },
    /// The relay closed the connection: the send task sent the close.
    ByRelay,
    /// The socket broke, or the client broke the protocol (the stream closes it).
    Broken,
}

/// A connection's life: the hello, the welcome, then frames until it ends.
///
/// A task per connection means the size of this future is memory per connection, and
/// an async fn keeps its arguments, and any local moved elsewhere, for as long as it
/// runs. So the socket is split before the async part (the stream's state lives behind
/// the split's lock), the hello and the welcome run in boxed futures that are gone once
/// done, and the long part ([`connected`]) holds only what it uses.
fn run(app: AppState, socket: Socket) -> impl Future<Output = ()> {
    let (sink, stream) = socket.split();
    serve(app, sink, stream)
}

/// The async parts are blocks, not async fns: an async fn copies its arguments into
/// its body, so each would be held twice.
fn serve(app: AppState, mut sink: Sink, mut stream: Stream) -> impl Future<Output = ()> {
    async move {
        let Some(hello) = Box::pin(handshake(&app, &mut sink, &mut stream)).await else {
            return;
        };
        let Some((conn, sender)) = Box::pin(welcome(app, hello, sink)).await else {
            return;
        };
        connected(conn, stream, sender).await;
    }
}

/// Register the connection, send the welcome and start the send task.
async fn welcome(app: AppState, hello: Hello, mut sink: Sink) -> Option<(Connection, JoinHandle<()>)> {
    let Hello {
        claims,
        client,
        expires,
        resume,
    } = hello;
    let hub = app.hub.clone();
    let reg = hub.register(identity(&claims), &client, expires);
    if resume {
        hub.act(|r, now| r.resuming(now, reg.conn));
    }
    let welcome = ServerMsg::Welcome {
        v: *SUPPORTED_VERSIONS.last().expect("at least one version"),
        session: reg.session.clone(),
        resumed: reg.attached.resumed,
        user: identity(&claims),
        terms: app.config.presence.terms(),
    };
    if sink.send(Message::text(welcome.encode())).await.is_err() {
        hub.unregister(reg.conn, false);
        return None;
    }
    let ping_every = Duration::from_millis(timing::ping_interval_ms(app.config.presence.lease_timeout_ms));
    let sender = tokio::spawn(send_loop(sink, reg.outbox, ping_every));
    let conn = Connection {
        app,
        conn: reg.conn,
        claims,
        rate: None,
        limited: 0,
        told_until: Instant::ZERO,
    };
    Some((conn, sender))
}

/// Read the client's frames until the connection ends, then close it.
fn connected(mut conn: Connection, mut stream: Stream, mut sender: JoinHandle<()>) -> impl Future<Output = ()> {
    async move {
        let ended = loop {
            tokio::select! {
                // The send task ends when the relay closes this connection (lease expired,
                // replaced, slow, flood, shutting down) or the socket broke.
                _ = &mut sender => break Ended::ByRelay,
                frame = stream.next() => match frame {
                    Some(Ok(msg)) => {
                        if let Some(text) = msg.as_text() {
                            Box::pin(conn.on_text(text)).await;
                        } else if msg.is_binary() {
                            conn.refuse(ErrorCode::BadFrame, None, None);
                        } else if msg.is_ping() || msg.is_pong() {
                            conn.hub().act(|r, now| r.touch(now, conn.conn, false));
                        } else if let Some((code, _)) = msg.as_close() {
                            // Only the SDK's own 4001 (sent from pagehide, with a beacon) means
                            // "this page is going away": a browser whose process died still
                            // closes with 1001, and that must get the reconnect grace.
                            break Ended::ByClient { unloading: u16::from(code) == close::UNLOADING };
                        } else if msg.is_close() {
                            break Ended::ByClient { unloading: false };
                        }
                    }
                    Some(Err(e)) => {
                        tracing::debug!(conn = conn.conn, "socket error: {e}");
                        break Ended::Broken;
                    }
                    None => break Ended::Broken,
                },
            }
        };
        let unloading = matches!(ended, Ended::ByClient { unloading: true });
        conn.hub().unregister(conn.conn, unloading);
        drop(conn);
        match ended {
            // The send task wrote the close after what the client was told: read until the
            // client answers it.
            Ended::ByRelay => Box::pin(upgrade::linger(&mut stream)).await,
            // The stream queued its answer (to a close, or a 1002/1009 for a broken
            // frame); reading once more writes it.
            Ended::ByClient { .. } | Ended::Broken => {
                let _ = Box::pin(tokio::time::timeout(CLOSE_TIMEOUT, stream.next())).await;
            }
        }
        // Unregistering dropped the outbox's sender: the send task ends; don't wait long
        // for a peer that stopped reading.
        sender.abort();
    }
}

/// An accepted hello.
struct Hello {
    claims: Claims,
    client: String,
    expires: Option<Instant>,
    /// The client had a connection before (`hello.resume`).
    resume: bool,
}

/// Read and check the hello. Refusals are told and closed here.
async fn handshake(app: &AppState, sink: &mut Sink, stream: &mut Stream) -> Option<Hello> {
    let first = match tokio::time::timeout(HELLO_TIMEOUT, stream.next()).await {
        Ok(Some(Ok(msg))) if msg.is_text() => msg,
        Ok(Some(Ok(msg))) if msg.is_close() => {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, stream.next()).await;
            return None;
        }
        Ok(Some(Ok(_))) => return refuse(sink, stream, ErrorCode::HelloFirst).await,
        _ => return None,
    };
    let first = first.as_text().expect("a text message");
    if first.len() > app.config.limits.max_frame_bytes {
        app.hub.metrics.reject(ErrorCode::FrameTooLarge);
        return refuse_with(sink, stream, ErrorCode::FrameTooLarge, close::TOO_LARGE).await;
    }
    let (v, token, client, resume) = match ClientMsg::decode(first) {
        Ok(ClientMsg::Hello {
            v,
            token,
            client,
            resume,
        }) => (v, token, client, resume),
        Ok(_) => return refuse(sink, stream, ErrorCode::HelloFirst).await,
        Err(e) => return refuse(sink, stream, e.code()).await,
    };
    if !v.iter().any(|v| SUPPORTED_VERSIONS.contains(v)) {
        return refuse(sink, stream, ErrorCode::UnsupportedVersion).await;
    }
    if client.is_empty()
        || client.len() > MAX_CLIENT_ID_BYTES
        || !client
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return refuse(sink, stream, ErrorCode::BadClientId).await;
    }
    let claims = match app.verifier.verify(&token) {
        Ok(claims) => claims,
        Err(code) => {
            app.hub.metrics.reject(code);
            return refuse(sink, stream, code).await;
        }
    };
    let expires = expiry(&app.hub, &claims);
    Some(Hello {
        claims,
        client,
        expires,
        resume,
    })
}

/// Tell the client why, close with [`close::REFUSED`], and read until it answers.
async fn refuse<T>(sink: &mut Sink, stream: &mut Stream, code: ErrorCode) -> Option<T> {
    refuse_with(sink, stream, code, close::REFUSED).await
}

async fn refuse_with<T>(sink: &mut Sink, stream: &mut Stream, code: ErrorCode, close_code: u16) -> Option<T> {
    let told = async {
        sink.feed(Message::text(ServerMsg::error(code, None, None).encode()))
            .await?;
        sink.send(upgrade::close_frame(close_code, code.as_str())).await
    };
    if let Ok(Ok(())) = tokio::time::timeout(CLOSE_TIMEOUT, told).await {
        upgrade::linger(stream).await;
    }
    None
}

/// The token's `exp` on the roster's clock.
fn expiry(hub: &Hub, claims: &Claims) -> Option<Instant> {
    let exp = claims.exp?;
    let left_ms = exp.saturating_sub(unix_now()).saturating_mul(1_000);
    Some(hub.now() + left_ms)
}

/// Most frames written with one flush: they go out in one vectored write.
const BATCH: usize = 64;

fn send_loop(mut sink: Sink, outbox: Outbox, ping_every: Duration) -> impl Future<Output = ()> {
    async move {
        let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
        loop {
            let batch = tokio::select! {
                biased;
                next = outbox.ready() => match next {
                    Next::Frames => outbox.take(BATCH),
                    // No order means the hub forgot this connection because its socket
                    // is gone: nothing to say.
                    Next::Close(order) => {
                        if let Some((code, reason)) = order {
                            close_after_queue(&mut sink, &outbox, code, reason).await;
                        }
                        return;
                    }
                },
                _ = ping.tick() => Default::default(),
            };
            let write = async {
                if batch.is_empty() {
                    return sink.send(Message::ping(Bytes::new())).await;
                }
                for frame in batch {
                    sink.feed(Message::text(frame)).await?;
                }
                sink.flush().await
            };
            // A peer that stopped reading must not pin this task: the order to close wins.
            tokio::select! {
                biased;
                order = outbox.closed() => {
                    if let Some((code, reason)) = order {
                        if code != close::SLOW_CONSUMER {
                            let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.send(upgrade::close_frame(code, reason))).await;
                        }
                    }
                    return;
                }
                sent = write => if sent.is_err() { return },
            }
        }
    }
}

/// The relay closes: what the client was already told goes first (the error that says
/// why), then the close. A slow consumer's queue is what it could not read: dropped.
async fn close_after_queue(sink: &mut Sink, outbox: &Outbox, code: u16, reason: &str) {
    let told = async {
        if code != close::SLOW_CONSUMER {
            for frame in outbox.take(usize::MAX) {
                sink.feed(Message::text(frame)).await?;
            }
        }
        sink.send(upgrade::close_frame(code, reason)).await
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, told).await;
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

    async fn on_text(&mut self, text: &str) {
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
            let flood = self.limited >= FLOOD_CLOSE_AFTER;
            if flood || now >= self.told_until {
                self.told_until = now + wait;
                let mut msg = ServerMsg::error(ErrorCode::RateLimited, None, None);
                if let ServerMsg::Error { retry_after_ms, .. } = &mut msg {
                    *retry_after_ms = Some(wait);
                }
                hub.send(self.conn, &msg);
            }
            if flood {
                hub.close(self.conn, close::POLICY, "too many frames over the rate limit");
            }
            return;
        }
        self.limited = 0;
        if text.len() > self.app.config.limits.max_frame_bytes {
            self.refuse(ErrorCode::FrameTooLarge, None, None);
            hub.close(self.conn, close::TOO_LARGE, "frame too large");
            return;
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
        match self.apply(msg).await {
            Ok(Some(answer)) => hub.send(self.conn, &answer),
            Ok(None) => {
                if let Some(reference) = reference {
                    hub.send(self.conn, &ServerMsg::Ok { reference });
                }
            }
            Err(code) => self.refuse(code, reference, ch.as_deref()),
        }
    }

    /// The rights of this connection's user in `ch`: the rules' at once, or the site's
    /// answer. A question to the site is awaited here, in this connection's task: only
    /// this connection's next frames wait (at most `decisions.timeout_ms`), and they keep
    /// their order (an `update` after an `enter` finds it done). `Err` is the refusal.
    async fn decide(&self, ch: &str, action: Action, reference: Option<u64>) -> Result<Access, ServerMsg> {
        self.app
            .decisions
            .access(&self.claims, ch, action)
            .await
            .map_err(|refusal| {
                let hub = self.hub();
                hub.metrics.reject(refusal.code);
                hub.act(|r, now| r.touch(now, self.conn, false));
                refusal.to_msg(reference, ch)
            })
    }

    /// Apply one request: `Some` is its answer, `None` an `ok` when it asked for one.
    async fn apply(&mut self, msg: ClientMsg) -> Result<Option<ServerMsg>, ErrorCode> {
        let conn = self.conn;
        let hub = self.app.hub.clone();
        match msg {
            ClientMsg::Hello { .. } => Err(ErrorCode::HelloFirst),
            ClientMsg::Enter {
                ch,
                meta,
                status,
                reference,
            } => {
                let access = match self.decide(&ch, Action::Enter, reference).await {
                    Ok(access) => access,
                    Err(refused) => return Ok(Some(refused)),
                };
                hub.act(|r, now| r.enter(now, conn, &ch, access, status, meta))?;
                Ok(None)
            }
            ClientMsg::Update { ch, meta, status, .. } => {
                hub.act(|r, now| r.update(now, conn, &ch, status, meta))?;
                Ok(None)
            }
            ClientMsg::Leave { ch, .. } => {
                hub.act(|r, now| r.leave(now, conn, &ch))?;
                Ok(None)
            }
            ClientMsg::Subscribe { ch, friends, reference } => {
                let access = match self.decide(&ch, Action::View, reference).await {
                    Ok(access) => access,
                    Err(refused) => return Ok(Some(refused)),
                };
                // The token's friends first: the site's word counts before the page's.
                let friends: Vec<String> = self.claims.friends.iter().chain(&friends).cloned().collect();
                hub.act(|r, now| r.subscribe_following(now, conn, &ch, access, &friends))?;
                Ok(None)
            }
            ClientMsg::Unsubscribe { ch, .. } => {
                hub.act(|r, now| r.unsubscribe(now, conn, &ch))?;
                Ok(None)
            }
            ClientMsg::Members {
                ch,
                after,
                limit,
                reference,
            } => {
                let access = match self.decide(&ch, Action::View, reference).await {
                    Ok(access) => access,
                    Err(refused) => return Ok(Some(refused)),
                };
                let (count, users, next) = hub.act(|r, _| r.page(conn, &ch, access, after.as_deref(), limit))?;
                Ok(Some(ServerMsg::Members {
                    ch,
                    reference,
                    count,
                    users,
                    next,
                }))
            }
            // With a `ref` (1.2) the `ok` below answers it: the client's proof that its
            // link still carries frames both ways.
            ClientMsg::Checkin { status, .. } => {
                hub.act(|r, now| r.checkin(now, conn, status));
                Ok(None)
            }
            ClientMsg::Token { token, .. } => {
                let claims = self.app.verifier.verify(&token)?;
                if claims.sub != self.claims.sub {
                    return Err(ErrorCode::TokenMismatch);
                }
                let expires = expiry(&hub, &claims);
                self.claims = claims;
                hub.act(|r, now| r.refresh_token(now, conn, expires));
                Ok(None)
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
