//! The rules and the SDK's codec behind one exported object, `Core`: every input a
//! method (a bus message, a relay frame's text, the socket opened or closed, a timer, a
//! page event, a request), `poll()` the next output as a plain object. What the wasm
//! would hold if the shell (socket, bus, timer, Web Lock, listeners, promises, page
//! events) lived in the JS entry. Built only to be weighed: `measure.sh`.

#![allow(dead_code)]

#[path = "../../../sdk/src/codec.rs"]
pub mod codec;
#[path = "../../../sdk/src/error.rs"]
pub mod error;
#[path = "../../../sdk/src/js.rs"]
pub mod js;

#[global_allocator]
// SAFETY: as in sdk/src/lib.rs: one thread.
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

use error::js_error;
use js::{get, set};
use js_sys::{Array, Object};
use rollcall_core::smallmap::SmallMap;
use rollcall_core::tabs::{Ask, ErrorBody, Intent, Output, Tab, TabSetup};
use rollcall_core::time::Instant;
use rollcall_core::view::{Change, ChannelView};
use wasm_bindgen::prelude::*;

fn at(ms: f64) -> Instant {
    Instant(ms.max(0.0) as u64)
}

fn err(e: &ErrorBody) -> JsValue {
    js_error(&e.code, &e.message)
}

fn obj(t: &str) -> Object {
    let o = Object::new();
    set(&o, "t", &t.into());
    o
}

fn put(o: &Object, k: &str, v: JsValue) {
    set(o, k, &v);
}

#[wasm_bindgen]
pub struct Core {
    tab: Tab,
}

