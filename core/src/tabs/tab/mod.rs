//! One tab's side of sharing a connection: the tab protocol, with no browser in it.
//!
//! Map of the file:
//! - A [`Tab`] is a follower, the leader or closed. Every tab keeps its own wants
//!   ([`TabWants`]) and channel views, and asks for changes with [`Tab::ask`]; the answer
//!   comes back as [`Output::Resolve`] or [`Output::Reject`] with the same number.
//! - The leader owns the connection: a [`Client`] (rules for one connection) and the
//!   [`Tabs`] ledger (what every tab wants). A tab's intent, its own or a follower's over
//!   the bus, goes to the ledger; the ledger's changes go to the client; the client's
//!   answer is routed back to the tab that asked. The relay's snapshots, diffs and focus
//!   frames are broadcast, so every tab applies the same frames to its own views.
//! - A follower sends its intents to the leader, answers pings, heartbeats, and when a
//!   leader it has not synced with speaks, sends it its whole wants; requests the old
//!   leader took with it are asked again of the new one.
//! - The connection status (`presence.status`) is the [`LinkView`]: the leader tells it
//!   its client's link after every input and broadcasts it when it changes; a follower is
//!   told over the bus. [`Output::Link`] says when what the tab shows changed.
//!
//! Child module `lead`: the leader's side (taking over, routing intents, the
//! connection's events). Tests run several tabs over a simulated bus (`tests`).
//!
//! The shell feeds inputs with `now` (and `jitter` in `[0, 1)` where a retry or an
//! election may be scheduled), calls [`Tab::after_input`], does what
//! [`Tab::poll_output`] returns, and arms one timer at [`Tab::poll_timeout`].

use super::bus::{BusMsg, ErrorBody};
use super::{Election, Intent, LinkView, TabWants, Tabs, Vote, HEARTBEAT_INTERVAL_MS};
use crate::client::{Client, Event, Link, Page, Ref};
use crate::protocol::{close, ClientMsg, ErrorCode, ServerMsg, Status};
use crate::smallmap::Queue;
use crate::smallmap::SmallMap;
use crate::time::{earliest, Instant};
use crate::timing::DEFAULT_UNLOAD_GRACE_MS;
use crate::view::{Applied, Change, ChannelView};

mod lead;
#[cfg(test)]
mod tests;

use lead::Leader;

/// What the shell must do, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Post this on the bus, to the other tabs.
    Bus(BusMsg),
    /// Write this frame on the socket, if one is open.
    Send(ClientMsg),
    /// Open a socket (with a token fresh from the token function when asked), then call
    /// [`Tab::socket_opened`].
    Connect { fresh_token: bool },
    /// Close the socket with `code` and forget it: its close event must not be reported.
    CloseSocket { code: u16, reason: &'static str },
    /// Get a new token from the token function for [`Tab::token_refreshed`].
    RefreshToken,
    /// The page is going: tell the relay by beacon, for this session.
    Beacon { session: String },
    /// Let go of the Web Lock (and so of the leadership).
    ReleaseLock,
    /// The connection is up: `ready` resolves (once).
    Ready,
    /// The connection ended before it was ever up: `ready` rejects (once).
    ReadyFailed(ErrorBody),
    /// A request of this tab (the number [`Tab::ask`] gave) succeeded.
    Resolve { req: u64, page: Option<Page> },
    /// A request of this tab failed.
    Reject { req: u64, error: ErrorBody },
    /// A channel's view changed: tell its listeners these changes, then its state.
    Changed { ch: String, changes: Vec<Change> },
    /// An error for the listeners of `ch`, or of every channel; worth a line in the log.
    Error { ch: Option<String>, error: ErrorBody },
    /// The connection ended for good (not by `close()`): every channel's error listeners
    /// hear it, once.
    Stopped(ErrorBody),
    /// What this tab shows as the connection's status changed.
    Link(Link),
}

