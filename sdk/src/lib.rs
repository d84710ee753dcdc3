//! rollcall-sdk: the browser shell around rollcall-core, and the JS API of the npm
//! package `rollcall` (`connect`, `Presence`, `Channel`).
//!
//! - [`shell`]: one tab's driver (clock, socket, timers, page callbacks).
//! - [`codec`]: frames and bus messages through the browser's JSON, not serde.
//! - [`leader`]: who holds the connection (Web Locks, or an election over the bus).
//! - [`page`]: page lifecycle and activity (pagehide, visibility, input, localStorage).
//! - [`error`]: JS `Error`s with a `code`. [`js`]: the JS glue (properties, promises,
//!   callbacks, the token function, URLs).
//!
//! The package's entry (`js/rollcall.js`) loads the wasm once and re-exports `connect`;
//! its types are in `js/rollcall.d.ts`.

pub mod codec;
pub mod error;
pub mod js;
pub mod leader;
pub mod page;
pub mod shell;

#[cfg(target_arch = "wasm32")]
#[global_allocator]
// SAFETY: the SDK runs on the page's one thread; wasm-bindgen is built without threads.
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

use error::{bad_option, js_error};
use js::get;
use js_sys::{Function, Promise};
use rollcall_core::protocol::Meta;
use rollcall_core::tabs::Intent;
use rollcall_core::timing::DEFAULT_IDLE_AFTER_MS;
use rollcall_core::view::ChannelView;
use shell::{Options, Shell};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// Connect this tab: elect (or follow) the tab that holds the browser's one
/// connection, and start it. Resolves once this tab knows whether it leads; use
/// `presence.ready` to wait for the relay's welcome.
#[wasm_bindgen(js_name = connect)]
pub fn connect(options: JsValue) -> Promise {
    let opts = match read_options(&options) {
        Ok(opts) => opts,
        Err(e) => return Promise::reject(&e),
    };
    let token = match (&opts.token, &opts.token_fn) {
        (Some(t), _) => Promise::resolve(&JsValue::from_str(t)),
        (None, Some(f)) => js::fetch_token(f),
        (None, None) => {
            return Promise::reject(&bad_option(
                "connect() needs a token: a string or a function returning one.",
            ))
        }
    };
    js::then(
        &token,
        move |token| start(opts, token.as_string().unwrap_or_default()),
        |e| Promise::reject(&e).into(),
    )
}

/// With the first token in hand: join the bus and the election for this relay and user.
fn start(opts: Options, token: String) -> JsValue {
    // Tabs share a connection only for the same relay and the same user.
    let name = js::cat(&["rollcall ", &opts.url, " ", &page::token_subject(&token)]);
    let opts = Options {
        token: Some(token),
        lock_name: name.clone(),
        ..opts
    };
    let Ok(bus) = web_sys::BroadcastChannel::new(&name) else {
        return Promise::reject(&js_error(
            "unsupported",
            "This browser has no BroadcastChannel; rollcall needs it.",
        ))
        .into();
    };
    let shell = Shell::new(opts, page::random_id(), page::client_id(), bus);
    page::listen(shell);
    let decided = leader::elect(shell, &name);
    js::then(
        &decided,
        move |_| {
            shell.with(|_, _| ());
            Presence { shell }.into()
        },
        |e| Promise::reject(&e).into(),
    )
    .into()
}

