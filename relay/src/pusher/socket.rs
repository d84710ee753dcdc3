//! One Pusher WebSocket (`GET /app/{key}?protocol=7`): `pusher:connection_established`,
//! then a single loop that reads the client's events, drains the hub's outbox once the
//! socket has joined a presence channel (translating rollcall frames into Pusher events)
//! and pings at the WebSocket level so the lease holds even in a throttled hidden tab.
//!
//! One task per socket is enough here: everything the socket knows (its user, channels
//! and the members it has announced) lives in [`Socket`] and is touched by nobody else.
//! A write to a peer that stopped reading is bounded by [`SEND_TIMEOUT`]; meanwhile the
//! hub's bounded outbox fills and the hub drops the socket as a slow consumer.

use super::app::{app_by_key, PusherApp};
use super::members::Members;
use super::protocol::{code, error, event, rollcall_channel, MAX_USER_ID_BYTES, MIN_PROTOCOL, PROTOCOL};
use super::signature;
use crate::decisions::Action;
use crate::outbox::{Next, Outbox};
use crate::state::AppState;
use crate::upgrade::{self, Socket as WebSocket};
use crate::ws::{CLOSE_TIMEOUT, FLOOD_CLOSE_AFTER};
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use rollcall_core::policy::Claims;
use rollcall_core::protocol::{close, meta_size, ErrorCode, Identity, Meta, ServerMsg, Status};
use rollcall_core::rate::RateLimit;
use rollcall_core::roster::ConnId;
use rollcall_core::timing;
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::time::Duration;
use tokio_websockets::Message;

/// Longest a write to one socket may take before the socket is given up.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest `name` or `avatar` taken from a `user_info` into the member's identity.
pub const MAX_PROFILE_BYTES: usize = crate::auth::MAX_PROFILE_BYTES;
/// Most rollcall frames translated before the socket is written to again.
const OUTBOX_BATCH: usize = 64;
/// The channel pusher-js subscribes to after a sign-in, for server-to-user events
/// (which rollcall does not send: it succeeds and stays quiet).
pub const SERVER_TO_USER_PREFIX: &str = "#server-to-user-";

pub async fn upgrade(
    State(app): State<AppState>,
    Path(key): Path<String>,
    RawQuery(query): RawQuery,
    req: Request,
) -> Response {
    if !app.origin_allowed(req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok())) {
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }
    let protocol = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "protocol")
        .map(|(_, v)| v.into_owned());
    let max_frame = app.config.limits.max_frame_bytes;
    upgrade::accept(req, max_frame, move |socket| run(app, socket, key, protocol))
}

/// Why the socket must be closed: the `pusher:error` it is told, then the close code.
struct Closing {
    code: u16,
    message: String,
}

/// One Pusher connection. As for the native one (ws.rs), the size of this future is
/// memory per connection: the socket is boxed before the async part (an async fn holds
/// its arguments twice), and a frame's handling and the closing run in boxed futures
/// that are freed when done.
fn run(app: AppState, ws: WebSocket, key: String, protocol: Option<String>) -> impl Future<Output = ()> {
    serve(app, Box::new(ws), key, protocol)
}

