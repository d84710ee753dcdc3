//! One tab's driver: the only place in the SDK that reads the clock, holds the socket and
//! timers, and calls back into the page.
//!
//! Map of the file:
//! - The tab protocol (leading, following, routing intents, handing over) is core's
//!   [`Tab`]; what stays here is JS: the WebSocket, BroadcastChannel, the token function,
//!   the page's listeners and promises, the Web Lock's release, one timer.
//! - Every input (socket, bus, timer, page event, API call) goes through
//!   [`Shell::with`], which borrows the state, lets the tab react with `now`, does at
//!   once what the tab asks of the socket and the bus, and queues page callbacks
//!   ([`Effect`]); then, with the borrow released, runs them and arms the one timer at
//!   the tab's next deadline. Page callbacks therefore never see a borrowed state and
//!   may call back into the SDK.

use crate::codec::{self, Post};
use crate::error::js_error;
use crate::js::{callback, get, is_hidden, is_online, set};
use js_sys::{Function, Math, Promise};
use rollcall_core::client::Link;
use rollcall_core::protocol::Identity;
use rollcall_core::smallmap::SmallMap;
use rollcall_core::tabs::Intent;
use rollcall_core::tabs::{Ask, BusMsg, ErrorBody, Output, Tab, TabSetup};
use rollcall_core::time::Instant;
use rollcall_core::view::{Change, ChannelView};
use std::cell::{Ref, RefCell, RefMut};
use wasm_bindgen::prelude::*;
use web_sys::BroadcastChannel;

mod socket;

use socket::{send_beacon, Socket};

/// The time on this page's monotonic clock.
pub fn now() -> Instant {
    let ms = web_sys::window()
        .and_then(|w| w.performance())
        .map_or_else(js_sys::Date::now, |p| p.now());
    Instant(ms.max(0.0) as u64)
}

fn jitter() -> f64 {
    Math::random()
}

/// What the page passed to `connect()`, checked.
pub struct Options {
    pub url: String,
    pub token_fn: Option<Function>,
    pub token: Option<String>,
    pub idle_after_ms: u64,
    pub initial: SmallMap<String, ChannelView>,
    /// Names the Web Lock and the bus shared by this relay's and user's tabs.
    pub lock_name: String,
}

/// Work to do once the state is no longer borrowed.
enum Effect {
    Call(Function, JsValue),
    Connect { fresh_token: bool },
    RefreshToken,
}

#[derive(Default)]
pub struct Listeners {
    next: u64,
    state: Vec<(u64, Function)>,
    join: Vec<(u64, Function)>,
    leave: Vec<(u64, Function)>,
    update: Vec<(u64, Function)>,
    error: Vec<(u64, Function)>,
}

impl Listeners {
    fn is_empty(&self) -> bool {
        self.state.is_empty()
            && self.join.is_empty()
            && self.leave.is_empty()
            && self.update.is_empty()
            && self.error.is_empty()
    }

    fn list(&mut self, kind: &str) -> Option<&mut Vec<(u64, Function)>> {
        match kind {
            "state" => Some(&mut self.state),
            "join" => Some(&mut self.join),
            "leave" => Some(&mut self.leave),
            "update" => Some(&mut self.update),
            "error" => Some(&mut self.error),
            _ => None,
        }
    }
}

pub struct State {
    /// The tab protocol; every rule is there.
    pub tab: Tab,
    url: String,
    lock_name: String,
    token_fn: Option<Function>,
    token: Option<String>,
    bus: BroadcastChannel,
    /// The leader's socket, and the number of the last one opened: events of an older
    /// socket are ignored.
    socket: Option<Socket>,
    gen: u64,
    listeners: SmallMap<String, Listeners>,
    /// This tab's requests not answered yet: resolve and reject.
    promises: SmallMap<u64, (Function, Function)>,
    status_listeners: Vec<(u64, Function)>,
    ready: Promise,
    ready_settle: Option<(Function, Function)>,
    /// Resolving it releases the Web Lock (and so the leadership).
    lock_release: Option<Function>,
    effects: Vec<Effect>,
    /// The one timer: its deadline and `setTimeout`'s handle.
    timer: Option<(Instant, JsValue)>,
    /// What the timer calls, made once: one JS function for every arming.
    on_timer: Option<Function>,
}