/// What a tab asked: a change to its wants, or a page of a channel's members.
#[derive(Clone, Debug, PartialEq)]
pub enum Ask {
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

/// How a tab starts.
#[derive(Clone, Debug, Default)]
pub struct TabSetup {
    pub tab: String,
    pub client_id: String,
    /// The page gave a token function: an expired token can be replaced.
    pub refreshable_token: bool,
    /// Input on a visible page more recent than this keeps the status `active`.
    pub idle_after_ms: u64,
    /// Views shown before any snapshot (a server-rendered initial state).
    pub initial: SmallMap<String, ChannelView>,
    pub hidden: bool,
    pub online: bool,
}

#[derive(Debug)]
enum Role {
    /// Waiting for the lock or the election; another tab holds the connection.
    Follower,
    Leader(Box<Leader>),
    Closed,
}

/// One tab's state machine: its wants, views and shown status, and, while it leads,
/// the connection shared by every tab.
#[derive(Debug)]
pub struct Tab {
    tab: String,
    client_id: String,
    refreshable_token: bool,
    role: Role,
    wants: TabWants,
    views: SmallMap<String, ChannelView>,
    /// This tab's requests not answered yet.
    pending: SmallMap<u64, Ask>,
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
    connected: bool,
    /// The connection status this tab shows, and the one last told to the shell.
    link: LinkView,
    shown: Link,
    stopped: Option<ErrorBody>,
    ready_pending: bool,
    outputs: Queue<Output>,
}

impl Tab {
    pub fn new(now: Instant, setup: TabSetup) -> Tab {
        let status = if setup.hidden { Status::Hidden } else { Status::Active };
        Tab {
            tab: setup.tab,
            client_id: setup.client_id,
            refreshable_token: setup.refreshable_token,
            role: Role::Follower,
            wants: TabWants {
                status,
                ..TabWants::default()
            },
            views: setup.initial,
            pending: SmallMap::default(),
            next_req: 1,
            synced_with: None,
            status,
            hidden: setup.hidden,
            idle_after_ms: setup.idle_after_ms,
            last_input: now,
            next_heartbeat: now,
            election: None,
            connected: false,
            link: LinkView::new(setup.online),
            shown: Link::Connecting,
            stopped: None,
            ready_pending: true,
            outputs: Queue::default(),
        }
    }

    // ----- what the page reads -----

    pub fn me(&self) -> &str {
        &self.tab
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    pub fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader(_))
    }

    pub fn is_closed(&self) -> bool {
        matches!(self.role, Role::Closed)
    }

    /// Closed for good (`close()`, or closed after the connection ended): nothing can
    /// bring this tab back, so the shell may let it go once its outputs are taken. A tab
    /// put away by `pagehide` is closed but may be revived.
    pub fn is_done(&self) -> bool {
        self.is_closed() && self.stopped.is_some()
    }

    /// The relay is up, as this tab last heard.
    pub fn connected(&self) -> bool {
        self.connected
    }

    /// The connection's status as this tab shows it.
    pub fn link(&self) -> Link {
        self.link.shown()
    }

    /// This tab's view of `ch`.
    pub fn view(&self, ch: &str) -> Option<&ChannelView> {
        self.views.get(ch)
    }

    /// What this tab wants (to test, and to show).
    pub fn wants(&self) -> &TabWants {
        &self.wants
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
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

    /// After every input: the client's outputs, then the status this tab shows.
    pub fn after_input(&mut self, now: Instant) {
        self.pump(now);
        self.show_link(now);
    }

    fn post(&mut self, msg: BusMsg) {
        self.outputs.push_back(Output::Bus(msg));
    }

    /// A change of what the tab shows is told to the shell and, by the leader, to the
    /// other tabs.
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
        self.outputs.push_back(Output::Link(shown));
    }

    /// The leader's status to every tab; the next attempt's time relative to now, as
    /// tabs' clocks have different origins.
    fn post_status(&mut self, now: Instant) {
        let Role::Leader(l) = &self.role else { return };
        let link = l.client.link();
        let retry_in = match link {
            Link::Reconnecting { at } => at.map(|at| at.since(now)),
            _ => None,
        };
        self.post(BusMsg::Status {
            status: link.as_str().to_string(),
            retry_in,
        });
    }

