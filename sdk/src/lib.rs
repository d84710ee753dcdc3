//! rollcall-sdk: the rules of one tab (rollcall-core's [`Tab`]) and their codec, as a
//! few functions for the package's JS entry.
//!
//! - [`create`] makes a tab's rules and gives its number; every other function takes it.
//!   The inputs are [`signal`] (the timer, the lock, the page's events, `close()`, the
//!   socket closed), [`text`] (a relay frame, the socket opened, a fresh token), [`bus`]
//!   (another tab's message), [`ask`] (enter, update, leave, a page of members) and
//!   [`listen`]; [`poll`] gives the next thing to do as an array `[t, a, b]`,
//!   [`deadline`] when to signal the timer, [`view`] and [`flags`] what the page reads.
//!   The rules never read the clock nor call the page: every input takes `now`
//!   (`performance.now()`) and, where the rules draw lots, a `jitter` in [0, 1).
//!   Functions over a table rather than a wasm-bindgen class: a class costs its wrapper,
//!   its borrow checks and a FinalizationRegistry in the glue (1.8 KB gzipped, with the
//!   inputs folded into a few functions: docs/sdk.md).
//! - [`codec`]: frames and bus messages through the browser's JSON, not serde.
//! - [`js`]: reading and setting properties. A refusal reaches the entry as `{code,
//!   message}` ([`err`]), and the entry makes the page's `Error` of it.
//!
//! The shell (the WebSocket, BroadcastChannel, the Web Lock, the one timer, the page's
//! listeners, promises and events) and the public API (`connect`, `Presence`, `Channel`)
//! are the package's entry, `js/rollcall.js`; its types are in `js/rollcall.d.ts`. They
//! are JS because they are about the page, not presence rules, and as JS they weigh a
//! quarter of what their wasm did (docs/sdk.md).

pub mod codec;
pub mod js;

#[cfg(target_arch = "wasm32")]
#[global_allocator]
// SAFETY: the SDK runs on the page's one thread; wasm-bindgen is built without threads.
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

use js::get;
use js_sys::{Array, Object};
use rollcall_core::client::Link;
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

/// A rule's refusal as the entry reads it, `{code, message}`: the entry makes the page's
/// Error of it (`new Error` and its name and code cost more in the wasm and the glue).
pub fn err(e: &ErrorBody) -> JsValue {
    codec::error_to_js(e)
}

/// One output as the entry reads it: `[t, a, b]`, `t` the output's number (see [`poll`]).
fn out(t: u32, a: JsValue, b: JsValue) -> JsValue {
    let o = Array::new();
    o.push(&JsValue::from(t));
    o.push(&a);
    o.push(&b);
    o.into()
}

/// Every tab's rules on this page, by the number [`create`] gave (one per `connect()`).
/// A tab done for good is let go and its number is never given again: a closed
/// presence's shell keeps its page listeners, and their calls must reach no other tab.
/// What stays is an empty slot of 4 bytes per `connect()`.
static mut TABS: Vec<Option<Box<Tab>>> = Vec::new();

/// The tab numbered `h`, if it is there.
#[allow(static_mut_refs)]
fn tab(h: u32) -> Option<&'static mut Tab> {
    // SAFETY: the page's one thread; no reference outlives the exported call that took
    // it, and no exported call is entered again from inside another (the rules call no
    // JS that calls back).
    unsafe { TABS.get_mut(h as usize).and_then(|t| t.as_deref_mut()) }
}

