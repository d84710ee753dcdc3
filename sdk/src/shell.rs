//! One tab's driver: the only place in the SDK that reads the clock, holds sockets and
//! timers, and calls back into the page.
//!
//! Map of the file:
//! - [`State`] is plain data plus the core's state machines. Every input (socket, bus,
//!   timer, page event, API call) goes through [`Shell::with`], which borrows the state,
//!   lets it react with `now`, then - with the borrow released - runs the queued
//!   [`Effect`]s (page callbacks, opening a socket, fetching a token) and arms the one
//!   timer at the earliest deadline. Page callbacks therefore never see a borrowed state
//!   and may call back into the SDK.
//! - Every tab keeps its own wants ([`TabWants`]), channel views and listeners. The
//!   leader tab also owns the connection: a `Client` (rules for one connection) and a
//!   `Tabs` ledger (what every tab wants). A follower sends its intents over the bus;
//!   the leader applies each tab's intent to the ledger, and the ledger's changes to the
//!   client.
//! - The connection status (`presence.status`) is the core's [`LinkView`]: the leader
//!   tells it its client's link after every input and broadcasts it when it changes; a
//!   follower is told over the bus. Listeners hear what the tab shows, once per change.
//! - The relay's snapshots, diffs and focus frames are broadcast by the leader, so every
//!   tab applies the same frames to its own views. A page of members (`members()`) is
//!   asked of the leader like an intent and answered to the asking tab alone.

use crate::codec::{self, Post};
use crate::error::{from_failure, js_error};
use gloo_timers::callback::Timeout;
use js_sys::{Function, Math, Promise, Reflect};
use rollcall_core::client::{Client, Event, Failure, Link, Page, Ref};
use rollcall_core::protocol::{close, ErrorCode, Identity, ServerMsg, Status};
use rollcall_core::smallmap::SmallMap;
use rollcall_core::tabs::bus::{BusMsg, ErrorBody};
use rollcall_core::tabs::{Election, Intent, LinkView, TabWants, Tabs, Vote, HEARTBEAT_INTERVAL_MS};
use rollcall_core::time::{earliest, Instant};
use rollcall_core::timing::DEFAULT_UNLOAD_GRACE_MS;
use rollcall_core::view::{Applied, Change, ChannelView};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{BroadcastChannel, WebSocket};

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

enum Role {
    /// Waiting for the lock or the election; another tab holds the connection.
    Follower,
    Leader(Box<Leader>),
    Closed,
}

struct Socket {
    ws: WebSocket,
    _on_open: Callback,
    _on_message: Callback,
    _on_close: Callback,
}

impl Socket {
    /// Close and forget: handlers are detached so its close event is not reported.
    fn shut(self, code: u16, reason: &str) {
        for handler in ["onopen", "onmessage", "onclose"] {
            set(&self.ws, handler, &JsValue::NULL);
        }
        let _ = self.ws.close_with_code_and_reason(code, reason);
    }
}

struct Leader {
    client: Client,
    tabs: Tabs,
    socket: Option<Socket>,
    gen: u64,
    /// Which tab's request a client request answers.
    routes: SmallMap<Ref, Route>,
}

struct Route {
    tab: String,
    req: u64,
    /// `None`: a page of members.
    intent: Option<Intent>,
}

impl Leader {
    /// Hand one change of the browser-wide wants to the client.
    fn apply(&mut self, now: Instant, change: Intent) -> Option<Ref> {
        let c = &mut self.client;
        match change {
            Intent::Enter { ch, meta } => Some(c.enter(now, &ch, meta)),
            Intent::Update { ch, meta } => Some(c.update(now, &ch, meta)),
            Intent::Leave { ch } => Some(c.leave(now, &ch)),
            Intent::Subscribe { ch, friends } => Some(c.subscribe_following(now, &ch, friends)),
            Intent::Unsubscribe { ch } => Some(c.unsubscribe(now, &ch)),
            Intent::Status { status } => {
                c.set_status(now, status);
                None
            }
        }
    }

    fn apply_all(&mut self, now: Instant, changes: Vec<Intent>) {
        for change in changes {
            self.apply(now, change);
        }
    }
}

struct Pending {
    resolve: Function,
    reject: Function,
    ask: Ask,
}

/// What a tab asked: a change to its wants, or a page of a channel's members.
#[derive(Clone)]
enum Ask {
    Want(Intent),
    Page {
        ch: String,
        after: Option<String>,
        limit: Option<usize>,
    },
}

impl Ask {
    fn intent(&self) -> Option<&Intent> {
        match self {
            Ask::Want(intent) => Some(intent),
            Ask::Page { .. } => None,
        }
    }
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
    url: String,
    lock_name: String,
    tab: String,
    client_id: String,
    token_fn: Option<Function>,
    token: Option<String>,
    bus: BroadcastChannel,
    role: Role,
    wants: TabWants,
    views: SmallMap<String, ChannelView>,
    listeners: SmallMap<String, Listeners>,
    pending: SmallMap<u64, Pending>,
    next_req: u64,
    /// The leader this tab last sent its whole wants to.
    synced_with: Option<String>,
    status: Status,
    hidden: bool,
    idle_after_ms: u64,
    last_input: Instant,
    next_heartbeat: Instant,
    /// Only where Web Locks are missing.
    election: Option<Election>,
    /// Resolving it releases the Web Lock (and so the leadership).
    lock_release: Option<Function>,
    connected: bool,
    /// The connection status this tab shows, and the one its listeners last heard.
    link: LinkView,
    shown: Link,
    status_listeners: Vec<(u64, Function)>,
    user: Option<Identity>,
    stopped: Option<ErrorBody>,
    ready: Promise,
    ready_settle: Option<(Function, Function)>,
    effects: Vec<Effect>,
    timer: Option<(Instant, Timeout)>,
}