/// A tab's SDK instance. It lives as long as the page (its page listeners, kept for the
/// page's life, hold it), so it is made once and never freed: the JS objects and every
/// callback share a `&'static Shell`, with no count to keep and no drop code for its state.
pub struct Shell {
    st: RefCell<State>,
}

impl Shell {
    pub fn new(opts: Options, tab: String, client_id: String, bus: BroadcastChannel) -> &'static Shell {
        let (ready, resolve, reject) = crate::js::deferred();
        // Nobody may be listening to `ready`; a refusal is also reported elsewhere.
        let noop = callback(Box::new(|_| {}));
        let _ = ready.catch(&noop);
        noop.forget();
        let setup = TabSetup {
            tab,
            client_id,
            refreshable_token: opts.token_fn.is_some(),
            idle_after_ms: opts.idle_after_ms,
            initial: opts.initial,
            hidden: is_hidden(),
            online: is_online(),
        };
        Box::leak(Box::new(Shell {
            st: RefCell::new(State {
                tab: Tab::new(now(), setup),
                url: opts.url,
                lock_name: opts.lock_name,
                token_fn: opts.token_fn,
                token: opts.token,
                bus,
                socket: None,
                gen: 0,
                listeners: SmallMap::default(),
                promises: SmallMap::default(),
                status_listeners: Vec::new(),
                ready,
                ready_settle: Some((resolve, reject)),
                lock_release: None,
                effects: Vec::new(),
                timer: None,
                on_timer: None,
            }),
        }))
    }

    /// Run `f` on the state with the time, then the effects it queued, then re-arm the timer.
    pub fn with<R>(&'static self, f: impl FnOnce(&mut State, Instant) -> R) -> R {
        let t = now();
        let r = f(&mut self.state_mut(), t);
        self.settle(t);
        r
    }

    /// The rest of [`Shell::with`], apart from its many callers' `f` so that it is one
    /// copy in the wasm, not one inlined into each.
    #[inline(never)]
    fn settle(&'static self, t: Instant) {
        {
            let mut st = self.state_mut();
            st.tab.after_input(t);
            st.drain(t);
        }
        self.flush();
    }

    /// The state, borrowed. A second borrow is a bug (`with` never calls out while it
    /// holds one); it aborts like a panic would, without `RefCell`'s message, whose
    /// formatting would weigh more in the wasm than the rest of the borrow.
    fn state_mut(&self) -> RefMut<'_, State> {
        self.st.try_borrow_mut().unwrap_or_else(|_| std::process::abort())
    }

    fn state(&self) -> Ref<'_, State> {
        self.st.try_borrow().unwrap_or_else(|_| std::process::abort())
    }

    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.state())
    }

    fn flush(&'static self) {
        loop {
            let effects = std::mem::take(&mut self.state_mut().effects);
            if effects.is_empty() {
                break;
            }
            for effect in effects {
                match effect {
                    Effect::Call(f, arg) => {
                        if let Err(e) = f.call1(&JsValue::UNDEFINED, &arg) {
                            // A listener's exception must not stop the others.
                            web_sys::console::error_2(&"rollcall: a listener threw".into(), &e);
                        }
                    }
                    Effect::Connect { fresh_token } => self.connect_socket(fresh_token),
                    Effect::RefreshToken => self.refresh_token(),
                }
            }
        }
        self.arm_timer();
    }

    fn arm_timer(&'static self) {
        let mut st = self.state_mut();
        let deadline = st.tab.poll_timeout();
        if st.timer.as_ref().map(|(at, _)| *at) == deadline {
            return;
        }
        // Called through `Reflect` (as `js.rs` says why), with one closure for the life
        // of the shell rather than one per arming.
        let Some(window) = web_sys::window() else { return };
        if let Some((_, handle)) = st.timer.take() {
            let clear: Function = get(&window, "clearTimeout").unchecked_into();
            let _ = clear.call1(&window, &handle);
        }
        let Some(deadline) = deadline else { return };
        let on_timer = st.on_timer.get_or_insert_with(|| {
            let tick = callback(Box::new(move |_| {
                self.state_mut().timer = None;
                self.with(|st, t| st.tab.handle_timeout(t, jitter()));
            }));
            let f: Function = tick.as_ref().clone().unchecked_into();
            tick.forget();
            f
        });
        let wait = deadline.since(now()).min(i32::MAX as u64) as f64;
        let set_timeout: Function = get(&window, "setTimeout").unchecked_into();
        if let Ok(handle) = set_timeout.call2(&window, on_timer, &JsValue::from_f64(wait)) {
            st.timer = Some((deadline, handle));
        }
    }
}