/// A tab's rules: its number for every other call. `idle_after_ms`: undefined for the
/// default. `initial`: `connect()`'s option, as the entry checked it (channel names to
/// `{ count, users }`).
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn create(
    now: f64,
    tab: String,
    client_id: String,
    refreshable: bool,
    idle_after_ms: Option<f64>,
    initial: JsValue,
    hidden: bool,
    online: bool,
) -> u32 {
    let mut views = SmallMap::default();
    if initial.is_object() {
        for key in Object::keys(initial.unchecked_ref::<Object>()).iter() {
            let Some(ch) = key.as_string() else { continue };
            let state = get(&initial, &ch);
            let count = get(&state, "count").as_f64().unwrap_or(0.0) as usize;
            let users = codec::members_from_js(&get(&state, "users"));
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
    #[allow(static_mut_refs)]
    // SAFETY: as in `tab`.
    let tabs = unsafe { &mut TABS };
    tabs.push(Some(Box::new(Tab::new(at(now), setup))));
    tabs.len() as u32 - 1
}

/// An input without data, by `kind`:
/// 0 after every input (once: what the tab does whatever the input was),
/// 1 the deadline of [`deadline`] has come,
/// 2 this tab holds the Web Lock (it leads),
/// 3 no Web Locks (elect a leader over the bus),
/// 4 the browser is online (`n` 1) or offline (0),
/// 5 someone used the page (pointer, keys, scroll, focus),
/// 6 the page's visibility (`n` 1: hidden),
/// 7 the page came back from the back/forward cache (returns true if it must elect again),
/// 8 pagehide,
/// 9 `presence.close()`,
/// 10 the leader's socket closed with code `n` (or could not open: 1006);
/// any other: nothing.
#[wasm_bindgen]
pub fn signal(h: u32, now: f64, kind: u8, n: f64, jitter: f64) -> bool {
    let Some(tab) = tab(h) else { return false };
    let now = at(now);
    match kind {
        0 => tab.after_input(now),
        1 => tab.handle_timeout(now, jitter),
        2 => tab.become_leader(now),
        3 => tab.start_election(now, jitter),
        4 => tab.set_online(now, n != 0.0),
        5 => tab.input(now),
        6 => tab.visibility(now, n != 0.0),
        7 => return tab.revive(now),
        8 => tab.page_hidden(now),
        9 => tab.close(now),
        10 => tab.socket_closed(now, n as u16, jitter),
        _ => {}
    }
    false
}

/// An input with text, by `kind`: 0 a frame from the relay (unreadable ones are
/// dropped), 1 the leader's socket is open (`text`: the token to say hello with), 2 a
/// fresh token from the page's token function; any other: nothing.
#[wasm_bindgen]
pub fn text(h: u32, now: f64, kind: u8, text: String) {
    let Some(tab) = tab(h) else { return };
    let now = at(now);
    match kind {
        0 => {
            if let Some(msg) = codec::parse(&text).and_then(|v| codec::server_msg_from_js(&v)) {
                tab.socket_frame(now, msg);
            }
        }
        1 => tab.socket_opened(now, text),
        2 => tab.token_refreshed(now, text),
        _ => {}
    }
}

/// A message from another tab (BroadcastChannel's `data`); unreadable ones are dropped.
#[wasm_bindgen]
pub fn bus(h: u32, now: f64, data: JsValue, jitter: f64) {
    if let (Some(tab), Some(msg)) = (tab(h), codec::bus_from_js(&data)) {
        tab.handle_bus(at(now), msg, jitter);
    }
}

/// A request of the page: `enter` (`op` 0, `arg` the meta), `update` (1), `leave` (2) of
/// channel `ch`, or a page of its members (3, `arg` `channel.members()`'s `{ after,
/// limit }`); the entry passes `{}` for none. Returns the request's number, answered
/// later by a `resolve` or `reject` output; throws the error (`{code, message}`) of a
/// request refused at once (bad meta, closed).
#[wasm_bindgen]
pub fn ask(h: u32, now: f64, op: u8, ch: String, arg: JsValue) -> Result<f64, JsValue> {
    let ask = match op {
        2 => Ask::Want(Intent::Leave { ch }),
        3 => {
            let after = get(&arg, "after").as_string();
            // Clamped here as the relay would: a number past what its JSON reads as an
            // integer would be refused as a bad frame, not answered.
            let limit = get(&arg, "limit")
                .as_f64()
                .map(|n| n.clamp(1.0, rollcall_core::protocol::MAX_PAGE as f64) as usize);
            Ask::Page { ch, after, limit }
        }
        _ => {
            let meta = codec::meta_from_js(&arg).ok_or_else(|| {
                err(&ErrorBody::new(
                    "bad_meta",
                    "meta must be a plain object, e.g. { typing: true }.",
                ))
            })?;
            Ask::Want(if op == 0 {
                Intent::Enter { ch, meta }
            } else {
                Intent::Update { ch, meta }
            })
        }
    };
    let result = match tab(h) {
        Some(tab) => tab.ask(at(now), ask),
        // A tab let go: refused as the tab itself refused it when closed.
        None => Err(ErrorBody::closed()),
    };
    result.map(|req| req as f64).map_err(|e| err(&e))
}

/// The page's listeners of `ch`: `kind` 0 one more (`friends`: user ids to follow), 1
/// the first, 2 the last is gone (its view is forgotten).
#[wasm_bindgen]
pub fn listen(h: u32, now: f64, ch: &str, friends: JsValue, kind: u8) {
    let Some(tab) = tab(h) else { return };
    if kind == 2 {
        tab.unlisten(at(now), ch)
    } else {
        tab.listen(at(now), ch, &codec::strings_from_js(&friends), kind == 1)
    }
}

/// When to signal the timeout (`performance.now()` milliseconds), or -1: never.
#[wasm_bindgen]
pub fn deadline(h: u32) -> f64 {
    tab(h).and_then(|t| t.poll_timeout()).map_or(-1.0, |t| t.0 as f64)
}

/// The next thing to do, `[t, a, b]`, or undefined when there is none. By `t`:
/// 0 post `a` on the bus; 1 send the text `a` on the socket; 2 open a socket (`a`: with a
/// fresh token); 3 close it with code `a` and reason `b`; 4 get a fresh token; 5 send the
/// beacon for session `a`; 6 let go of the Web Lock; 7 `ready` resolves; 8 `ready`
/// rejects with the error `b`; 9 request `a` resolves with `b`; 10 request `a` rejects
/// with the error `b`; 11 channel `a` changed: `b` lists `[kind, user]` (kind 0 join, 1
/// leave, 2 update); 12 the error `b` for the listeners of channel `a` (null: every
/// channel), worth a line in the log; 13 the connection ended for good with the error `b`
/// (`a` null); 14 the status shown is now `a`, the next attempt in `b` ms while
/// reconnecting (else null). An error is `{code, message}`, for the entry to make an
/// Error of ([`err`]). Numbers rather than names: the names cost twice, in the wasm and
/// in the entry. A tab done for good (closed by `presence.close()`) is let go once its
/// last output is taken.
#[wasm_bindgen]
pub fn poll(h: u32, now: f64) -> JsValue {
    let Some(tab) = tab(h) else {
        return JsValue::UNDEFINED;
    };
    let now = at(now);
    let Some(output) = tab.poll_output() else {
        if tab.is_done() {
            #[allow(static_mut_refs)]
            // SAFETY: as in `tab`; `tab` is not used after this.
            unsafe {
                TABS[h as usize] = None
            };
        }
        return JsValue::UNDEFINED;
    };
    let none = || JsValue::UNDEFINED;
    match output {
        Output::Bus(msg) => out(0, codec::bus_to_js(&msg), none()),
        Output::Send(msg) => out(1, codec::client_msg_text(&msg).into(), none()),
        Output::Connect { fresh_token } => out(2, fresh_token.into(), none()),
        Output::CloseSocket { code, reason } => out(3, code.into(), reason.into()),
        Output::RefreshToken => out(4, none(), none()),
        Output::Beacon { session } => out(5, session.into(), none()),
        Output::ReleaseLock => out(6, none(), none()),
        Output::Ready => out(7, none(), none()),
        Output::ReadyFailed(e) => out(8, none(), err(&e)),
        Output::Resolve { req, page } => out(
            9,
            (req as f64).into(),
            page.as_ref().map_or(JsValue::UNDEFINED, codec::page_to_js),
        ),
        Output::Reject { req, error } => out(10, (req as f64).into(), err(&error)),
        Output::Changed { ch, changes } => {
            let list: Array = changes
                .iter()
                .map(|c| {
                    let (kind, m) = match c {
                        Change::Join(m) => (0, m),
                        Change::Leave(m) => (1, m),
                        Change::Update(m) => (2, m),
                    };
                    let e = Array::new();
                    e.push(&JsValue::from(kind));
                    e.push(&codec::member_to_js(m));
                    JsValue::from(e)
                })
                .collect();
            out(11, ch.into(), list.into())
        }
        Output::Error { ch, error } => out(12, ch.map_or(JsValue::NULL, JsValue::from), err(&error)),
        Output::Stopped(e) => out(13, JsValue::NULL, err(&e)),
        Output::Link(link) => {
            let retry_in = match link {
                Link::Reconnecting { at: Some(at) } => JsValue::from_f64(at.since(now) as f64),
                _ => JsValue::NULL,
            };
            out(14, link.as_str().into(), retry_in)
        }
    }
}

/// What the page reads of channel `ch`, by `what`: 0 `{channel, count, users, capped,
/// live}` for `subscribe` callbacks (`live`: the relay's snapshot and what followed, not
/// a page's initial state nor a list emptied because the relay stopped telling about the
/// channel); 1 is anything known of it (a snapshot, or the initial state: before that
/// there is nothing to show, not an empty channel); 2 its users as last shown (empty on
/// count-only channels); 3 everyone present, also in a capped list; 4 a capped list's
/// cap, or null. A tab let go shows nobody.
#[wasm_bindgen]
pub fn view(h: u32, ch: &str, what: u8) -> JsValue {
    let view = tab(h).and_then(|t| t.view(ch));
    let users = view.into_iter().flat_map(ChannelView::users);
    let count = view.map_or(0, ChannelView::count);
    let cap = view.and_then(ChannelView::cap);
    match what {
        0 => codec::state_to_js(ch, count, users, cap, view.is_some_and(ChannelView::has_snapshot)),
        1 => view.is_some_and(ChannelView::is_known).into(),
        2 => codec::users_to_js(users),
        3 => (count as f64).into(),
        _ => codec::cap_to_js(cap),
    }
}

/// The tab's flags: 1 it leads, 2 the relay's welcome is in (here or in the leader
/// tab), 4 `presence.close()` ended it; and from bit 3 up, the status it shows: 0
/// `connecting`, 1 `connected`, 2 `reconnecting`, 3 `offline`, 4 `closed`.
#[wasm_bindgen]
pub fn flags(h: u32) -> u32 {
    let Some(tab) = tab(h) else {
        return 4 | 4 << 3;
    };
    let link = match tab.link() {
        Link::Connecting => 0,
        Link::Connected => 1,
        Link::Reconnecting { .. } => 2,
        Link::Offline => 3,
        Link::Closed => 4,
    };
    tab.is_leader() as u32 | (tab.connected() as u32) << 1 | (tab.is_closed() as u32) << 2 | link << 3
}

/// The error code of a bad channel name (`/prefix/rest`), or undefined.
#[wasm_bindgen(js_name = badChannel)]
pub fn bad_channel(name: &str) -> JsValue {
    rollcall_core::channel::validate_name(name)
        .err()
        .map_or(JsValue::UNDEFINED, |c| c.as_str().into())
}