/// A tab's SDK instance; the JS objects hold it in an `Rc`.
pub struct Shell {
    st: RefCell<State>,
}

impl Shell {
    pub fn new(opts: Options, tab: String, client_id: String, bus: BroadcastChannel) -> Rc<Shell> {
        let (ready, resolve, reject) = deferred();
        // Nobody may be listening to `ready`; a refusal is also reported elsewhere.
        let noop = callback(Box::new(|_| {}));
        let _ = ready.catch(&noop);
        noop.forget();
        let t = now();
        let hidden = is_hidden();
        Rc::new(Shell {
            st: RefCell::new(State {
                url: opts.url,
                lock_name: opts.lock_name,
                tab,
                client_id,
                token_fn: opts.token_fn,
                token: opts.token,
                bus,
                role: Role::Follower,
                wants: TabWants {
                    status: if hidden { Status::Hidden } else { Status::Active },
                    ..TabWants::default()
                },
                views: opts.initial,
                listeners: SmallMap::default(),
                pending: SmallMap::default(),
                next_req: 1,
                synced_with: None,
                status: if hidden { Status::Hidden } else { Status::Active },
                hidden,
                idle_after_ms: opts.idle_after_ms,
                last_input: t,
                next_heartbeat: t,
                election: None,
                lock_release: None,
                connected: false,
                link: LinkView::new(is_online()),
                shown: Link::Connecting,
                status_listeners: Vec::new(),
                user: None,
                stopped: None,
                ready,
                ready_settle: Some((resolve, reject)),
                effects: Vec::new(),
                timer: None,
            }),
        })
    }

