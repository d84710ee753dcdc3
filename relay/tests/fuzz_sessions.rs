//! A driver that plays random frame sequences from many clients against a relay in
//! process, over real sockets: hello (and refused hellos), enter, leave, update,
//! subscribe, members pages, check-ins, fresh tokens, junk, oversized frames, second
//! hellos, drops and closes.
//!
//! Every request carries a `ref` and its answer is awaited, so the driver knows what
//! each client holds and checks every answer against that model. A watcher follows
//! every channel from its snapshot and diffs. After each sequence:
//!
//! - nothing panicked and every answer was the one the rules give;
//! - the watcher's view, built from diffs with consecutive `seq`, comes to equal the
//!   model once the graces of the dropped clients have passed;
//! - `GET /v1/presence` lists each user once per channel, `count` equals the members,
//!   and they are exactly the users with a live client in the channel.
//!
//! A second driver plays pusher-js's events (signed and forged subscriptions, odd
//! `channel_data`, junk, client events, oversized events, drops) with the same checks.
//!
//! Each sequence has its own seed, printed with any failure with the last steps;
//! `ROLLCALL_FUZZ_SEED=<seed>` plays it again, `ROLLCALL_FUZZ_CASES` plays more.

mod common;
mod fuzzing;

use common::{token, TestRelay, API_KEY, PATIENCE};
use futures_util::{SinkExt, StreamExt};
use fuzzing::{cases, seed, Rng};
use rollcall_core::policy::Claims;
use rollcall_core::protocol::{close, ServerMsg};
use rollcall_relay::auth::sign;
use rollcall_relay::clock::unix_now;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Short graces so a sequence's dropped clients are gone within a second; a long lease
/// so that no live client, read only when it is its turn, loses it.
const CONFIG: &str = r#"
[presence]
checkin_interval_ms = 10000
lease_timeout_ms = 30000
unload_grace_ms = 100
reconnect_grace_ms = 200
flush_interval_ms = 5
[limits]
frames_per_second = 10000
frame_burst = 10000
max_channels = 5
max_meta_bytes = 200
max_frame_bytes = 1024
[[channel]]
pattern = "/full/*"
max_members = 2
[[channel]]
pattern = "/staff/*"
allowed_groups = ["staff"]
public = true
[[channel]]
pattern = "/**"
"#;

const MAX_CHANNELS: usize = 5;
const MAX_META_BYTES: usize = 200;
const MAX_FRAME_BYTES: usize = 1024;
/// The largest frame the WebSocket stream reads at all.
const HARD_FRAME_BYTES: usize = rollcall_relay::upgrade::HARD_FRAME_BYTES;
/// Channels the watcher follows (as many as a connection may hold).
const CHANNELS: &[&str] = &["/a/x", "/a/y", "/full/1", "/staff/1", "/b/c/d"];
/// More channels, so that a client can reach `max_channels`.
const EXTRA: &[&str] = &["/e/1", "/e/2", "/e/3"];
const BAD_CHANNELS: &[&str] = &["a/x", "/a", "/a//x", "/a/x/", "/a/x y", "/a/é", ""];
const USERS: &[&str] = &["ann", "bob", "cy", "dee"];
/// Steps per sequence, and clients at most connected at once.
const STEPS: usize = 60;
const CLIENTS: usize = 6;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What the driver remembers of one run, to print with a failure.
struct Trace {
    seed: u64,
    steps: Vec<String>,
}

impl Trace {
    fn note(&mut self, step: String) {
        self.steps.push(step);
    }

    fn fail(&self, what: String) -> ! {
        let from = self.steps.len().saturating_sub(25);
        panic!(
            "{what}\nseed {seed} (replay: ROLLCALL_FUZZ_SEED={seed} cargo test -p rollcall-relay --test fuzz_sessions)\nlast steps:\n  {}",
            self.steps[from..].join("\n  "),
            seed = self.seed
        );
    }
}

/// One browser connection as the model sees it.
struct Client {
    ws: Ws,
    name: String,
    user: &'static str,
    staff: bool,
    /// The session id of the welcome, which a beacon names.
    session: String,
    /// Channels entered, as the relay confirmed.
    entered: BTreeSet<String>,
    subscribed: BTreeSet<String>,
    next_ref: u64,
}

/// How a request ended.
#[derive(Debug, PartialEq)]
enum Reply {
    Ok,
    Error(String),
    /// The relay closed the socket (its close code, if it sent one).
    Closed(Option<u16>),
    /// A page of `members`: the count, the ids, the `next` cursor.
    Page(usize, Vec<String>, Option<String>),
}

/// Everything read while waiting for a reply: errors without a `ref` on the way.
struct Answer {
    reply: Reply,
    unreferenced: Vec<String>,
}