async fn serve(app: AppState, mut ws: Box<WebSocket>, key: String, protocol: Option<String>) {
    let refusal = match (app_by_key(&app.config.pusher_apps, &key), protocol.as_deref()) {
        (None, _) => Some(Closing {
            code: code::APP_NOT_FOUND,
            message: format!("App key {key} is not configured on this relay: add it as a [[pusher_app]]"),
        }),
        (Some(_), None) => Some(Closing {
            code: code::NO_PROTOCOL,
            message: "No protocol version supplied: connect with ?protocol=7".into(),
        }),
        (Some(_), Some(v)) if !v.parse::<u32>().is_ok_and(|v| (MIN_PROTOCOL..=PROTOCOL).contains(&v)) => {
            Some(Closing {
                code: code::UNSUPPORTED_PROTOCOL,
                message: format!("Unsupported protocol version {v}: this relay speaks {MIN_PROTOCOL} to {PROTOCOL}"),
            })
        }
        _ if app.hub.connections() >= app.config.limits.max_connections => Some(Closing {
            code: code::OVER_CAPACITY,
            message: "Over capacity: the relay is at its connection limit; retry later".into(),
        }),
        _ => None,
    };
    if let Some(closing) = refusal {
        Box::pin(close_with(&mut ws, &closing)).await;
        return;
    }
    let pusher = app_by_key(&app.config.pusher_apps, &key)
        .expect("checked above")
        .clone();
    let mut s = Socket::new(app, pusher);
    let lease = Duration::from_millis(s.app.config.presence.lease_timeout_ms);
    let established = json!({"socket_id": s.socket_id, "activity_timeout": activity_timeout_secs(lease)});
    s.out.push(event("pusher:connection_established", None, &established));

    let ping_every = Duration::from_millis(timing::ping_interval_ms(s.app.config.presence.lease_timeout_ms));
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
    let mut outbox: Option<Outbox> = None;
    let mut last_seen = tokio::time::Instant::now();
    let mut unloading = false;
    loop {
        if !flush(&mut ws, &mut s.out).await {
            break;
        }
        if let Some(o) = s.link.take() {
            outbox = Some(o);
        }
        if let Some(closing) = s.closing.take() {
            Box::pin(close_with(&mut ws, &closing)).await;
            break;
        }
        tokio::select! {
            biased;
            next = async { outbox.as_ref().expect("guarded").ready().await }, if outbox.is_some() => match next {
                Next::Frames => {
                    for text in outbox.as_ref().expect("guarded").take(OUTBOX_BATCH) {
                        s.on_rollcall(std::str::from_utf8(&text).unwrap_or_default());
                    }
                }
                // The hub's order to close comes before what is still queued. Without one,
                // the hub forgot this socket.
                Next::Close(order) => {
                    outbox = None;
                    let (c, reason) = order.unwrap_or((close::RELAY_RESTART, "closing"));
                    s.closing = Some(closing_for(c, reason));
                }
            },
            frame = ws.next() => {
                last_seen = tokio::time::Instant::now();
                match frame {
                    Some(Ok(msg)) if msg.is_text() => Box::pin(s.on_text(msg.as_text().expect("a text message"))).await,
                    Some(Ok(msg)) if msg.is_binary() => s.refuse(code::UNSUPPORTED, "Binary frames are not part of the Pusher protocol", None),
                    Some(Ok(msg)) if msg.is_close() => {
                        // A page going away (1001), the SDK's unload code, or a deliberate
                        // `pusher.disconnect()` (1000): the short unload grace, so a
                        // refresh or a navigation on the same site shows nothing. The
                        // stream answers the close; reading once more writes the answer.
                        unloading = msg.as_close().is_some_and(|(c, _)| matches!(u16::from(c), 1000 | close::GOING_AWAY | close::UNLOADING));
                        let _ = Box::pin(tokio::time::timeout(CLOSE_TIMEOUT, ws.next())).await;
                        break;
                    }
                    Some(Ok(_)) => s.touch(false),
                    Some(Err(e)) => {
                        tracing::debug!(socket = %s.socket_id, "pusher socket error: {e}");
                        break;
                    }
                    None => break,
                }
            }
            _ = ping.tick() => {
                // Registered sockets are timed out by the roster's lease; a socket that
                // never joined a channel has no lease and is timed out here.
                if s.conn.is_none() && last_seen.elapsed() > lease {
                    s.closing = Some(Closing { code: code::PONG_NOT_RECEIVED, message: "Nothing arrived within the activity timeout".into() });
                    continue;
                }
                let sent = tokio::time::timeout(SEND_TIMEOUT, ws.send(Message::ping(Bytes::new()))).await;
                if !matches!(sent, Ok(Ok(()))) {
                    break;
                }
            }
        }
    }
    if let Some(conn) = s.conn {
        s.app.hub.unregister(conn, unloading);
    }
}