    /// Run `f` on the state with the time, then the effects it queued, then re-arm the timer.
    pub fn with<R>(self: &Rc<Self>, f: impl FnOnce(&mut State, Instant) -> R) -> R {
        let t = now();
        let r = {
            let mut st = self.st.borrow_mut();
            let r = f(&mut st, t);
            st.after_input(t);
            r
        };
        self.flush();
        r
    }

    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.st.borrow())
    }

    fn flush(self: &Rc<Self>) {
        loop {
            let effects = std::mem::take(&mut self.st.borrow_mut().effects);
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

    fn arm_timer(self: &Rc<Self>) {
        let mut st = self.st.borrow_mut();
        let Some(deadline) = st.deadline() else {
            st.timer = None;
            return;
        };
        if st.timer.as_ref().is_some_and(|(at, _)| *at == deadline) {
            return;
        }
        let wait = deadline.since(now()).min(u32::MAX as u64) as u32;
        let shell = self.clone();
        let timeout = Timeout::new(wait, move || {
            shell.st.borrow_mut().timer = None;
            shell.with(|st, t| st.on_timer(t));
        });
        st.timer = Some((deadline, timeout));
    }

    // ----- the leader's socket -----

    fn connect_socket(self: &Rc<Self>, fresh_token: bool) {
        let (token_fn, have_token) = self.read(|st| (st.token_fn.clone(), st.token.is_some()));
        match token_fn {
            Some(f) if fresh_token || !have_token => {
                let (ok, failed) = (self.clone(), self.clone());
                let _ = then(
                    &fetch_token(&f),
                    move |token| {
                        ok.with(|st, _| st.token = token.as_string());
                        ok.open_socket();
                        JsValue::UNDEFINED
                    },
                    move |e| {
                        web_sys::console::error_2(&"rollcall: the token function failed".into(), &e);
                        failed.with(|st, t| st.socket_closed(t, None, 1006));
                        JsValue::UNDEFINED
                    },
                );
            }
            _ => self.open_socket(),
        }
    }

    fn open_socket(self: &Rc<Self>) {
        let url = self.read(|st| ws_url(&st.url));
        let gen = {
            let mut st = self.st.borrow_mut();
            let Role::Leader(leader) = &mut st.role else { return };
            leader.gen += 1;
            leader.gen
        };
        let ws = match WebSocket::new(&url) {
            Ok(ws) => ws,
            Err(e) => {
                web_sys::console::error_2(&"rollcall: cannot open a WebSocket".into(), &e);
                self.with(|st, t| st.socket_closed(t, Some(gen), 1006));
                return;
            }
        };
        let shell = self.clone();
        let on_open = callback(Box::new(move |_| {
            shell.with(|st, t| st.socket_opened(t, gen));
        }));
        let shell = self.clone();
        let on_message = callback(Box::new(move |e: JsValue| {
            if let Some(text) = get(&e, "data").as_string() {
                shell.with(|st, t| st.socket_frame(t, gen, &text));
            }
        }));
        let shell = self.clone();
        let on_close = callback(Box::new(move |e: JsValue| {
            let code = get(&e, "code").as_f64().unwrap_or(1006.0) as u16;
            shell.with(|st, t| st.socket_closed(t, Some(gen), code));
        }));
        set(&ws, "onopen", on_open.as_ref());
        set(&ws, "onmessage", on_message.as_ref());
        set(&ws, "onclose", on_close.as_ref());
        let socket = Socket {
            ws,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
        };
        let mut st = self.st.borrow_mut();
        match &mut st.role {
            Role::Leader(leader) if leader.gen == gen => {
                if let Some(old) = leader.socket.replace(socket) {
                    old.shut(close::UNLOADING, "replaced");
                }
            }
            _ => socket.shut(1000, "not leading"),
        }
    }

    fn refresh_token(self: &Rc<Self>) {
        let Some(f) = self.read(|st| st.token_fn.clone()) else {
            return;
        };
        let shell = self.clone();
        let _ = then(
            &fetch_token(&f),
            move |token| {
                let Some(token) = token.as_string() else {
                    return JsValue::UNDEFINED;
                };
                shell.with(|st, t| {
                    st.token = Some(token.clone());
                    if let Role::Leader(l) = &mut st.role {
                        l.client.token_refreshed(t, token);
                    }
                });
                JsValue::UNDEFINED
            },
            |e| {
                web_sys::console::error_2(&"rollcall: the token function failed".into(), &e);
                JsValue::UNDEFINED
            },
        );
    }
}

impl State {
    pub fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader(_))
    }

    pub fn set_bus_handler(&self, f: &Function) {
        set(&self.bus, "onmessage", f);
    }

    pub fn is_closed(&self) -> bool {
        matches!(self.role, Role::Closed)
    }

    pub fn connected(&self) -> bool {
        self.connected
    }

    /// The connection's status as this tab shows it.
    pub fn link(&self) -> Link {
        self.link.shown()
    }

    pub fn add_status_listener(&mut self, f: Function) -> u64 {
        let id = self.status_listeners.last().map_or(1, |(id, _)| id + 1);
        self.status_listeners.push((id, f));
        id
    }

    pub fn remove_status_listener(&mut self, id: u64) {
        self.status_listeners.retain(|(i, _)| *i != id);
    }

    /// The browser's `online`/`offline` events.
    pub fn set_online(&mut self, now: Instant, online: bool) {
        self.link.set_online(online);
        if let Role::Leader(l) = &mut self.role {
            l.client.set_online(now, online);
        }
    }

    /// After every input: the client's outputs, then the status this tab shows.
    fn after_input(&mut self, now: Instant) {
        self.pump(now);
        self.show_link(now);
    }

    /// A change of what the tab shows is told to this tab's listeners and, by the
    /// leader, to the other tabs.
    fn show_link(&mut self, now: Instant) {
        if let Role::Leader(l) = &self.role {
            self.link.told(l.client.link());
        }
        let shown = self.link.shown();
        if shown == self.shown {
            return;
        }
        self.shown = shown;
        if self.is_leader() {
            self.post_status(now);
        }
        let status = codec::status_to_js(shown, now);
        let calls = self
            .status_listeners
            .iter()
            .map(|(_, f)| Effect::Call(f.clone(), status.clone()));
        self.effects.extend(calls);
    }

    /// The leader's status to every tab; the next attempt's time relative to now, as
    /// tabs' clocks have different origins.
    fn post_status(&self, now: Instant) {
        let Role::Leader(l) = &self.role else { return };
        let link = l.client.link();
        let retry_in = match link {
            Link::Reconnecting { at } => at.map(|at| at.since(now)),
            _ => None,
        };
        BusMsg::Status {
            status: link.as_str().to_string(),
            retry_in,
        }
        .post(&self.bus);
    }

    pub fn ready(&self) -> Promise {
        self.ready.clone()
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    pub fn tab(&self) -> &str {
        &self.tab
    }

    pub fn user(&self) -> Option<&Identity> {
        self.user.as_ref()
    }

    pub fn count(&self, ch: &str) -> usize {
        self.views.get(ch).map_or(0, ChannelView::count)
    }

    pub fn users(&self, ch: &str) -> JsValue {
        codec::users_to_js(self.views.get(ch).into_iter().flat_map(ChannelView::users))
    }

    /// The cap of a capped list, as last shown.
    pub fn cap(&self, ch: &str) -> Option<usize> {
        self.views.get(ch).and_then(ChannelView::cap)
    }

    fn channel_state(&self, ch: &str) -> JsValue {
        let users = self.views.get(ch).into_iter().flat_map(ChannelView::users);
        codec::state_to_js(ch, self.count(ch), users, self.cap(ch))
    }

    fn deadline(&self) -> Option<Instant> {
        let mut d = match &self.role {
            Role::Leader(l) => earliest(l.client.poll_timeout(), l.tabs.poll_timeout()),
            Role::Follower => Some(self.next_heartbeat),
            Role::Closed => return None,
        };
        if let Some(e) = &self.election {
            d = earliest(d, Some(e.poll_timeout()));
        }
        if !self.hidden && self.status == Status::Active {
            d = earliest(d, Some(self.last_input + self.idle_after_ms));
        }
        d
    }

    // ----- requests from this tab's page -----

    /// One of this tab's intents: recorded, then sent to the leader; the promise settles
    /// with the leader's answer.
    pub fn request(&mut self, now: Instant, intent: Intent) -> Promise {
        self.ask(now, Ask::Want(intent))
    }

    /// A page of `ch`'s members, asked of the leader; resolves with `{users, next, count}`.
    pub fn members(&mut self, now: Instant, ch: String, after: Option<String>, limit: Option<usize>) -> Promise {
        self.ask(now, Ask::Page { ch, after, limit })
    }

    fn ask(&mut self, now: Instant, ask: Ask) -> Promise {
        let (promise, resolve, reject) = deferred();
        if let Some(err) = &self.stopped {
            let _ = reject.call1(&JsValue::UNDEFINED, &js_error(&err.code, &err.message));
            return promise;
        }
        if self.is_closed() {
            let f = Failure::Closed;
            let _ = reject.call1(&JsValue::UNDEFINED, &from_failure(&f));
            return promise;
        }
        if let Some(intent) = ask.intent() {
            self.wants.apply(intent);
        }
        let req = self.next_req;
        self.next_req += 1;
        self.pending.insert(
            req,
            Pending {
                resolve,
                reject,
                ask: ask.clone(),
            },
        );
        let tab = self.tab.clone();
        self.route_ask(now, tab, req, ask);
        promise
    }

    fn route_ask(&mut self, now: Instant, tab: String, req: u64, ask: Ask) {
        match ask {
            Ask::Want(intent) => self.route(now, tab, req, intent),
            Ask::Page { ch, after, limit } => match &self.role {
                Role::Leader(_) => self.lead_page(now, tab, req, ch, after, limit),
                Role::Follower => BusMsg::Members {
                    tab,
                    req,
                    ch,
                    after,
                    limit,
                }
                .post(&self.bus),
                Role::Closed => {}
            },
        }
    }

    /// An intent that needs no answer (activity, subscriptions made by listeners).
    fn tell(&mut self, now: Instant, intent: Intent) {
        if self.is_closed() || self.stopped.is_some() {
            return;
        }
        self.wants.apply(&intent);
        let tab = self.tab.clone();
        self.route(now, tab, 0, intent);
    }

    fn route(&mut self, now: Instant, tab: String, req: u64, intent: Intent) {
        match &self.role {
            Role::Leader(_) => self.lead_intent(now, tab, req, intent),
            Role::Follower => BusMsg::Intent { tab, req, intent }.post(&self.bus),
            Role::Closed => {}
        }
    }

    /// `friends`: whom the channel handle follows in a capped list; added to what this
    /// tab already follows there.
    pub fn add_listener(&mut self, now: Instant, ch: &str, friends: &[String], kind: &str, f: Function) -> Option<u64> {
        let first = self.listeners.get(ch).is_none_or(Listeners::is_empty);
        let l = self.listeners.or_default(ch);
        l.next += 1;
        let id = l.next;
        l.list(kind)?.push((id, f.clone()));
        if kind == "state" && self.views.get(ch).is_some_and(|v| v.is_known()) {
            // Render what is known (a snapshot, or the initial state) at once; before
            // that, there is nothing to show (not an empty channel).
            let state = self.channel_state(ch);
            self.effects.push(Effect::Call(f, state));
        }
        let subscribed = self.wants.subscribed.iter().any(|c| c == ch);
        let mut following = self.wants.friends.get(ch).cloned().unwrap_or_default();
        let before = following.len();
        for friend in friends {
            if !following.contains(friend) {
                following.push(friend.clone());
            }
        }
        if (first && !subscribed) || (subscribed && following.len() > before) {
            self.views.or_default(ch);
            self.tell(
                now,
                Intent::Subscribe {
                    ch: ch.to_string(),
                    friends: following,
                },
            );
        }
        Some(id)
    }

    pub fn remove_listener(&mut self, now: Instant, ch: &str, kind: &str, id: u64) {
        let Some(l) = self.listeners.get_mut(ch) else { return };
        if let Some(list) = l.list(kind) {
            list.retain(|(i, _)| *i != id);
        }
        if l.is_empty() {
            self.listeners.remove(ch);
            self.views.remove(ch);
            self.tell(now, Intent::Unsubscribe { ch: ch.to_string() });
        }
    }

    // ----- page activity -----

    pub fn input(&mut self, now: Instant) {
        self.last_input = now;
        if !self.hidden && self.status != Status::Active {
            self.set_status(now, Status::Active);
        }
    }

    pub fn visibility(&mut self, now: Instant, hidden: bool) {
        self.hidden = hidden;
        if hidden {
            self.set_status(now, Status::Hidden);
        } else {
            self.last_input = now;
            self.set_status(now, Status::Active);
        }
    }

    fn set_status(&mut self, now: Instant, status: Status) {
        if status != self.status {
            self.status = status;
            self.tell(now, Intent::Status { status });
        }
    }

    // ----- leadership -----

    pub fn become_leader(&mut self, now: Instant) {
        if !matches!(self.role, Role::Follower) {
            return;
        }
        let mut leader = Leader {
            client: Client::new(self.client_id.clone(), self.token_fn.is_some()),
            tabs: Tabs::new(self.tab.clone(), now),
            socket: None,
            gen: 0,
            routes: SmallMap::default(),
        };
        // What this tab showed carries over: a handover is no reconnect.
        self.link.lead(now, &mut leader.client);
        let changes = leader.tabs.sync(now, &self.tab, self.wants.clone());
        leader.apply_all(now, changes);
        leader.client.start(now);
        self.role = Role::Leader(Box::new(leader));
        self.connected = false;
        self.synced_with = Some(self.tab.clone());
        // Requests sent to a leader that is gone: their wants are in the sync above;
        // running them again routes their answers here.
        let pending: Vec<(u64, Ask)> = self.pending.iter().map(|(req, p)| (*req, p.ask.clone())).collect();
        for (req, ask) in pending {
            let tab = self.tab.clone();
            self.route_ask(now, tab, req, ask);
        }
    }

    fn step_down(&mut self) {
        if let Role::Leader(l) = std::mem::replace(&mut self.role, Role::Follower) {
            if let Some(socket) = l.socket {
                socket.shut(close::UNLOADING, "handing over");
            }
        }
        self.connected = false;
        self.synced_with = None;
    }

    pub fn set_lock_release(&mut self, release: Function) {
        self.lock_release = Some(release);
    }

    pub fn start_election(&mut self, now: Instant) {
        self.election = Some(Election::new(self.tab.clone(), now, jitter()));
    }

    fn votes(&mut self, now: Instant, votes: Vec<Vote>) {
        for vote in votes {
            match vote {
                Vote::Announce => BusMsg::Announce { tab: self.tab.clone() }.post(&self.bus),
                Vote::BecameLeader => self.become_leader(now),
                Vote::SteppedDown { .. } => self.step_down(),
            }
        }
    }

    /// The leader's handling of one tab's intent.
    fn lead_intent(&mut self, now: Instant, tab: String, req: u64, intent: Intent) {
        if let Some(err) = self.stopped.clone() {
            // The connection ended for good (e.g. a refused token): say why at once.
            self.reply(now, tab, req, Some(err), None);
            return;
        }
        let Role::Leader(leader) = &mut self.role else { return };
        let changes = leader.tabs.apply(now, &tab, intent.clone());
        let mut routed = false;
        for change in changes {
            if let Some(r) = leader.apply(now, change) {
                if !routed && req != 0 {
                    leader.routes.insert(
                        r,
                        Route {
                            tab: tab.clone(),
                            req,
                            intent: Some(intent.clone()),
                        },
                    );
                    routed = true;
                }
            }
        }
        if !routed {
            // Nothing changed for the connection (another tab already wants it).
            let snapshot = match &intent {
                Intent::Subscribe { ch, .. } => leader.client.view(ch).and_then(|v| v.snapshot(ch)),
                _ => None,
            };
            self.reply(now, tab, req, None, None);
            if let Some(frame) = snapshot {
                self.broadcast_frame(frame);
            }
        }
    }

    /// The leader's handling of one tab's page request.
    fn lead_page(
        &mut self,
        now: Instant,
        tab: String,
        req: u64,
        ch: String,
        after: Option<String>,
        limit: Option<usize>,
    ) {
        if let Some(err) = self.stopped.clone() {
            self.reply(now, tab, req, Some(err), None);
            return;
        }
        let Role::Leader(leader) = &mut self.role else { return };
        let r = leader.client.members(now, &ch, after, limit);
        leader.routes.insert(r, Route { tab, req, intent: None });
    }

    fn reply(&mut self, now: Instant, tab: String, req: u64, error: Option<ErrorBody>, page: Option<Page>) {
        if req == 0 {
            return;
        }
        if tab == self.tab {
            self.settle(now, req, error, page);
        } else {
            BusMsg::Reply { tab, req, error, page }.post(&self.bus);
        }
    }

    fn settle(&mut self, _now: Instant, req: u64, error: Option<ErrorBody>, page: Option<Page>) {
        let Some(p) = self.pending.remove(&req) else { return };
        match error {
            None => {
                let value = page.as_ref().map_or(JsValue::UNDEFINED, codec::page_to_js);
                self.effects.push(Effect::Call(p.resolve, value));
            }
            Some(err) => {
                if is_permanent(&err.code) {
                    match &p.ask {
                        Ask::Want(Intent::Enter { ch, .. }) => self.wants.apply(&Intent::Leave { ch: ch.clone() }),
                        Ask::Want(Intent::Subscribe { ch, .. }) => {
                            self.wants.apply(&Intent::Unsubscribe { ch: ch.clone() });
                        }
                        _ => {}
                    }
                }
                self.effects
                    .push(Effect::Call(p.reject, js_error(&err.code, &err.message)));
            }
        }
    }

    fn broadcast_frame(&mut self, frame: ServerMsg) {
        BusMsg::Frame { frame: frame.clone() }.post(&self.bus);
        self.apply_frame(&frame);
    }

    fn apply_frame(&mut self, frame: &ServerMsg) {
        let ch = match frame {
            ServerMsg::Snapshot { ch, .. } | ServerMsg::Diff { ch, .. } | ServerMsg::Focus { ch, .. } => ch.clone(),
            _ => return,
        };
        if !self.wants.subscribed.contains(&ch) {
            return;
        }
        let view = self.views.or_default(&ch);
        match view.apply(frame) {
            Applied::Changed(changes) => {
                let Some(l) = self.listeners.get(&ch) else { return };
                let mut calls = Vec::new();
                for change in changes {
                    let (list, member) = match &change {
                        Change::Join(m) => (&l.join, m),
                        Change::Leave(m) => (&l.leave, m),
                        Change::Update(m) => (&l.update, m),
                    };
                    let user = codec::member_to_js(member);
                    calls.extend(list.iter().map(|(_, f)| (f.clone(), user.clone())));
                }
                let state = self.channel_state(&ch);
                calls.extend(l.state.iter().map(|(_, f)| (f.clone(), state.clone())));
                self.effects.extend(calls.into_iter().map(|(f, a)| Effect::Call(f, a)));
            }
            Applied::Stale => {}
            Applied::Gap => match &self.role {
                Role::Leader(l) => {
                    if let Some(snap) = l.client.view(&ch).and_then(|v| v.snapshot(&ch)) {
                        self.apply_frame(&snap);
                    }
                }
                _ => BusMsg::Resync {
                    tab: self.tab.clone(),
                    ch,
                }
                .post(&self.bus),
            },
        }
    }

    // ----- inputs -----

    /// Drain the leader's client: frames to the socket, events to the page and tabs.
    fn pump(&mut self, now: Instant) {
        loop {
            let Role::Leader(l) = &mut self.role else { return };
            while let Some(msg) = l.client.poll_transmit() {
                if let Some(s) = &l.socket {
                    let _ = s.ws.send_with_str(&codec::client_msg_text(&msg));
                }
            }
            let Some(event) = l.client.poll_event() else { return };
            self.on_client_event(now, event);
        }
    }

    fn on_client_event(&mut self, now: Instant, event: Event) {
        let Role::Leader(l) = &mut self.role else { return };
        match event {
            Event::Connect { fresh_token } => self.effects.push(Effect::Connect { fresh_token }),
            Event::Disconnect { code } => {
                if let Some(socket) = l.socket.take() {
                    socket.shut(code, "");
                }
                self.connected = false;
            }
            Event::Welcome { user, .. } => {
                self.connected = true;
                self.user = Some(user);
                if let Some((resolve, _)) = self.ready_settle.take() {
                    self.effects.push(Effect::Call(resolve, JsValue::UNDEFINED));
                }
                // Followers learn at once that the relay is up.
                BusMsg::Ping {
                    leader: self.tab.clone(),
                    connected: true,
                }
                .post(&self.bus);
            }
            Event::Reply { reference, result } => {
                let Some(route) = l.routes.remove(&reference) else {
                    return;
                };
                let error = result.err().map(|f| ErrorBody {
                    code: f.code().to_string(),
                    message: f.sentence().to_string(),
                });
                if error.as_ref().is_some_and(|e| is_permanent(&e.code)) {
                    // The client dropped the want; the ledger must forget it too.
                    let undo = match &route.intent {
                        Some(Intent::Enter { ch, .. }) => Some(Intent::Leave { ch: ch.clone() }),
                        Some(Intent::Subscribe { ch, .. }) => Some(Intent::Unsubscribe { ch: ch.clone() }),
                        _ => None,
                    };
                    if let Some(undo) = undo {
                        let _ = l.tabs.apply(now, &route.tab, undo);
                    }
                }
                self.reply(now, route.tab, route.req, error, None);
            }
            Event::Page { reference, page } => {
                if let Some(route) = l.routes.remove(&reference) {
                    self.reply(now, route.tab, route.req, None, Some(page));
                }
            }
            Event::Frame(frame) => self.broadcast_frame(frame),
            Event::Error { ch, failure } => {
                let error = ErrorBody {
                    code: failure.code().to_string(),
                    message: failure.sentence().to_string(),
                };
                BusMsg::Error {
                    ch: ch.clone(),
                    error: error.clone(),
                }
                .post(&self.bus);
                self.tell_error(ch.as_deref(), &error);
            }
            Event::TokenNeeded => self.effects.push(Effect::RefreshToken),
            Event::Stopped(failure) => {
                let body = ErrorBody {
                    code: failure.code().to_string(),
                    message: failure.sentence().to_string(),
                };
                if failure != Failure::Closed {
                    BusMsg::Stopped { error: body.clone() }.post(&self.bus);
                }
                self.stop(body);
            }
        }
    }

    /// Call the error listeners of `ch`, or of every channel.
    fn tell_error(&mut self, ch: Option<&str>, error: &ErrorBody) {
        let err = js_error(&error.code, &error.message);
        web_sys::console::warn_2(&"rollcall:".into(), &err);
        for (name, l) in self.listeners.iter() {
            if ch.is_none_or(|ch| ch == name.as_str()) {
                for (_, f) in &l.error {
                    self.effects.push(Effect::Call(f.clone(), err.clone()));
                }
            }
        }
    }

    /// The connection ended for good: fail everything waiting.
    fn stop(&mut self, error: ErrorBody) {
        self.connected = false;
        if let Some((_, reject)) = self.ready_settle.take() {
            self.effects
                .push(Effect::Call(reject, js_error(&error.code, &error.message)));
        }
        for (_, p) in std::mem::take(&mut self.pending).0 {
            self.effects
                .push(Effect::Call(p.reject, js_error(&error.code, &error.message)));
        }
        if error.code != Failure::Closed.code() && self.stopped.is_none() {
            // A page that was welcomed long ago has no pending promise to learn from.
            let err = js_error(&error.code, &error.message);
            for (_, l) in self.listeners.iter() {
                let calls = l.error.iter().map(|(_, f)| Effect::Call(f.clone(), err.clone()));
                self.effects.extend(calls);
            }
        }
        self.stopped = Some(error);
        self.link.close();
    }

    fn socket_opened(&mut self, now: Instant, gen: u64) {
        let token = self.token.clone().unwrap_or_default();
        if let Role::Leader(l) = &mut self.role {
            if l.gen == gen {
                l.client.opened(now, token);
            }
        }
    }

    fn socket_frame(&mut self, now: Instant, gen: u64, text: &str) {
        if let Role::Leader(l) = &mut self.role {
            if l.gen == gen {
                if let Some(msg) = codec::parse(text).and_then(|v| codec::server_msg_from_js(&v)) {
                    l.client.handle_msg(now, msg);
                }
            }
        }
    }

    fn socket_closed(&mut self, now: Instant, gen: Option<u64>, code: u16) {
        if let Role::Leader(l) = &mut self.role {
            if gen.is_none_or(|g| g == l.gen) {
                l.socket = None;
                self.connected = false;
                l.client.closed(now, code, jitter());
            }
        }
    }

    fn on_timer(&mut self, now: Instant) {
        if !self.hidden && self.status == Status::Active && now.since(self.last_input) >= self.idle_after_ms {
            self.set_status(now, Status::Idle);
        }
        if let Some(e) = &mut self.election {
            let votes = e.handle_timeout(now, jitter());
            self.votes(now, votes);
        }
        match &mut self.role {
            Role::Leader(l) => {
                l.client.handle_timeout(now, jitter());
                let tick = l.tabs.handle_timeout(now);
                l.apply_all(now, tick.intents);
                if tick.ping {
                    BusMsg::Ping {
                        leader: self.tab.clone(),
                        connected: self.connected,
                    }
                    .post(&self.bus);
                    // Again with every ping: a tab frozen or started meanwhile catches up.
                    self.post_status(now);
                    if let Some(error) = self.stopped.clone() {
                        BusMsg::Stopped { error }.post(&self.bus);
                    }
                }
            }
            Role::Follower => {
                if now >= self.next_heartbeat {
                    self.next_heartbeat = now + HEARTBEAT_INTERVAL_MS;
                    BusMsg::Heartbeat { tab: self.tab.clone() }.post(&self.bus);
                }
            }
            Role::Closed => {}
        }
    }

    pub fn on_bus(&mut self, now: Instant, msg: BusMsg) {
        if self.is_closed() {
            return;
        }
        let leading = self.is_leader();
        match msg {
            BusMsg::Intent { tab, req, intent } if leading => self.lead_intent(now, tab, req, intent),
            BusMsg::Members {
                tab,
                req,
                ch,
                after,
                limit,
            } if leading => self.lead_page(now, tab, req, ch, after, limit),
            BusMsg::Reply { tab, req, error, page } if tab == self.tab => self.settle(now, req, error, page),
            BusMsg::Frame { frame } if !leading => self.apply_frame(&frame),
            BusMsg::Ping { leader, connected } if !leading => {
                BusMsg::Pong { tab: self.tab.clone() }.post(&self.bus);
                self.follow(now, leader, connected, false);
            }
            BusMsg::Who { tab, leader, connected } if !leading && tab == self.tab => {
                self.follow(now, leader, connected, true);
            }
            BusMsg::Pong { tab } | BusMsg::Heartbeat { tab } if leading => {
                let Role::Leader(l) = &mut self.role else { return };
                if !l.tabs.heartbeat(now, &tab) {
                    // A tab this leader does not know (new, or dropped as vanished): ask
                    // it for its wants. Not a ping: a ping's pong would come back here.
                    BusMsg::Who {
                        tab,
                        leader: self.tab.clone(),
                        connected: self.connected,
                    }
                    .post(&self.bus);
                    self.post_status(now);
                    if let Some(error) = self.stopped.clone() {
                        BusMsg::Stopped { error }.post(&self.bus);
                    }
                }
            }
            BusMsg::Sync { tab, wants } if leading => {
                let subscribed: Vec<String> = wants.subscribed.to_vec();
                let Role::Leader(l) = &mut self.role else { return };
                let changes = l.tabs.sync(now, &tab, wants);
                l.apply_all(now, changes);
                // Bring the tab's views up to date with what is already known.
                let snaps: Vec<ServerMsg> = subscribed
                    .iter()
                    .filter_map(|ch| l.client.view(ch).and_then(|v| v.snapshot(ch)))
                    .collect();
                for snap in snaps {
                    self.broadcast_frame(snap);
                }
            }
            BusMsg::Bye { tab, unloading } if leading => {
                if let Role::Leader(l) = &mut self.role {
                    if unloading {
                        let grace = l.client.terms().map_or(DEFAULT_UNLOAD_GRACE_MS, |t| t.unload_grace_ms);
                        l.tabs.unloading(now, &tab, grace);
                    } else {
                        let changes = l.tabs.remove(&tab);
                        l.apply_all(now, changes);
                    }
                }
            }
            BusMsg::Resync { ch, .. } if leading => {
                let snap = match &self.role {
                    Role::Leader(l) => l.client.view(&ch).and_then(|v| v.snapshot(&ch)),
                    _ => None,
                };
                if let Some(snap) = snap {
                    self.broadcast_frame(snap);
                }
            }
            BusMsg::Stopped { error } if !leading => self.stop(error),
            BusMsg::Status { status, retry_in } if !leading => {
                if let Some(link) = codec::link_from(&status, retry_in.map(|ms| now + ms)) {
                    self.link.told(link);
                }
            }
            BusMsg::Error { ch, error } if !leading => self.tell_error(ch.as_deref(), &error),
            BusMsg::Announce { tab } => {
                if let Some(e) = &mut self.election {
                    let votes = e.heard_announce(now, &tab, jitter());
                    self.votes(now, votes);
                }
            }
            BusMsg::Resign { tab } => {
                if let Some(e) = &mut self.election {
                    e.heard_resign(now, &tab, jitter());
                }
            }
            _ => {}
        }
    }

    pub fn lock_name(&self) -> &str {
        &self.lock_name
    }

    /// `pageshow` from the back/forward cache: a page put away by `pagehide` (not by
    /// `close()`) comes back as a follower and runs for the lock again; its wants are
    /// still here and are asserted as any tab's. `true` if it should run for the lock.
    pub fn revive(&mut self, now: Instant) -> bool {
        if !self.is_closed() || self.stopped.is_some() {
            return false;
        }
        self.role = Role::Follower;
        self.synced_with = None;
        self.connected = false;
        self.next_heartbeat = now;
        true
    }

    /// A leader spoke: note whether the relay is up, and send it this tab's whole wants
    /// if it is new to this tab (or asked: `force`).
    fn follow(&mut self, now: Instant, leader: String, connected: bool, force: bool) {
        self.connected = connected;
        if connected {
            if let Some((resolve, _)) = self.ready_settle.take() {
                self.effects.push(Effect::Call(resolve, JsValue::UNDEFINED));
            }
        }
        let changed = self.synced_with.as_deref() != Some(leader.as_str());
        if !changed && !force {
            return;
        }
        let handed_over = changed && self.synced_with.is_some();
        self.synced_with = Some(leader);
        BusMsg::Sync {
            tab: self.tab.clone(),
            wants: self.wants.clone(),
        }
        .post(&self.bus);
        if handed_over {
            // Requests the old leader took with it: ask the new one.
            let pending: Vec<(u64, Ask)> = self.pending.iter().map(|(req, p)| (*req, p.ask.clone())).collect();
            for (req, ask) in pending {
                let tab = self.tab.clone();
                self.route_ask(now, tab, req, ask);
            }
        }
    }

    /// `pagehide`: the leader tells the relay by beacon and closes with 4001 (a refresh
    /// that comes back within the unload grace shows nothing); a follower says bye.
    pub fn page_hidden(&mut self, _now: Instant) {
        match std::mem::replace(&mut self.role, Role::Closed) {
            Role::Leader(l) => {
                if let Some(session) = l.client.session() {
                    send_beacon(&self.url, session);
                }
                if let Some(socket) = l.socket {
                    socket.shut(close::UNLOADING, "unloading");
                }
                BusMsg::Resign { tab: self.tab.clone() }.post(&self.bus);
                self.release_lock();
            }
            Role::Follower => BusMsg::Bye {
                tab: self.tab.clone(),
                unloading: true,
            }
            .post(&self.bus),
            Role::Closed => {}
        }
    }

    /// `presence.close()`: this tab leaves everything. A leader with other tabs hands the
    /// connection over (they keep their presence); a lone leader closes it.
    pub fn close(&mut self, now: Instant) {
        if self.is_closed() {
            return;
        }
        match &mut self.role {
            Role::Leader(l) => {
                let others = l.tabs.tab_ids().any(|t| t != self.tab);
                if others {
                    let mine = self.wants.intents();
                    for intent in mine {
                        let undo = match intent {
                            Intent::Enter { ch, .. } => Intent::Leave { ch },
                            Intent::Subscribe { ch, .. } => Intent::Unsubscribe { ch },
                            other => other,
                        };
                        let changes = l.tabs.apply(now, &self.tab, undo);
                        l.apply_all(now, changes);
                    }
                    self.pump(now);
                    self.page_hidden(now);
                } else {
                    l.client.close(now);
                    self.pump(now);
                    self.release_lock();
                }
            }
            Role::Follower => BusMsg::Bye {
                tab: self.tab.clone(),
                unloading: false,
            }
            .post(&self.bus),
            Role::Closed => {}
        }
        self.role = Role::Closed;
        self.election = None;
        self.timer = None;
        self.stop(ErrorBody {
            code: Failure::Closed.code().to_string(),
            message: Failure::Closed.sentence().to_string(),
        });
        self.bus.close();
    }

    fn release_lock(&mut self) {
        if let Some(release) = self.lock_release.take() {
            self.effects.push(Effect::Call(release, JsValue::UNDEFINED));
        }
    }
}

