//! The wire's JSON and the bus's messages, through the browser's own JSON and plain JS
//! objects rather than serde.
//!
//! Why: serde's derived decoders for the protocol's tagged enums, with their error
//! messages, weighed more in the wasm than the rest of the SDK together, and the page
//! already has a JSON parser. Relay frames are parsed with `JSON.parse` and read field by
//! field here; outgoing frames are built as objects and sent as `JSON.stringify` text;
//! bus messages go as objects (BroadcastChannel clones them). The shapes are those of
//! `rollcall_core::protocol`; the wasm tests round-trip them against its serde encoding.

use crate::js::{get, set};
use js_sys::{Array, Object, JSON};
use rollcall_core::client::Page;
use rollcall_core::protocol::{
    meta_from_text, meta_text, ClientMsg, ErrorCode, Identity, Member, Meta, ServerMsg, Status, Terms,
};
use rollcall_core::tabs::{BusMsg, ErrorBody, Intent, TabWants};
use wasm_bindgen::JsValue;

// ----- small readers and writers -----

/// `o[key] = value`, the value given up: it is dropped here, once, rather than at each
/// of the many places that build an object (each drop is a call in the wasm).
fn put(o: &JsValue, key: &str, value: JsValue) {
    set(o, key, &value);
}

fn text(o: &JsValue, key: &str) -> Option<String> {
    get(o, key).as_string()
}

fn int(o: &JsValue, key: &str) -> Option<u64> {
    get(o, key)
        .as_f64()
        .filter(|n| n.is_finite() && *n >= 0.0)
        .map(|n| n as u64)
}

fn obj(kind: &str) -> Object {
    let o = Object::new();
    put(&o, "type", kind.into());
    o
}

fn opt_str(o: &Object, key: &str, value: Option<&str>) {
    if let Some(v) = value {
        set(o, key, &v.into());
    }
}

fn num(n: u64) -> JsValue {
    JsValue::from_f64(n as f64)
}

fn strings(values: impl IntoIterator<Item = impl AsRef<str>>) -> JsValue {
    values
        .into_iter()
        .map(|s| JsValue::from_str(s.as_ref()))
        .collect::<Array>()
        .into()
}

fn array(v: &JsValue) -> Option<Array> {
    Array::is_array(v).then(|| Array::from(v))
}

/// Required fields. Each read gives the field, or an empty value and marks the whole
/// message bad; the message is judged once, when built (`done`). Returning at the
/// first missing field instead (`?`) makes the compiler write, at every field, the code
/// that drops the fields read before it: kilobytes of the wasm for the decoders here.
#[derive(Default)]
struct Need {
    missing: bool,
}

impl Need {
    fn text(&mut self, o: &JsValue, key: &str) -> String {
        text(o, key).unwrap_or_else(|| self.miss())
    }

    fn int(&mut self, o: &JsValue, key: &str) -> u64 {
        int(o, key).unwrap_or_else(|| self.miss())
    }

    fn miss<T: Default>(&mut self) -> T {
        self.missing = true;
        T::default()
    }

    fn done<T>(self, value: T) -> Option<T> {
        (!self.missing).then_some(value)
    }
}

/// The strings of an array (anything else: none).
pub fn strings_from_js(v: &JsValue) -> Vec<String> {
    array(v)
        .map(|a| a.iter().filter_map(|s| s.as_string()).collect())
        .unwrap_or_default()
}

fn opt_num(o: &Object, key: &str, value: Option<usize>) {
    if let Some(n) = value {
        set(o, key, &num(n as u64));
    }
}

fn nullable(value: Option<&str>) -> JsValue {
    value.map_or(JsValue::NULL, JsValue::from_str)
}

trait AsObject {
    fn unchecked_ref_object(&self) -> &Object;
}

impl AsObject for JsValue {
    fn unchecked_ref_object(&self) -> &Object {
        wasm_bindgen::JsCast::unchecked_ref(self)
    }
}

// ----- meta -----