/// Seconds of silence after which pusher-js sends `pusher:ping`: well inside the lease.
fn activity_timeout_secs(lease: Duration) -> u64 {
    timing::activity_timeout_secs(lease.as_millis() as u64)
}

/// What a relay-initiated close of a rollcall connection means to a Pusher client.
fn closing_for(rollcall: u16, reason: &str) -> Closing {
    let (c, message) = match rollcall {
        close::RELAY_RESTART => (code::RECONNECT, "The relay is restarting: reconnect".to_string()),
        close::LEASE_EXPIRED => (
            code::PONG_NOT_RECEIVED,
            "Nothing arrived within the activity timeout".to_string(),
        ),
        close::SLOW_CONSUMER | close::POLICY => (
            code::OVER_CAPACITY,
            format!("Closed by the relay ({reason}): back off and reconnect"),
        ),
        _ => (code::RECONNECT, format!("Closed by the relay ({reason}): reconnect")),
    };
    Closing { code: c, message }
}

/// Write the queued events with one flush (one vectored write).
async fn flush(ws: &mut WebSocket, out: &mut Vec<String>) -> bool {
    if out.is_empty() {
        return true;
    }
    let write = async {
        for text in out.drain(..) {
            ws.feed(Message::text(text)).await?;
        }
        ws.flush().await
    };
    matches!(tokio::time::timeout(SEND_TIMEOUT, write).await, Ok(Ok(())))
}

/// Tell the client why (`pusher:error`), close with the same code, and read until it
/// answers so that the error is not lost to a reset.
async fn close_with(ws: &mut WebSocket, closing: &Closing) {
    let told = error(closing.code, &closing.message, None);
    let send = async {
        ws.feed(Message::text(told)).await?;
        ws.send(upgrade::close_frame(closing.code, &closing.message)).await
    };
    if let Ok(Ok(())) = tokio::time::timeout(CLOSE_TIMEOUT, send).await {
        upgrade::linger(ws).await;
    }
}

/// A random socket id in Pusher's `NNN.NNN` form.
fn socket_id() -> String {
    let bytes = crate::ids::random_bytes::<8>();
    let a = u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes"));
    let b = u32::from_le_bytes(bytes[4..].try_into().expect("4 bytes"));
    format!("{a}.{b}")
}

/// The user a socket speaks for: fixed by its first presence subscription or sign-in.
#[derive(Debug, Clone)]
struct User {
    identity: Identity,
    signed_in: bool,
}

/// A presence channel this socket has joined.
struct Joined {
    /// The Pusher name, e.g. `presence-site-online`.
    name: String,
    members: Members,
}

struct Socket {
    app: AppState,
    pusher: PusherApp,
    socket_id: String,
    user: Option<User>,
    /// The hub connection, once the socket joined a presence channel.
    conn: Option<ConnId>,
    /// A fresh registration's outbox (with the hub's order to close), for the loop to
    /// pick up.
    link: Option<Outbox>,
    /// By rollcall channel name.
    channels: HashMap<String, Joined>,
    /// `#server-to-user-ID` subscriptions: accepted, never carry anything.
    quiet: HashSet<String>,
    rate: Option<RateLimit>,
    limited: u32,
    /// Encoded events to send, in order.
    out: Vec<String>,
    closing: Option<Closing>,
}

/// The fields of a client event the socket looks at. `data` may be an object or a
/// JSON-encoded string: clients send both.
struct Incoming {
    event: String,
    channel: Option<String>,
    data: Map<String, Value>,
}

fn decode(text: &str) -> Option<Incoming> {
    let mut v: Map<String, Value> = serde_json::from_str(text).ok()?;
    let event = v.remove("event")?.as_str()?.to_string();
    let channel = v.get("channel").and_then(Value::as_str).map(str::to_string);
    let data = match v.remove("data") {
        Some(Value::Object(map)) => map,
        Some(Value::String(s)) => serde_json::from_str::<Map<String, Value>>(&s).unwrap_or_default(),
        _ => Map::new(),
    };
    Some(Incoming { event, channel, data })
}