/// Codes after which a want is dropped rather than re-asserted.
fn is_permanent(code: &str) -> bool {
    ErrorCode::parse(code).is_some_and(ErrorCode::is_permanent)
}

/// A promise with its resolve and reject functions.
pub fn deferred() -> (Promise, Function, Function) {
    // The executor runs synchronously, so both are set before `new` returns.
    let mut resolve: Function = JsValue::UNDEFINED.unchecked_into();
    let mut reject: Function = JsValue::UNDEFINED.unchecked_into();
    let promise = Promise::new(&mut |res, rej| {
        resolve = res;
        reject = rej;
    });
    (promise, resolve, reject)
}

/// Strings end to end. Not `format!` nor `concat()`: both bring in more of the
/// formatting and slice machinery than the wasm otherwise needs.
pub fn cat(parts: &[&str]) -> String {
    let mut s = String::new();
    for part in parts {
        s.push_str(part);
    }
    s
}

/// `s` without trailing slashes (by bytes: `trim_end_matches` brings a pattern searcher).
pub fn trim_slashes(s: &str) -> &str {
    let mut end = s.len();
    while end > 0 && s.as_bytes().get(end - 1) == Some(&b'/') {
        end -= 1;
    }
    s.get(..end).unwrap_or(s)
}

/// `http(s)://host` -> `ws(s)://host/v1/ws`.
pub fn ws_url(base: &str) -> String {
    let (scheme, rest) = match (base.strip_prefix("https://"), base.strip_prefix("http://")) {
        (Some(r), _) => ("wss://", r),
        (None, Some(r)) => ("ws://", r),
        (None, None) => ("", base),
    };
    cat(&[scheme, trim_slashes(rest), "/v1/ws"])
}