fn read_options(options: &JsValue) -> Result<Options, JsValue> {
    if !options.is_object() {
        return Err(bad_option("connect() takes an object: { url, token }."));
    }
    let url = get(options, "url")
        .as_string()
        .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
        .ok_or_else(|| bad_option("`url` must be the relay's http(s) URL, e.g. \"https://presence.example.com\"."))?;
    let token_value = get(options, "token");
    let (token, token_fn) = if let Some(t) = token_value.as_string() {
        (Some(t), None)
    } else if token_value.is_function() {
        (None, Some(Function::from(token_value)))
    } else {
        return Err(bad_option(
            "`token` must be a string or a function returning (a promise of) one.",
        ));
    };
    let idle = get(options, "idleAfterMs");
    let idle_after_ms = match idle.as_f64() {
        Some(ms) if ms >= 1.0 => ms as u64,
        Some(_) => return Err(bad_option("`idleAfterMs` must be a positive number of milliseconds.")),
        None => DEFAULT_IDLE_AFTER_MS,
    };
    let mut initial = rollcall_core::smallmap::SmallMap::default();
    let init = get(options, "initial");
    if init.is_object() {
        for key in js_sys::Object::keys(init.unchecked_ref::<js_sys::Object>()).iter() {
            let Some(ch) = key.as_string() else { continue };
            let state = get(&init, &ch);
            let count = get(&state, "count").as_f64().filter(|n| *n >= 0.0).ok_or_else(|| {
                bad_option("`initial` maps channel names to { count, users }; count must be a number.")
            })?;
            let users = get(&state, "users");
            let users = js_sys::Array::is_array(&users).then(|| {
                js_sys::Array::from(&users)
                    .iter()
                    .filter_map(|u| codec::member_from_js(&u))
                    .collect()
            });
            initial.insert(ch, ChannelView::with_initial(count as usize, users));
        }
    }
    Ok(Options {
        url: js::trim_slashes(&url).to_string(),
        token_fn,
        token,
        idle_after_ms,
        initial,
        lock_name: String::new(),
    })
}

/// One tab's handle on presence.
#[wasm_bindgen]
pub struct Presence {
    shell: &'static Shell,
}

#[wasm_bindgen]
impl Presence {
    /// A channel by name (`/prefix/rest`). Throws a `bad_channel` error for a bad name.
    /// `options.friends`: user ids to show wherever they are in a capped list.
    pub fn channel(&self, name: &str, options: JsValue) -> Result<Channel, JsValue> {
        rollcall_core::channel::validate_name(name).map_err(|code| {
            js_error(
                code.as_str(),
                "Channel names look like /prefix/rest: at most 200 bytes of printable ASCII, no empty segments.",
            )
        })?;
        let friends = get(&options, "friends");
        if !(friends.is_undefined() || js_sys::Array::is_array(&friends)) {
            return Err(bad_option("`friends` must be an array of user ids."));
        }
        Ok(Channel {
            shell: self.shell,
            name: name.to_string(),
            friends: codec::strings_from_js(&friends),
        })
    }

    /// Leave every channel of this tab and stop. Other tabs keep their presence.
    pub fn close(&self) {
        self.shell.with(|st, now| st.close(now));
    }

    /// Does this tab hold the browser's connection?
    #[wasm_bindgen(getter, js_name = isLeader)]
    pub fn is_leader(&self) -> bool {
        self.shell.read(|st| st.is_leader())
    }

    /// Is the relay's welcome in (here or in the leader tab)?
    #[wasm_bindgen(getter)]
    pub fn connected(&self) -> bool {
        self.shell.read(|st| st.connected())
    }

    /// `"connecting" | "connected" | "reconnecting" | "offline" | "closed"`, the same in
    /// every tab of this browser.
    #[wasm_bindgen(getter, unchecked_return_type = "string")]
    pub fn status(&self) -> JsValue {
        self.shell.read(|st| st.link().as_str().into())
    }

    /// `"status"`: `callback({ status, retryAt })` on every change of `presence.status`
    /// (`retryAt`: while reconnecting, the next attempt's `Date.now()` time, otherwise
    /// null). Returns the function that removes the listener.
    pub fn on(&self, event: &str, callback: Function) -> Result<Function, JsValue> {
        if event != "status" {
            return Err(js_error("bad_event", "presence.on() takes \"status\"."));
        }
        let id = self.shell.with(|st, _| st.add_status_listener(callback));
        let shell = self.shell;
        Ok(
            js::callback(Box::new(move |_| shell.with(|st, _| st.remove_status_listener(id))))
                .into_js_value()
                .into(),
        )
    }

    /// Settles with the first welcome, or rejects with why the relay refused.
    #[wasm_bindgen(getter)]
    pub fn ready(&self) -> Promise {
        self.shell.read(|st| st.ready())
    }

    /// This browser profile's id, shared by its tabs.
    #[wasm_bindgen(getter, js_name = clientId, unchecked_return_type = "string")]
    pub fn client_id(&self) -> JsValue {
        self.shell.read(|st| st.tab.client_id().into())
    }

    /// This tab's id.
    #[wasm_bindgen(getter, js_name = tabId, unchecked_return_type = "string")]
    pub fn tab_id(&self) -> JsValue {
        self.shell.read(|st| st.tab.me().into())
    }
}