fn string_field<'a>(data: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    data.get(key).and_then(Value::as_str)
}

impl Socket {
    fn new(app: AppState, pusher: PusherApp) -> Socket {
        Socket {
            app,
            pusher,
            socket_id: socket_id(),
            user: None,
            conn: None,
            link: None,
            channels: HashMap::new(),
            quiet: HashSet::new(),
            rate: None,
            limited: 0,
            out: Vec::new(),
            closing: None,
        }
    }

    fn touch(&self, frame: bool) {
        if let Some(conn) = self.conn {
            self.app.hub.act(|r, now| r.touch(now, conn, frame));
        }
    }

    fn refuse(&mut self, code: u16, message: &str, channel: Option<&str>) {
        self.out.push(error(code, message, channel));
    }

    async fn on_text(&mut self, text: &str) {
        let hub = self.app.hub.clone();
        hub.metrics.frames_in.inc();
        self.touch(true);
        let now = hub.now();
        let limits = &self.app.config.limits;
        let rate = self
            .rate
            .get_or_insert_with(|| RateLimit::new(now, limits.frames_per_second, limits.frame_burst));
        if rate.take(now).is_err() {
            self.limited += 1;
            hub.metrics.reject(ErrorCode::RateLimited);
            if self.limited >= FLOOD_CLOSE_AFTER {
                self.closing = Some(Closing {
                    code: code::OVER_CAPACITY,
                    message: "Too many events over the rate limit".into(),
                });
            } else if self.limited == 1 {
                self.refuse(code::OVER_CAPACITY, "Too many events per second: slow down", None);
            }
            return;
        }
        self.limited = 0;
        if text.len() > self.app.config.limits.max_frame_bytes {
            return self.refuse(code::UNSUPPORTED, "The event is larger than the relay accepts", None);
        }
        let Some(msg) = decode(text) else {
            return self.refuse(
                code::UNSUPPORTED,
                "Not a Pusher event: expected {\"event\": ..., \"data\": ...}",
                None,
            );
        };
        match msg.event.as_str() {
            "pusher:ping" => self.out.push(event("pusher:pong", None, &json!({}))),
            "pusher:pong" => {}
            "pusher:subscribe" => {
                let channel = string_field(&msg.data, "channel").unwrap_or_default().to_string();
                let auth = string_field(&msg.data, "auth").map(str::to_string);
                let data = string_field(&msg.data, "channel_data").map(str::to_string);
                self.subscribe(&channel, auth.as_deref(), data.as_deref()).await;
            }
            "pusher:unsubscribe" => {
                let channel = string_field(&msg.data, "channel").unwrap_or_default().to_string();
                self.unsubscribe(&channel);
            }
            "pusher:signin" => {
                let auth = string_field(&msg.data, "auth").unwrap_or_default().to_string();
                let data = string_field(&msg.data, "user_data").unwrap_or_default().to_string();
                self.signin(&auth, &data);
            }
            name if name.starts_with("client-") => self.refuse(
                code::UNSUPPORTED,
                "Client events are not supported by rollcall: send them through Pusher or your own server",
                msg.channel.as_deref(),
            ),
            name => {
                let message = format!("Unknown event '{name}'");
                self.refuse(code::UNSUPPORTED, &message, msg.channel.as_deref());
            }
        }
    }