impl State {
    /// Does this tab lead with socket number `gen` (`None`: whichever is current)?
    fn current(&self, gen: Option<u64>) -> bool {
        self.tab.is_leader() && gen.is_none_or(|g| g == self.gen)
    }

    /// Do what the tab asked: the socket and the bus at once, page callbacks later.
    fn drain(&mut self, now: Instant) {
        while let Some(output) = self.tab.poll_output() {
            match output {
                Output::Bus(msg) => msg.post(&self.bus),
                Output::Send(msg) => {
                    if let Some(s) = &self.socket {
                        s.send(&codec::client_msg_text(&msg));
                    }
                }
                Output::Connect { fresh_token } => self.effects.push(Effect::Connect { fresh_token }),
                Output::CloseSocket { code, reason } => {
                    if let Some(socket) = self.socket.take() {
                        socket.shut(code, reason);
                    }
                }
                Output::RefreshToken => self.effects.push(Effect::RefreshToken),
                Output::Beacon { session } => send_beacon(&self.url, &session),
                Output::ReleaseLock => {
                    if let Some(release) = self.lock_release.take() {
                        self.effects.push(Effect::Call(release, JsValue::UNDEFINED));
                    }
                }
                Output::Ready => {
                    if let Some((resolve, _)) = self.ready_settle.take() {
                        self.effects.push(Effect::Call(resolve, JsValue::UNDEFINED));
                    }
                }
                Output::ReadyFailed(error) => {
                    if let Some((_, reject)) = self.ready_settle.take() {
                        self.effects.push(Effect::Call(reject, err(&error)));
                    }
                }
                Output::Resolve { req, page } => {
                    if let Some((resolve, _)) = self.promises.remove(&req) {
                        let value = page.as_ref().map_or(JsValue::UNDEFINED, codec::page_to_js);
                        self.effects.push(Effect::Call(resolve, value));
                    }
                }
                Output::Reject { req, error } => {
                    if let Some((_, reject)) = self.promises.remove(&req) {
                        self.effects.push(Effect::Call(reject, err(&error)));
                    }
                }
                Output::Changed { ch, changes } => self.changed(&ch, &changes),
                Output::Error { ch, error } => {
                    let error = err(&error);
                    web_sys::console::warn_2(&"rollcall:".into(), &error);
                    self.tell_error(ch.as_deref(), &error);
                }
                Output::Stopped(error) => self.tell_error(None, &err(&error)),
                Output::Link(link) => {
                    let status = codec::status_to_js(link, now);
                    let calls = self
                        .status_listeners
                        .iter()
                        .map(|(_, f)| Effect::Call(f.clone(), status.clone()));
                    self.effects.extend(calls);
                }
            }
        }
    }

    /// A channel's changes to its `join`/`leave`/`update` listeners, then its state.
    fn changed(&mut self, ch: &str, changes: &[Change]) {
        let Some(l) = self.listeners.get(ch) else { return };
        let mut calls = Vec::new();
        for change in changes {
            let (list, member) = match change {
                Change::Join(m) => (&l.join, m),
                Change::Leave(m) => (&l.leave, m),
                Change::Update(m) => (&l.update, m),
            };
            let user = codec::member_to_js(member);
            calls.extend(list.iter().map(|(_, f)| (f.clone(), user.clone())));
        }
        let state = self.channel_state(ch);
        calls.extend(l.state.iter().map(|(_, f)| (f.clone(), state.clone())));
        self.effects.extend(calls.into_iter().map(|(f, a)| Effect::Call(f, a)));
    }

    /// Call the error listeners of `ch`, or of every channel.
    fn tell_error(&mut self, ch: Option<&str>, error: &JsValue) {
        for (name, l) in self.listeners.iter() {
            if ch.is_none_or(|ch| ch == name.as_str()) {
                let calls = l.error.iter().map(|(_, f)| Effect::Call(f.clone(), error.clone()));
                self.effects.extend(calls);
            }
        }
    }

    pub fn is_leader(&self) -> bool {
        self.tab.is_leader()
    }

    pub fn is_closed(&self) -> bool {
        self.tab.is_closed()
    }

    pub fn connected(&self) -> bool {
        self.tab.connected()
    }

    /// The connection's status as this tab shows it.
    pub fn link(&self) -> Link {
        self.tab.link()
    }