fn send_beacon(base: &str, session: &str) {
    let Some(window) = web_sys::window() else { return };
    let url = cat(&[trim_slashes(base), "/v1/beacon"]);
    let body = js_sys::Object::new();
    let _ = Reflect::set(&body, &"session".into(), &session.into());
    let body = codec::stringify(&body);
    // A string body goes as text/plain: no CORS preflight, so it leaves even as the page dies.
    let _ = window.navigator().send_beacon_with_opt_str(&url, Some(&body));
}

/// Event handlers and fields are set and read through `Reflect` rather than web-sys's
/// typed accessors: each accessor is one more import, with its glue, in the package.
pub fn is_hidden() -> bool {
    web_sys::window()
        .and_then(|w| w.document())
        .is_some_and(|d| get(&d, "visibilityState").as_string().as_deref() == Some("hidden"))
}

/// `navigator.onLine`; a browser without it is taken as online.
pub fn is_online() -> bool {
    web_sys::window().is_none_or(|w| get(&get(&w, "navigator"), "onLine").as_bool() != Some(false))
}

pub fn set(target: &JsValue, key: &str, value: &JsValue) {
    let _ = Reflect::set(target, &JsValue::from_str(key), value);
}

/// `promise.then(on_ok, on_err)` with Rust closures. Plain callbacks rather than an
/// async executor: the executor would weigh more in the wasm than the SDK's rules.
pub fn then(
    promise: &Promise,
    on_ok: impl FnOnce(JsValue) -> JsValue + 'static,
    on_err: impl FnOnce(JsValue) -> JsValue + 'static,
) -> Promise {
    then_boxed(promise, Box::new(on_ok), Box::new(on_err))
}