    async fn subscribe(&mut self, channel: &str, auth: Option<&str>, channel_data: Option<&str>) {
        if let Some(id) = channel.strip_prefix(SERVER_TO_USER_PREFIX) {
            return match &self.user {
                Some(user) if user.signed_in && user.identity.id == id => {
                    self.quiet.insert(channel.to_string());
                    self.out.push(event(
                        "pusher_internal:subscription_succeeded",
                        Some(channel),
                        &json!({}),
                    ));
                }
                _ => self.refuse(code::UNAUTHORIZED, "Sign in as this user first", Some(channel)),
            };
        }
        let ch = match rollcall_channel(channel) {
            Ok(ch) => ch,
            Err((c, message)) => return self.refuse(c, &message, Some(channel)),
        };
        let (key, secret) = (&self.pusher.key, &self.pusher.secret);
        let signed = auth.is_some_and(|auth| {
            signature::check_channel_auth(key, secret, auth, &self.socket_id, channel, channel_data)
        });
        if !signed || channel_data.is_none() {
            let message = format!(
                "Invalid signature for {channel}: auth must be key:HMAC-SHA256(secret, \"socket_id:channel:channel_data\") over the exact channel_data"
            );
            return self.refuse(code::UNAUTHORIZED, &message, Some(channel));
        }
        let (identity, meta) = match member_of(
            channel_data.unwrap_or_default(),
            self.app.config.presence.max_meta_bytes,
        ) {
            Ok(member) => member,
            Err((c, message)) => return self.refuse(c, &message, Some(channel)),
        };
        match &self.user {
            Some(user) if user.identity.id != identity.id => {
                let message = format!(
                    "This socket is user {}; channel_data names user {}: one user per connection",
                    user.identity.id, identity.id
                );
                return self.refuse(code::UNAUTHORIZED, &message, Some(channel));
            }
            Some(_) => {}
            None => {
                self.user = Some(User {
                    identity: identity.clone(),
                    signed_in: false,
                })
            }
        }
        let conn = match self.conn {
            Some(conn) => conn,
            None => {
                let reg = self.app.hub.register(identity.clone(), &self.socket_id, None);
                self.conn = Some(reg.conn);
                self.link = Some(reg.outbox);
                reg.conn
            }
        };
        // The site's signature grants this channel, as a token's `channels` claim would;
        // the relay's rules still decide count-only and max_members. On a channel the
        // site decides, its answer does (asked here, in this socket's task: only this
        // socket's next events wait for it).
        let claims = Claims {
            sub: identity.id.clone(),
            name: identity.name.clone(),
            avatar: identity.avatar.clone(),
            channels: vec![ch.clone()],
            ..Claims::default()
        };
        let access = match self.app.decisions.access(&claims, &ch, Action::Enter).await {
            Ok(access) => access,
            Err(refused) => {
                self.app.hub.metrics.reject(refused.code);
                let (c, _) = refusal(refused.code, channel);
                let message = format!("{channel}: {}", refused.message);
                return self.refuse(c, &message, Some(channel));
            }
        };
        if access.count_only {
            let message =
                format!("{ch} is count-only on this relay: Pusher presence channels always show their members");
            return self.refuse(code::UNSUPPORTED, &message, Some(channel));
        }
        let joined = self.app.hub.act(|r, now| {
            r.subscribe(now, conn, &ch, access)?;
            r.enter(now, conn, &ch, access, Some(Status::Active), Some(meta))
                .inspect_err(|_| {
                    let _ = r.unsubscribe(now, conn, &ch);
                })
        });
        match joined {
            Ok(()) => {
                self.channels.insert(
                    ch,
                    Joined {
                        name: channel.to_string(),
                        members: Members::new(&identity.id),
                    },
                );
            }
            Err(e) => {
                self.app.hub.metrics.reject(e);
                let (c, message) = refusal(e, channel);
                self.refuse(c, &message, Some(channel));
            }
        }
    }

    fn unsubscribe(&mut self, channel: &str) {
        if self.quiet.remove(channel) {
            return;
        }
        let Ok(ch) = rollcall_channel(channel) else {
            return;
        };
        if self.channels.remove(&ch).is_none() {
            return;
        }
        if let Some(conn) = self.conn {
            self.app.hub.act(|r, now| {
                let _ = r.leave(now, conn, &ch);
                let _ = r.unsubscribe(now, conn, &ch);
            });
        }
    }