    /// The leader's status, and the error that ended the connection if it ended, to
    /// every tab: with each ping, and to a tab the leader did not know.
    fn post_news(&mut self, now: Instant) {
        self.post_status(now);
        if let Some(error) = self.stopped.clone() {
            self.post(BusMsg::Stopped { error });
        }
    }

    /// The browser's `online`/`offline` events.
    pub fn set_online(&mut self, now: Instant, online: bool) {
        self.link.set_online(online);
        if let Role::Leader(l) = &mut self.role {
            l.client.set_online(now, online);
        }
    }

    // ----- requests from this tab's page -----

    /// One of this tab's requests: an intent is recorded in its wants, then sent to the
    /// leader; the answer comes as [`Output::Resolve`] or [`Output::Reject`] with the
    /// number returned. A tab whose connection ended is refused at once.
    pub fn ask(&mut self, now: Instant, ask: Ask) -> Result<u64, ErrorBody> {
        if let Some(err) = &self.stopped {
            return Err(err.clone());
        }
        if self.is_closed() {
            return Err(ErrorBody::closed());
        }
        if let Some(intent) = ask.intent() {
            self.wants.apply(intent);
        }
        let req = self.next_req;
        self.next_req += 1;
        self.pending.push(req, ask.clone());
        let tab = self.tab.clone();
        self.route_ask(now, tab, req, ask);
        Ok(req)
    }