/// A plain object (`{...}`) as meta, through `JSON.stringify` (so as JSON sees it:
/// `undefined` members and functions dropped); anything else is `None`.
pub fn meta_from_js(v: &JsValue) -> Option<Meta> {
    if !v.is_object() || array(v).is_some() {
        return None;
    }
    meta_from_text(&JSON::stringify(v).ok()?.as_string()?)
}

pub fn meta_to_js(meta: &Meta) -> JsValue {
    parse(&meta_text(meta)).unwrap_or_else(|| Object::new().into())
}

/// Parse JSON text with the browser's parser.
pub fn parse(text: &str) -> Option<JsValue> {
    JSON::parse(text).ok()
}

pub fn stringify(v: &JsValue) -> String {
    JSON::stringify(v).ok().and_then(|s| s.as_string()).unwrap_or_default()
}

// ----- protocol pieces -----

pub fn status_from(s: &str) -> Option<Status> {
    [Status::Active, Status::Idle, Status::Hidden]
        .into_iter()
        .find(|st| st.as_str() == s)
}

pub fn member_from_js(v: &JsValue) -> Option<Member> {
    Some(Member {
        id: text(v, "id")?,
        name: text(v, "name"),
        avatar: text(v, "avatar"),
        status: text(v, "status").and_then(|s| status_from(&s)).unwrap_or_default(),
        meta: meta_from_js(&get(v, "meta")).unwrap_or_default(),
    })
}

/// A user as the page sees it: every field present (`null` when unknown).
pub fn member_to_js(m: &Member) -> JsValue {
    let o = Object::new();
    put(&o, "id", m.id.as_str().into());
    put(&o, "name", nullable(m.name.as_deref()));
    put(&o, "avatar", nullable(m.avatar.as_deref()));
    put(&o, "status", m.status.as_str().into());
    put(&o, "meta", meta_to_js(&m.meta));
    o.into()
}

/// The users of an array (those that are not one dropped); anything else: none.
pub fn members_from_js(v: &JsValue) -> Option<Vec<Member>> {
    array(v).map(|items| items.iter().filter_map(|m| member_from_js(&m)).collect())
}

fn members_to_js<'a>(members: impl IntoIterator<Item = &'a Member>) -> JsValue {
    members.into_iter().map(member_to_js).collect::<Array>().into()
}

/// `{channel, count, users, capped}` for `subscribe` callbacks.
pub fn state_to_js<'a>(
    ch: &str,
    count: usize,
    users: impl IntoIterator<Item = &'a Member>,
    cap: Option<usize>,
    live: bool,
) -> JsValue {
    let o = Object::new();
    put(&o, "channel", ch.into());
    put(&o, "count", num(count as u64));
    put(&o, "users", members_to_js(users));
    put(&o, "capped", cap_to_js(cap));
    put(&o, "live", live.into());
    o.into()
}

/// A capped list's cap, or `null`.
pub fn cap_to_js(cap: Option<usize>) -> JsValue {
    cap.map_or(JsValue::NULL, |c| num(c as u64))
}

/// `{users, next, count}`: what `channel.members()` resolves with.
pub fn page_to_js(page: &Page) -> JsValue {
    let o = Object::new();
    put(&o, "users", members_to_js(&page.users));
    put(&o, "next", nullable(page.next.as_deref()));
    put(&o, "count", num(page.count as u64));
    o.into()
}

fn page_from_js(v: &JsValue) -> Option<Page> {
    Some(Page {
        count: int(v, "count")? as usize,
        users: members_from_js(&get(v, "users"))?,
        next: text(v, "next"),
    })
}

pub fn users_to_js<'a>(users: impl IntoIterator<Item = &'a Member>) -> JsValue {
    members_to_js(users)
}