/// A Rust callback for JS, called at most once.
pub type Once = Box<dyn FnOnce(JsValue) -> JsValue>;

/// One JS function type for every one-shot callback: wasm-bindgen emits its shims per
/// closure type, so boxing them first keeps one copy instead of one per call site.
pub fn once(f: Once) -> JsValue {
    Closure::once_into_js(move |v: JsValue| f(v))
}

/// A Rust callback for JS, called any number of times; one closure type for all, as
/// for [`once`].
pub type Callback = Closure<dyn FnMut(JsValue)>;

pub fn callback(f: Box<dyn FnMut(JsValue)>) -> Callback {
    Closure::wrap(f)
}

fn then_boxed(promise: &Promise, on_ok: Once, on_err: Once) -> Promise {
    let ok = once(on_ok);
    let err = once(on_err);
    get(promise, "then")
        .unchecked_into::<Function>()
        .call2(promise, &ok, &err)
        .map_or_else(|e| Promise::reject(&e), JsCast::unchecked_into)
}

/// The page's token function, called now: a promise of the token string.
pub fn fetch_token(f: &Function) -> Promise {
    let value = match f.call0(&JsValue::UNDEFINED) {
        Ok(v) => v,
        Err(e) => return Promise::reject(&e),
    };
    then(
        &Promise::resolve(&value),
        |v| {
            if v.is_string() {
                v
            } else {
                Promise::reject(&js_error(
                    "bad_token",
                    "The token function must return (a promise of) a string.",
                ))
                .into()
            }
        },
        |e| Promise::reject(&e).into(),
    )
}

/// Read a property, treating a throwing getter as missing.
pub fn get(target: &JsValue, key: &str) -> JsValue {
    Reflect::get(target, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}