    pub fn set_bus_handler(&self, f: &Function) {
        set(&self.bus, "onmessage", f);
    }

    pub fn lock_name(&self) -> &str {
        &self.lock_name
    }

    pub fn set_lock_release(&mut self, release: Function) {
        self.lock_release = Some(release);
    }

    pub fn add_status_listener(&mut self, f: Function) -> u64 {
        let id = self.status_listeners.last().map_or(1, |(id, _)| id + 1);
        self.status_listeners.push((id, f));
        id
    }

    pub fn remove_status_listener(&mut self, id: u64) {
        self.status_listeners.retain(|(i, _)| *i != id);
    }

    pub fn ready(&self) -> Promise {
        self.ready.clone()
    }

    pub fn user(&self) -> Option<&Identity> {
        self.tab.user()
    }

    pub fn count(&self, ch: &str) -> usize {
        self.tab.view(ch).map_or(0, ChannelView::count)
    }

    pub fn users(&self, ch: &str) -> JsValue {
        codec::users_to_js(self.tab.view(ch).into_iter().flat_map(ChannelView::users))
    }

    /// The cap of a capped list, as last shown.
    pub fn cap(&self, ch: &str) -> Option<usize> {
        self.tab.view(ch).and_then(ChannelView::cap)
    }

    /// `live`: the relay's snapshot and what followed, not a page's initial state nor a
    /// list emptied because the relay stopped telling about the channel.
    fn channel_state(&self, ch: &str) -> JsValue {
        let view = self.tab.view(ch);
        let users = view.into_iter().flat_map(ChannelView::users);
        let live = view.is_some_and(ChannelView::has_snapshot);
        codec::state_to_js(ch, self.count(ch), users, self.cap(ch), live)
    }

    /// One of this tab's intents; the promise settles with the leader's answer.
    pub fn request(&mut self, now: Instant, intent: Intent) -> Promise {
        self.ask(now, Ask::Want(intent))
    }

    /// A page of `ch`'s members, asked of the leader; resolves with `{users, next, count}`.
    pub fn members(&mut self, now: Instant, ch: String, after: Option<String>, limit: Option<usize>) -> Promise {
        self.ask(now, Ask::Page { ch, after, limit })
    }

    fn ask(&mut self, now: Instant, ask: Ask) -> Promise {
        let (promise, resolve, reject) = crate::js::deferred();
        match self.tab.ask(now, ask) {
            Ok(req) => {
                self.promises.insert(req, (resolve, reject));
            }
            Err(error) => {
                let _ = reject.call1(&JsValue::UNDEFINED, &err(&error));
            }
        }
        promise
    }

    pub fn add_listener(&mut self, now: Instant, ch: &str, friends: &[String], kind: &str, f: Function) -> Option<u64> {
        let first = self.listeners.get(ch).is_none_or(Listeners::is_empty);
        let l = self.listeners.or_default(ch);
        l.next += 1;
        let id = l.next;
        l.list(kind)?.push((id, f.clone()));
        if kind == "state" && self.tab.view(ch).is_some_and(|v| v.is_known()) {
            // Render what is known (a snapshot, or the initial state) at once; before
            // that, there is nothing to show (not an empty channel).
            let state = self.channel_state(ch);
            self.effects.push(Effect::Call(f, state));
        }
        self.tab.listen(now, ch, friends, first);
        Some(id)
    }

    pub fn remove_listener(&mut self, now: Instant, ch: &str, kind: &str, id: u64) {
        let Some(l) = self.listeners.get_mut(ch) else { return };
        if let Some(list) = l.list(kind) {
            list.retain(|(i, _)| *i != id);
        }
        if l.is_empty() {
            self.listeners.remove(ch);
            self.tab.unlisten(now, ch);
        }
    }

    pub fn start_election(&mut self, now: Instant) {
        self.tab.start_election(now, jitter());
    }

    pub fn on_bus(&mut self, now: Instant, msg: BusMsg) {
        self.tab.handle_bus(now, msg, jitter());
    }

    /// `presence.close()`: what the tab says goes out before the bus closes.
    pub fn close(&mut self, now: Instant) {
        if self.tab.is_closed() {
            return;
        }
        self.tab.close(now);
        self.drain(now);
        // A lone leader's socket is gone with its role.
        self.socket = None;
        self.bus.close();
    }
}

fn err(error: &ErrorBody) -> JsValue {
    js_error(&error.code, &error.message)
}