/// One relay frame, already parsed by `JSON.parse`. `None`: not a frame this version
/// reads (ignored, as a newer relay's additions should be).
pub fn server_msg_from_js(v: &JsValue) -> Option<ServerMsg> {
    let mut n = Need::default();
    let msg = match text(v, "type")?.as_str() {
        "welcome" => {
            let user = get(v, "user");
            let terms = get(v, "terms");
            ServerMsg::Welcome {
                v: n.int(v, "v") as u32,
                session: n.text(v, "session"),
                resumed: get(v, "resumed").as_bool().unwrap_or(false),
                user: Identity {
                    id: n.text(&user, "id"),
                    name: text(&user, "name"),
                    avatar: text(&user, "avatar"),
                },
                terms: Terms {
                    checkin_interval_ms: n.int(&terms, "checkin_interval_ms"),
                    lease_timeout_ms: n.int(&terms, "lease_timeout_ms"),
                    unload_grace_ms: n.int(&terms, "unload_grace_ms"),
                    reconnect_grace_ms: n.int(&terms, "reconnect_grace_ms"),
                    max_meta_bytes: n.int(&terms, "max_meta_bytes") as usize,
                    max_channels: n.int(&terms, "max_channels") as usize,
                    checkin_answer_ms: int(&terms, "checkin_answer_ms"),
                },
            }
        }
        "ok" => ServerMsg::Ok {
            reference: n.int(v, "ref"),
        },
        "error" => {
            // A code from a newer relay still fails the request, as "unavailable".
            let code = text(v, "code")
                .and_then(|c| ErrorCode::parse(&c))
                .unwrap_or(ErrorCode::Unavailable);
            ServerMsg::Error {
                reference: int(v, "ref"),
                code,
                message: text(v, "message").unwrap_or_default(),
                ch: text(v, "ch"),
                retry_after_ms: int(v, "retry_after_ms"),
            }
        }
        "snapshot" => ServerMsg::Snapshot {
            ch: n.text(v, "ch"),
            seq: n.int(v, "seq"),
            count: n.int(v, "count") as usize,
            users: members_from_js(&get(v, "users")),
            cap: int(v, "cap").map(|c| c as usize),
        },
        "diff" => ServerMsg::Diff {
            ch: n.text(v, "ch"),
            seq: n.int(v, "seq"),
            count: n.int(v, "count") as usize,
            join: members_from_js(&get(v, "join")).unwrap_or_default(),
            leave: strings_from_js(&get(v, "leave")),
            update: members_from_js(&get(v, "update")).unwrap_or_default(),
        },
        "focus" => ServerMsg::Focus {
            ch: n.text(v, "ch"),
            join: members_from_js(&get(v, "join")).unwrap_or_default(),
            leave: strings_from_js(&get(v, "leave")),
            update: members_from_js(&get(v, "update")).unwrap_or_default(),
        },
        "members" => ServerMsg::Members {
            ch: n.text(v, "ch"),
            reference: int(v, "ref"),
            count: n.int(v, "count") as usize,
            users: members_from_js(&get(v, "users")).unwrap_or_default(),
            next: text(v, "next"),
        },
        _ => return None,
    };
    n.done(msg)
}

/// A snapshot, diff or focus as an object of the wire's shape (to pass to other tabs).
pub fn channel_frame_to_js(msg: &ServerMsg) -> JsValue {
    match msg {
        ServerMsg::Snapshot {
            ch,
            seq,
            count,
            users,
            cap,
        } => {
            let o = obj("snapshot");
            put(&o, "ch", ch.as_str().into());
            put(&o, "seq", num(*seq));
            put(&o, "count", num(*count as u64));
            if let Some(users) = users {
                put(&o, "users", members_to_js(users));
            }
            opt_num(&o, "cap", *cap);
            o.into()
        }
        ServerMsg::Diff {
            ch,
            seq,
            count,
            join,
            leave,
            update,
        } => {
            let o = obj("diff");
            put(&o, "seq", num(*seq));
            put(&o, "count", num(*count as u64));
            changes_to_js(o, ch, join, leave, update)
        }
        ServerMsg::Focus {
            ch,
            join,
            leave,
            update,
        } => changes_to_js(obj("focus"), ch, join, leave, update),
        _ => JsValue::NULL,
    }
}

fn changes_to_js(o: Object, ch: &str, join: &[Member], leave: &[String], update: &[Member]) -> JsValue {
    put(&o, "ch", ch.into());
    put(&o, "join", members_to_js(join));
    put(&o, "leave", strings(leave));
    put(&o, "update", members_to_js(update));
    o.into()
}