impl Client {
    async fn connect(relay: &TestRelay, name: String, user: &'static str, staff: bool) -> Result<Client, String> {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/v1/ws", relay.addr))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let mut c = Client {
            ws,
            name,
            user,
            staff,
            session: String::new(),
            entered: BTreeSet::new(),
            subscribed: BTreeSet::new(),
            next_ref: 1,
        };
        let groups: &[&str] = if staff { &["staff"] } else { &[] };
        let hello = json!({"type": "hello", "v": [1], "token": token(user, groups), "client": c.name});
        c.send_text(hello.to_string()).await;
        match c.next_frame().await {
            Some(ServerMsg::Welcome { user: who, session, .. }) if who.id == user => {
                c.session = session;
                Ok(c)
            }
            other => Err(format!("{}: no welcome: {other:?}", c.name)),
        }
    }

    async fn send_text(&mut self, text: String) {
        // A send to a socket the relay already closed fails; the next read tells.
        let _ = self.ws.send(Message::text(text)).await;
    }

    /// The next protocol frame; `None` once the socket is closed.
    async fn next_frame(&mut self) -> Option<ServerMsg> {
        loop {
            match tokio::time::timeout(PATIENCE, self.ws.next()).await {
                Err(_) => panic!("{}: no frame within {PATIENCE:?}", self.name),
                Ok(Some(Ok(Message::Text(text)))) => {
                    return Some(ServerMsg::decode(&text).unwrap_or_else(|e| panic!("undecodable frame {text}: {e}")))
                }
                Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => return None,
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// Send a request with a fresh `ref` and read until its answer.
    async fn request(&mut self, mut frame: Value) -> Answer {
        let reference = self.next_ref;
        self.next_ref += 1;
        frame["ref"] = json!(reference);
        self.send_text(frame.to_string()).await;
        self.answer(reference).await
    }

    async fn answer(&mut self, reference: u64) -> Answer {
        let mut unreferenced = Vec::new();
        loop {
            let frame = match tokio::time::timeout(PATIENCE, self.ws.next()).await {
                Err(_) => panic!("{}: no answer to ref {reference} within {PATIENCE:?}", self.name),
                Ok(Some(Ok(Message::Text(text)))) => ServerMsg::decode(&text).expect("a valid server frame"),
                Ok(Some(Ok(Message::Close(frame)))) => {
                    return Answer {
                        reply: Reply::Closed(frame.map(|f| u16::from(f.code))),
                        unreferenced,
                    }
                }
                Ok(None) | Ok(Some(Err(_))) => {
                    return Answer {
                        reply: Reply::Closed(None),
                        unreferenced,
                    }
                }
                Ok(Some(Ok(_))) => continue,
            };
            match frame {
                ServerMsg::Ok { reference: r } if r == reference => {
                    return Answer {
                        reply: Reply::Ok,
                        unreferenced,
                    }
                }
                ServerMsg::Error {
                    reference: Some(r),
                    code,
                    ..
                } if r == reference => {
                    return Answer {
                        reply: Reply::Error(code.as_str().to_string()),
                        unreferenced,
                    }
                }
                ServerMsg::Members {
                    reference: Some(r),
                    count,
                    users,
                    next,
                    ..
                } if r == reference => {
                    return Answer {
                        reply: Reply::Page(count, users.into_iter().map(|u| u.id).collect(), next),
                        unreferenced,
                    }
                }
                ServerMsg::Error {
                    reference: None, code, ..
                } => unreferenced.push(code.as_str().to_string()),
                _ => {}
            }
        }
    }

    /// A harmless request whose answer proves every earlier frame was handled.
    async fn sync(&mut self) -> Answer {
        self.request(json!({"type": "unsubscribe", "ch": "/sync/x"})).await
    }

    fn channels_in_use(&self) -> usize {
        self.entered.union(&self.subscribed).count()
    }
}

/// Users present in each channel, as the model knows it.
struct Model {
    live: Vec<Client>,
    /// Channels each dropped client held: they may still show until their grace ends.
    dead: Vec<(&'static str, BTreeSet<String>)>,
}

impl Model {
    fn live_users(&self, ch: &str) -> BTreeSet<&'static str> {
        self.live
            .iter()
            .filter(|c| c.entered.contains(ch))
            .map(|c| c.user)
            .collect()
    }

    fn maybe_users(&self, ch: &str) -> BTreeSet<&'static str> {
        let mut users = self.live_users(ch);
        users.extend(self.dead.iter().filter(|(_, e)| e.contains(ch)).map(|(u, _)| *u));
        users
    }

    fn expected(&self) -> BTreeMap<String, BTreeSet<String>> {
        CHANNELS
            .iter()
            .chain(EXTRA)
            .map(|ch| {
                (
                    ch.to_string(),
                    self.live_users(ch).into_iter().map(str::to_string).collect(),
                )
            })
            .collect()
    }
}

fn meta(rng: &mut Rng) -> Value {
    match rng.below(6) {
        0 => json!({"typing": rng.one_in(2)}),
        1 => json!({"big": "x".repeat(MAX_META_BYTES + rng.below(50))}),
        2 => json!({}),
        3 => json!({"n": rng.next(), "list": [1, "two", null, {"deep": [[[]]]}]}),
        4 => json!({"edge": "y".repeat(MAX_META_BYTES.saturating_sub(12))}),
        _ => json!({"\u{0}": "\u{fffd}\u{10ffff}"}),
    }
}

fn meta_fits(meta: &Value) -> bool {
    meta.to_string().len() <= MAX_META_BYTES
}

fn channel(rng: &mut Rng) -> &'static str {
    match rng.below(8) {
        0 => *rng.pick(BAD_CHANNELS),
        1 | 2 => *rng.pick(EXTRA),
        _ => *rng.pick(CHANNELS),
    }
}

fn valid(ch: &str) -> bool {
    rollcall_core::channel::validate_name(ch).is_ok()
}

fn junk(rng: &mut Rng) -> String {
    let frames = [
        "{".to_string(),
        "[]".to_string(),
        "null".to_string(),
        r#"{"type":"shout"}"#.to_string(),
        r#"{"type":"enter"}"#.to_string(),
        r#"{"type":"enter","ch":"/a/x","meta":[1]}"#.to_string(),
        r#"{"type":"checkin","status":"asleep"}"#.to_string(),
        r#"{"type":"leave","ch":"/a/x","ref":-1}"#.to_string(),
        r#"{"type":"hello","v":[1],"token":"\ud800","client":"c"}"#.to_string(),
        format!("{{\"type\":\"enter\",\"ch\":\"/a/x\",\"meta\":{}}}", "[".repeat(200)),
        "\u{0}\u{0}\u{0}".to_string(),
        (0..rng.below(40))
            .map(|_| (b' ' + rng.below(95) as u8) as char)
            .collect(),
    ];
    rng.pick(&frames).clone()
}

/// The reply an enter must get, from the rules; `None` when either outcome is right
/// (a dropped client of someone else may still hold a seat of a full channel).
fn enter_by_the_book(m: &Model, i: usize, ch: &str, meta_ok: bool) -> Option<Reply> {
    let c = &m.live[i];
    let err = |code: &str| Some(Reply::Error(code.to_string()));
    if !valid(ch) {
        return err("bad_channel");
    }
    if ch.starts_with("/staff/") && !c.staff {
        return err("forbidden_enter");
    }
    if !meta_ok {
        return err("meta_too_large");
    }
    if !c.entered.contains(ch) && !c.subscribed.contains(ch) && c.channels_in_use() >= MAX_CHANNELS {
        return err("too_many_channels");
    }
    if ch.starts_with("/full/") {
        let live = m.live_users(ch);
        if live.contains(c.user) {
            return Some(Reply::Ok);
        }
        let maybe = m.maybe_users(ch);
        if maybe.contains(c.user) {
            return None;
        }
        if live.len() >= 2 {
            return err("channel_full");
        }
        if maybe.len() >= 2 {
            return None;
        }
    }
    Some(Reply::Ok)
}