    fn signin(&mut self, auth: &str, user_data: &str) {
        if !signature::check_user_auth(&self.pusher.key, &self.pusher.secret, auth, &self.socket_id, user_data) {
            self.closing = Some(Closing {
                code: code::UNAUTHORIZED,
                message: "Invalid signature for pusher:signin: auth must be key:HMAC-SHA256(secret, \"socket_id::user::user_data\")".into(),
            });
            return;
        }
        let parsed: Option<Map<String, Value>> = serde_json::from_str(user_data).ok();
        let Some(id) = parsed
            .as_ref()
            .and_then(|d| d.get("id"))
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty() && id.len() <= MAX_USER_ID_BYTES)
        else {
            return self.refuse(
                code::UNAUTHORIZED,
                "user_data must be a JSON object with a non-empty string id of at most 128 bytes",
                None,
            );
        };
        if let Some(user) = &mut self.user {
            if user.identity.id != id {
                let message = format!(
                    "This socket is user {}; cannot sign in as {id}: one user per connection",
                    user.identity.id
                );
                return self.refuse(code::UNAUTHORIZED, &message, None);
            }
            user.signed_in = true;
        } else {
            let info = parsed
                .as_ref()
                .and_then(|d| d.get("user_info"))
                .and_then(Value::as_object);
            self.user = Some(User {
                identity: identity_of(id, info),
                signed_in: true,
            });
        }
        self.out
            .push(event("pusher:signin_success", None, &json!({ "user_data": user_data })));
    }

    /// A rollcall frame from the hub, as Pusher events.
    fn on_rollcall(&mut self, text: &str) {
        match ServerMsg::decode(text) {
            Ok(ServerMsg::Snapshot { ch, seq, users, .. }) => {
                if let Some(joined) = self.channels.get_mut(&ch) {
                    let data = joined.members.snapshot(seq, users.as_deref().unwrap_or_default());
                    self.out.push(event(
                        "pusher_internal:subscription_succeeded",
                        Some(&joined.name),
                        &data,
                    ));
                }
            }
            Ok(ServerMsg::Diff {
                ch, seq, join, leave, ..
            }) => {
                if let Some(joined) = self.channels.get_mut(&ch) {
                    for (name, data) in joined.members.diff(seq, &join, &leave) {
                        self.out.push(event(name, Some(&joined.name), &data));
                    }
                }
            }
            // The site took the channel back: the socket is out of it; say so.
            Ok(ServerMsg::Error {
                code,
                message,
                ch: Some(ch),
                ..
            }) => {
                if let Some(joined) = self.channels.remove(&ch) {
                    let (c, _) = refusal(code, &joined.name);
                    let message = format!("{}: {message}", joined.name);
                    self.refuse(c, &message, Some(&joined.name));
                }
            }
            Ok(other) => tracing::debug!(socket = %self.socket_id, "not for Pusher clients: {other:?}"),
            Err(e) => tracing::warn!(socket = %self.socket_id, "undecodable frame from the hub: {e}"),
        }
    }
}

/// A rollcall refusal as a Pusher error code and sentence.
fn refusal(e: ErrorCode, channel: &str) -> (u16, String) {
    let c = match e {
        ErrorCode::ForbiddenEnter | ErrorCode::ForbiddenView => code::UNAUTHORIZED,
        ErrorCode::ChannelFull | ErrorCode::TooManyChannels | ErrorCode::RateLimited | ErrorCode::Unavailable => {
            code::OVER_CAPACITY
        }
        ErrorCode::MetaTooLarge => code::MEMBER_TOO_LARGE,
        _ => code::UNSUPPORTED,
    };
    (c, format!("{channel}: {}", e.sentence()))
}