/// A frame for the relay, as JSON text.
pub fn client_msg_text(msg: &ClientMsg) -> String {
    let o = match msg {
        ClientMsg::Hello {
            v,
            token,
            client,
            resume,
        } => {
            let o = obj("hello");
            put(&o, "v", v.iter().map(|n| num(*n as u64)).collect::<Array>().into());
            put(&o, "token", token.as_str().into());
            put(&o, "client", client.as_str().into());
            if *resume {
                put(&o, "resume", true.into());
            }
            o
        }
        ClientMsg::Enter {
            ch,
            meta,
            status,
            reference,
        }
        | ClientMsg::Update {
            ch,
            meta,
            status,
            reference,
        } => {
            let o = obj(if matches!(msg, ClientMsg::Enter { .. }) {
                "enter"
            } else {
                "update"
            });
            put(&o, "ch", ch.as_str().into());
            if let Some(meta) = meta {
                put(&o, "meta", meta_to_js(meta));
            }
            opt_str(&o, "status", status.map(Status::as_str));
            if let Some(r) = reference {
                put(&o, "ref", num(*r));
            }
            o
        }
        ClientMsg::Leave { ch, reference }
        | ClientMsg::Subscribe { ch, reference, .. }
        | ClientMsg::Unsubscribe { ch, reference } => {
            // The 1.1 field goes only where there are friends: a 1.0 relay reads the rest.
            let kind = match msg {
                ClientMsg::Leave { .. } => "leave",
                ClientMsg::Subscribe { .. } => "subscribe",
                _ => "unsubscribe",
            };
            let o = obj(kind);
            put(&o, "ch", ch.as_str().into());
            if let ClientMsg::Subscribe { friends, .. } = msg {
                if !friends.is_empty() {
                    put(&o, "friends", strings(friends));
                }
            }
            if let Some(r) = reference {
                put(&o, "ref", num(*r));
            }
            o
        }
        ClientMsg::Checkin { status, reference } => {
            let o = obj("checkin");
            put(&o, "status", status.as_str().into());
            if let Some(r) = reference {
                put(&o, "ref", num(*r));
            }
            o
        }
        ClientMsg::Token { token, reference } => {
            let o = obj("token");
            put(&o, "token", token.as_str().into());
            if let Some(r) = reference {
                put(&o, "ref", num(*r));
            }
            o
        }
        ClientMsg::Members {
            ch,
            after,
            limit,
            reference,
        } => {
            let o = obj("members");
            put(&o, "ch", ch.as_str().into());
            opt_str(&o, "after", after.as_deref());
            opt_num(&o, "limit", *limit);
            if let Some(r) = reference {
                put(&o, "ref", num(*r));
            }
            o
        }
    };
    stringify(&o)
}

// ----- the bus -----

fn intent_to_js(intent: &Intent) -> JsValue {
    let o = Object::new();
    let (op, ch, meta) = match intent {
        Intent::Enter { ch, meta } => ("enter", Some(ch), Some(meta)),
        Intent::Update { ch, meta } => ("update", Some(ch), Some(meta)),
        Intent::Leave { ch } => ("leave", Some(ch), None),
        Intent::Subscribe { ch, friends } => {
            put(&o, "friends", strings(friends));
            ("subscribe", Some(ch), None)
        }
        Intent::Unsubscribe { ch } => ("unsubscribe", Some(ch), None),
        Intent::Status { status } => {
            put(&o, "status", status.as_str().into());
            ("status", None, None)
        }
    };
    put(&o, "op", op.into());
    opt_str(&o, "ch", ch.map(String::as_str));
    if let Some(meta) = meta {
        put(&o, "meta", meta_to_js(meta));
    }
    o.into()
}

fn intent_from_js(v: &JsValue, n: &mut Need) -> Intent {
    let meta = || meta_from_js(&get(v, "meta")).unwrap_or_default();
    let op = text(v, "op").unwrap_or_default();
    match op.as_str() {
        "enter" => Intent::Enter {
            ch: n.text(v, "ch"),
            meta: meta(),
        },
        "update" => Intent::Update {
            ch: n.text(v, "ch"),
            meta: meta(),
        },
        "leave" => Intent::Leave { ch: n.text(v, "ch") },
        "subscribe" => Intent::Subscribe {
            ch: n.text(v, "ch"),
            friends: strings_from_js(&get(v, "friends")),
        },
        "unsubscribe" => Intent::Unsubscribe { ch: n.text(v, "ch") },
        _ => Intent::Status {
            status: text(v, "status")
                .filter(|_| op == "status")
                .and_then(|s| status_from(&s))
                .unwrap_or_else(|| n.miss()),
        },
    }
}