/// A connection whose first frame is refused: a forged, `none`, expired or junk token,
/// a bad client id or version, no hello, junk, or an oversized frame. It must be told
/// why (an error with that code), then closed with 4003 (1009 for the oversized frame).
async fn hostile_hello(relay: &TestRelay, rng: &mut Rng) -> Result<String, String> {
    let hello = |token: String, client: &str, v: u32| {
        json!({"type": "hello", "v": [v], "token": token, "client": client}).to_string()
    };
    let ann = |exp: Option<u64>| Claims {
        sub: "ann".into(),
        exp,
        ..Claims::default()
    };
    let forged = sign("another-secret-0123456789", &ann(None));
    let expired = sign(common::SECRET, &ann(Some(unix_now() - 5)));
    let none = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbm4ifQ.".to_string();
    let good = token("ann", &[]);
    let (refused, too_large) = (close::REFUSED, close::TOO_LARGE);
    let cases: Vec<(&str, Message, &str, u16)> = vec![
        (
            "a forged token",
            Message::text(hello(forged, "c", 1)),
            "bad_token",
            refused,
        ),
        ("alg none", Message::text(hello(none, "c", 1)), "bad_token", refused),
        (
            "an expired token",
            Message::text(hello(expired, "c", 1)),
            "token_expired",
            refused,
        ),
        (
            "a junk token",
            Message::text(hello("x".repeat(rng.below(300)), "c", 1)),
            "bad_token",
            refused,
        ),
        (
            "an empty client id",
            Message::text(hello(good.clone(), "", 1)),
            "bad_client_id",
            refused,
        ),
        (
            "a client id with a space",
            Message::text(hello(good.clone(), "a b", 1)),
            "bad_client_id",
            refused,
        ),
        (
            "a 65-byte client id",
            Message::text(hello(good.clone(), &"c".repeat(65), 1)),
            "bad_client_id",
            refused,
        ),
        (
            "version 2 only",
            Message::text(hello(good, "c", 2)),
            "unsupported_version",
            refused,
        ),
        (
            "enter first",
            Message::text(r#"{"type":"enter","ch":"/a/x"}"#),
            "hello_first",
            refused,
        ),
        ("junk first", Message::text("{"), "bad_frame", refused),
        (
            "binary first",
            Message::binary(vec![0u8, 159, 146, 150]),
            "hello_first",
            refused,
        ),
        (
            "an oversized hello",
            Message::text(hello("t".repeat(MAX_FRAME_BYTES), "c", 1)),
            "frame_too_large",
            too_large,
        ),
    ];
    let n = cases.len();
    let (what, first, code, close_code) = cases.into_iter().nth(rng.below(n)).unwrap();
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/v1/ws", relay.addr))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = ws.send(first).await;
    let mut told = None;
    loop {
        match tokio::time::timeout(PATIENCE, ws.next()).await {
            Err(_) => return Err(format!("{what}: not closed within {PATIENCE:?}")),
            Ok(Some(Ok(Message::Text(text)))) => {
                if let Ok(ServerMsg::Error { code, .. }) = ServerMsg::decode(&text) {
                    told.get_or_insert(code.as_str().to_string());
                }
            }
            Ok(Some(Ok(Message::Close(frame)))) => {
                let got = frame.map(|f| u16::from(f.code));
                return if told.as_deref() == Some(code) && got == Some(close_code) {
                    Ok(what.to_string())
                } else {
                    Err(format!(
                        "{what}: told {told:?}, closed with {got:?}; want {code}, then {close_code}"
                    ))
                };
            }
            Ok(Some(Ok(_))) => continue,
            Ok(other) => {
                return Err(format!(
                    "{what}: told {told:?}, then the connection ended without a close: {other:?}"
                ))
            }
        }
    }
}

/// Play one sequence against a fresh relay and check the invariants.
async fn play(seed: u64) {
    let mut rng = Rng::new(seed);
    let mut trace = Trace {
        seed,
        steps: Vec::new(),
    };
    let relay = TestRelay::start(CONFIG).await;
    // Two watchers: one connection may follow only `max_channels` channels.
    let watchers = [
        Watcher::start(&relay, CHANNELS, "watcher-1").await,
        Watcher::start(&relay, EXTRA, "watcher-2").await,
    ];
    let mut m = Model {
        live: Vec::new(),
        dead: Vec::new(),
    };
    let mut made = 0;
    for step in 0..STEPS {
        if rng.one_in(15) {
            match hostile_hello(&relay, &mut rng).await {
                Ok(what) => trace.note(format!("{step}: a hello with {what} is refused")),
                Err(e) => trace.fail(e),
            }
            continue;
        }
        if m.live.is_empty() || (m.live.len() < CLIENTS && rng.one_in(6)) {
            let user = *rng.pick(USERS);
            let staff = rng.one_in(2);
            made += 1;
            let name = format!("c{made}");
            trace.note(format!("{step}: connect {name} as {user} (staff: {staff})"));
            match Client::connect(&relay, name, user, staff).await {
                Ok(c) => m.live.push(c),
                Err(e) => trace.fail(e),
            }
            continue;
        }
        let i = rng.below(m.live.len());
        let who = format!("{} ({})", m.live[i].name, m.live[i].user);
        let ch = channel(&mut rng);
        match rng.below(15) {
            0..=2 => {
                let meta = meta(&mut rng);
                let want = enter_by_the_book(&m, i, ch, meta_fits(&meta));
                trace.note(format!(
                    "{step}: {who} enter {ch:?} meta {} bytes",
                    meta.to_string().len()
                ));
                let got = m.live[i]
                    .request(json!({"type": "enter", "ch": ch, "meta": meta}))
                    .await
                    .reply;
                if want.as_ref().is_some_and(|w| *w != got) {
                    trace.fail(format!("enter {ch:?}: got {got:?}, the rules say {want:?}"));
                }
                if got == Reply::Ok {
                    m.live[i].entered.insert(ch.to_string());
                } else if !matches!(&got, Reply::Error(code) if code == "channel_full" || want.is_some()) {
                    trace.fail(format!("enter {ch:?}: got {got:?}"));
                }
            }
            3 => {
                trace.note(format!("{step}: {who} leave {ch:?}"));
                let got = m.live[i].request(json!({"type": "leave", "ch": ch})).await.reply;
                let want = if valid(ch) {
                    Reply::Ok
                } else {
                    Reply::Error("bad_channel".into())
                };
                if got != want {
                    trace.fail(format!("leave {ch:?}: got {got:?}, want {want:?}"));
                }
                m.live[i].entered.remove(ch);
            }
            4..=5 => {
                let meta = meta(&mut rng);
                let status = *rng.pick(&["active", "idle", "hidden"]);
                trace.note(format!("{step}: {who} update {ch:?} {status}"));
                let got = m.live[i]
                    .request(json!({"type": "update", "ch": ch, "meta": meta, "status": status}))
                    .await
                    .reply;
                let want = if !valid(ch) {
                    Reply::Error("bad_channel".into())
                } else if !meta_fits(&meta) {
                    Reply::Error("meta_too_large".into())
                } else if !m.live[i].entered.contains(ch) {
                    Reply::Error("not_entered".into())
                } else {
                    Reply::Ok
                };
                if got != want {
                    trace.fail(format!("update {ch:?}: got {got:?}, want {want:?}"));
                }
            }
            6 => {
                let c = &m.live[i];
                let want = if !valid(ch) {
                    Reply::Error("bad_channel".into())
                } else if !c.subscribed.contains(ch) && !c.entered.contains(ch) && c.channels_in_use() >= MAX_CHANNELS {
                    Reply::Error("too_many_channels".into())
                } else {
                    Reply::Ok
                };
                let unsubscribe = rng.one_in(3);
                trace.note(format!(
                    "{step}: {who} {} {ch:?}",
                    if unsubscribe { "unsubscribe" } else { "subscribe" }
                ));
                if unsubscribe {
                    let got = m.live[i].request(json!({"type": "unsubscribe", "ch": ch})).await.reply;
                    let want = if valid(ch) {
                        Reply::Ok
                    } else {
                        Reply::Error("bad_channel".into())
                    };
                    if got != want {
                        trace.fail(format!("unsubscribe {ch:?}: got {got:?}, want {want:?}"));
                    }
                    m.live[i].subscribed.remove(ch);
                } else {
                    let got = m.live[i].request(json!({"type": "subscribe", "ch": ch})).await.reply;
                    if got != want {
                        trace.fail(format!("subscribe {ch:?}: got {got:?}, want {want:?}"));
                    }
                    if got == Reply::Ok {
                        m.live[i].subscribed.insert(ch.to_string());
                    }
                }
            }
            14 => {
                let after = match rng.below(4) {
                    0 => None,
                    1 => Some(rng.pick(USERS).to_string()),
                    2 => Some(String::new()),
                    _ => Some("zzz".to_string()),
                };
                let limit = *rng.pick(&[None, Some(0usize), Some(1), Some(2), Some(5000)]);
                trace.note(format!(
                    "{step}: {who} asks the members of {ch:?} after {after:?}, limit {limit:?}"
                ));
                let mut frame = json!({"type": "members", "ch": ch});
                if let Some(after) = &after {
                    frame["after"] = json!(after);
                }
                if let Some(limit) = limit {
                    frame["limit"] = json!(limit);
                }
                let got = m.live[i].request(frame).await.reply;
                let (live, maybe) = (m.live_users(ch), m.maybe_users(ch));
                match got {
                    Reply::Page(count, ids, next) if valid(ch) => {
                        let max = limit.unwrap_or(100).clamp(1, 1000);
                        let after = after.unwrap_or_default();
                        let sorted = ids.windows(2).all(|w| w[0] < w[1]) && ids.iter().all(|id| *id > after);
                        let known = ids.iter().all(|id| maybe.contains(id.as_str()));
                        let counted = (live.len()..=maybe.len()).contains(&count);
                        let cursor = next.is_none() || next.as_ref() == ids.last();
                        if !(sorted && known && counted && cursor && ids.len() <= max) {
                            trace.fail(format!(
                                "members of {ch:?}: count {count}, page {ids:?}, next {next:?}; live {live:?}, maybe {maybe:?}"
                            ));
                        }
                    }
                    Reply::Error(code) if !valid(ch) && code == "bad_channel" => {}
                    other => trace.fail(format!("members of {ch:?}: {other:?}")),
                }
            }
            7 => {
                let status = *rng.pick(&["active", "idle", "hidden"]);
                trace.note(format!("{step}: {who} checkin {status}"));
                m.live[i]
                    .send_text(json!({"type": "checkin", "status": status}).to_string())
                    .await;
                let answer = m.live[i].sync().await;
                if answer.reply != Reply::Ok || !answer.unreferenced.is_empty() {
                    trace.fail(format!("checkin: {:?} {:?}", answer.reply, answer.unreferenced));
                }
            }
            8 => {
                let (kind, token, want) = match rng.below(4) {
                    0 => ("same user", token(m.live[i].user, &[]), Reply::Ok),
                    1 => ("another user", token("zed", &[]), Reply::Error("token_mismatch".into())),
                    2 => (
                        "expired",
                        sign(
                            common::SECRET,
                            &Claims {
                                sub: m.live[i].user.into(),
                                exp: Some(unix_now() - 60),
                                ..Claims::default()
                            },
                        ),
                        Reply::Error("token_expired".into()),
                    ),
                    _ => (
                        "junk",
                        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbm4ifQ.".to_string(),
                        Reply::Error("bad_token".into()),
                    ),
                };
                trace.note(format!("{step}: {who} token ({kind})"));
                let got = m.live[i].request(json!({"type": "token", "token": token})).await.reply;
                if got != want {
                    trace.fail(format!("token ({kind}): got {got:?}, want {want:?}"));
                }
                if kind == "same user" {
                    // The fresh token carries no groups.
                    m.live[i].staff = false;
                }
            }
            9 => {
                let text = if rng.one_in(3) {
                    json!({"type": "hello", "v": [1], "token": token(m.live[i].user, &[]), "client": "again"})
                        .to_string()
                } else {
                    junk(&mut rng)
                };
                trace.note(format!(
                    "{step}: {who} sends {:?}",
                    text.chars().take(60).collect::<String>()
                ));
                m.live[i].send_text(text).await;
                let answer = m.live[i].sync().await;
                let told = answer
                    .unreferenced
                    .iter()
                    .all(|code| ["bad_frame", "unknown_type", "hello_first"].contains(&code.as_str()));
                if answer.reply != Reply::Ok || answer.unreferenced.len() != 1 || !told {
                    trace.fail(format!("junk: {:?}, told {:?}", answer.reply, answer.unreferenced));
                }
            }
            10 if rng.one_in(5) => {
                // Past the stream's own limit: closed with 1009 without reading it.
                let size = HARD_FRAME_BYTES + 1 + rng.below(1000);
                trace.note(format!("{step}: {who} sends a frame of {size} bytes"));
                let text = json!({"type": "leave", "ch": "/a/x", "pad": "p".repeat(size)}).to_string();
                m.live[i].send_text(text).await;
                let answer = m.live[i].sync().await;
                if answer.reply != Reply::Closed(Some(close::TOO_LARGE)) {
                    trace.fail(format!(
                        "a {size}-byte frame: {:?}, told {:?} (want close 1009)",
                        answer.reply, answer.unreferenced
                    ));
                }
                let c = m.live.swap_remove(i);
                m.dead.push((c.user, c.entered));
            }
            10 => {
                let size = MAX_FRAME_BYTES + 1 + rng.below(MAX_FRAME_BYTES);
                trace.note(format!("{step}: {who} sends a frame of {size} bytes"));
                let text = json!({"type": "leave", "ch": "/a/x", "pad": "p".repeat(size)}).to_string();
                assert!(text.len() > MAX_FRAME_BYTES);
                m.live[i].send_text(text).await;
                let answer = m.live[i].sync().await;
                // Told why, then closed with 1009.
                if answer.unreferenced != ["frame_too_large"] || answer.reply != Reply::Closed(Some(close::TOO_LARGE)) {
                    trace.fail(format!(
                        "an oversized frame: told {:?}, then {:?} (want frame_too_large, then close {})",
                        answer.unreferenced,
                        answer.reply,
                        close::TOO_LARGE
                    ));
                }
                let c = m.live.swap_remove(i);
                m.dead.push((c.user, c.entered));
            }
            11 => {
                let polite = rng.one_in(2);
                trace.note(format!(
                    "{step}: {who} {}",
                    if polite { "closes (unloading)" } else { "drops" }
                ));
                let mut c = m.live.swap_remove(i);
                if polite {
                    // As a page going away does: the beacon, then the close.
                    let status = relay.beacon(&c.session).await;
                    if status != 204 {
                        trace.fail(format!("a beacon for a live session: {status}"));
                    }
                    let frame = CloseFrame {
                        code: CloseCode::from(close::UNLOADING),
                        reason: "unload".into(),
                    };
                    let _ = c.ws.close(Some(frame)).await;
                }
                m.dead.push((c.user, c.entered));
            }
            _ => {
                // Several frames in a row before reading: the relay answers in order.
                let n = 2 + rng.below(6);
                trace.note(format!("{step}: {who} sends {n} enters and leaves of {ch:?} in a row"));
                let c = &mut m.live[i];
                let mut refs = Vec::new();
                for k in 0..n {
                    let kind = if k % 2 == 0 { "enter" } else { "leave" };
                    let reference = c.next_ref;
                    c.next_ref += 1;
                    refs.push(reference);
                    c.send_text(json!({"type": kind, "ch": ch, "ref": reference}).to_string())
                        .await;
                }
                let mut last = Reply::Ok;
                for reference in refs {
                    last = c.answer(reference).await.reply;
                }
                // The last one decides what the client holds.
                let ended_in_enter = n % 2 == 1;
                if ended_in_enter && last == Reply::Ok {
                    c.entered.insert(ch.to_string());
                } else if ended_in_enter {
                    // Refused after a leave of the same burst: not held.
                    c.entered.remove(ch);
                } else if valid(ch) {
                    if last != Reply::Ok {
                        trace.fail(format!("the last leave of {ch:?}: {last:?}"));
                    }
                    c.entered.remove(ch);
                }
            }
        }
        if step % 10 == 9 {
            check_presence(&relay, &m, &mut trace, false).await;
        }
    }
    // Once the graces of the dropped clients have passed, the watcher and the API agree
    // with the model exactly.
    let expected = m.expected();
    for watcher in watchers {
        if let Err(e) = watcher.until(&expected).await {
            trace.fail(e);
        }
    }
    check_presence(&relay, &m, &mut trace, true).await;
    drop(m);
    relay.kill().await;
}

/// `GET /v1/presence` for every channel: one entry per user, a count that equals the
/// members, and the members the model allows (exactly them once `settled`).
async fn check_presence(relay: &TestRelay, m: &Model, trace: &mut Trace, settled: bool) {
    let query: Vec<String> = CHANNELS.iter().chain(EXTRA).map(|c| format!("channel={c}")).collect();
    let auth = format!("Bearer {API_KEY}");
    let (status, _, body) = common::call(
        &relay.state,
        "GET",
        &format!("/v1/presence?{}", query.join("&")),
        &[("authorization", &auth)],
        "",
    )
    .await;
    if status != 200 {
        trace.fail(format!("GET /v1/presence: {status} {body}"));
    }
    let v: Value = serde_json::from_str(&body).unwrap();
    for ch in CHANNELS.iter().chain(EXTRA) {
        let entry = &v[*ch];
        let ids: Vec<String> = entry["users"]
            .as_array()
            .map(|users| users.iter().map(|u| u["id"].as_str().unwrap().to_string()).collect())
            .unwrap_or_default();
        let unique: BTreeSet<String> = ids.iter().cloned().collect();
        if unique.len() != ids.len() {
            trace.fail(format!("{ch}: a user listed twice: {ids:?}"));
        }
        if !entry.is_null() && entry["count"].as_u64() != Some(ids.len() as u64) {
            trace.fail(format!(
                "{ch}: count {} for {} users: {entry}",
                entry["count"],
                ids.len()
            ));
        }
        if entry.is_null() != ids.is_empty() {
            trace.fail(format!("{ch}: an empty channel is null, a null one empty: {entry}"));
        }
        let live: BTreeSet<String> = m.live_users(ch).into_iter().map(str::to_string).collect();
        let maybe: BTreeSet<String> = m.maybe_users(ch).into_iter().map(str::to_string).collect();
        let fits = if settled {
            unique == live
        } else {
            live.is_subset(&unique) && unique.is_subset(&maybe)
        };
        if !fits {
            trace.fail(format!(
                "{ch}: the API lists {unique:?}; live clients hold {live:?}, dropped ones may still hold {maybe:?}"
            ));
        }
    }
}

/// One client subscribed to every channel, applying snapshots and diffs as the SDK does
/// and checking them as they come: consecutive `seq`, `count` equal to the members.
struct Watcher {
    view: tokio::sync::watch::Receiver<Result<BTreeMap<String, BTreeSet<String>>, String>>,
    task: tokio::task::JoinHandle<()>,
    channels: &'static [&'static str],
}