/// The identity and meta a signed `channel_data` gives the member.
fn member_of(channel_data: &str, max_meta_bytes: usize) -> Result<(Identity, Meta), (u16, String)> {
    let bad = |why: &str| (code::UNSUPPORTED, format!("channel_data {why}"));
    let data: Map<String, Value> =
        serde_json::from_str(channel_data).map_err(|_| bad("must be a JSON object with a user_id"))?;
    let id = match data.get("user_id") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(bad("must have a user_id (a string or a number)")),
    };
    if id.is_empty() {
        return Err(bad("has an empty user_id"));
    }
    if id.len() > MAX_USER_ID_BYTES {
        return Err((
            code::MEMBER_TOO_LARGE,
            format!("user_id is longer than {MAX_USER_ID_BYTES} bytes"),
        ));
    }
    let meta: Meta = match data.get("user_info") {
        None | Some(Value::Null) => Meta::new(),
        Some(Value::Object(info)) => info.clone(),
        // An empty PHP array encodes as [].
        Some(Value::Array(a)) if a.is_empty() => Meta::new(),
        Some(other) => Meta::from_iter([("user_info".to_string(), other.clone())]),
    };
    if meta_size(&meta) > max_meta_bytes {
        return Err((
            code::MEMBER_TOO_LARGE,
            format!("user_info is larger than {max_meta_bytes} bytes once encoded (limits.max_meta_bytes)"),
        ));
    }
    let identity = identity_of(&id, Some(&meta));
    Ok((identity, meta))
}

/// Name and avatar, when `user_info` has them as short strings.
fn identity_of(id: &str, info: Option<&Map<String, Value>>) -> Identity {
    let text = |key: &str| {
        info.and_then(|i| i.get(key))
            .and_then(Value::as_str)
            .filter(|s| s.len() <= MAX_PROFILE_BYTES)
            .map(str::to_string)
    };
    Identity {
        id: id.to_string(),
        name: text("name"),
        avatar: text("avatar"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_data_gives_identity_and_meta_and_numbers_become_ids() {
        let (identity, meta) = member_of(r#"{"user_id":7,"user_info":{"name":"ann","role":"x"}}"#, 1024).unwrap();
        assert_eq!(identity.id, "7");
        assert_eq!(identity.name.as_deref(), Some("ann"));
        assert_eq!(Value::Object(meta), json!({"name": "ann", "role": "x"}));
        let (_, meta) = member_of(r#"{"user_id":"7","user_info":[]}"#, 1024).unwrap();
        assert!(meta.is_empty());
    }

    #[test]
    fn oversized_members_get_4301_and_malformed_data_4300() {
        let big = format!(r#"{{"user_id":"7","user_info":{{"bio":"{}"}}}}"#, "x".repeat(2000));
        assert_eq!(member_of(&big, 1024).unwrap_err().0, code::MEMBER_TOO_LARGE);
        let long_id = format!(r#"{{"user_id":"{}"}}"#, "7".repeat(200));
        assert_eq!(member_of(&long_id, 1024).unwrap_err().0, code::MEMBER_TOO_LARGE);
        for bad in [
            "",
            "[]",
            r#"{"user_info":{}}"#,
            r#"{"user_id":""}"#,
            r#"{"user_id":true}"#,
        ] {
            assert_eq!(member_of(bad, 1024).unwrap_err().0, code::UNSUPPORTED, "{bad}");
        }
    }

    #[test]
    fn socket_ids_have_pushers_shape() {
        let id = socket_id();
        let (a, b) = id.split_once('.').unwrap();
        assert!(a.parse::<u32>().is_ok() && b.parse::<u32>().is_ok(), "{id}");
    }

    #[test]
    fn relay_closes_map_to_pusher_reconnect_ranges() {
        assert_eq!(closing_for(close::RELAY_RESTART, "x").code, code::RECONNECT);
        assert_eq!(closing_for(close::LEASE_EXPIRED, "x").code, code::PONG_NOT_RECEIVED);
        assert_eq!(closing_for(close::SLOW_CONSUMER, "x").code, code::OVER_CAPACITY);
    }
}