fn wants_to_js(w: &TabWants) -> JsValue {
    let o = Object::new();
    let entered = Object::new();
    for (ch, meta) in w.all_entered() {
        put(&entered, ch, meta_to_js(meta));
    }
    put(&o, "entered", entered.into());
    put(&o, "subscribed", strings(w.all_subscribed().map(|(ch, _)| ch)));
    let friends = Object::new();
    for (ch, list) in w.all_subscribed() {
        if !list.is_empty() {
            put(&friends, ch, strings(list));
        }
    }
    put(&o, "friends", friends.into());
    put(&o, "status", w.status.as_str().into());
    o.into()
}

fn wants_from_js(v: &JsValue) -> TabWants {
    let mut w = TabWants::default();
    let entered = get(v, "entered");
    if entered.is_object() {
        for key in Object::keys(entered.unchecked_ref_object()).iter() {
            let Some(ch) = key.as_string() else { continue };
            w.channels.or_default(ch.as_str()).meta = Some(meta_from_js(&get(&entered, &ch)).unwrap_or_default());
        }
    }
    let friends = get(v, "friends");
    for ch in strings_from_js(&get(v, "subscribed")) {
        let list = if friends.is_object() {
            strings_from_js(&get(&friends, &ch))
        } else {
            Vec::new()
        };
        w.channels.or_default(ch.as_str()).friends = Some(list);
    }
    w.status = text(v, "status").and_then(|s| status_from(&s)).unwrap_or_default();
    w
}

/// `{code, message}`.
pub fn error_to_js(e: &ErrorBody) -> JsValue {
    let o = Object::new();
    put(&o, "code", e.code.as_str().into());
    put(&o, "message", e.message.as_str().into());
    o.into()
}

fn error_from_js(v: &JsValue) -> Option<ErrorBody> {
    Some(ErrorBody {
        code: text(v, "code")?,
        message: text(v, "message").unwrap_or_default(),
    })
}

fn need_error(v: &JsValue, n: &mut Need) -> ErrorBody {
    error_from_js(v).unwrap_or_else(|| n.miss())
}