impl Watcher {
    async fn start(relay: &TestRelay, channels: &'static [&'static str], name: &str) -> Watcher {
        let mut c = relay.connect("watcher", name).await;
        for ch in channels {
            c.request(json!({"type": "subscribe", "ch": ch}))
                .await
                .expect("subscribed");
        }
        let (tx, view) = tokio::sync::watch::channel(Ok(BTreeMap::new()));
        let task = tokio::spawn(async move {
            let mut seqs: BTreeMap<String, u64> = BTreeMap::new();
            let mut members: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            loop {
                let text = match c.ws.next().await {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => continue,
                };
                let checked = match ServerMsg::decode(&text) {
                    // No `list_cap` here: every snapshot and diff carries the whole list.
                    Ok(ServerMsg::Snapshot {
                        ch, seq, count, users, ..
                    }) => {
                        let ids: Vec<String> = users.unwrap_or_default().into_iter().map(|u| u.id).collect();
                        let set: BTreeSet<String> = ids.iter().cloned().collect();
                        seqs.insert(ch.clone(), seq);
                        let ok = set.len() == ids.len() && count == set.len();
                        members.insert(ch.clone(), set);
                        if ok {
                            Ok(())
                        } else {
                            Err(format!("snapshot of {ch}: count {count}, users {ids:?}"))
                        }
                    }
                    Ok(ServerMsg::Diff {
                        ch,
                        seq,
                        count,
                        join,
                        leave,
                        update,
                        ..
                    }) => {
                        let prev = seqs.insert(ch.clone(), seq);
                        let set = members.entry(ch.clone()).or_default();
                        for id in &leave {
                            set.remove(id);
                        }
                        for m in join.iter().chain(&update) {
                            set.insert(m.id.clone());
                        }
                        if prev.is_some_and(|p| p + 1 != seq) {
                            Err(format!("diff of {ch}: seq {seq} after {prev:?}"))
                        } else if count != set.len() {
                            Err(format!("diff of {ch}: count {count}, members {set:?}"))
                        } else {
                            Ok(())
                        }
                    }
                    Ok(_) => Ok(()),
                    Err(e) => Err(format!("undecodable frame {text}: {e}")),
                };
                let state = checked.map(|()| members.clone());
                let failed = state.is_err();
                let _ = tx.send(state);
                if failed {
                    return;
                }
            }
        });
        Watcher { view, task, channels }
    }

    /// Wait until the watcher sees `expected` (empty channels left out or empty).
    async fn until(mut self, expected: &BTreeMap<String, BTreeSet<String>>) -> Result<(), String> {
        let same = |view: &Result<BTreeMap<String, BTreeSet<String>>, String>| match view {
            Err(_) => true,
            Ok(view) => expected
                .iter()
                .filter(|(ch, _)| self.channels.contains(&ch.as_str()))
                .all(|(ch, users)| view.get(ch).cloned().unwrap_or_default() == *users),
        };
        let waited = tokio::time::timeout(PATIENCE, self.view.wait_for(same))
            .await
            .ok()
            .and_then(Result::ok)
            .map(|view| view.clone());
        self.task.abort();
        match waited {
            Some(Ok(_)) => Ok(()),
            Some(Err(e)) => Err(format!("the watcher saw: {e}")),
            None => Err(format!(
                "the watcher's view {:?} did not come to {expected:?} within {PATIENCE:?}",
                *self.view.borrow()
            )),
        }
    }
}