#[wasm_bindgen]
impl Core {
    #[wasm_bindgen(constructor)]
    pub fn new(
        now: f64,
        tab: String,
        client_id: String,
        refreshable: bool,
        idle_after_ms: f64,
        initial: JsValue,
        hidden: bool,
        online: bool,
    ) -> Core {
        let mut views = SmallMap::default();
        if initial.is_object() {
            for key in Object::keys(wasm_bindgen::JsCast::unchecked_ref::<Object>(&initial)).iter() {
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
        Core {
            tab: Tab::new(
                at(now),
                TabSetup {
                    tab,
                    client_id,
                    refreshable_token: refreshable,
                    idle_after_ms: idle_after_ms as u64,
                    initial: views,
                    hidden,
                    online,
                },
            ),
        }
    }
    pub fn bus(&mut self, now: f64, data: JsValue, jitter: f64) {
        if let Some(msg) = codec::bus_from_js(&data) {
            self.tab.handle_bus(at(now), msg, jitter);
        }
    }
    pub fn frame(&mut self, now: f64, text: &str) {
        if let Some(msg) = codec::parse(text).and_then(|v| codec::server_msg_from_js(&v)) {
            self.tab.socket_frame(at(now), msg);
        }
    }
    pub fn opened(&mut self, now: f64, token: String) {
        self.tab.socket_opened(at(now), token)
    }
    pub fn closed(&mut self, now: f64, code: u16, jitter: f64) {
        self.tab.socket_closed(at(now), code, jitter)
    }
    pub fn token(&mut self, now: f64, token: String) {
        self.tab.token_refreshed(at(now), token)
    }
    pub fn lead(&mut self, now: f64) {
        self.tab.become_leader(at(now))
    }
    pub fn elect(&mut self, now: f64, jitter: f64) {
        self.tab.start_election(at(now), jitter)
    }
    pub fn timeout(&mut self, now: f64, jitter: f64) {
        self.tab.handle_timeout(at(now), jitter)
    }
    pub fn online(&mut self, now: f64, online: bool) {
        self.tab.set_online(at(now), online)
    }
    pub fn input(&mut self, now: f64) {
        self.tab.input(at(now))
    }
    pub fn visibility(&mut self, now: f64, hidden: bool) {
        self.tab.visibility(at(now), hidden)
    }
    pub fn revive(&mut self, now: f64) -> bool {
        self.tab.revive(at(now))
    }
    pub fn pagehide(&mut self, now: f64) {
        self.tab.page_hidden(at(now))
    }
    pub fn close(&mut self, now: f64) {
        self.tab.close(at(now))
    }
    pub fn after(&mut self, now: f64) {
        self.tab.after_input(at(now))
    }
    pub fn deadline(&self) -> f64 {
        self.tab.poll_timeout().map_or(-1.0, |t| t.0 as f64)
    }
    /// "enter" | "update" | "leave": the request's number, or throws its error.
    pub fn want(&mut self, now: f64, op: &str, ch: String, meta: JsValue) -> Result<f64, JsValue> {
        let meta = || codec::meta_from_js(&meta).unwrap_or_default();
        let intent = match op {
            "enter" => Intent::Enter { ch, meta: meta() },
            "update" => Intent::Update { ch, meta: meta() },
            _ => Intent::Leave { ch },
        };
        self.tab
            .ask(at(now), Ask::Want(intent))
            .map(|r| r as f64)
            .map_err(|e| err(&e))
    }
    pub fn page(&mut self, now: f64, ch: String, after: Option<String>, limit: Option<f64>) -> Result<f64, JsValue> {
        self.tab
            .ask(
                at(now),
                Ask::Page {
                    ch,
                    after,
                    limit: limit.map(|n| n as usize),
                },
            )
            .map(|r| r as f64)
            .map_err(|e| err(&e))
    }
    pub fn listen(&mut self, now: f64, ch: &str, friends: JsValue, first: bool) {
        self.tab.listen(at(now), ch, &codec::strings_from_js(&friends), first)
    }
    pub fn unlisten(&mut self, now: f64, ch: &str) {
        self.tab.unlisten(at(now), ch)
    }
    /// The next thing to do, as an object `{t, ...}`, or undefined.
    pub fn poll(&mut self, now: f64) -> JsValue {
        let Some(out) = self.tab.poll_output() else {
            return JsValue::UNDEFINED;
        };
        let o = match out {
            Output::Bus(msg) => {
                let o = obj("bus");
                put(&o, "data", codec::bus_to_js(&msg));
                o
            }
            Output::Send(msg) => {
                let o = obj("send");
                put(&o, "text", codec::client_msg_text(&msg).into());
                o
            }
            Output::Connect { fresh_token } => {
                let o = obj("connect");
                put(&o, "fresh", fresh_token.into());
                o
            }
            Output::CloseSocket { code, reason } => {
                let o = obj("shut");
                put(&o, "code", code.into());
                put(&o, "reason", reason.into());
                o
            }
            Output::RefreshToken => obj("refresh"),
            Output::Beacon { session } => {
                let o = obj("beacon");
                put(&o, "session", session.into());
                o
            }
            Output::ReleaseLock => obj("release"),
            Output::Ready => obj("ready"),
            Output::ReadyFailed(e) => {
                let o = obj("failed");
                put(&o, "error", err(&e));
                o
            }
            Output::Resolve { req, page } => {
                let o = obj("resolve");
                put(&o, "req", (req as f64).into());
                put(&o, "page", page.as_ref().map_or(JsValue::UNDEFINED, codec::page_to_js));
                o
            }
            Output::Reject { req, error } => {
                let o = obj("reject");
                put(&o, "req", (req as f64).into());
                put(&o, "error", err(&error));
                o
            }
            Output::Changed { ch, changes } => {
                let o = obj("changed");
                let list: Array = changes
                    .iter()
                    .map(|c| {
                        let (k, m) = match c {
                            Change::Join(m) => ("join", m),
                            Change::Leave(m) => ("leave", m),
                            Change::Update(m) => ("update", m),
                        };
                        let e = Object::new();
                        put(&e, "kind", k.into());
                        put(&e, "user", codec::member_to_js(m));
                        JsValue::from(e)
                    })
                    .collect();
                put(&o, "ch", ch.into());
                put(&o, "changes", list.into());
                o
            }
            Output::Error { ch, error } => {
                let o = obj("error");
                put(&o, "ch", ch.map_or(JsValue::NULL, JsValue::from));
                put(&o, "error", err(&error));
                o
            }
            Output::Stopped(e) => {
                let o = obj("stopped");
                put(&o, "error", err(&e));
                o
            }
            Output::Link(link) => {
                let o = obj("link");
                put(&o, "status", codec::status_to_js(link, at(now)));
                o
            }
        };
        o.into()
    }
    pub fn state(&self, ch: &str) -> JsValue {
        let view = self.tab.view(ch);
        let users = view.into_iter().flat_map(ChannelView::users);
        let live = view.is_some_and(ChannelView::has_snapshot);
        codec::state_to_js(
            ch,
            view.map_or(0, ChannelView::count),
            users,
            view.and_then(ChannelView::cap),
            live,
        )
    }
    pub fn known(&self, ch: &str) -> bool {
        self.tab.view(ch).is_some_and(|v| v.is_known())
    }
    pub fn status(&self) -> JsValue {
        self.tab.link().as_str().into()
    }
    pub fn leader(&self) -> bool {
        self.tab.is_leader()
    }
    pub fn connected(&self) -> bool {
        self.tab.connected()
    }
    pub fn done(&self) -> bool {
        self.tab.is_closed()
    }
}

/// A channel name's error code, or undefined.
#[wasm_bindgen]
pub fn bad_channel(name: &str) -> JsValue {
    rollcall_core::channel::validate_name(name)
        .err()
        .map_or(JsValue::UNDEFINED, |c| c.as_str().into())
}