pub fn bus_to_js(msg: &BusMsg) -> JsValue {
    let o = Object::new();
    let kind = match msg {
        BusMsg::Intent { tab, req, intent } => {
            put(&o, "tab", tab.as_str().into());
            put(&o, "req", num(*req));
            put(&o, "intent", intent_to_js(intent));
            "intent"
        }
        BusMsg::Reply { tab, req, error, page } => {
            put(&o, "tab", tab.as_str().into());
            put(&o, "req", num(*req));
            if let Some(e) = error {
                put(&o, "error", error_to_js(e));
            }
            if let Some(p) = page {
                put(&o, "page", page_to_js(p));
            }
            "reply"
        }
        BusMsg::Members {
            tab,
            req,
            ch,
            after,
            limit,
        } => {
            put(&o, "tab", tab.as_str().into());
            put(&o, "req", num(*req));
            put(&o, "ch", ch.as_str().into());
            opt_str(&o, "after", after.as_deref());
            opt_num(&o, "limit", *limit);
            "members"
        }
        BusMsg::Frame { frame } => {
            put(&o, "frame", channel_frame_to_js(frame));
            "frame"
        }
        BusMsg::Ping { leader, connected } => {
            put(&o, "leader", leader.as_str().into());
            put(&o, "connected", JsValue::from_bool(*connected));
            "ping"
        }
        BusMsg::Who { tab, leader, connected } => {
            put(&o, "tab", tab.as_str().into());
            put(&o, "leader", leader.as_str().into());
            put(&o, "connected", JsValue::from_bool(*connected));
            "who"
        }
        BusMsg::Sync { tab, wants } => {
            put(&o, "tab", tab.as_str().into());
            put(&o, "wants", wants_to_js(wants));
            "sync"
        }
        BusMsg::Resync { tab, ch } => {
            put(&o, "tab", tab.as_str().into());
            put(&o, "ch", ch.as_str().into());
            "resync"
        }
        BusMsg::Status { status, retry_in } => {
            put(&o, "status", status.as_str().into());
            if let Some(ms) = retry_in {
                put(&o, "retryIn", num(*ms));
            }
            "status"
        }
        BusMsg::Stopped { error } => {
            put(&o, "error", error_to_js(error));
            "stopped"
        }
        BusMsg::Error { ch, error } => {
            if let Some(ch) = ch {
                put(&o, "ch", ch.as_str().into());
            }
            put(&o, "error", error_to_js(error));
            "error"
        }
        BusMsg::Bye { tab, unloading } => {
            put(&o, "tab", tab.as_str().into());
            put(&o, "unloading", JsValue::from_bool(*unloading));
            "bye"
        }
        BusMsg::Pong { tab } | BusMsg::Heartbeat { tab } | BusMsg::Announce { tab } | BusMsg::Resign { tab } => {
            put(&o, "tab", tab.as_str().into());
            match msg {
                BusMsg::Pong { .. } => "pong",
                BusMsg::Heartbeat { .. } => "heartbeat",
                BusMsg::Announce { .. } => "announce",
                _ => "resign",
            }
        }
    };
    put(&o, "t", kind.into());
    o.into()
}

pub fn bus_from_js(v: &JsValue) -> Option<BusMsg> {
    let mut n = Need::default();
    let n = &mut n;
    let msg = match text(v, "t")?.as_str() {
        "intent" => BusMsg::Intent {
            tab: n.text(v, "tab"),
            req: n.int(v, "req"),
            intent: intent_from_js(&get(v, "intent"), n),
        },
        "reply" => BusMsg::Reply {
            tab: n.text(v, "tab"),
            req: n.int(v, "req"),
            error: error_from_js(&get(v, "error")),
            page: page_from_js(&get(v, "page")),
        },
        "members" => BusMsg::Members {
            tab: n.text(v, "tab"),
            req: n.int(v, "req"),
            ch: n.text(v, "ch"),
            after: text(v, "after"),
            limit: int(v, "limit").map(|n| n as usize),
        },
        "frame" => BusMsg::Frame {
            frame: server_msg_from_js(&get(v, "frame"))?,
        },
        "ping" => BusMsg::Ping {
            leader: n.text(v, "leader"),
            connected: get(v, "connected").as_bool().unwrap_or(false),
        },
        "who" => BusMsg::Who {
            tab: n.text(v, "tab"),
            leader: n.text(v, "leader"),
            connected: get(v, "connected").as_bool().unwrap_or(false),
        },
        "pong" => BusMsg::Pong { tab: n.text(v, "tab") },
        "heartbeat" => BusMsg::Heartbeat { tab: n.text(v, "tab") },
        "sync" => BusMsg::Sync {
            tab: n.text(v, "tab"),
            wants: wants_from_js(&get(v, "wants")),
        },
        "bye" => BusMsg::Bye {
            tab: n.text(v, "tab"),
            unloading: get(v, "unloading").as_bool().unwrap_or(false),
        },
        "resync" => BusMsg::Resync {
            tab: n.text(v, "tab"),
            ch: n.text(v, "ch"),
        },
        "status" => BusMsg::Status {
            status: n.text(v, "status"),
            retry_in: int(v, "retryIn"),
        },
        "stopped" => BusMsg::Stopped {
            error: need_error(&get(v, "error"), n),
        },
        "error" => BusMsg::Error {
            ch: text(v, "ch"),
            error: need_error(&get(v, "error"), n),
        },
        "announce" => BusMsg::Announce { tab: n.text(v, "tab") },
        "resign" => BusMsg::Resign { tab: n.text(v, "tab") },
        _ => return None,
    };
    let missing = n.missing;
    (!missing).then_some(msg)
}