/// One channel as this tab uses it.
#[wasm_bindgen]
pub struct Channel {
    shell: &'static Shell,
    name: String,
    friends: Vec<String>,
}

#[wasm_bindgen]
impl Channel {
    // Strings go back as JS values: a `String` return costs a shim and glue per getter.
    #[wasm_bindgen(getter, unchecked_return_type = "string")]
    pub fn name(&self) -> JsValue {
        self.name.as_str().into()
    }

    /// Appear in the channel with `meta`. Rejects with an Error that says why.
    pub fn enter(&self, meta: JsValue) -> Promise {
        match read_meta(&meta) {
            Ok(meta) => self.request(Intent::Enter {
                ch: self.name.clone(),
                meta,
            }),
            Err(e) => Promise::reject(&e),
        }
    }

    /// Replace this presence's meta.
    pub fn update(&self, meta: JsValue) -> Promise {
        match read_meta(&meta) {
            Ok(meta) => self.request(Intent::Update {
                ch: self.name.clone(),
                meta,
            }),
            Err(e) => Promise::reject(&e),
        }
    }

    /// Stop appearing (once no other tab of this browser is in the channel).
    pub fn leave(&self) -> Promise {
        self.request(Intent::Leave { ch: self.name.clone() })
    }

    /// Call `callback({channel, count, users})` now (if known) and on every change.
    /// Returns the function that stops it.
    pub fn subscribe(&self, callback: Function) -> Function {
        self.listen("state", callback)
    }

    /// `"join" | "leave" | "update"` (with the user) or `"error"` (with the Error).
    /// Returns the function that removes the listener.
    pub fn on(&self, event: &str, callback: Function) -> Result<Function, JsValue> {
        let kind = ["join", "leave", "update", "error"]
            .into_iter()
            .find(|k| *k == event)
            .ok_or_else(|| {
                js_error(
                    "bad_event",
                    "channel.on() takes \"join\", \"leave\", \"update\" or \"error\".",
                )
            })?;
        Ok(self.listen(kind, callback))
    }

    /// The users present, as last shown (empty on count-only channels).
    #[wasm_bindgen(getter)]
    pub fn users(&self) -> JsValue {
        self.shell.read(|st| st.users(&self.name))
    }

    /// Everyone present, also in a capped list.
    #[wasm_bindgen(getter)]
    pub fn count(&self) -> u32 {
        self.shell.read(|st| st.count(&self.name)) as u32
    }

    /// A capped list's cap (then `users` is part of `count`), or null.
    #[wasm_bindgen(getter, unchecked_return_type = "number | null")]
    pub fn capped(&self) -> JsValue {
        codec::cap_to_js(self.shell.read(|st| st.cap(&self.name)))
    }

    /// One page of everyone present, in id order: `{ after, limit }` in,
    /// `{ users, next, count }` out (`next` is the `after` of the next page, or null).
    pub fn members(&self, options: JsValue) -> Promise {
        let after = get(&options, "after").as_string();
        // Clamped here as the relay would: a number past what its JSON reads as an
        // integer would be refused as a bad frame, not answered.
        let limit = get(&options, "limit")
            .as_f64()
            .map(|n| n.clamp(1.0, rollcall_core::protocol::MAX_PAGE as f64) as usize);
        self.shell
            .with(|st, now| st.members(now, self.name.clone(), after, limit))
    }
}

impl Channel {
    fn request(&self, intent: Intent) -> Promise {
        self.shell.with(|st, now| st.request(now, intent))
    }

    fn listen(&self, kind: &'static str, callback: Function) -> Function {
        let id = self
            .shell
            .with(|st, now| st.add_listener(now, &self.name, &self.friends, kind, callback));
        let shell = self.shell;
        let name = self.name.clone();
        let mut done = false;
        js::callback(Box::new(move |_| {
            if let (false, Some(id)) = (done, id) {
                done = true;
                shell.with(|st, now| st.remove_listener(now, &name, kind, id));
            }
        }))
        .into_js_value()
        .into()
    }
}

fn read_meta(meta: &JsValue) -> Result<Meta, JsValue> {
    if meta.is_undefined() || meta.is_null() {
        return Ok(Meta::default());
    }
    codec::meta_from_js(meta).ok_or_else(|| js_error("bad_meta", "meta must be a plain object, e.g. { typing: true }."))
}