#[tokio::test]
async fn random_frame_sequences_from_many_clients_keep_one_member_per_user_and_counts_true() {
    let first = seed();
    let runs = cases(6) as u64;
    let started = std::time::Instant::now();
    for run in 0..runs {
        play(first.wrapping_add(run)).await;
    }
    eprintln!(
        "{runs} sequences from seed {first} in {:?} (ROLLCALL_FUZZ_SEED={first} plays them again)",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------
// Pusher protocol 7: the same invariants with pusher-js's frames.

const PUSHER_CONFIG: &str = r#"
[presence]
checkin_interval_ms = 10000
lease_timeout_ms = 30000
unload_grace_ms = 100
reconnect_grace_ms = 200
flush_interval_ms = 5
[limits]
frames_per_second = 10000
frame_burst = 10000
max_meta_bytes = 200
max_frame_bytes = 1024
[[pusher_app]]
id = "4242"
key = "app-key"
secret = "app-secret-0123456789"
"#;
const APP_KEY: &str = "app-key";
const APP_SECRET: &str = "app-secret-0123456789";
/// Pusher rooms, and the rollcall channels the watcher follows for them.
const ROOMS: &[&str] = &["presence-room-a", "presence-room-b"];
const ROOM_CHANNELS: &[&str] = &["/pusher/room-a", "/pusher/room-b"];

/// One pusher-js connection as the model sees it.
struct PusherSocket {
    ws: Ws,
    name: String,
    socket_id: String,
    /// The user of its first accepted subscription: one user per socket.
    user: Option<String>,
    joined: BTreeSet<String>,
}

/// One Pusher event: (event, channel, data with a JSON-string `data` decoded).
type PusherEvent = (String, Option<String>, Value);

impl PusherSocket {
    async fn connect(relay: &TestRelay, name: String) -> Result<PusherSocket, String> {
        let url = format!("ws://{}/app/{APP_KEY}?protocol=7&client=js&version=8", relay.addr);
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let mut p = PusherSocket {
            ws,
            name,
            socket_id: String::new(),
            user: None,
            joined: BTreeSet::new(),
        };
        match p.next_event().await {
            Some((event, _, data)) if event == "pusher:connection_established" => {
                p.socket_id = data["socket_id"].as_str().unwrap_or_default().to_string();
                Ok(p)
            }
            other => Err(format!("{}: no connection_established: {other:?}", p.name)),
        }
    }

    async fn send(&mut self, text: String) {
        let _ = self.ws.send(Message::text(text)).await;
    }

    async fn next_event(&mut self) -> Option<PusherEvent> {
        loop {
            match tokio::time::timeout(PATIENCE, self.ws.next()).await {
                Err(_) => panic!("{}: no event within {PATIENCE:?}", self.name),
                Ok(Some(Ok(Message::Text(text)))) => {
                    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON {text}: {e}"));
                    let data = match &v["data"] {
                        Value::String(s) => serde_json::from_str(s).unwrap_or(Value::String(s.clone())),
                        other => other.clone(),
                    };
                    let event = v["event"]
                        .as_str()
                        .unwrap_or_else(|| panic!("no event: {text}"))
                        .to_string();
                    return Some((event, v["channel"].as_str().map(str::to_string), data));
                }
                Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => return None,
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// Ping and read until the pong: every earlier frame was handled by then. The
    /// `pusher:error`s on the way, as (code, channel); `None` if the socket closed.
    async fn sync(&mut self) -> Option<Vec<(u64, Option<String>)>> {
        self.send(json!({"event": "pusher:ping", "data": {}}).to_string()).await;
        let mut errors = Vec::new();
        loop {
            let (event, channel, data) = self.next_event().await?;
            match event.as_str() {
                "pusher:pong" => return Some(errors),
                "pusher:error" => errors.push((data["code"].as_u64().unwrap_or(0), channel)),
                _ => {}
            }
        }
    }

    async fn subscribe(&mut self, room: &str, channel_data: &str, auth: Option<String>) {
        let auth = auth.unwrap_or_else(|| {
            rollcall_relay::pusher::signature::channel_auth(
                APP_KEY,
                APP_SECRET,
                &self.socket_id,
                room,
                Some(channel_data),
            )
        });
        let frame =
            json!({"event": "pusher:subscribe", "data": {"channel": room, "auth": auth, "channel_data": channel_data}});
        self.send(frame.to_string()).await;
    }
}

struct PusherModel {
    live: Vec<PusherSocket>,
    dead: Vec<(String, BTreeSet<String>)>,
}

impl PusherModel {
    fn live_users(&self, room: &str) -> BTreeSet<String> {
        self.live
            .iter()
            .filter(|p| p.joined.contains(room))
            .filter_map(|p| p.user.clone())
            .collect()
    }

    fn maybe_users(&self, room: &str) -> BTreeSet<String> {
        let mut users = self.live_users(room);
        users.extend(
            self.dead
                .iter()
                .filter(|(_, j)| j.contains(room))
                .map(|(u, _)| u.clone()),
        );
        users
    }
}

/// A signed `channel_data` and what the relay must answer: `Ok(user)` or the error code.
fn channel_data(rng: &mut Rng) -> (String, Result<String, u64>) {
    let user = *rng.pick(USERS);
    match rng.below(9) {
        0 => (
            json!({"user_id": 7, "user_info": {"name": "seven"}}).to_string(),
            Ok("7".into()),
        ),
        1 => (json!({"user_id": ""}).to_string(), Err(4300)),
        2 => (json!({"user_id": "u".repeat(129)}).to_string(), Err(4301)),
        3 => (
            json!({"user_id": user, "user_info": {"bio": "b".repeat(300)}}).to_string(),
            Err(4301),
        ),
        4 => ("not json".to_string(), Err(4300)),
        5 => (json!({"user_id": true}).to_string(), Err(4300)),
        6 => (json!({"user_id": user, "user_info": []}).to_string(), Ok(user.into())),
        _ => (
            json!({"user_id": user, "user_info": {"name": user}}).to_string(),
            Ok(user.into()),
        ),
    }
}

async fn play_pusher(seed: u64) {
    let mut rng = Rng::new(seed);
    let mut trace = Trace {
        seed,
        steps: Vec::new(),
    };
    let relay = TestRelay::start(PUSHER_CONFIG).await;
    let watcher = Watcher::start(&relay, ROOM_CHANNELS, "watcher").await;
    let mut m = PusherModel {
        live: Vec::new(),
        dead: Vec::new(),
    };
    let mut made = 0;
    for step in 0..STEPS {
        if m.live.is_empty() || (m.live.len() < CLIENTS && rng.one_in(5)) {
            made += 1;
            let name = format!("p{made}");
            trace.note(format!("{step}: connect {name}"));
            match PusherSocket::connect(&relay, name).await {
                Ok(p) => m.live.push(p),
                Err(e) => trace.fail(e),
            }
            continue;
        }
        let i = rng.below(m.live.len());
        let who = m.live[i].name.clone();
        let room = *rng.pick(ROOMS);
        // What the relay must say about `room` before the pong: nothing, or this code.
        let mut want: Option<u64> = None;
        let mut joins: Option<String> = None;
        match rng.below(10) {
            0..=3 => {
                let (data, verdict) = channel_data(&mut rng);
                trace.note(format!("{step}: {who} subscribes {room} with {data:.60}"));
                m.live[i].subscribe(room, &data, None).await;
                match verdict {
                    Err(code) => want = Some(code),
                    Ok(user) => match &m.live[i].user {
                        Some(mine) if *mine != user => want = Some(4009),
                        _ => joins = Some(user),
                    },
                }
            }
            4 => {
                let (data, _) = channel_data(&mut rng);
                let forged = match rng.below(3) {
                    0 => format!("{APP_KEY}:{}", "0".repeat(64)),
                    1 => "no-colon".to_string(),
                    _ => rollcall_relay::pusher::signature::channel_auth(
                        APP_KEY,
                        "wrong-secret",
                        &m.live[i].socket_id,
                        room,
                        Some(&data),
                    ),
                };
                trace.note(format!(
                    "{step}: {who} subscribes {room} with a bad signature {forged:.30}"
                ));
                m.live[i].subscribe(room, &data, Some(forged)).await;
                want = Some(4009);
            }
            5 => {
                trace.note(format!("{step}: {who} unsubscribes {room}"));
                m.live[i]
                    .send(json!({"event": "pusher:unsubscribe", "data": {"channel": room}}).to_string())
                    .await;
                m.live[i].joined.remove(room);
            }
            6 => {
                let frames = [
                    "{".to_string(),
                    "[]".to_string(),
                    r#"{"data":{}}"#.to_string(),
                    r#"{"event":"pusher:subscribe","data":"{\"channel\":"}"#.to_string(),
                    r#"{"event":"pusher:subscribe","data":{"channel":"private-x","auth":"k:00"}}"#.to_string(),
                    r#"{"event":"pusher:subscribe","data":{"channel":"my-channel"}}"#.to_string(),
                    format!(r#"{{"event":"client-typing","channel":"{room}","data":{{}}}}"#),
                    r#"{"event":"pusher:signin","data":{"auth":"app-key:00","user_data":"{}"}}"#.to_string(),
                    format!("{{\"event\":\"x\",\"data\":{}}}", "[".repeat(300)),
                    r#"{"event":"pusher:subscribe","data":{"channel":"presence-a;b","auth":"x","channel_data":"{}"}}"#
                        .to_string(),
                ];
                let text = rng.pick(&frames).clone();
                trace.note(format!("{step}: {who} sends {text:.60}"));
                m.live[i].send(text.clone()).await;
                if text.contains("pusher:signin") {
                    // A wrong sign-in closes the socket with 4009.
                    let p = m.live.swap_remove(i);
                    let mut p = p;
                    let closed = loop {
                        match p.next_event().await {
                            None => break true,
                            Some(_) => continue,
                        }
                    };
                    if !closed {
                        trace.fail("a forged sign-in did not close the socket".into());
                    }
                    m.dead.push((p.user.clone().unwrap_or_default(), p.joined));
                    continue;
                }
            }
            7 => {
                let size = MAX_FRAME_BYTES + 1 + rng.below(MAX_FRAME_BYTES);
                trace.note(format!("{step}: {who} sends an event of {size} bytes"));
                let text = json!({"event": "pusher:ping", "data": {"pad": "p".repeat(size)}}).to_string();
                m.live[i].send(text).await;
            }
            8 => {
                let polite = rng.one_in(2);
                trace.note(format!(
                    "{step}: {who} {}",
                    if polite { "disconnects" } else { "drops" }
                ));
                let mut p = m.live.swap_remove(i);
                if polite {
                    let _ =
                        p.ws.close(Some(CloseFrame {
                            code: CloseCode::Normal,
                            reason: "".into(),
                        }))
                        .await;
                }
                m.dead.push((p.user.clone().unwrap_or_default(), p.joined));
                continue;
            }
            _ => {
                trace.note(format!("{step}: {who} pings"));
            }
        }
        let Some(errors) = m.live[i].sync().await else {
            trace.fail(format!("{who}: closed after step {step}"));
        };
        let about_room: Vec<u64> = errors
            .iter()
            .filter(|(_, ch)| ch.as_deref() == Some(room))
            .map(|(c, _)| *c)
            .collect();
        if let Some(code) = want {
            if about_room != [code] {
                trace.fail(format!("{room}: errors {errors:?}, want one {code}"));
            }
        } else if let Some(user) = joins {
            if !about_room.is_empty() {
                trace.fail(format!("{room}: a signed subscription as {user} refused: {errors:?}"));
            }
            let p = &mut m.live[i];
            p.user = Some(user);
            p.joined.insert(room.to_string());
        }
        if step % 10 == 9 {
            check_rooms(&relay, &m, &mut trace, false).await;
        }
    }
    let expected: BTreeMap<String, BTreeSet<String>> = ROOMS
        .iter()
        .zip(ROOM_CHANNELS)
        .map(|(room, ch)| (ch.to_string(), m.live_users(room)))
        .collect();
    if let Err(e) = watcher.until(&expected).await {
        trace.fail(e);
    }
    check_rooms(&relay, &m, &mut trace, true).await;
    drop(m);
    relay.kill().await;
}

/// Pusher's own API and rollcall's agree with the model: one entry per user, counts
/// equal to the members.
async fn check_rooms(relay: &TestRelay, m: &PusherModel, trace: &mut Trace, settled: bool) {
    let auth = format!("Bearer {API_KEY}");
    for (room, ch) in ROOMS.iter().zip(ROOM_CHANNELS) {
        let (status, _, body) = common::call(
            &relay.state,
            "GET",
            &format!("/v1/presence?channel={ch}"),
            &[("authorization", &auth)],
            "",
        )
        .await;
        if status != 200 {
            trace.fail(format!("GET /v1/presence: {status} {body}"));
        }
        let v: Value = serde_json::from_str(&body).unwrap();
        let entry = &v[*ch];
        let ids: Vec<String> = entry["users"]
            .as_array()
            .map(|users| users.iter().map(|u| u["id"].as_str().unwrap().to_string()).collect())
            .unwrap_or_default();
        let unique: BTreeSet<String> = ids.iter().cloned().collect();
        if unique.len() != ids.len() || (!entry.is_null() && entry["count"].as_u64() != Some(ids.len() as u64)) {
            trace.fail(format!("{room}: {entry}"));
        }
        let (live, maybe) = (m.live_users(room), m.maybe_users(room));
        let fits = if settled {
            unique == live
        } else {
            live.is_subset(&unique) && unique.is_subset(&maybe)
        };
        if !fits {
            trace.fail(format!(
                "{room}: the API lists {unique:?}; live sockets hold {live:?}, dropped ones may hold {maybe:?}"
            ));
        }
    }
}

#[tokio::test]
async fn random_pusher_event_sequences_keep_one_member_per_user_and_counts_true() {
    let first = seed();
    let runs = cases(6) as u64;
    let started = std::time::Instant::now();
    for run in 0..runs {
        play_pusher(first.wrapping_add(run)).await;
    }
    eprintln!(
        "{runs} Pusher sequences from seed {first} in {:?} (ROLLCALL_FUZZ_SEED={first} plays them again)",
        started.elapsed()
    );
}