    fn route_ask(&mut self, now: Instant, tab: String, req: u64, ask: Ask) {
        match ask {
            Ask::Want(intent) => self.route(now, tab, req, intent),
            Ask::Page { ch, after, limit } => match &self.role {
                Role::Leader(_) => self.lead_page(now, tab, req, ch, after, limit),
                Role::Follower => self.post(BusMsg::Members {
                    tab,
                    req,
                    ch,
                    after,
                    limit,
                }),
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
            Role::Follower => self.post(BusMsg::Intent { tab, req, intent }),
            Role::Closed => {}
        }
    }

    /// A listener was added to `ch`: `first` if the channel had none. `friends`: whom the
    /// channel handle follows in a capped list, added to what this tab already follows
    /// there. The first listener subscribes; more friends subscribe again.
    pub fn listen(&mut self, now: Instant, ch: &str, friends: &[String], first: bool) {
        let current = self.wants.friends(ch);
        let subscribed = current.is_some();
        let mut following = current.cloned().unwrap_or_default();
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
    }

    /// The last listener of `ch` is gone: forget its view and unsubscribe.
    pub fn unlisten(&mut self, now: Instant, ch: &str) {
        self.views.remove(ch);
        self.tell(now, Intent::Unsubscribe { ch: ch.to_string() });
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

    /// Where Web Locks are missing: elect a leader over the bus.
    pub fn start_election(&mut self, now: Instant, jitter: f64) {
        self.election = Some(Election::new(self.tab.clone(), now, jitter));
    }

    fn settle(&mut self, _now: Instant, req: u64, error: Option<ErrorBody>, page: Option<Page>) {
        let Some(ask) = self.pending.remove(&req) else { return };
        match error {
            None => self.outputs.push_back(Output::Resolve { req, page }),
            Some(error) => {
                if let (true, Some(undo)) = (is_permanent(&error.code), ask.intent().and_then(Intent::undo)) {
                    self.wants.apply(&undo);
                }
                self.outputs.push_back(Output::Reject { req, error });
            }
        }
    }

    /// An error for the listeners of `ch` (or of every channel) that no request of this
    /// tab awaits: the relay took the channel back, or refused it when it was asserted
    /// again. What the client dropped there, no tab wants any more (`forbidden_enter`:
    /// the presence; `forbidden_view`: the view); and a view the relay stopped feeding
    /// (`forbidden_view`, `unavailable`) shows nobody rather than the people last seen,
    /// until a snapshot comes again.
    fn channel_error(&mut self, ch: Option<String>, error: ErrorBody) {
        let code = ErrorCode::parse(&error.code);
        self.outputs.push_back(Output::Error { ch: ch.clone(), error });
        let Some(ch) = ch else { return };
        let undo = match code {
            Some(ErrorCode::ForbiddenEnter) => Intent::Leave { ch: ch.clone() },
            Some(ErrorCode::ForbiddenView) => Intent::Unsubscribe { ch: ch.clone() },
            Some(ErrorCode::Unavailable) => return self.empty_view(ch),
            _ => return,
        };
        self.wants.apply(&undo);
        if let Role::Leader(l) = &mut self.role {
            l.tabs.forget(&undo);
        }
        if let Intent::Unsubscribe { .. } = undo {
            self.empty_view(ch);
        }
    }

    fn empty_view(&mut self, ch: String) {
        if self.view(&ch).is_some_and(ChannelView::is_known) {
            *self.views.or_default(ch.as_str()) = ChannelView::default();
            self.outputs.push_back(Output::Changed {
                ch,
                changes: Vec::new(),
            });
        }
    }

    /// To this tab's own view, then to the other tabs, without a copy of the frame (a
    /// snapshot may list thousands). The shell posts at once and calls the page after
    /// every output, so the other tabs hear the frame before any listener runs.
    fn broadcast_frame(&mut self, frame: ServerMsg) {
        self.apply_frame(&frame);
        self.post(BusMsg::Frame { frame });
    }

    /// The snapshot of `ch` as the leader's client knows it (none in a follower).
    fn known_snapshot(&self, ch: &str) -> Option<ServerMsg> {
        match &self.role {
            Role::Leader(l) => l.client.view(ch).and_then(|v| v.snapshot(ch)),
            _ => None,
        }
    }

    /// The leader's snapshot of `ch` to every tab, for one that is new to it or skipped
    /// a diff.
    fn rebroadcast(&mut self, ch: &str) {
        if let Some(snap) = self.known_snapshot(ch) {
            self.broadcast_frame(snap);
        }
    }

    fn apply_frame(&mut self, frame: &ServerMsg) {
        let ch = match frame {
            ServerMsg::Snapshot { ch, .. } | ServerMsg::Diff { ch, .. } | ServerMsg::Focus { ch, .. } => ch.clone(),
            _ => return,
        };
        if self.wants.friends(&ch).is_none() {
            return;
        }
        let view = self.views.or_default(ch.as_str());
        match view.apply(frame) {
            Applied::Changed(changes) => self.outputs.push_back(Output::Changed { ch, changes }),
            Applied::Stale => {}
            Applied::Gap => match &self.role {
                Role::Leader(_) => {
                    if let Some(snap) = self.known_snapshot(&ch) {
                        self.apply_frame(&snap);
                    }
                }
                _ => self.post(BusMsg::Resync {
                    tab: self.tab.clone(),
                    ch,
                }),
            },
        }
    }

    pub fn handle_timeout(&mut self, now: Instant, jitter: f64) {
        if !self.hidden && self.status == Status::Active && now.since(self.last_input) >= self.idle_after_ms {
            self.set_status(now, Status::Idle);
        }
        if let Some(e) = &mut self.election {
            let votes = e.handle_timeout(now, jitter);
            self.votes(now, votes);
        }
        match &mut self.role {
            Role::Leader(l) => {
                l.client.handle_timeout(now, jitter);
                let tick = l.tabs.handle_timeout(now);
                l.apply_all(now, tick.intents);
                if tick.ping {
                    self.post(BusMsg::Ping {
                        leader: self.tab.clone(),
                        connected: self.connected,
                    });
                    // Again with every ping: a tab frozen or started meanwhile catches up.
                    self.post_news(now);
                }
            }
            Role::Follower => {
                if now >= self.next_heartbeat {
                    self.next_heartbeat = now + HEARTBEAT_INTERVAL_MS;
                    self.post(BusMsg::Heartbeat { tab: self.tab.clone() });
                }
            }
            Role::Closed => {}
        }
    }

    // ----- the bus -----

    /// A message from another tab.
    pub fn handle_bus(&mut self, now: Instant, msg: BusMsg, jitter: f64) {
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
                self.post(BusMsg::Pong { tab: self.tab.clone() });
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
                    self.post(BusMsg::Who {
                        tab,
                        leader: self.tab.clone(),
                        connected: self.connected,
                    });
                    self.post_news(now);
                }
            }
            BusMsg::Sync { tab, wants } if leading => {
                let subscribed: Vec<String> = wants.all_subscribed().map(|(ch, _)| ch.clone()).collect();
                let Role::Leader(l) = &mut self.role else { return };
                let changes = l.tabs.sync(now, &tab, wants);
                l.apply_all(now, changes);
                // Bring the tab's views up to date with what is already known.
                for ch in subscribed {
                    self.rebroadcast(&ch);
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
            BusMsg::Resync { ch, .. } if leading => self.rebroadcast(&ch),
            BusMsg::Stopped { error } if !leading => self.stop(error),
            BusMsg::Status { status, retry_in } if !leading => {
                if let Some(link) = Link::parse(&status, retry_in.map(|ms| now + ms)) {
                    self.link.told(link);
                }
            }
            BusMsg::Error { ch, error } if !leading => self.channel_error(ch, error),
            BusMsg::Announce { tab } => {
                if let Some(e) = &mut self.election {
                    let votes = e.heard_announce(now, &tab, jitter);
                    self.votes(now, votes);
                }
            }
            BusMsg::Resign { tab } => {
                if let Some(e) = &mut self.election {
                    e.heard_resign(now, &tab, jitter);
                }
            }
            _ => {}
        }
    }

    /// A leader spoke: note whether the relay is up, and send it this tab's whole wants
    /// if it is new to this tab (or asked: `force`).
    fn follow(&mut self, now: Instant, leader: String, connected: bool, force: bool) {
        self.connected = connected;
        if connected && std::mem::take(&mut self.ready_pending) {
            self.outputs.push_back(Output::Ready);
        }
        let changed = self.synced_with.as_deref() != Some(leader.as_str());
        if !changed && !force {
            return;
        }
        let handed_over = changed && self.synced_with.is_some();
        self.synced_with = Some(leader);
        self.post(BusMsg::Sync {
            tab: self.tab.clone(),
            wants: self.wants.clone(),
        });
        if handed_over {
            // Requests the old leader took with it: ask the new one.
            self.ask_again(now);
        }
    }

    fn ask_again(&mut self, now: Instant) {
        let pending: Vec<u64> = self.pending.iter().map(|(req, _)| *req).collect();
        for req in pending {
            // Each asked as it is now: one asked before may have settled it meanwhile.
            if let Some(ask) = self.pending.get(&req).cloned() {
                let tab = self.tab.clone();
                self.route_ask(now, tab, req, ask);
            }
        }
    }

    // ----- the page going and coming back -----

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

    /// `pagehide`: the leader tells the relay by beacon and closes with 4001 (a refresh
    /// that comes back within the unload grace shows nothing); a follower says bye.
    pub fn page_hidden(&mut self, _now: Instant) {
        match std::mem::replace(&mut self.role, Role::Closed) {
            Role::Leader(l) => {
                if let Some(session) = l.client.session() {
                    self.outputs.push_back(Output::Beacon {
                        session: session.to_string(),
                    });
                }
                self.outputs.push_back(Output::CloseSocket {
                    code: close::UNLOADING,
                    reason: "unloading",
                });
                self.post(BusMsg::Resign { tab: self.tab.clone() });
                self.outputs.push_back(Output::ReleaseLock);
            }
            Role::Follower => self.post(BusMsg::Bye {
                tab: self.tab.clone(),
                unloading: true,
            }),
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
                    for undo in mine.iter().filter_map(Intent::undo) {
                        let changes = l.tabs.apply(now, &self.tab, &undo);
                        l.apply_all(now, changes);
                    }
                    self.pump(now);
                    self.page_hidden(now);
                } else {
                    l.client.close(now);
                    self.pump(now);
                    self.outputs.push_back(Output::ReleaseLock);
                }
            }
            Role::Follower => self.post(BusMsg::Bye {
                tab: self.tab.clone(),
                unloading: false,
            }),
            Role::Closed => {}
        }
        self.role = Role::Closed;
        self.election = None;
        self.stop(ErrorBody::closed());
    }
}

/// Codes after which a want is dropped rather than re-asserted.
fn is_permanent(code: &str) -> bool {
    ErrorCode::parse(code).is_some_and(ErrorCode::is_permanent)
}
