//! rollcall-sdk: the rules of one tab (rollcall-core's [`Tab`]) and their codec, behind
//! one object for the package's JS entry, [`Core`].
//!
//! - [`Core`]: every input is a method (a bus message, a relay frame's text, the socket
//!   opened or closed, the timer, a page event, a request), and [`Core::poll`] gives the
//!   next thing to do as a plain object `{ t, ... }`. Core never reads the clock nor
//!   calls the page: every method takes `now` (`performance.now()`) and, where the rules
//!   draw lots, a `jitter` in [0, 1).
//! - [`codec`]: frames and bus messages through the browser's JSON, not serde.
//! - [`error`]: JS `Error`s with a `code`. [`js`]: reading and setting properties.
//!
//! The shell (the WebSocket, BroadcastChannel, the Web Lock, the one timer, the page's
//! listeners, promises and events) and the public API (`connect`, `Presence`, `Channel`)
//! are the package's entry, `js/rollcall.js`; its types are in `js/rollcall.d.ts`. They
//! are JS because they are about the page, not presence rules, and as JS they weigh a
//! quarter of what their wasm did (docs/sdk.md).

pub mod codec;
pub mod error;
pub mod js;

#[cfg(target_arch = "wasm32")]
#[global_allocator]
// SAFETY: the SDK runs on the page's one thread; wasm-bindgen is built without threads.
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

use error::js_error;
use js::{get, set};
use js_sys::{Array, Object};
use rollcall_core::smallmap::SmallMap;
use rollcall_core::tabs::{Ask, ErrorBody, Intent, Output, Tab, TabSetup};
use rollcall_core::time::Instant;
use rollcall_core::timing::DEFAULT_IDLE_AFTER_MS;
use rollcall_core::view::{Change, ChannelView};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// A time on the page's monotonic clock (`performance.now()`), in whole milliseconds.
fn at(ms: f64) -> Instant {
    Instant(ms.max(0.0) as u64)
}

/// The page's Error for a rule's refusal.
pub fn err(e: &ErrorBody) -> JsValue {
    js_error(&e.code, &e.message)
}

/// `{ t: kind }`, the start of every output.
fn out(kind: &str) -> Object {
    let o = Object::new();
    set(&o, "t", &kind.into());
    o
}

/// `o[key] = value`, the value given up (one drop here, not one per caller).
fn put(o: &Object, key: &str, value: JsValue) {
    set(o, key, &value);
}

/// One tab's rules. The entry makes one per `connect()` and keeps it for the page's life.
#[wasm_bindgen]
pub struct Core {
    tab: Tab,
}

#[wasm_bindgen]
impl Core {
    /// `idle_after_ms`: undefined for the default. `initial`: `connect()`'s option, as
    /// the entry checked it (channel names to `{ count, users }`).
    #[wasm_bindgen(constructor)]
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        now: f64,
        tab: String,
        client_id: String,
        refreshable: bool,
        idle_after_ms: Option<f64>,
        initial: JsValue,
        hidden: bool,
        online: bool,
    ) -> Core {
        let mut views = SmallMap::default();
        if initial.is_object() {
            for key in Object::keys(initial.unchecked_ref::<Object>()).iter() {
                let Some(ch) = key.as_string() else { continue };
                let state = get(&initial, &ch);
                let count = get(&state, "count").as_f64().unwrap_or(0.0) as usize;
                let users = get(&state, "users");
                let users = Array::is_array(&users).then(|| {
                    Array::from(&users)
                        .iter()
                        .filter_map(|u| codec::member_from_js(&u))
                        .collect()
                });
                views.insert(ch, ChannelView::with_initial(count, users));
            }
        }
        let setup = TabSetup {
            tab,
            client_id,
            refreshable_token: refreshable,
            idle_after_ms: idle_after_ms.map_or(DEFAULT_IDLE_AFTER_MS, |ms| ms as u64),
            initial: views,
            hidden,
            online,
        };
        Core {
            tab: Tab::new(at(now), setup),
        }
    }

    /// A message from another tab (BroadcastChannel's `data`); unreadable ones are dropped.
    pub fn bus(&mut self, now: f64, data: JsValue, jitter: f64) {
        if let Some(msg) = codec::bus_from_js(&data) {
            self.tab.handle_bus(at(now), msg, jitter);
        }
    }

    /// A text frame from the relay; unreadable ones are dropped.
    pub fn frame(&mut self, now: f64, text: &str) {
        if let Some(msg) = codec::parse(text).and_then(|v| codec::server_msg_from_js(&v)) {
            self.tab.socket_frame(at(now), msg);
        }
    }

    /// The leader's socket is open; `token` is the one to say hello with.
    pub fn opened(&mut self, now: f64, token: String) {
        self.tab.socket_opened(at(now), token)
    }

    /// The leader's socket closed (or could not open: 1006).
    pub fn closed(&mut self, now: f64, code: u16, jitter: f64) {
        self.tab.socket_closed(at(now), code, jitter)
    }

    /// A fresh token from the page's token function.
    pub fn token(&mut self, now: f64, token: String) {
        self.tab.token_refreshed(at(now), token)
    }

    /// This tab holds the Web Lock: it leads.
    pub fn lead(&mut self, now: f64) {
        self.tab.become_leader(at(now))
    }

    /// No Web Locks: elect a leader over the bus.
    pub fn elect(&mut self, now: f64, jitter: f64) {
        self.tab.start_election(at(now), jitter)
    }

    /// The deadline of [`Core::deadline`] has come.
    pub fn timeout(&mut self, now: f64, jitter: f64) {
        self.tab.handle_timeout(at(now), jitter)
    }

    pub fn online(&mut self, now: f64, online: bool) {
        self.tab.set_online(at(now), online)
    }

    /// Someone used the page (pointer, keys, scroll, focus).
    pub fn input(&mut self, now: f64) {
        self.tab.input(at(now))
    }

    pub fn visibility(&mut self, now: f64, hidden: bool) {
        self.tab.visibility(at(now), hidden)
    }

    /// The page came back from the back/forward cache: true if it must elect again.
    pub fn revive(&mut self, now: f64) -> bool {
        self.tab.revive(at(now))
    }

    pub fn pagehide(&mut self, now: f64) {
        self.tab.page_hidden(at(now))
    }

    /// `presence.close()`.
    pub fn close(&mut self, now: f64) {
        self.tab.close(at(now))
    }

    /// After every input, once: what the tab does whatever the input was.
    pub fn after(&mut self, now: f64) {
        self.tab.after_input(at(now))
    }

    /// When to call [`Core::timeout`] (`performance.now()` milliseconds), or -1: never.
    pub fn deadline(&self) -> f64 {
        self.tab.poll_timeout().map_or(-1.0, |t| t.0 as f64)
    }

    /// `enter` (`op` 0), `update` (1) or `leave` (2) of channel `ch`: the request's
    /// number, answered later by a `resolve` or `reject` output; throws the error of a
    /// request refused at once (bad meta, closed).
    pub fn want(&mut self, now: f64, op: u8, ch: String, meta: JsValue) -> Result<f64, JsValue> {
        let intent = if op == 2 {
            Intent::Leave { ch }
        } else {
            let meta = if meta.is_undefined() || meta.is_null() {
                Default::default()
            } else {
                codec::meta_from_js(&meta)
                    .ok_or_else(|| js_error("bad_meta", "meta must be a plain object, e.g. { typing: true }."))?
            };
            if op == 0 {
                Intent::Enter { ch, meta }
            } else {
                Intent::Update { ch, meta }
            }
        };
        self.ask(now, Ask::Want(intent))
    }

    /// A page of `ch`'s members: `options` is `channel.members()`'s `{ after, limit }`.
    pub fn page(&mut self, now: f64, ch: String, options: JsValue) -> Result<f64, JsValue> {
        let after = get(&options, "after").as_string();
        // Clamped here as the relay would: a number past what its JSON reads as an
        // integer would be refused as a bad frame, not answered.
        let limit = get(&options, "limit")
            .as_f64()
            .map(|n| n.clamp(1.0, rollcall_core::protocol::MAX_PAGE as f64) as usize);
        self.ask(now, Ask::Page { ch, after, limit })
    }

    /// The page listens to `ch` (`first`: it did not before); `friends`: user ids.
    pub fn listen(&mut self, now: f64, ch: &str, friends: JsValue, first: bool) {
        self.tab.listen(at(now), ch, &codec::strings_from_js(&friends), first)
    }

    /// The page's last listener of `ch` is gone.
    pub fn unlisten(&mut self, now: f64, ch: &str) {
        self.tab.unlisten(at(now), ch)
    }

    /// The next thing to do, `{ t, ... }`, or undefined when there is none:
    /// `bus` `{data}`, `send` `{text}`, `connect` `{fresh}`, `shut` `{code, reason}`,
    /// `refresh`, `beacon` `{session}`, `release`, `ready`, `failed` `{error}`,
    /// `resolve` `{req, page}`, `reject` `{req, error}`, `changed` `{ch, changes: [{kind,
    /// user}]}`, `error` `{ch, error}` (`ch` null: every channel), `stopped` `{error}`,
    /// `link` `{status}`.
    pub fn poll(&mut self, now: f64) -> JsValue {
        let Some(output) = self.tab.poll_output() else {
            return JsValue::UNDEFINED;
        };
        let o;
        match output {
            Output::Bus(msg) => {
                o = out("bus");
                put(&o, "data", codec::bus_to_js(&msg));
            }
            Output::Send(msg) => {
                o = out("send");
                put(&o, "text", codec::client_msg_text(&msg).into());
            }
            Output::Connect { fresh_token } => {
                o = out("connect");
                put(&o, "fresh", fresh_token.into());
            }
            Output::CloseSocket { code, reason } => {
                o = out("shut");
                put(&o, "code", code.into());
                put(&o, "reason", reason.into());
            }
            Output::RefreshToken => o = out("refresh"),
            Output::Beacon { session } => {
                o = out("beacon");
                put(&o, "session", session.into());
            }
            Output::ReleaseLock => o = out("release"),
            Output::Ready => o = out("ready"),
            Output::ReadyFailed(e) => {
                o = out("failed");
                put(&o, "error", err(&e));
            }
            Output::Resolve { req, page } => {
                o = out("resolve");
                put(&o, "req", (req as f64).into());
                put(&o, "value", page.as_ref().map_or(JsValue::UNDEFINED, codec::page_to_js));
            }
            Output::Reject { req, error } => {
                o = out("reject");
                put(&o, "req", (req as f64).into());
                put(&o, "value", err(&error));
            }
            Output::Changed { ch, changes } => {
                o = out("changed");
                let list: Array = changes
                    .iter()
                    .map(|c| {
                        let (kind, m) = match c {
                            Change::Join(m) => ("join", m),
                            Change::Leave(m) => ("leave", m),
                            Change::Update(m) => ("update", m),
                        };
                        let e = Object::new();
                        put(&e, "kind", kind.into());
                        put(&e, "user", codec::member_to_js(m));
                        JsValue::from(e)
                    })
                    .collect();
                put(&o, "ch", ch.into());
                put(&o, "changes", list.into());
            }
            Output::Error { ch, error } => {
                o = out("error");
                put(&o, "ch", ch.map_or(JsValue::NULL, JsValue::from));
                put(&o, "error", err(&error));
            }
            Output::Stopped(e) => {
                o = out("stopped");
                put(&o, "error", err(&e));
            }
            Output::Link(link) => {
                o = out("link");
                put(&o, "status", codec::status_to_js(link, at(now)));
            }
        }
        o.into()
    }

    /// `{channel, count, users, capped, live}` for `subscribe` callbacks. `live`: the
    /// relay's snapshot and what followed, not a page's initial state nor a list emptied
    /// because the relay stopped telling about the channel.
    pub fn state(&self, ch: &str) -> JsValue {
        let view = self.tab.view(ch);
        let users = view.into_iter().flat_map(ChannelView::users);
        let live = view.is_some_and(ChannelView::has_snapshot);
        codec::state_to_js(ch, self.count(ch), users, self.cap(ch), live)
    }

    /// Is anything known of `ch` (a snapshot, or the initial state)? Before that there is
    /// nothing to show, not an empty channel.
    pub fn known(&self, ch: &str) -> bool {
        self.tab.view(ch).is_some_and(|v| v.is_known())
    }

    /// Everyone present in `ch`, also in a capped list.
    pub fn count(&self, ch: &str) -> usize {
        self.tab.view(ch).map_or(0, ChannelView::count)
    }

    /// The users of `ch` as last shown (empty on count-only channels).
    pub fn users(&self, ch: &str) -> JsValue {
        codec::users_to_js(self.tab.view(ch).into_iter().flat_map(ChannelView::users))
    }

    /// A capped list's cap, or null.
    #[wasm_bindgen(unchecked_return_type = "number | null")]
    pub fn capped(&self, ch: &str) -> JsValue {
        codec::cap_to_js(self.cap(ch))
    }

    /// `"connecting" | "connected" | "reconnecting" | "offline" | "closed"`.
    pub fn status(&self) -> JsValue {
        self.tab.link().as_str().into()
    }

    pub fn leader(&self) -> bool {
        self.tab.is_leader()
    }

    /// Is the relay's welcome in (here or in the leader tab)?
    pub fn connected(&self) -> bool {
        self.tab.connected()
    }

    /// Has `presence.close()` ended this tab?
    pub fn done(&self) -> bool {
        self.tab.is_closed()
    }
}

impl Core {
    fn cap(&self, ch: &str) -> Option<usize> {
        self.tab.view(ch).and_then(ChannelView::cap)
    }

    fn ask(&mut self, now: f64, ask: Ask) -> Result<f64, JsValue> {
        self.tab.ask(at(now), ask).map(|req| req as f64).map_err(|e| err(&e))
    }
}

/// The error code of a bad channel name (`/prefix/rest`), or undefined.
#[wasm_bindgen(js_name = badChannel)]
pub fn bad_channel(name: &str) -> JsValue {
    rollcall_core::channel::validate_name(name)
        .err()
        .map_or(JsValue::UNDEFINED, |c| c.as_str().into())
}
