//! The browser side of one connection: what this client wants, and what it owes the relay.
//!
//! Map of the file:
//! - **wants**: channels entered (with meta) and subscribed. They outlive sockets: every
//!   `welcome` re-asserts all of them, inside the relay's grace, so nobody sees a flicker.
//! - **connection**: idle, waiting to retry (exponential backoff with jitter, capped at
//!   [`BACKOFF_CAP_MS`], reset by a welcome), connecting, ready, stopped. The relay's
//!   close code decides what comes next (see [`Client::closed`]).
//! - **schedule**: a check-in every `terms.checkin_interval_ms`; an activity change is
//!   sent at once, at most once per [`STATUS_THROTTLE_MS`].
//! - **channel views**: snapshot + diffs with consecutive `seq`; a gap re-sends
//!   `subscribe`, which makes the relay send a fresh snapshot. In a capped list (protocol
//!   1.1) the snapshot says `cap`, and `focus` frames about the people this client
//!   follows are applied on top, like diffs without a `seq`.
//! - **pages**: [`Client::members`] asks for one page of a channel's whole list; it goes
//!   out and is answered like any request, with an [`Event::Page`].
//! - **link**: what the page may show about the connection ([`Link`], `presence.status`),
//!   read with [`Client::link`] after every input. The browser's online flag is an
//!   input too: offline, retries wait for the network and start at once when it is back.
//!
//! The shell feeds inputs with `now` (and `jitter` in `[0, 1)` where a retry may be
//! scheduled), sends what [`Client::poll_transmit`] returns, acts on
//! [`Client::poll_event`] and arms one timer at [`Client::poll_timeout`].

use crate::protocol::{
    close, ClientMsg, ErrorCode, Identity, Member, Meta, ServerMsg, Status, Terms, PROTOCOL_VERSION,
};
use crate::time::{earliest, Instant};
use std::borrow::Borrow;
use std::collections::VecDeque;

/// First retry delay after a lost connection.
pub const BACKOFF_BASE_MS: u64 = 500;
/// No retry waits longer than this.
pub const BACKOFF_CAP_MS: u64 = 30_000;
/// The first attempt whose backoff reaches [`BACKOFF_CAP_MS`].
const BACKOFF_CAP_ATTEMPT: u32 = (BACKOFF_CAP_MS / BACKOFF_BASE_MS).next_power_of_two().trailing_zeros();
/// Activity changes closer together than this are merged into one check-in, so a
/// flapping tab cannot spend the relay's rate limit.
pub const STATUS_THROTTLE_MS: u64 = 1_000;
/// A socket that has not brought a `welcome` by then is given up and retried.
pub const WELCOME_TIMEOUT_MS: u64 = 10_000;
/// A request with no answer by then is reported as `relay_unreachable`; the want stays
/// and is asserted when the relay is back.
pub const REQUEST_TIMEOUT_MS: u64 = 10_000;
/// Used until the relay tells its own terms in `welcome`.
pub const DEFAULT_CHECKIN_INTERVAL_MS: u64 = 30_000;
/// Close code the client uses when it gives up on a socket itself (no welcome in time).
pub const CLOSE_GAVE_UP: u16 = 4000;
/// Close code for a deliberate `presence.close()`.
pub const CLOSE_NORMAL: u16 = 1000;

/// A request id: returned by each request, echoed by its [`Event::Reply`].
pub type Ref = u64;

/// Why a request failed or the client stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The relay answered with an error.
    Relay { code: ErrorCode, message: String },
    /// No connection to the relay (or no answer) within [`REQUEST_TIMEOUT_MS`].
    Unreachable,
    /// Another connection of the same client took over (close 4009).
    Replaced,
    /// `close()` was called.
    Closed,
}

impl Failure {
    #[cfg(test)]
    fn relay(code: ErrorCode) -> Failure {
        Failure::Relay {
            code,
            message: code.sentence().to_string(),
        }
    }

    /// The relay's refusal with the relay's own sentence. The client does not keep the
    /// sentences itself (they are the relay's, and would weigh in the browser's wasm);
    /// only a relay that sent none gets this generic one.
    fn refused(code: ErrorCode, message: String) -> Failure {
        let message = if message.is_empty() {
            let mut m = String::from("The relay refused this with ");
            m.push_str(code.as_str());
            m.push_str("; see the relay's log and docs/protocol.md.");
            m
        } else {
            message
        };
        Failure::Relay { code, message }
    }

    /// The machine-readable code: the relay's error codes plus the client's own.
    pub fn code(&self) -> &str {
        match self {
            Failure::Relay { code, .. } => code.as_str(),
            Failure::Unreachable => "relay_unreachable",
            Failure::Replaced => "replaced",
            Failure::Closed => "closed",
        }
    }

    /// A sentence a developer can act on.
    pub fn sentence(&self) -> &str {
        match self {
            Failure::Relay { message, .. } => message,
            Failure::Unreachable => "The relay could not be reached; check its URL and that it is running. The SDK keeps retrying and asserts this when the relay is back.",
            Failure::Replaced => "Another connection of this browser took over; this one stopped. Use one connect() per page.",
            Failure::Closed => "presence.close() was called; call connect() again to come back.",
        }
    }
}

/// What the shell must do or show.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// Open a WebSocket now, then call [`Client::opened`]. With `fresh_token`, get a new
    /// token from the token function first.
    Connect { fresh_token: bool },
    /// Close the current socket with `code` and forget it: the client has already moved
    /// on, so its close event must not be reported back.
    Disconnect { code: u16 },
    Welcome {
        session: String,
        resumed: bool,
        user: Identity,
        terms: Terms,
    },
    /// The answer to a request.
    Reply {
        reference: Ref,
        result: Result<(), Failure>,
    },
    /// The answer to [`Client::members`] (a refusal comes as a [`Event::Reply`]).
    Page { reference: Ref, page: Page },
    /// A snapshot or diff accepted in order, to be shown (and passed to other tabs).
    Frame(ServerMsg),
    /// An error not tied to a pending request, e.g. a re-asserted channel refused.
    Error { ch: Option<String>, failure: Failure },
    /// The relay says the token expired: get a new one and hand it to
    /// [`Client::token_refreshed`].
    TokenNeeded,
    /// The client stopped for good; every pending request has been failed.
    Stopped(Failure),
}

/// What a page can show about its connection (`presence.status`), from [`Client::link`]
/// in the leader tab and [`crate::tabs::LinkView`] in the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// The first connection is being made: this browser has had no welcome yet.
    Connecting,
    /// The relay's welcome is in; also shown while a new leader tab takes the connection
    /// over from one that was connected (the relay's grace hides the gap).
    Connected,
    /// The connection was lost (or never made) and is being made again: `at` is when the
    /// next attempt starts, `None` while one is under way.
    Reconnecting { at: Option<Instant> },
    /// The browser says it has no network (`navigator.onLine`); the next attempt waits
    /// for it to come back.
    Offline,
    /// The connection ended for good and will not come back by itself: `close()` was
    /// called, another connection of this client replaced it, or the relay refused it
    /// (the error says why).
    Closed,
}

impl Link {
    pub fn as_str(&self) -> &'static str {
        match self {
            Link::Connecting => "connecting",
            Link::Connected => "connected",
            Link::Reconnecting { .. } => "reconnecting",
            Link::Offline => "offline",
            Link::Closed => "closed",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Conn {
    Idle,
    Waiting {
        until: Instant,
    },
    /// Socket being opened, or open with `hello` sent: either way, no welcome yet.
    Connecting {
        deadline: Instant,
    },
    Ready,
    Stopped,
}

/// One page of a channel's members, in id order: `next` is the `after` of the next page
/// (`None` on the last one), `count` the channel's exact count.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page {
    pub count: usize,
    pub users: Vec<Member>,
    pub next: Option<String>,
}

#[derive(Clone, Debug, Default)]
struct Want {
    entered: Option<Meta>,
    subscribed: bool,
    /// Told with every `subscribe` of this channel (a capped list shows them wherever
    /// they are in it).
    friends: Vec<String>,
    /// Requests made while offline, answered by the re-assertion after `welcome`.
    enter_waiters: Vec<Ref>,
    subscribe_waiters: Vec<Ref>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Enter,
    Update,
    Leave,
    Subscribe,
    Unsubscribe,
    Token,
    Members,
}

/// A frame on the wire waiting for `ok` or `error`.
#[derive(Clone, Debug)]
struct InFlight {
    ch: Option<String>,
    kind: Kind,
    waiters: Vec<Ref>,
    /// The frame as sent, to send again after `rate_limited`.
    msg: ClientMsg,
}

/// The SDK's state machine for one connection to one relay.
#[derive(Debug)]
pub struct Client {
    client_id: String,
    refreshable_token: bool,
    conn: Conn,
    attempts: u32,
    fresh_token: bool,
    /// The connection being made asked the token function for a fresh token (after
    /// the one before was refused or expired).
    token_is_fresh: bool,
    /// A refused fresh token was reported; not again until a welcome.
    refusal_told: bool,
    /// The relay's error during the hello, read when the close that follows arrives.
    refusal: Option<(ErrorCode, String)>,
    session: Option<String>,
    terms: Option<Terms>,
    next_checkin: Option<Instant>,
    status: Status,
    sent_status: Status,
    status_sent_at: Option<Instant>,
    status_due: Option<Instant>,
    wants: SmallMap<String, Want>,
    left_offline: Vec<String>,
    views: SmallMap<String, ChannelView>,
    in_flight: SmallMap<Ref, InFlight>,
    /// Requests the relay refused as `rate_limited`, and when to send them again (the
    /// re-assertion after a welcome can exceed the relay's burst).
    delayed: Vec<(Instant, InFlight)>,
    /// Requests not answered yet, with the time they give up.
    deadlines: SmallMap<Ref, Instant>,
    next_ref: Ref,
    /// `members` requests made without a connection, sent after the next welcome.
    pages: Vec<(Ref, ClientMsg)>,
    outbox: VecDeque<ClientMsg>,
    events: VecDeque<Event>,
    /// The browser says it has a network.
    online: bool,
    /// Welcomed at least once, here or (taken over) in the tab that led before.
    was_connected: bool,
    /// Taking over a connected link from another tab: shown as connected until this
    /// client's first socket is welcomed or fails.
    handing_over: bool,
}

impl Client {
    /// `refreshable_token`: the page gave a token function, so an expired token can be
    /// replaced rather than ending the client.
    pub fn new(client_id: impl Into<String>, refreshable_token: bool) -> Client {
        Client {
            client_id: client_id.into(),
            refreshable_token,
            conn: Conn::Idle,
            attempts: 0,
            fresh_token: false,
            token_is_fresh: false,
            refusal_told: false,
            refusal: None,
            session: None,
            terms: None,
            next_checkin: None,
            status: Status::Active,
            sent_status: Status::Active,
            status_sent_at: None,
            status_due: None,
            wants: SmallMap::default(),
            left_offline: Vec::new(),
            views: SmallMap::default(),
            in_flight: SmallMap::default(),
            delayed: Vec::new(),
            deadlines: SmallMap::default(),
            next_ref: 1,
            pages: Vec::new(),
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            online: true,
            was_connected: false,
            handing_over: false,
        }
    }

    /// A new leader tab's client, before [`Client::start`]: `shown` is what its tab showed
    /// (what the leader before it told). A connected browser stays connected through the
    /// handover unless the new socket fails; a reconnecting one goes on reconnecting.
    pub fn take_over(&mut self, shown: Link) {
        if self.conn == Conn::Idle {
            self.was_connected = !matches!(shown, Link::Connecting);
            self.handing_over = shown == Link::Connected;
        }
    }

    // ----- queries -----

    pub fn is_ready(&self) -> bool {
        self.conn == Conn::Ready
    }

    pub fn is_stopped(&self) -> bool {
        self.conn == Conn::Stopped
    }

    /// The session id from the last welcome (the beacon names it).
    pub fn session(&self) -> Option<&str> {
        self.session.as_deref()
    }

    pub fn terms(&self) -> Option<&Terms> {
        self.terms.as_ref()
    }

    pub fn status(&self) -> Status {
        self.status
    }

    /// What the page shows about the connection. Closed wins over everything; then the
    /// browser's offline; then the connection's own state.
    pub fn link(&self) -> Link {
        match self.conn {
            Conn::Stopped => Link::Closed,
            _ if !self.online => Link::Offline,
            Conn::Ready => Link::Connected,
            Conn::Waiting { until } => Link::Reconnecting { at: Some(until) },
            Conn::Idle | Conn::Connecting { .. } if self.handing_over => Link::Connected,
            Conn::Idle | Conn::Connecting { .. } if self.was_connected => Link::Reconnecting { at: None },
            Conn::Idle | Conn::Connecting { .. } => Link::Connecting,
        }
    }

    /// Channels entered, with their meta.
    pub fn entered(&self) -> impl Iterator<Item = (&str, &Meta)> {
        self.wants
            .iter()
            .filter_map(|(ch, w)| w.entered.as_ref().map(|m| (ch.as_str(), m)))
    }

    pub fn is_entered(&self, ch: &str) -> bool {
        self.wants.get(ch).is_some_and(|w| w.entered.is_some())
    }

    pub fn is_subscribed(&self, ch: &str) -> bool {
        self.wants.get(ch).is_some_and(|w| w.subscribed)
    }

    /// The state of a subscribed channel as last shown.
    pub fn view(&self, ch: &str) -> Option<&ChannelView> {
        self.views.get(ch)
    }

    // ----- requests from the page -----

    /// Enter `ch` with `meta` (again: replace the meta). Answered by a [`Event::Reply`].
    pub fn enter(&mut self, now: Instant, ch: &str, meta: Meta) -> Ref {
        let reference = self.new_request(now);
        self.left_offline.retain(|c| c != ch);
        let want = self.wants.or_default(ch);
        want.entered = Some(meta.clone());
        if self.conn == Conn::Ready {
            self.send_request(
                ClientMsg::Enter {
                    ch: ch.to_string(),
                    meta: Some(meta),
                    status: Some(self.status),
                    reference: None,
                },
                Kind::Enter,
                vec![reference],
            );
        } else {
            want.enter_waiters.push(reference);
        }
        reference
    }

    /// Replace the meta of an entered channel.
    pub fn update(&mut self, now: Instant, ch: &str, meta: Meta) -> Ref {
        let reference = self.new_request(now);
        let Some(want) = self.wants.get_mut(ch).filter(|w| w.entered.is_some()) else {
            let failure = Failure::Relay {
                code: ErrorCode::NotEntered,
                message: "update() needs enter() first: this tab is not in that channel.".to_string(),
            };
            self.answer(reference, Err(failure));
            return reference;
        };
        want.entered = Some(meta.clone());
        if self.conn == Conn::Ready {
            self.send_request(
                ClientMsg::Update {
                    ch: ch.to_string(),
                    meta: Some(meta),
                    status: None,
                    reference: None,
                },
                Kind::Update,
                vec![reference],
            );
        } else {
            // The enter sent after the next welcome carries the new meta.
            want.enter_waiters.push(reference);
        }
        reference
    }

    /// Leave `ch`. Offline, the want is simply dropped (and the leave told after a
    /// resumed welcome), so this answers at once.
    pub fn leave(&mut self, now: Instant, ch: &str) -> Ref {
        let reference = self.new_request(now);
        let (was_entered, superseded) = match self.wants.get_mut(ch) {
            Some(want) => (want.entered.take().is_some(), std::mem::take(&mut want.enter_waiters)),
            None => (false, Vec::new()),
        };
        // An enter still waiting for a connection is moot once left.
        for waiter in superseded {
            self.answer(waiter, Ok(()));
        }
        self.prune(ch);
        if was_entered && self.conn == Conn::Ready {
            self.send_request(
                ClientMsg::Leave {
                    ch: ch.to_string(),
                    reference: None,
                },
                Kind::Leave,
                vec![reference],
            );
        } else {
            if was_entered {
                self.left_offline.push(ch.to_string());
            }
            self.answer(reference, Ok(()));
        }
        reference
    }

    /// Watch `ch` (with or without entering): a snapshot, then diffs, as [`Event::Frame`].
    pub fn subscribe(&mut self, now: Instant, ch: &str) -> Ref {
        self.subscribe_following(now, ch, Vec::new())
    }

    /// Watch `ch`, and in a capped list also follow `friends`: they are shown wherever
    /// they are in the list (besides this user and the token's `friends`). Subscribing
    /// again replaces them, and brings a fresh snapshot.
    pub fn subscribe_following(&mut self, now: Instant, ch: &str, friends: Vec<String>) -> Ref {
        let reference = self.new_request(now);
        let want = self.wants.or_default(ch);
        want.subscribed = true;
        want.friends = friends.clone();
        self.views.or_default(ch).awaiting = true;
        if self.conn == Conn::Ready {
            self.send_request(
                ClientMsg::Subscribe {
                    friends,
                    ch: ch.to_string(),
                    reference: None,
                },
                Kind::Subscribe,
                vec![reference],
            );
        } else {
            want.subscribe_waiters.push(reference);
        }
        reference
    }

    pub fn unsubscribe(&mut self, now: Instant, ch: &str) -> Ref {
        let reference = self.new_request(now);
        let was = self.wants.get_mut(ch).is_some_and(|w| {
            let was = w.subscribed;
            w.subscribed = false;
            was
        });
        self.views.remove(ch);
        self.prune(ch);
        if was && self.conn == Conn::Ready {
            self.send_request(
                ClientMsg::Unsubscribe {
                    ch: ch.to_string(),
                    reference: None,
                },
                Kind::Unsubscribe,
                vec![reference],
            );
        } else {
            self.answer(reference, Ok(()));
        }
        reference
    }

    /// One page of `ch`'s whole member list, in id order after `after` (`limit` is clamped
    /// by the relay): answered by an [`Event::Page`], or a [`Event::Reply`] with the
    /// refusal. Without a connection it waits for the next welcome (or the request
    /// timeout).
    pub fn members(&mut self, now: Instant, ch: &str, after: Option<String>, limit: Option<usize>) -> Ref {
        let reference = self.new_request(now);
        let msg = ClientMsg::Members {
            ch: ch.to_string(),
            after,
            limit,
            reference: None,
        };
        if self.conn == Conn::Ready {
            self.send_request(msg, Kind::Members, vec![reference]);
        } else {
            self.pages.push((reference, msg));
        }
        reference
    }

    /// The page's activity changed. Sent at once as a check-in, unless one went out less
    /// than [`STATUS_THROTTLE_MS`] ago: then the latest status goes when that time is up.
    pub fn set_status(&mut self, now: Instant, status: Status) {
        self.status = status;
        if self.conn != Conn::Ready {
            return; // the enters after the next welcome carry it
        }
        if status == self.sent_status {
            self.status_due = None;
            return;
        }
        match self.status_sent_at {
            Some(at) if now.since(at) < STATUS_THROTTLE_MS => {
                self.status_due = Some(at + STATUS_THROTTLE_MS);
            }
            _ => self.send_checkin(now),
        }
    }

    /// A new token, after [`Event::TokenNeeded`]. The shell also keeps it for the next
    /// connection.
    pub fn token_refreshed(&mut self, now: Instant, token: String) {
        if self.conn == Conn::Ready {
            let reference = self.new_request(now);
            self.send_request(
                ClientMsg::Token { token, reference: None },
                Kind::Token,
                vec![reference],
            );
        }
    }

    /// The page is done: leave every channel, close the socket, fail what is pending.
    pub fn close(&mut self, _now: Instant) {
        if self.conn == Conn::Stopped {
            return;
        }
        if self.conn == Conn::Ready {
            let entered: Vec<String> = self.entered().map(|(ch, _)| ch.to_string()).collect();
            for ch in entered {
                self.outbox.push_back(ClientMsg::Leave { ch, reference: None });
            }
        }
        let had_socket = matches!(self.conn, Conn::Ready | Conn::Connecting { .. });
        self.stop(Failure::Closed);
        if had_socket {
            self.events.push_back(Event::Disconnect { code: CLOSE_NORMAL });
        }
    }

    /// The browser's `online`/`offline` events (`navigator.onLine`). Offline, no attempt
    /// is made (each would fail and lengthen the backoff); back online, a connection
    /// waiting for its next attempt makes it at once.
    pub fn set_online(&mut self, now: Instant, online: bool) {
        self.online = online;
        if let (true, Conn::Waiting { .. }) = (online, &self.conn) {
            self.begin_connect(now);
        }
    }

    // ----- the socket -----

    /// Begin: ask the shell for a socket.
    pub fn start(&mut self, now: Instant) {
        if self.conn == Conn::Idle {
            self.begin_connect(now);
        }
    }

    /// The socket is open: say hello.
    pub fn opened(&mut self, _now: Instant, token: String) {
        if let Conn::Connecting { .. } = self.conn {
            self.refusal = None;
            self.outbox.push_back(ClientMsg::Hello {
                v: vec![PROTOCOL_VERSION],
                token,
                client: self.client_id.clone(),
                // Coming back (after a drop, a relay restart, or as a new leader tab):
                // a relay that just started keeps the old list up until the others are
                // back too.
                resume: self.was_connected || self.handing_over,
            });
        }
    }

    /// The socket closed with `code`. `jitter` in `[0, 1)` spreads the retries of many
    /// clients after a relay restart.
    ///
    /// - 4009 (replaced): another connection of this client took over; stop.
    /// - 4003 (refused): stop with the relay's reason, unless the token was refused as
    ///   expired or bad (a relay restarted with a new secret, a tab that slept past the
    ///   token's `exp`) and the page can give a new one: then reconnect with a fresh
    ///   token after the backoff, which grows with every refusal until a welcome. When
    ///   even a token fresh from the token function is refused (the site signs with a
    ///   secret the relay does not know, for now or for good), the page is told once
    ///   with an [`Event::Error`], and the client goes on trying.
    /// - 4012 (token expired): reconnect with a fresh token.
    /// - 1012 (relay restarting): reconnect at once.
    /// - 1009 (a frame too large): the wants would send the same frame again; stop with
    ///   `frame_too_large`.
    /// - 1008 (a flood): tell the page (`rate_limited`) and reconnect only after the
    ///   longest backoff, so a page stuck in a loop of updates cannot loop on the relay.
    /// - anything else: reconnect after a backoff.
    pub fn closed(&mut self, now: Instant, code: u16, jitter: f64) {
        if matches!(self.conn, Conn::Stopped | Conn::Idle | Conn::Waiting { .. }) {
            return;
        }
        self.handing_over = false;
        self.session = None;
        self.next_checkin = None;
        self.status_due = None;
        self.fail_in_flight_later();
        match code {
            close::REPLACED => self.stop(Failure::Replaced),
            close::REFUSED => {
                let (reason, message) = self.refusal.take().unwrap_or((ErrorCode::BadToken, String::new()));
                let token_refused = matches!(reason, ErrorCode::TokenExpired | ErrorCode::BadToken);
                if token_refused && self.refreshable_token {
                    if self.token_is_fresh && !self.refusal_told {
                        self.refusal_told = true;
                        self.events.push_back(Event::Error {
                            ch: None,
                            failure: Failure::refused(reason, message),
                        });
                    }
                    self.fresh_token = true;
                    self.retry_after_backoff(now, jitter);
                } else {
                    self.stop(Failure::refused(reason, message));
                }
            }
            close::TOKEN_EXPIRED => {
                self.fresh_token = self.refreshable_token;
                self.retry_after_backoff(now, jitter);
            }
            close::RELAY_RESTART => self.begin_connect(now),
            close::TOO_LARGE => self.stop(Failure::refused(ErrorCode::FrameTooLarge, String::new())),
            close::POLICY => {
                self.events.push_back(Event::Error {
                    ch: None,
                    failure: Failure::refused(ErrorCode::RateLimited, String::new()),
                });
                self.attempts = self.attempts.max(BACKOFF_CAP_ATTEMPT);
                self.retry_after_backoff(now, jitter);
            }
            _ => self.retry_after_backoff(now, jitter),
        }
    }

    /// One text frame from the relay.
    pub fn handle_frame(&mut self, now: Instant, text: &str) {
        // A newer relay's frame this version cannot read is ignored.
        if let Ok(msg) = ServerMsg::decode(text) {
            self.handle_msg(now, msg);
        }
    }

    /// One frame from the relay, already decoded (the browser decodes with its own JSON).
    pub fn handle_msg(&mut self, now: Instant, msg: ServerMsg) {
        match msg {
            ServerMsg::Welcome {
                session,
                resumed,
                user,
                terms,
                ..
            } => self.welcomed(now, session, resumed, user, terms),
            ServerMsg::Ok { reference } => {
                if let Some(flight) = self.in_flight.remove(&reference) {
                    for waiter in flight.waiters {
                        self.answer(waiter, Ok(()));
                    }
                }
            }
            ServerMsg::Error {
                reference,
                code,
                message,
                ch,
                retry_after_ms,
            } => self.relay_error(now, reference, code, message, ch, retry_after_ms),
            ServerMsg::Snapshot { ref ch, .. } | ServerMsg::Diff { ref ch, .. } | ServerMsg::Focus { ref ch, .. } => {
                let ch = ch.clone();
                if !self.is_subscribed(&ch) {
                    return;
                }
                let view = self.views.or_default(&ch);
                match view.apply(&msg) {
                    Applied::Changed(_) => self.events.push_back(Event::Frame(msg)),
                    Applied::Stale => {}
                    Applied::Gap => {
                        let friends = self.wants.get(&ch).map(|w| w.friends.clone()).unwrap_or_default();
                        self.send_request(
                            ClientMsg::Subscribe {
                                friends,
                                ch: ch.clone(),
                                reference: None,
                            },
                            Kind::Subscribe,
                            vec![],
                        );
                    }
                }
            }
            ServerMsg::Members {
                reference,
                count,
                users,
                next,
                ..
            } => {
                // A page request has one waiter: its own.
                let Some(flight) = reference.and_then(|r| self.in_flight.remove(&r)) else {
                    return;
                };
                let Some(&waiter) = flight.waiters.first() else { return };
                if self.deadlines.remove(&waiter).is_some() {
                    let page = Page { count, users, next };
                    self.events.push_back(Event::Page {
                        reference: waiter,
                        page,
                    });
                }
            }
        }
    }

    /// Timers: retry, welcome timeout, check-in, throttled status, request timeouts.
    pub fn handle_timeout(&mut self, now: Instant, jitter: f64) {
        match self.conn {
            Conn::Waiting { until } if until <= now && self.online => self.begin_connect(now),
            Conn::Connecting { deadline } if deadline <= now => {
                self.handing_over = false;
                self.events.push_back(Event::Disconnect { code: CLOSE_GAVE_UP });
                self.fail_in_flight_later();
                self.retry_after_backoff(now, jitter);
            }
            Conn::Ready if self.status_due.is_some_and(|t| t <= now) || self.next_checkin.is_some_and(|t| t <= now) => {
                self.send_checkin(now)
            }
            _ => {}
        }
        if self.conn == Conn::Ready && self.delayed.iter().any(|(at, _)| *at <= now) {
            let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.delayed)
                .into_iter()
                .partition(|(at, _)| *at <= now);
            self.delayed = later;
            for (_, flight) in due {
                self.send_request(flight.msg, flight.kind, flight.waiters);
            }
        }
        let expired: Vec<Ref> = self
            .deadlines
            .iter()
            .filter(|(_, t)| **t <= now)
            .map(|(r, _)| *r)
            .collect();
        for reference in expired {
            self.answer(reference, Err(Failure::Unreachable));
        }
    }

    // ----- outputs -----

    pub fn poll_transmit(&mut self) -> Option<ClientMsg> {
        self.outbox.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Client::handle_timeout`] wants to be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let conn = match self.conn {
            // Offline, the next attempt waits for `set_online`.
            Conn::Waiting { until } => self.online.then_some(until),
            Conn::Connecting { deadline } => Some(deadline),
            Conn::Ready => earliest(
                earliest(self.next_checkin, self.status_due),
                self.delayed.iter().map(|(at, _)| *at).min(),
            ),
            Conn::Idle | Conn::Stopped => None,
        };
        earliest(conn, self.deadlines.iter().map(|(_, t)| *t).min())
    }

    // ----- internals -----

    fn new_request(&mut self, now: Instant) -> Ref {
        let reference = self.next_ref;
        self.next_ref += 1;
        self.deadlines.insert(reference, now + REQUEST_TIMEOUT_MS);
        reference
    }

    /// Send a request frame with a wire ref that answers `waiters`.
    fn send_request(&mut self, mut msg: ClientMsg, kind: Kind, waiters: Vec<Ref>) {
        let wire = self.next_ref;
        self.next_ref += 1;
        let ch = msg.channel().map(str::to_string);
        match &mut msg {
            ClientMsg::Enter { reference, .. }
            | ClientMsg::Leave { reference, .. }
            | ClientMsg::Update { reference, .. }
            | ClientMsg::Subscribe { reference, .. }
            | ClientMsg::Unsubscribe { reference, .. }
            | ClientMsg::Members { reference, .. }
            | ClientMsg::Token { reference, .. } => *reference = Some(wire),
            ClientMsg::Hello { .. } | ClientMsg::Checkin { .. } => {}
        }
        self.in_flight.insert(
            wire,
            InFlight {
                ch,
                kind,
                waiters,
                msg: msg.clone(),
            },
        );
        self.outbox.push_back(msg);
    }

    /// Answer a request once; a late second answer (after a timeout) is dropped.
    fn answer(&mut self, reference: Ref, result: Result<(), Failure>) {
        if self.deadlines.remove(&reference).is_some() {
            self.events.push_back(Event::Reply { reference, result });
        }
    }

    /// The socket is gone: frames on it will never be answered. Their wants stay and are
    /// re-asserted after the next welcome, which answers the waiters then.
    fn fail_in_flight_later(&mut self) {
        let mut flights: Vec<InFlight> = std::mem::take(&mut self.in_flight)
            .0
            .into_iter()
            .map(|(_, f)| f)
            .collect();
        flights.extend(std::mem::take(&mut self.delayed).into_iter().map(|(_, f)| f));
        for flight in flights {
            if flight.kind == Kind::Members {
                // A listing asked on a socket that is gone: ask again on the next one.
                for waiter in flight.waiters {
                    self.pages.push((waiter, flight.msg.clone()));
                }
                continue;
            }
            let Some(ch) = flight.ch else { continue };
            let Some(want) = self.wants.get_mut(&ch) else {
                // Left or unsubscribed while in flight: done as far as the page cares.
                for waiter in flight.waiters {
                    self.answer(waiter, Ok(()));
                }
                continue;
            };
            match flight.kind {
                Kind::Enter | Kind::Update if want.entered.is_some() => want.enter_waiters.extend(flight.waiters),
                Kind::Subscribe if want.subscribed => want.subscribe_waiters.extend(flight.waiters),
                _ => {
                    for waiter in flight.waiters {
                        self.answer(waiter, Ok(()));
                    }
                }
            }
        }
    }

    fn prune(&mut self, ch: &str) {
        if self.wants.get(ch).is_some_and(|w| w.entered.is_none() && !w.subscribed) {
            self.wants.remove(ch);
        }
    }

    fn begin_connect(&mut self, now: Instant) {
        self.conn = Conn::Connecting {
            deadline: now + WELCOME_TIMEOUT_MS,
        };
        self.token_is_fresh = self.fresh_token;
        self.events.push_back(Event::Connect {
            fresh_token: self.fresh_token,
        });
    }

    fn retry_after_backoff(&mut self, now: Instant, jitter: f64) {
        let delay = backoff_delay(self.attempts, jitter);
        self.attempts = self.attempts.saturating_add(1);
        self.conn = Conn::Waiting { until: now + delay };
    }

    fn stop(&mut self, failure: Failure) {
        self.conn = Conn::Stopped;
        self.session = None;
        self.next_checkin = None;
        self.status_due = None;
        self.in_flight.clear();
        self.delayed.clear();
        self.pages.clear();
        let pending: Vec<Ref> = self.deadlines.iter().map(|(r, _)| *r).collect();
        for reference in pending {
            self.answer(reference, Err(failure.clone()));
        }
        for (_, want) in self.wants.iter_mut() {
            want.enter_waiters.clear();
            want.subscribe_waiters.clear();
        }
        self.events.push_back(Event::Stopped(failure));
    }

    fn send_checkin(&mut self, now: Instant) {
        self.outbox.push_back(ClientMsg::Checkin { status: self.status });
        self.sent_status = self.status;
        self.status_sent_at = Some(now);
        self.status_due = None;
        self.next_checkin = Some(now + self.checkin_interval());
    }

    fn checkin_interval(&self) -> u64 {
        self.terms
            .as_ref()
            .map_or(DEFAULT_CHECKIN_INTERVAL_MS, |t| t.checkin_interval_ms)
            .max(1)
    }

    fn welcomed(&mut self, now: Instant, session: String, resumed: bool, user: Identity, terms: Terms) {
        if !matches!(self.conn, Conn::Connecting { .. }) {
            return;
        }
        self.conn = Conn::Ready;
        self.was_connected = true;
        self.handing_over = false;
        self.attempts = 0;
        self.fresh_token = false;
        self.refusal_told = false;
        self.session = Some(session.clone());
        self.terms = Some(terms.clone());
        self.next_checkin = Some(now + self.checkin_interval());
        self.sent_status = self.status;
        self.status_sent_at = Some(now);
        self.status_due = None;
        // A resumed lease still holds channels left while offline: end them now rather
        // than at the end of the grace.
        let left = std::mem::take(&mut self.left_offline);
        if resumed {
            for ch in left {
                self.outbox.push_back(ClientMsg::Leave { ch, reference: None });
            }
        }
        let chans: Vec<String> = self.wants.iter().map(|(ch, _)| ch.clone()).collect();
        for ch in chans {
            let Some(want) = self.wants.get_mut(&ch) else {
                continue;
            };
            let enter = want
                .entered
                .clone()
                .map(|meta| (meta, std::mem::take(&mut want.enter_waiters)));
            let subscribe = want.subscribed.then(|| std::mem::take(&mut want.subscribe_waiters));
            if let Some((meta, waiters)) = enter {
                self.send_request(
                    ClientMsg::Enter {
                        ch: ch.clone(),
                        meta: Some(meta),
                        status: Some(self.status),
                        reference: None,
                    },
                    Kind::Enter,
                    waiters,
                );
            }
            if let Some(waiters) = subscribe {
                // Diffs of the old subscription are meaningless now; keep showing the
                // old state until the new snapshot replaces it.
                self.views.or_default(&ch).awaiting = true;
                let friends = self.wants.get(&ch).map(|w| w.friends.clone()).unwrap_or_default();
                self.send_request(
                    ClientMsg::Subscribe {
                        friends,
                        ch: ch.clone(),
                        reference: None,
                    },
                    Kind::Subscribe,
                    waiters,
                );
            }
        }
        // Pages asked while offline, unless they have timed out meanwhile.
        for (reference, msg) in std::mem::take(&mut self.pages) {
            if self.deadlines.contains_key(&reference) {
                self.send_request(msg, Kind::Members, vec![reference]);
            }
        }
        self.events.push_back(Event::Welcome {
            session,
            resumed,
            user,
            terms,
        });
    }

    fn relay_error(
        &mut self,
        now: Instant,
        reference: Option<Ref>,
        code: ErrorCode,
        message: String,
        ch: Option<String>,
        retry_after_ms: Option<u64>,
    ) {
        let failure = Failure::refused(code, message.clone());
        let flight = reference.and_then(|r| self.in_flight.remove(&r));
        let Some(flight) = flight else {
            match code {
                ErrorCode::TokenExpired if self.conn == Conn::Ready => {
                    if self.refreshable_token {
                        self.events.push_back(Event::TokenNeeded);
                    } else {
                        self.events.push_back(Event::Error { ch, failure });
                    }
                }
                _ if matches!(self.conn, Conn::Connecting { .. }) => self.refusal = Some((code, message)),
                _ => self.events.push_back(Event::Error { ch, failure }),
            }
            return;
        };
        if code == ErrorCode::RateLimited && self.conn == Conn::Ready {
            let wait = retry_after_ms.unwrap_or(STATUS_THROTTLE_MS).max(1);
            self.delayed.push((now + wait, flight));
            return;
        }
        // A refusal that will not change by retrying drops the want, so it is not
        // re-asserted on every reconnect.
        let permanent = matches!(
            code,
            ErrorCode::ForbiddenEnter
                | ErrorCode::ForbiddenView
                | ErrorCode::BadChannel
                | ErrorCode::ChannelFull
                | ErrorCode::TooManyChannels
                | ErrorCode::MetaTooLarge
        );
        if let (true, Some(ch)) = (permanent, flight.ch.as_deref()) {
            match flight.kind {
                Kind::Enter => {
                    if let Some(want) = self.wants.get_mut(ch) {
                        want.entered = None;
                    }
                }
                Kind::Subscribe => {
                    if let Some(want) = self.wants.get_mut(ch) {
                        want.subscribed = false;
                    }
                    self.views.remove(ch);
                }
                _ => {}
            }
            self.prune(ch);
        }
        if flight.waiters.is_empty() {
            self.events.push_back(Event::Error { ch: flight.ch, failure });
        } else {
            for waiter in flight.waiters {
                self.answer(waiter, Err(failure.clone()));
            }
        }
    }
}

/// A map kept as a short vector in insertion order. The client's and the tabs' maps
/// hold a handful of entries, and every `BTreeMap` type adds kilobytes of code to the
/// browser's wasm.
#[derive(Clone, Debug, PartialEq)]
pub struct SmallMap<K, V>(pub Vec<(K, V)>);

impl<K, V> Default for SmallMap<K, V> {
    fn default() -> Self {
        SmallMap(Vec::new())
    }
}

impl<K, V> SmallMap<K, V> {
    fn position<Q: PartialEq + ?Sized>(&self, key: &Q) -> Option<usize>
    where
        K: Borrow<Q>,
    {
        self.0.iter().position(|(k, _)| k.borrow() == key)
    }

    pub fn get<Q: PartialEq + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.position(key).map(|i| &self.0[i].1)
    }

    pub fn get_mut<Q: PartialEq + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        self.position(key).map(|i| &mut self.0[i].1)
    }

    pub fn contains_key<Q: PartialEq + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.position(key).is_some()
    }

    /// Insert or replace; returns the value replaced.
    pub fn insert(&mut self, key: K, value: V) -> Option<V>
    where
        K: PartialEq,
    {
        match self.position(&key) {
            Some(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            None => {
                self.0.push((key, value));
                None
            }
        }
    }

    pub fn remove<Q: PartialEq + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.position(key).map(|i| self.0.remove(i).1)
    }

    /// The value for `key`, inserted as the default if missing.
    pub fn or_default<Q: PartialEq + ToOwned<Owned = K> + ?Sized>(&mut self, key: &Q) -> &mut V
    where
        K: Borrow<Q>,
        V: Default,
    {
        let i = match self.position(key) {
            Some(i) => i,
            None => {
                self.0.push((key.to_owned(), V::default()));
                self.0.len() - 1
            }
        };
        &mut self.0[i].1
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut V)> {
        self.0.iter_mut().map(|(k, v)| (&*k, v))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn clear(&mut self) {
        self.0.clear()
    }
}

/// The wait before retry number `attempt` (0-based): exponential from
/// [`BACKOFF_BASE_MS`], capped at [`BACKOFF_CAP_MS`], of which the upper half is scaled
/// by `jitter` in `[0, 1)` so clients dropped together do not return together.
pub fn backoff_delay(attempt: u32, jitter: f64) -> u64 {
    let ceiling = BACKOFF_BASE_MS
        .saturating_mul(1u64 << attempt.min(20))
        .min(BACKOFF_CAP_MS);
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    ceiling / 2 + ((ceiling / 2) as f64 * jitter) as u64
}

/// A channel's members sorted by id: found by binary search, kept in one vector
/// (smaller in the browser's wasm than a map, and as fast for what a page shows).
#[derive(Clone, Debug, Default, PartialEq)]
struct Members(Vec<Member>);

impl Members {
    /// Sorted by inserting each in place rather than with `sort`: the relay sends
    /// snapshots in id order (so each lands at the end), and the slice sorts would add
    /// kilobytes to the browser's wasm. The first of two equal ids is kept.
    fn new(members: impl IntoIterator<Item = Member>) -> Members {
        let mut list = Members(Vec::new());
        for member in members {
            if let Err(i) = list.find(&member.id) {
                list.0.insert(i, member);
            }
        }
        list
    }

    fn find(&self, id: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|m| m.id.as_str().cmp(id))
    }

    fn get(&self, id: &str) -> Option<&Member> {
        self.find(id).ok().map(|i| &self.0[i])
    }

    fn remove(&mut self, id: &str) -> Option<Member> {
        self.find(id).ok().map(|i| self.0.remove(i))
    }

    /// Insert or replace; returns the member replaced.
    fn upsert(&mut self, member: Member) -> Option<Member> {
        match self.find(&member.id) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i], member)),
            Err(i) => {
                self.0.insert(i, member);
                None
            }
        }
    }
}

/// What applying a frame to a [`ChannelView`] did.
#[derive(Clone, Debug, PartialEq)]
pub enum Applied {
    /// In order: these are the changes to show.
    Changed(Vec<Change>),
    /// Already seen, or a diff before the snapshot it belongs to: nothing to do.
    Stale,
    /// A diff skipped a sequence number: the view waits for a fresh snapshot.
    Gap,
}

/// One user's change, as the page's `join`/`leave`/`update` listeners see it.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    Join(Member),
    /// The user as last seen (only the id on count-only channels).
    Leave(Member),
    Update(Member),
}

/// A channel's state as one subscriber sees it: snapshot, then consecutive diffs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChannelView {
    seq: Option<u64>,
    count: usize,
    /// `None` on count-only channels.
    users: Option<Members>,
    /// The relay caps this channel's list: `users` holds at most this many of the
    /// shared list, plus this client and the people it follows.
    cap: Option<usize>,
    /// Ignore diffs until the next snapshot (after a gap or a reconnect).
    awaiting: bool,
    /// Made from an initial state the page gave.
    initial: bool,
}

impl ChannelView {
    /// A view shown before any snapshot, e.g. from a server-rendered initial state.
    pub fn with_initial(count: usize, users: Option<Vec<Member>>) -> ChannelView {
        ChannelView {
            seq: None,
            count,
            users: users.map(Members::new),
            cap: None,
            awaiting: true,
            initial: true,
        }
    }

    pub fn seq(&self) -> Option<u64> {
        self.seq
    }

    pub fn count(&self) -> usize {
        self.count
    }

    /// The cap of a capped list: then [`ChannelView::users`] is part of the channel and
    /// [`ChannelView::count`] still counts everyone.
    pub fn cap(&self) -> Option<usize> {
        self.cap
    }

    pub fn is_count_only(&self) -> bool {
        self.seq.is_some() && self.users.is_none()
    }

    pub fn has_snapshot(&self) -> bool {
        self.seq.is_some()
    }

    /// Is there a state to show: a snapshot, or an initial state given by the page?
    pub fn is_known(&self) -> bool {
        self.seq.is_some() || self.initial
    }

    /// Users ordered by id; empty on count-only channels.
    pub fn users(&self) -> impl Iterator<Item = &Member> {
        self.users.iter().flat_map(|u| u.0.iter())
    }

    /// Wait for the next snapshot before applying diffs again.
    pub fn await_snapshot(&mut self) {
        self.awaiting = true;
    }

    /// This view as a snapshot frame, to bring another tab up to date.
    pub fn snapshot(&self, ch: &str) -> Option<ServerMsg> {
        Some(ServerMsg::Snapshot {
            ch: ch.to_string(),
            seq: self.seq?,
            count: self.count,
            users: self.users.as_ref().map(|u| u.0.clone()),
            cap: self.cap,
        })
    }

    /// Apply a snapshot (replaces everything, reporting the difference), a diff
    /// (`join`/`update` are upserts, `leave` removes; only `seq + 1` is accepted) or a
    /// focus (the same without `seq` or `count`, on top of the state it follows).
    ///
    /// `join` means a user came, so a view that knew nobody yet (no snapshot, no
    /// initial users) reports no change for its first snapshot: the users already there
    /// are the state, not arrivals. A later snapshot (after a gap or a reconnect)
    /// reports only the difference from what was shown.
    pub fn apply(&mut self, msg: &ServerMsg) -> Applied {
        match msg {
            ServerMsg::Snapshot {
                seq, count, users, cap, ..
            } => {
                let new = users.as_ref().map(|u| Members::new(u.iter().cloned()));
                let mut changes = Vec::new();
                let knew = self.seq.is_some() || self.users.is_some();
                let empty = Members::default();
                let old = self.users.as_ref().unwrap_or(&empty);
                if let (true, Some(new)) = (knew, &new) {
                    for member in &old.0 {
                        if new.get(&member.id).is_none() {
                            changes.push(Change::Leave(member.clone()));
                        }
                    }
                    for member in &new.0 {
                        match old.get(&member.id) {
                            None => changes.push(Change::Join(member.clone())),
                            Some(before) if before != member => changes.push(Change::Update(member.clone())),
                            Some(_) => {}
                        }
                    }
                }
                self.seq = Some(*seq);
                self.count = *count;
                self.users = new;
                self.cap = *cap;
                self.awaiting = false;
                Applied::Changed(changes)
            }
            ServerMsg::Diff {
                seq,
                count,
                join,
                leave,
                update,
                ..
            } => {
                let Some(current) = self.seq.filter(|_| !self.awaiting) else {
                    return Applied::Stale;
                };
                if *seq <= current {
                    return Applied::Stale;
                }
                if *seq != current + 1 {
                    self.awaiting = true;
                    return Applied::Gap;
                }
                self.seq = Some(*seq);
                self.count = *count;
                Applied::Changed(self.upsert(join, leave, update))
            }
            // Sent only to a connection whose snapshot came first, and only until it
            // subscribes again: one that arrives while awaiting is about a state the
            // next snapshot replaces.
            ServerMsg::Focus {
                join, leave, update, ..
            } if self.seq.is_some() && !self.awaiting => Applied::Changed(self.upsert(join, leave, update)),
            _ => Applied::Stale,
        }
    }

    fn upsert(&mut self, join: &[Member], leave: &[String], update: &[Member]) -> Vec<Change> {
        let mut changes = Vec::new();
        if let Some(users) = &mut self.users {
            for id in leave {
                if let Some(member) = users.remove(id) {
                    changes.push(Change::Leave(member));
                }
            }
            for member in join.iter().chain(update) {
                match users.upsert(member.clone()) {
                    None => changes.push(Change::Join(member.clone())),
                    Some(before) if &before != member => changes.push(Change::Update(member.clone())),
                    Some(_) => {}
                }
            }
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T0: Instant = Instant(1_000);

    fn terms(checkin: u64) -> Terms {
        Terms {
            checkin_interval_ms: checkin,
            lease_timeout_ms: 60_000,
            unload_grace_ms: 3_000,
            reconnect_grace_ms: 15_000,
            max_meta_bytes: 1024,
            max_channels: 100,
        }
    }

    fn welcome(resumed: bool, checkin: u64) -> String {
        ServerMsg::Welcome {
            v: 1,
            session: "s1".into(),
            resumed,
            user: Identity {
                id: "7".into(),
                name: Some("ann".into()),
                avatar: None,
            },
            terms: terms(checkin),
        }
        .encode()
    }

    fn meta(v: serde_json::Value) -> Meta {
        v.as_object().unwrap().clone()
    }

    fn member(id: &str, typing: bool) -> Member {
        Member {
            id: id.into(),
            name: Some(format!("user{id}")),
            avatar: None,
            status: Status::Active,
            meta: meta(json!({ "typing": typing })),
        }
    }

    fn sent(c: &mut Client) -> Vec<ClientMsg> {
        std::iter::from_fn(|| c.poll_transmit()).collect()
    }

    fn events(c: &mut Client) -> Vec<Event> {
        std::iter::from_fn(|| c.poll_event()).collect()
    }

    fn wire_ref(msg: &ClientMsg) -> u64 {
        msg.reference().expect("request frames carry a ref")
    }

    /// A client that has connected and been welcomed at `T0`, outputs drained.
    fn ready(checkin: u64) -> Client {
        let mut c = Client::new("c1", true);
        c.start(T0);
        c.opened(T0, "tok".into());
        c.handle_frame(T0, &welcome(false, checkin));
        sent(&mut c);
        events(&mut c);
        c
    }

    /// Step simulated time to each deadline until `until`, collecting what was sent.
    fn run_until(c: &mut Client, until: Instant, jitter: f64) -> Vec<(Instant, ClientMsg)> {
        let mut out = Vec::new();
        while let Some(t) = c.poll_timeout().filter(|&t| t <= until) {
            c.handle_timeout(t, jitter);
            for msg in sent(c) {
                out.push((t, msg));
            }
        }
        out
    }

    #[test]
    fn start_asks_for_a_socket_and_hello_names_the_client() {
        let mut c = Client::new("c1", false);
        c.start(T0);
        assert_eq!(events(&mut c), vec![Event::Connect { fresh_token: false }]);
        c.opened(T0, "tok".into());
        assert_eq!(
            sent(&mut c),
            vec![ClientMsg::Hello {
                v: vec![1],
                token: "tok".into(),
                client: "c1".into(),
                resume: false,
            }]
        );
    }

    #[test]
    fn wants_made_offline_are_asserted_after_welcome_and_answered_then() {
        let mut c = Client::new("c1", false);
        let r_enter = c.enter(T0, "/a/b", meta(json!({"typing": false})));
        let r_sub = c.subscribe(T0, "/a/b");
        let r_watch = c.subscribe(T0, "/x/y");
        c.start(T0);
        c.opened(T0, "tok".into());
        assert!(events(&mut c).iter().all(|e| !matches!(e, Event::Reply { .. })));
        c.handle_frame(T0 + 5, &welcome(false, 30_000));
        let out = sent(&mut c);
        assert!(matches!(&out[0], ClientMsg::Hello { .. }));
        let frames = &out[1..];
        assert_eq!(frames.len(), 3, "{frames:?}");
        assert!(
            matches!(&frames[0], ClientMsg::Enter { ch, meta: Some(m), status: Some(Status::Active), .. }
            if ch == "/a/b" && m["typing"] == json!(false))
        );
        assert!(matches!(&frames[1], ClientMsg::Subscribe { ch, .. } if ch == "/a/b"));
        assert!(matches!(&frames[2], ClientMsg::Subscribe { ch, .. } if ch == "/x/y"));
        for f in frames {
            c.handle_frame(T0 + 6, &ServerMsg::Ok { reference: wire_ref(f) }.encode());
        }
        let replies: Vec<Ref> = events(&mut c)
            .into_iter()
            .filter_map(|e| match e {
                Event::Reply {
                    reference,
                    result: Ok(()),
                } => Some(reference),
                _ => None,
            })
            .collect();
        assert_eq!(replies, vec![r_enter, r_sub, r_watch]);
    }

    #[test]
    fn every_reconnect_reasserts_every_want_with_the_latest_meta() {
        let mut c = ready(30_000);
        c.enter(T0, "/a/b", meta(json!({"typing": false})));
        c.subscribe(T0, "/c/d");
        c.update(T0, "/a/b", meta(json!({"typing": true})));
        sent(&mut c);
        c.closed(T0 + 10, 1006, 0.0);
        let t = run_until(&mut c, T0 + 10_000, 0.0);
        assert!(t.is_empty());
        assert!(events(&mut c).contains(&Event::Connect { fresh_token: false }));
        c.opened(T0 + 600, "tok".into());
        c.handle_frame(T0 + 600, &welcome(true, 30_000));
        let out = sent(&mut c);
        assert!(out
            .iter()
            .any(|m| matches!(m, ClientMsg::Enter { ch, meta: Some(m), .. }
            if ch == "/a/b" && m["typing"] == json!(true))));
        assert!(out
            .iter()
            .any(|m| matches!(m, ClientMsg::Subscribe { ch, .. } if ch == "/c/d")));
    }

    #[test]
    fn backoff_doubles_from_base_and_is_capped_at_thirty_seconds() {
        assert_eq!(backoff_delay(0, 0.0), 250);
        assert_eq!(backoff_delay(0, 0.999_999), 499);
        assert_eq!(backoff_delay(1, 0.0), 500);
        assert_eq!(backoff_delay(3, 0.0), 2_000);
        for attempt in [6, 7, 20, 100, u32::MAX] {
            assert!(backoff_delay(attempt, 0.999_999) <= BACKOFF_CAP_MS);
            assert!(backoff_delay(attempt, 0.0) >= BACKOFF_CAP_MS / 2);
        }
        assert_eq!(backoff_delay(2, f64::NAN), backoff_delay(2, 0.0));
    }

    #[test]
    fn failed_attempts_back_off_further_and_a_welcome_resets_the_backoff() {
        let mut c = ready(30_000);
        let mut now = T0;
        let mut waits = Vec::new();
        for _ in 0..8 {
            c.closed(now, 1006, 0.5);
            let retry = c.poll_timeout().unwrap();
            waits.push(retry.since(now));
            c.handle_timeout(retry, 0.5);
            assert!(events(&mut c).contains(&Event::Connect { fresh_token: false }));
            now = retry;
        }
        assert!(waits.windows(2).all(|w| w[1] >= w[0]), "{waits:?}");
        assert_eq!(*waits.last().unwrap(), 22_500);
        c.opened(now, "tok".into());
        c.handle_frame(now, &welcome(true, 30_000));
        c.closed(now + 1, 1006, 0.5);
        assert_eq!(c.poll_timeout().unwrap().since(now + 1), 375);
    }

    #[test]
    fn close_1012_reconnects_at_once() {
        let mut c = ready(30_000);
        c.closed(T0 + 5, close::RELAY_RESTART, 0.9);
        assert_eq!(events(&mut c), vec![Event::Connect { fresh_token: false }]);
    }

    #[test]
    fn close_1009_stops_with_frame_too_large_instead_of_sending_it_again() {
        let mut c = ready(30_000);
        c.closed(T0 + 5, close::TOO_LARGE, 0.0);
        assert!(c.is_stopped());
        let ev = events(&mut c);
        assert!(
            matches!(&ev[..], [Event::Stopped(f)] if f.code() == "frame_too_large"),
            "{ev:?}"
        );
        assert_eq!(c.poll_timeout(), None);
    }

    #[test]
    fn close_1008_is_told_and_retried_only_after_the_longest_backoff() {
        let mut c = ready(30_000);
        c.closed(T0 + 5, close::POLICY, 0.0);
        let ev = events(&mut c);
        assert!(
            matches!(&ev[..], [Event::Error { ch: None, failure }] if failure.code() == "rate_limited"),
            "{ev:?}"
        );
        assert_eq!(c.poll_timeout().unwrap().since(T0 + 5), BACKOFF_CAP_MS / 2);
        assert!(!c.is_stopped());
    }

    #[test]
    fn close_4009_replaced_stops_without_reconnecting() {
        let mut c = ready(30_000);
        c.closed(T0 + 5, close::REPLACED, 0.0);
        assert!(c.is_stopped());
        assert_eq!(events(&mut c), vec![Event::Stopped(Failure::Replaced)]);
        assert_eq!(c.poll_timeout(), None);
        c.handle_timeout(T0 + 120_000, 0.0);
        assert!(events(&mut c).is_empty());
    }

    #[test]
    fn a_refused_hello_surfaces_the_relays_reason_and_fails_pending_requests() {
        let mut c = Client::new("c1", false);
        let r = c.enter(T0, "/a/b", Meta::new());
        c.start(T0);
        c.opened(T0, "forged".into());
        c.handle_frame(T0 + 1, &ServerMsg::error(ErrorCode::BadToken, None, None).encode());
        c.closed(T0 + 2, close::REFUSED, 0.0);
        let ev = events(&mut c);
        assert!(ev.contains(&Event::Reply {
            reference: r,
            result: Err(Failure::relay(ErrorCode::BadToken))
        }));
        assert!(ev.contains(&Event::Stopped(Failure::relay(ErrorCode::BadToken))));
        assert_eq!(Failure::relay(ErrorCode::BadToken).code(), "bad_token");
        assert!(c.is_stopped());
    }

    #[test]
    fn a_fresh_token_refused_is_told_once_and_the_client_goes_on_trying() {
        let mut c = Client::new("c1", true);
        c.start(T0);
        events(&mut c);
        let mut now = T0;
        let mut told = 0;
        for _ in 0..4 {
            // The first try's token may be a stale one the function had kept; each
            // later try asks the function for a fresh one.
            c.opened(now, "signed-with-an-unknown-secret".into());
            c.handle_frame(now + 1, &ServerMsg::error(ErrorCode::BadToken, None, None).encode());
            c.closed(now + 2, close::REFUSED, 0.0);
            assert!(!c.is_stopped());
            now = c.poll_timeout().expect("a retry after the backoff");
            c.handle_timeout(now, 0.0);
            let ev = events(&mut c);
            told += ev
                .iter()
                .filter(|e| matches!(e, Event::Error { ch: None, failure } if failure.code() == "bad_token"))
                .count();
            assert!(ev.contains(&Event::Connect { fresh_token: true }), "{ev:?}");
        }
        assert_eq!(told, 1, "told once (after the first fresh token), not at every try");
        // The site fixes its secret: the next token is welcomed; a later refusal is told again.
        c.opened(now, "good".into());
        c.handle_frame(now, &welcome(false, 30_000));
        events(&mut c);
        c.closed(now + 10, close::TOKEN_EXPIRED, 0.0);
        let now = c.poll_timeout().expect("a retry");
        c.handle_timeout(now, 0.0);
        assert!(events(&mut c).contains(&Event::Connect { fresh_token: true }));
        c.opened(now, "bad again".into());
        c.handle_frame(now + 1, &ServerMsg::error(ErrorCode::BadToken, None, None).encode());
        c.closed(now + 2, close::REFUSED, 0.0);
        assert!(events(&mut c)
            .iter()
            .any(|e| matches!(e, Event::Error { ch: None, .. })));
    }

    #[test]
    fn a_cached_token_refused_after_a_welcome_is_not_told_but_replaced() {
        let mut c = Client::new("c1", true);
        c.start(T0);
        events(&mut c);
        c.opened(T0, "tok".into());
        c.handle_frame(T0, &welcome(false, 30_000));
        events(&mut c);
        c.closed(T0 + 10, close::RELAY_RESTART, 0.0);
        events(&mut c);
        c.opened(T0 + 20, "tok".into());
        c.handle_frame(T0 + 21, &ServerMsg::error(ErrorCode::BadToken, None, None).encode());
        c.closed(T0 + 22, close::REFUSED, 0.0);
        assert!(
            !events(&mut c).iter().any(|e| matches!(e, Event::Error { .. })),
            "the relay's new secret refuses the old token: that is what a fresh one is for"
        );
    }

    #[test]
    fn an_expired_token_at_hello_reconnects_with_a_fresh_one_when_refreshable() {
        let mut c = Client::new("c1", true);
        c.start(T0);
        events(&mut c);
        c.opened(T0, "old".into());
        c.handle_frame(T0 + 1, &ServerMsg::error(ErrorCode::TokenExpired, None, None).encode());
        c.closed(T0 + 2, close::REFUSED, 0.0);
        assert!(!c.is_stopped());
        run_until(&mut c, T0 + 1_000, 0.0);
        assert_eq!(events(&mut c), vec![Event::Connect { fresh_token: true }]);
    }

    #[test]
    fn a_bad_token_after_a_relay_restart_reconnects_with_a_fresh_one_backing_off() {
        // The relay restarted with another secret: the old token is refused as bad.
        let mut c = Client::new("c1", true);
        c.enter(T0, "/a/b", Meta::new());
        c.start(T0);
        events(&mut c);
        c.opened(T0, "tok".into());
        c.handle_frame(T0, &welcome(false, 30_000));
        sent(&mut c);
        events(&mut c);
        c.closed(T0 + 10, close::RELAY_RESTART, 0.5);
        assert_eq!(events(&mut c), vec![Event::Connect { fresh_token: false }]);
        let mut now = T0 + 20;
        let mut waits = Vec::new();
        for _ in 0..6 {
            c.opened(now, "refused".into());
            c.handle_frame(now + 1, &ServerMsg::error(ErrorCode::BadToken, None, None).encode());
            c.closed(now + 2, close::REFUSED, 0.5);
            assert!(!c.is_stopped());
            assert!(
                !events(&mut c)
                    .iter()
                    .any(|e| matches!(e, Event::Connect { .. } | Event::Stopped(_))),
                "nothing is tried before the backoff runs out"
            );
            // Step to each deadline (a request may time out first) until the retry.
            let retry = loop {
                let at = c.poll_timeout().expect("a retry is scheduled");
                c.handle_timeout(at, 0.5);
                if events(&mut c).contains(&Event::Connect { fresh_token: true }) {
                    break at;
                }
            };
            waits.push(retry.since(now + 2));
            now = retry;
        }
        assert!(waits.windows(2).all(|w| w[1] > w[0]), "refusals back off: {waits:?}");
        assert!(waits[0] >= BACKOFF_BASE_MS / 2, "never a hot loop: {waits:?}");
        c.opened(now, "fresh".into());
        c.handle_frame(now + 1, &welcome(false, 30_000));
        assert!(c.is_ready());
        assert!(sent(&mut c)
            .iter()
            .any(|m| matches!(m, ClientMsg::Enter { ch, .. } if ch == "/a/b")));
    }

    #[test]
    fn a_bad_token_without_a_token_function_stops_with_bad_token() {
        let mut c = Client::new("c1", false);
        c.start(T0);
        c.opened(T0, "tok".into());
        c.handle_frame(T0, &welcome(false, 30_000));
        events(&mut c);
        c.closed(T0 + 10, close::RELAY_RESTART, 0.5);
        events(&mut c);
        c.opened(T0 + 20, "tok".into());
        c.handle_frame(T0 + 21, &ServerMsg::error(ErrorCode::BadToken, None, None).encode());
        c.closed(T0 + 22, close::REFUSED, 0.5);
        assert!(c.is_stopped());
        assert_eq!(
            events(&mut c),
            vec![Event::Stopped(Failure::relay(ErrorCode::BadToken))]
        );
        assert_eq!(c.poll_timeout(), None);
    }

    #[test]
    fn token_expired_while_connected_asks_for_a_new_token_and_sends_it() {
        let mut c = ready(30_000);
        c.handle_frame(
            T0 + 100,
            &ServerMsg::error(ErrorCode::TokenExpired, None, None).encode(),
        );
        assert_eq!(events(&mut c), vec![Event::TokenNeeded]);
        c.token_refreshed(T0 + 150, "new".into());
        assert!(matches!(&sent(&mut c)[..], [ClientMsg::Token { token, reference: Some(_) }] if token == "new"));
    }

    #[test]
    fn close_4012_reconnects_asking_for_a_fresh_token() {
        let mut c = ready(30_000);
        c.closed(T0, close::TOKEN_EXPIRED, 0.0);
        run_until(&mut c, T0 + 1_000, 0.0);
        assert_eq!(events(&mut c), vec![Event::Connect { fresh_token: true }]);
    }

    #[test]
    fn checkins_follow_the_relays_interval_from_welcome() {
        let mut c = ready(2_000);
        let out = run_until(&mut c, T0 + 7_000, 0.0);
        let times: Vec<u64> = out
            .iter()
            .filter(|(_, m)| matches!(m, ClientMsg::Checkin { .. }))
            .map(|(t, _)| t.since(T0))
            .collect();
        assert_eq!(times, vec![2_000, 4_000, 6_000]);
    }

    #[test]
    fn a_status_change_is_sent_at_once_then_throttled_to_the_latest() {
        let mut c = ready(30_000);
        c.set_status(T0 + 2_000, Status::Hidden);
        assert_eq!(sent(&mut c), vec![ClientMsg::Checkin { status: Status::Hidden }]);
        c.set_status(T0 + 2_100, Status::Active);
        c.set_status(T0 + 2_200, Status::Idle);
        assert!(sent(&mut c).is_empty(), "throttled");
        let out = run_until(&mut c, T0 + 3_500, 0.0);
        assert_eq!(out, vec![(T0 + 3_000, ClientMsg::Checkin { status: Status::Idle })]);
        // Back to what was sent within the window: nothing to send.
        c.set_status(T0 + 3_100, Status::Hidden);
        c.set_status(T0 + 3_200, Status::Idle);
        assert!(run_until(&mut c, T0 + 5_000, 0.0).is_empty());
    }

    #[test]
    fn a_status_change_moves_the_next_checkin() {
        let mut c = ready(10_000);
        c.set_status(T0 + 4_000, Status::Idle);
        sent(&mut c);
        let out = run_until(&mut c, T0 + 14_500, 0.0);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, T0 + 14_000);
    }

    #[test]
    fn offline_status_changes_ride_on_the_next_enters() {
        let mut c = ready(30_000);
        c.enter(T0, "/a/b", Meta::new());
        c.closed(T0, 1006, 0.0);
        c.set_status(T0 + 10, Status::Hidden);
        run_until(&mut c, T0 + 1_000, 0.0);
        c.opened(T0 + 1_000, "t".into());
        c.handle_frame(T0 + 1_000, &welcome(true, 30_000));
        assert!(sent(&mut c).iter().any(|m| matches!(
            m,
            ClientMsg::Enter {
                status: Some(Status::Hidden),
                ..
            }
        )));
    }

    #[test]
    fn a_refused_enter_rejects_and_is_not_reasserted() {
        let mut c = ready(30_000);
        let r = c.enter(T0, "/secret/x", Meta::new());
        let frame = sent(&mut c).remove(0);
        c.handle_frame(
            T0 + 1,
            &ServerMsg::error(ErrorCode::ForbiddenEnter, Some(wire_ref(&frame)), Some("/secret/x")).encode(),
        );
        assert!(
            matches!(&events(&mut c)[..], [Event::Reply { reference, result: Err(f) }]
            if *reference == r && f.code() == "forbidden_enter")
        );
        assert!(!c.is_entered("/secret/x"));
        c.closed(T0 + 2, 1006, 0.0);
        run_until(&mut c, T0 + 1_000, 0.0);
        c.opened(T0 + 1_000, "t".into());
        c.handle_frame(T0 + 1_000, &welcome(true, 30_000));
        assert!(!sent(&mut c).iter().any(|m| matches!(m, ClientMsg::Enter { .. })));
    }

    #[test]
    fn a_rate_limited_request_is_sent_again_after_retry_after() {
        let mut c = Client::new("c1", false);
        let r_enter = c.enter(T0, "/a/b", Meta::new());
        let r_sub = c.subscribe(T0, "/c/d");
        c.start(T0);
        c.opened(T0, "tok".into());
        c.handle_frame(T0, &welcome(false, 30_000));
        let out = sent(&mut c);
        let sub = out
            .iter()
            .find(|m| matches!(m, ClientMsg::Subscribe { .. }))
            .unwrap()
            .clone();
        let enter = out
            .iter()
            .find(|m| matches!(m, ClientMsg::Enter { .. }))
            .unwrap()
            .clone();
        c.handle_frame(
            T0,
            &ServerMsg::Ok {
                reference: wire_ref(&enter),
            }
            .encode(),
        );
        c.handle_frame(
            T0 + 1,
            &ServerMsg::Error {
                reference: Some(wire_ref(&sub)),
                code: ErrorCode::RateLimited,
                message: String::new(),
                ch: Some("/c/d".into()),
                retry_after_ms: Some(400),
            }
            .encode(),
        );
        let ev = events(&mut c);
        assert!(ev.contains(&Event::Reply {
            reference: r_enter,
            result: Ok(())
        }));
        assert!(
            !ev.iter()
                .any(|e| matches!(e, Event::Reply { reference, .. } if *reference == r_sub)),
            "not failed: retried"
        );
        assert!(run_until(&mut c, T0 + 400, 0.0).is_empty(), "waits retry_after_ms");
        let again = run_until(&mut c, T0 + 401, 0.0);
        assert!(
            matches!(&again[..], [(_, ClientMsg::Subscribe { ch, reference: Some(r), .. })] if ch == "/c/d" && Some(*r) != sub.reference())
        );
        c.handle_frame(
            T0 + 402,
            &ServerMsg::Ok {
                reference: wire_ref(&again[0].1),
            }
            .encode(),
        );
        assert_eq!(
            events(&mut c),
            vec![Event::Reply {
                reference: r_sub,
                result: Ok(())
            }]
        );
    }

    #[test]
    fn requests_without_a_relay_fail_as_unreachable_but_stay_wanted() {
        let mut c = Client::new("c1", false);
        c.start(T0);
        let r = c.enter(T0, "/a/b", Meta::new());
        // The socket never opens: the welcome timeout gives it up and retries.
        let out = run_until(&mut c, T0 + REQUEST_TIMEOUT_MS, 0.0);
        assert!(out.is_empty());
        let ev = events(&mut c);
        assert!(ev.contains(&Event::Reply {
            reference: r,
            result: Err(Failure::Unreachable)
        }));
        assert!(ev.contains(&Event::Disconnect { code: CLOSE_GAVE_UP }));
        assert_eq!(Failure::Unreachable.code(), "relay_unreachable");
        assert!(c.is_entered("/a/b"));
    }

    #[test]
    fn leave_offline_answers_at_once_and_ends_the_resumed_lease_after_welcome() {
        let mut c = ready(30_000);
        c.enter(T0, "/a/b", Meta::new());
        sent(&mut c);
        c.closed(T0, 1006, 0.0);
        let r = c.leave(T0 + 1, "/a/b");
        assert!(events(&mut c).contains(&Event::Reply {
            reference: r,
            result: Ok(())
        }));
        run_until(&mut c, T0 + 1_000, 0.0);
        c.opened(T0 + 1_000, "t".into());
        c.handle_frame(T0 + 1_000, &welcome(true, 30_000));
        let out = sent(&mut c);
        assert!(out
            .iter()
            .any(|m| matches!(m, ClientMsg::Leave { ch, .. } if ch == "/a/b")));
        assert!(!out.iter().any(|m| matches!(m, ClientMsg::Enter { .. })));
    }

    #[test]
    fn close_leaves_every_channel_and_fails_what_is_pending() {
        let mut c = ready(30_000);
        c.enter(T0, "/a/b", Meta::new());
        sent(&mut c);
        events(&mut c);
        c.close(T0 + 1);
        assert!(matches!(&sent(&mut c)[..], [ClientMsg::Leave { ch, .. }] if ch == "/a/b"));
        let ev = events(&mut c);
        assert!(ev.contains(&Event::Disconnect { code: CLOSE_NORMAL }));
        assert!(ev.contains(&Event::Stopped(Failure::Closed)));
        assert!(ev.iter().any(|e| matches!(
            e,
            Event::Reply {
                result: Err(Failure::Closed),
                ..
            }
        )));
    }

    // ----- link: what the page shows about the connection -----

    type Once = Box<dyn FnOnce(&mut Client)>;

    /// The link after each step of `steps`, in order.
    fn links_through(c: &mut Client, steps: Vec<Once>) -> Vec<Link> {
        steps
            .into_iter()
            .map(|step| {
                step(c);
                events(c);
                sent(c);
                c.link()
            })
            .collect()
    }

    #[test]
    fn link_goes_connecting_connected_reconnecting_connected_through_a_relay_restart() {
        let mut c = Client::new("c1", false);
        assert_eq!(c.link(), Link::Connecting);
        let links = links_through(
            &mut c,
            vec![
                Box::new(|c| c.start(T0)),
                Box::new(|c| c.opened(T0 + 1, "tok".into())),
                Box::new(|c| c.handle_frame(T0 + 2, &welcome(false, 30_000))),
                // 1012: the relay restarts; the client tries again at once.
                Box::new(|c| c.closed(T0 + 10, close::RELAY_RESTART, 0.0)),
                Box::new(|c| c.opened(T0 + 11, "tok".into())),
                Box::new(|c| c.handle_frame(T0 + 12, &welcome(true, 30_000))),
            ],
        );
        let reconnecting_now = Link::Reconnecting { at: None };
        assert_eq!(
            links,
            vec![
                Link::Connecting,
                Link::Connecting,
                Link::Connected,
                reconnecting_now,
                reconnecting_now,
                Link::Connected
            ]
        );
    }

    #[test]
    fn a_lost_connection_shows_reconnecting_with_the_time_of_the_next_attempt() {
        let mut c = ready(30_000);
        c.closed(T0 + 5, 1006, 0.0);
        let next = c.poll_timeout().expect("a retry");
        assert_eq!(next, T0 + 5 + BACKOFF_BASE_MS / 2);
        assert_eq!(c.link(), Link::Reconnecting { at: Some(next) });
        // The attempt starts: under way, no time to wait for.
        c.handle_timeout(next, 0.0);
        assert_eq!(c.link(), Link::Reconnecting { at: None });
        // It fails: the next one is further away, and said so.
        c.closed(next + 3, 1006, 0.0);
        let later = c.poll_timeout().unwrap();
        assert_eq!(later.since(next + 3), BACKOFF_BASE_MS);
        assert_eq!(c.link(), Link::Reconnecting { at: Some(later) });
    }

    #[test]
    fn a_first_connection_that_fails_shows_when_it_tries_again() {
        let mut c = Client::new("c1", false);
        c.start(T0);
        c.closed(T0 + 5, 1006, 0.0);
        assert_eq!(c.link(), Link::Reconnecting { at: c.poll_timeout() });
        // No welcome in time: given up, and the next attempt is told.
        let mut c = Client::new("c1", false);
        c.start(T0);
        c.handle_timeout(T0 + WELCOME_TIMEOUT_MS, 0.0);
        assert!(matches!(c.link(), Link::Reconnecting { at: Some(_) }));
    }

    /// The close code table: what each close of a connected client shows.
    #[test]
    fn each_close_code_shows_its_link() {
        let after = |ms: u64| Link::Reconnecting { at: Some(T0 + 5 + ms) };
        let (at_once, closed) = (Link::Reconnecting { at: None }, Link::Closed);
        let (base, longest) = (after(BACKOFF_BASE_MS / 2), after(BACKOFF_CAP_MS / 2));
        type Step = Box<dyn Fn(&mut Client)>;
        let refused = |reason: ErrorCode| -> Step {
            Box::new(move |c: &mut Client| {
                // The refusal comes during a hello, then the close.
                c.closed(T0 + 1, 1006, 0.0);
                c.handle_timeout(c.poll_timeout().unwrap(), 0.0);
                c.opened(T0 + 2, "tok".into());
                c.handle_frame(T0 + 3, &ServerMsg::error(reason, None, None).encode());
                c.closed(T0 + 5, close::REFUSED, 0.0);
            })
        };
        let close = |code: u16| -> Step { Box::new(move |c: &mut Client| c.closed(T0 + 5, code, 0.0)) };
        // (what, token function, the close, what it shows)
        let cases: Vec<(&str, bool, Step, Link)> = vec![
            ("1012 relay restart", false, close(close::RELAY_RESTART), at_once),
            ("4009 replaced", false, close(close::REPLACED), closed),
            ("1008 flood", false, close(close::POLICY), longest),
            ("1009 frame too large", false, close(close::TOO_LARGE), closed),
            ("4012 token expired", true, close(close::TOKEN_EXPIRED), base),
            ("1006 dropped", false, close(1006), base),
            ("4003 bad token", false, refused(ErrorCode::BadToken), closed),
            ("4003 bad client id", true, refused(ErrorCode::BadClientId), closed),
            ("4003 forbidden", true, refused(ErrorCode::ForbiddenView), closed),
        ];
        for (name, refreshable, close, expected) in cases {
            let mut c = Client::new("c1", refreshable);
            c.start(T0);
            c.opened(T0, "tok".into());
            c.handle_frame(T0, &welcome(false, 30_000));
            close(&mut c);
            assert_eq!(c.link(), expected, "{name}");
        }
        // A bad token the token function can replace: reconnecting with a fresh one.
        let mut c = Client::new("c1", true);
        c.start(T0);
        c.opened(T0, "tok".into());
        c.handle_frame(T0, &welcome(false, 30_000));
        refused(ErrorCode::BadToken)(&mut c);
        assert_eq!(c.link(), Link::Reconnecting { at: c.poll_timeout() });
        assert!(c.poll_timeout().is_some());
        // And close() itself.
        let mut c = ready(30_000);
        c.close(T0 + 5);
        assert_eq!(c.link(), Link::Closed);
    }

    #[test]
    fn offline_shows_offline_and_holds_retries_until_the_network_is_back() {
        let mut c = ready(30_000);
        // The browser goes offline; the socket then drops.
        c.set_online(T0 + 10, false);
        assert_eq!(c.link(), Link::Offline);
        c.closed(T0 + 20, 1006, 0.0);
        events(&mut c);
        assert_eq!(c.link(), Link::Offline);
        // No attempt while offline, however long it lasts.
        assert_eq!(c.poll_timeout(), None);
        c.handle_timeout(T0 + 600_000, 0.0);
        assert!(events(&mut c).is_empty());
        // Back online: an attempt at once, not after the backoff.
        c.set_online(T0 + 600_001, true);
        assert_eq!(events(&mut c), vec![Event::Connect { fresh_token: false }]);
        assert_eq!(c.link(), Link::Reconnecting { at: None });
        c.opened(T0 + 600_002, "tok".into());
        c.handle_frame(T0 + 600_003, &welcome(true, 30_000));
        assert_eq!(c.link(), Link::Connected);
    }

    #[test]
    fn offline_while_the_socket_lives_shows_offline_and_online_shows_connected_again() {
        let mut c = ready(30_000);
        c.set_online(T0 + 10, false);
        assert_eq!(c.link(), Link::Offline);
        c.set_online(T0 + 20, true);
        assert_eq!(c.link(), Link::Connected);
        assert!(events(&mut c).is_empty(), "the socket lived through it");
        // Closed wins over offline.
        c.set_online(T0 + 30, false);
        c.closed(T0 + 40, close::REPLACED, 0.0);
        assert_eq!(c.link(), Link::Closed);
    }

    #[test]
    fn a_new_leader_taking_over_a_connected_link_shows_connected_until_its_socket_fails() {
        let mut c = Client::new("c1", false);
        c.take_over(Link::Connected);
        let links = links_through(
            &mut c,
            vec![
                Box::new(|c| c.start(T0)),
                Box::new(|c| c.opened(T0 + 1, "tok".into())),
                Box::new(|c| c.handle_frame(T0 + 2, &welcome(true, 30_000))),
            ],
        );
        assert_eq!(links, vec![Link::Connected; 3]);
        // Had its first socket failed, that is a real reconnect.
        let mut c = Client::new("c1", false);
        c.take_over(Link::Connected);
        c.start(T0);
        c.closed(T0 + 5, 1006, 0.0);
        assert_eq!(c.link(), Link::Reconnecting { at: c.poll_timeout() });
        // Taking over a reconnecting link goes on reconnecting, not "connecting".
        let mut c = Client::new("c1", false);
        c.take_over(Link::Reconnecting { at: Some(T0 + 4_000) });
        c.start(T0);
        assert_eq!(c.link(), Link::Reconnecting { at: None });
        // A first connection still being made stays "connecting".
        let mut c = Client::new("c1", false);
        c.take_over(Link::Connecting);
        c.start(T0);
        assert_eq!(c.link(), Link::Connecting);
    }

    fn snapshot(seq: u64, users: Vec<Member>) -> ServerMsg {
        ServerMsg::Snapshot {
            ch: "/a/b".into(),
            seq,
            count: users.len(),
            users: Some(users),
            cap: None,
        }
    }

    fn diff(seq: u64, count: usize, join: Vec<Member>, leave: Vec<&str>) -> ServerMsg {
        ServerMsg::Diff {
            ch: "/a/b".into(),
            seq,
            count,
            join,
            leave: leave.into_iter().map(String::from).collect(),
            update: vec![],
        }
    }

    /// What the page is shown: the shell applies every frame the client passes on to a
    /// view of its own and fires the listeners for its changes.
    fn shown(page: &mut ChannelView, c: &mut Client) -> Vec<Change> {
        let mut changes = Vec::new();
        for event in events(c) {
            if let Event::Frame(frame) = event {
                if let Applied::Changed(mut more) = page.apply(&frame) {
                    changes.append(&mut more);
                }
            }
        }
        changes
    }

    #[test]
    fn join_and_leave_fire_only_for_real_changes_across_first_snapshot_gap_and_reconnect() {
        let mut c = ready(30_000);
        let mut page = ChannelView::default();
        c.subscribe(T0, "/a/b");
        sent(&mut c);
        // Two users were already there: the first snapshot shows them, no join fires.
        c.handle_frame(
            T0 + 10,
            &snapshot(1, vec![member("1", false), member("2", false)]).encode(),
        );
        assert_eq!(shown(&mut page, &mut c), vec![]);
        assert_eq!(page.count(), 2);
        c.handle_frame(T0 + 20, &diff(2, 3, vec![member("3", false)], vec![]).encode());
        assert_eq!(shown(&mut page, &mut c), vec![Change::Join(member("3", false))]);
        // A gap: the fresh snapshot fires only what changed while diffs were missed.
        c.handle_frame(T0 + 30, &diff(5, 3, vec![], vec![]).encode());
        assert!(matches!(&sent(&mut c)[..], [ClientMsg::Subscribe { .. }]));
        c.handle_frame(
            T0 + 40,
            &snapshot(6, vec![member("2", false), member("3", false), member("4", false)]).encode(),
        );
        assert_eq!(
            shown(&mut page, &mut c),
            vec![Change::Leave(member("1", false)), Change::Join(member("4", false))]
        );
        // A reconnect: the snapshot of the new subscription fires only the difference.
        c.closed(T0 + 50, 1006, 0.0);
        run_until(&mut c, T0 + 1_000, 0.0);
        c.opened(T0 + 1_000, "tok".into());
        c.handle_frame(T0 + 1_000, &welcome(true, 30_000));
        sent(&mut c);
        c.handle_frame(
            T0 + 1_010,
            &snapshot(1, vec![member("2", false), member("3", false), member("5", false)]).encode(),
        );
        assert_eq!(
            shown(&mut page, &mut c),
            vec![Change::Leave(member("4", false)), Change::Join(member("5", false))]
        );
        assert_eq!(page.count(), 3);
    }

    #[test]
    fn a_first_snapshot_after_an_initial_state_fires_only_the_difference() {
        let mut v = ChannelView::with_initial(1, Some(vec![member("1", false)]));
        assert_eq!(
            v.apply(&snapshot(1, vec![member("1", false), member("2", false)])),
            Applied::Changed(vec![Change::Join(member("2", false))])
        );
    }

    #[test]
    fn channel_view_applies_snapshot_then_consecutive_diffs() {
        let mut v = ChannelView::default();
        // The first snapshot is the state, not a change: nobody "joins" by being there.
        assert_eq!(
            v.apply(&snapshot(5, vec![member("1", false)])),
            Applied::Changed(vec![])
        );
        assert_eq!(
            v.apply(&diff(6, 2, vec![member("2", false)], vec![])),
            Applied::Changed(vec![Change::Join(member("2", false))])
        );
        // join for a known user is an upsert: an update if different, nothing if same.
        assert_eq!(
            v.apply(&diff(7, 2, vec![member("2", true)], vec![])),
            Applied::Changed(vec![Change::Update(member("2", true))])
        );
        assert_eq!(
            v.apply(&diff(8, 2, vec![member("2", true)], vec![])),
            Applied::Changed(vec![])
        );
        assert_eq!(
            v.apply(&diff(9, 1, vec![], vec!["1", "nobody"])),
            Applied::Changed(vec![Change::Leave(member("1", false))])
        );
        assert_eq!(v.count(), 1);
        assert_eq!(v.users().map(|m| m.id.as_str()).collect::<Vec<_>>(), vec!["2"]);
        assert_eq!(v.apply(&diff(9, 1, vec![], vec![])), Applied::Stale);
    }

    #[test]
    fn a_sequence_gap_waits_for_a_new_snapshot_and_reports_the_difference() {
        let mut v = ChannelView::default();
        v.apply(&snapshot(1, vec![member("1", false), member("2", false)]));
        assert_eq!(v.apply(&diff(3, 3, vec![member("3", false)], vec![])), Applied::Gap);
        assert_eq!(v.apply(&diff(4, 3, vec![member("4", false)], vec![])), Applied::Stale);
        assert_eq!(
            v.apply(&snapshot(4, vec![member("2", true), member("3", false)])),
            Applied::Changed(vec![
                Change::Leave(member("1", false)),
                Change::Update(member("2", true)),
                Change::Join(member("3", false)),
            ])
        );
        assert_eq!(
            v.apply(&diff(5, 2, vec![], vec!["3"])),
            Applied::Changed(vec![Change::Leave(member("3", false))])
        );
    }

    #[test]
    fn a_gap_makes_the_client_resubscribe_for_a_fresh_snapshot() {
        let mut c = ready(30_000);
        c.subscribe(T0, "/a/b");
        sent(&mut c);
        c.handle_frame(T0, &snapshot(1, vec![member("1", false)]).encode());
        c.handle_frame(T0, &diff(2, 2, vec![member("2", false)], vec![]).encode());
        assert!(sent(&mut c).is_empty());
        c.handle_frame(T0, &diff(4, 3, vec![member("3", false)], vec![]).encode());
        assert!(matches!(&sent(&mut c)[..], [ClientMsg::Subscribe { ch, .. }] if ch == "/a/b"));
        let frames = events(&mut c)
            .into_iter()
            .filter(|e| matches!(e, Event::Frame(_)))
            .count();
        assert_eq!(frames, 2, "the gapped diff is not shown");
        assert_eq!(c.view("/a/b").unwrap().count(), 2);
    }

    #[test]
    fn count_only_snapshots_show_counts_and_no_identities() {
        let mut v = ChannelView::default();
        let r = v.apply(&ServerMsg::Snapshot {
            ch: "/a/b".into(),
            seq: 1,
            count: 12,
            users: None,
            cap: None,
        });
        assert_eq!(r, Applied::Changed(vec![]));
        assert!(v.is_count_only());
        assert_eq!(v.users().count(), 0);
        assert_eq!(v.apply(&diff(2, 13, vec![], vec![])), Applied::Changed(vec![]));
        assert_eq!(v.count(), 13);
    }

    #[test]
    fn a_view_round_trips_through_its_snapshot() {
        let mut v = ChannelView::default();
        v.apply(&snapshot(3, vec![member("1", true), member("2", false)]));
        let mut other = ChannelView::default();
        other.apply(&v.snapshot("/a/b").unwrap());
        assert_eq!(other, v);
        assert_eq!(ChannelView::default().snapshot("/a/b"), None);
    }

    #[test]
    fn unsubscribe_tells_the_relay_and_forgets_the_view() {
        let mut c = ready(30_000);
        c.subscribe(T0, "/a/b");
        sent(&mut c);
        c.handle_frame(T0, &snapshot(1, vec![member("1", false)]).encode());
        assert!(c.view("/a/b").is_some());
        c.unsubscribe(T0 + 1, "/a/b");
        assert!(matches!(&sent(&mut c)[..], [ClientMsg::Unsubscribe { ch, reference: Some(_) }] if ch == "/a/b"));
        assert!(c.view("/a/b").is_none());
        assert!(!c.is_subscribed("/a/b"));
        // Later diffs for it are not shown.
        events(&mut c);
        c.handle_frame(T0 + 2, &diff(2, 0, vec![], vec!["1"]).encode());
        assert!(events(&mut c).is_empty());
    }

    #[test]
    fn update_before_enter_fails_with_not_entered() {
        let mut c = ready(30_000);
        let r = c.update(T0, "/a/b", Meta::new());
        assert!(sent(&mut c).is_empty());
        assert!(
            matches!(&events(&mut c)[..], [Event::Reply { reference, result: Err(f) }]
            if *reference == r && f.code() == "not_entered")
        );
    }

    #[test]
    fn frames_for_channels_not_subscribed_are_ignored() {
        let mut c = ready(30_000);
        c.handle_frame(T0, &snapshot(1, vec![member("1", false)]).encode());
        assert!(events(&mut c).is_empty());
        assert!(c.view("/a/b").is_none());
    }

    fn capped(seq: u64, count: usize, users: Vec<Member>, cap: usize) -> ServerMsg {
        ServerMsg::Snapshot {
            ch: "/a/b".into(),
            seq,
            count,
            users: Some(users),
            cap: Some(cap),
        }
    }

    fn focus(join: Vec<Member>, leave: Vec<&str>, update: Vec<Member>) -> ServerMsg {
        ServerMsg::Focus {
            ch: "/a/b".into(),
            join,
            leave: leave.into_iter().map(String::from).collect(),
            update,
        }
    }

    fn ids(v: &ChannelView) -> Vec<&str> {
        v.users().map(|m| m.id.as_str()).collect()
    }

    #[test]
    fn a_capped_snapshot_tells_its_cap_and_focus_frames_change_the_list_like_diffs() {
        let mut c = ready(30_000);
        let mut page = ChannelView::default();
        c.subscribe_following(T0, "/a/b", vec!["40".into()]);
        sent(&mut c);
        // Two of 20,000 shared, and this user (7) outside the shared list.
        c.handle_frame(
            T0,
            &capped(
                3,
                20_000,
                vec![member("1", false), member("2", false), member("7", false)],
                2,
            )
            .encode(),
        );
        assert_eq!(shown(&mut page, &mut c), vec![]);
        assert_eq!(page.cap(), Some(2));
        assert_eq!(page.count(), 20_000);
        assert_eq!(ids(&page), vec!["1", "2", "7"]);
        // A friend arrives outside the shared list: a join, the count comes with diffs.
        c.handle_frame(T0 + 1, &focus(vec![member("40", false)], vec![], vec![]).encode());
        assert_eq!(shown(&mut page, &mut c), vec![Change::Join(member("40", false))]);
        assert_eq!(page.count(), 20_000);
        c.handle_frame(T0 + 2, &diff(4, 20_001, vec![], vec![]).encode());
        assert_eq!(shown(&mut page, &mut c), vec![]);
        assert_eq!(page.count(), 20_001);
        c.handle_frame(T0 + 3, &focus(vec![], vec![], vec![member("40", true)]).encode());
        assert_eq!(shown(&mut page, &mut c), vec![Change::Update(member("40", true))]);
        // Promoted into the shared list: already shown, so no second join.
        c.handle_frame(T0 + 4, &diff(5, 20_001, vec![member("40", true)], vec!["1"]).encode());
        assert_eq!(shown(&mut page, &mut c), vec![Change::Leave(member("1", false))]);
        c.handle_frame(T0 + 5, &focus(vec![], vec!["7"], vec![]).encode());
        assert_eq!(shown(&mut page, &mut c), vec![Change::Leave(member("7", false))]);
        assert_eq!(ids(&page), vec!["2", "40"]);
        // The client's own view agrees, and hands other tabs the cap with the state.
        let own = c.view("/a/b").unwrap();
        assert_eq!(own, &page);
        let mut tab = ChannelView::default();
        tab.apply(&own.snapshot("/a/b").unwrap());
        assert_eq!(tab.cap(), Some(2));
        assert_eq!(ids(&tab), vec!["2", "40"]);
        // A later uncapped snapshot (the rule changed) says so.
        page.apply(&snapshot(9, vec![member("2", false)]));
        assert_eq!(page.cap(), None);
    }

    #[test]
    fn focus_before_the_snapshot_or_while_one_is_awaited_is_ignored() {
        let mut c = ready(30_000);
        c.subscribe(T0, "/a/b");
        sent(&mut c);
        c.handle_frame(T0, &focus(vec![member("40", false)], vec![], vec![]).encode());
        assert!(events(&mut c).is_empty(), "no state to apply it on");
        c.handle_frame(T0 + 1, &capped(1, 10, vec![member("1", false)], 1).encode());
        // A gap: what focus says now is about a state the next snapshot replaces.
        c.handle_frame(T0 + 2, &diff(3, 10, vec![], vec![]).encode());
        events(&mut c);
        c.handle_frame(T0 + 3, &focus(vec![member("40", false)], vec![], vec![]).encode());
        assert!(events(&mut c).is_empty());
        assert_eq!(ids(c.view("/a/b").unwrap()), vec!["1"]);
        c.handle_frame(T0 + 4, &capped(4, 11, vec![member("1", false)], 1).encode());
        c.handle_frame(T0 + 5, &focus(vec![member("40", false)], vec![], vec![]).encode());
        assert_eq!(ids(c.view("/a/b").unwrap()), vec!["1", "40"]);
        // On a channel not watched, nothing.
        events(&mut c);
        c.handle_frame(
            T0 + 6,
            &ServerMsg::Focus {
                ch: "/x/y".into(),
                join: vec![member("40", false)],
                leave: vec![],
                update: vec![],
            }
            .encode(),
        );
        assert!(events(&mut c).is_empty());
    }

    #[test]
    fn subscribe_carries_its_friends_every_time_it_is_sent() {
        let friends = || vec!["40".to_string(), "41".to_string()];
        let sent_friends = |c: &mut Client| -> Vec<Vec<String>> {
            sent(c)
                .into_iter()
                .filter_map(|m| match m {
                    ClientMsg::Subscribe { friends, .. } => Some(friends),
                    _ => None,
                })
                .collect()
        };
        let mut c = ready(30_000);
        c.subscribe_following(T0, "/a/b", friends());
        assert_eq!(sent_friends(&mut c), vec![friends()]);
        // After a gap.
        c.handle_frame(T0, &capped(1, 3, vec![member("1", false)], 1).encode());
        c.handle_frame(T0, &diff(3, 3, vec![], vec![]).encode());
        assert_eq!(sent_friends(&mut c), vec![friends()]);
        // After a reconnect.
        c.closed(T0 + 1, 1006, 0.0);
        run_until(&mut c, T0 + 1_000, 0.0);
        c.opened(T0 + 1_000, "tok".into());
        c.handle_frame(T0 + 1_000, &welcome(true, 30_000));
        assert_eq!(sent_friends(&mut c), vec![friends()]);
        // Subscribing again replaces them; on the wire, none is no field at all.
        c.subscribe(T0 + 1_001, "/a/b");
        let out = sent(&mut c);
        assert!(matches!(&out[..], [ClientMsg::Subscribe { friends, .. }] if friends.is_empty()));
        assert!(!out[0].encode().contains("friends"));
    }

    fn page_of(count: usize, users: Vec<Member>, next: Option<&str>, reference: Option<u64>) -> String {
        ServerMsg::Members {
            ch: "/a/b".into(),
            reference,
            count,
            users,
            next: next.map(String::from),
        }
        .encode()
    }

    #[test]
    fn a_members_request_resolves_with_its_page_or_the_refusal() {
        let mut c = ready(30_000);
        let r = c.members(T0, "/a/b", Some("7".into()), Some(2));
        let out = sent(&mut c);
        let [ClientMsg::Members {
            ch,
            after,
            limit,
            reference: Some(wire),
        }] = &out[..]
        else {
            panic!("{out:?}")
        };
        assert_eq!((ch.as_str(), after.as_deref(), *limit), ("/a/b", Some("7"), Some(2)));
        // Another request's page, and one with no ref, answer nothing.
        c.handle_frame(T0 + 1, &page_of(5, vec![], None, Some(wire + 100)));
        c.handle_frame(T0 + 1, &page_of(5, vec![], None, None));
        assert!(events(&mut c).is_empty());
        c.handle_frame(
            T0 + 2,
            &page_of(5, vec![member("8", false), member("9", false)], Some("9"), Some(*wire)),
        );
        assert_eq!(
            events(&mut c),
            vec![Event::Page {
                reference: r,
                page: Page {
                    count: 5,
                    users: vec![member("8", false), member("9", false)],
                    next: Some("9".into()),
                }
            }]
        );
        // Answered once: no timeout follows.
        run_until(&mut c, T0 + REQUEST_TIMEOUT_MS + 1, 0.0);
        assert!(!events(&mut c).iter().any(|e| matches!(e, Event::Reply { .. })));

        let r = c.members(T0 + 20_000, "/c/d", None, None);
        let wire = wire_ref(&sent(&mut c)[0]);
        c.handle_frame(
            T0 + 20_001,
            &ServerMsg::error(ErrorCode::ForbiddenView, Some(wire), Some("/c/d")).encode(),
        );
        assert!(
            matches!(&events(&mut c)[..], [Event::Reply { reference, result: Err(f) }]
            if *reference == r && f.code() == "forbidden_view")
        );
    }

    #[test]
    fn a_members_request_without_a_socket_is_sent_after_the_welcome_and_asked_again_after_a_drop() {
        let mut c = Client::new("c1", false);
        let r = c.members(T0, "/a/b", None, Some(10));
        c.start(T0);
        c.opened(T0, "tok".into());
        assert!(matches!(&sent(&mut c)[..], [ClientMsg::Hello { .. }]));
        c.handle_frame(T0 + 1, &welcome(false, 30_000));
        let out = sent(&mut c);
        assert!(
            matches!(&out[..], [ClientMsg::Members { limit: Some(10), .. }]),
            "{out:?}"
        );
        // The socket drops before the answer: asked again on the next one.
        c.closed(T0 + 2, 1006, 0.0);
        run_until(&mut c, T0 + 1_000, 0.0);
        c.opened(T0 + 1_000, "tok".into());
        c.handle_frame(T0 + 1_000, &welcome(true, 30_000));
        let again = sent(&mut c);
        let [ClientMsg::Hello { .. }, asked @ ClientMsg::Members { .. }] = &again[..] else {
            panic!("{again:?}")
        };
        events(&mut c);
        c.handle_frame(
            T0 + 1_001,
            &page_of(1, vec![member("1", false)], None, asked.reference()),
        );
        assert!(matches!(&events(&mut c)[..], [Event::Page { reference, page }] if *reference == r && page.count == 1));
        // Never connected in time: it fails as unreachable, and is not sent later.
        let r = c.members(T0 + 2_000, "/a/b", None, None);
        c.closed(T0 + 2_000, 1006, 0.0);
        sent(&mut c);
        c.handle_timeout(T0 + 2_000 + REQUEST_TIMEOUT_MS, 0.0);
        assert!(events(&mut c).contains(&Event::Reply {
            reference: r,
            result: Err(Failure::Unreachable)
        }));
        c.opened(T0 + 20_000, "tok".into());
        c.handle_frame(T0 + 20_000, &welcome(true, 30_000));
        assert!(!sent(&mut c).iter().any(|m| matches!(m, ClientMsg::Members { .. })));
    }

    #[cfg(not(target_arch = "wasm32"))]
    mod props {
        use super::*;
        use proptest::prelude::*;
        use std::collections::BTreeMap;

        proptest! {
            #[test]
            fn backoff_never_exceeds_the_cap(attempt in 0u32..200, jitter in 0.0f64..1.0) {
                let d = backoff_delay(attempt, jitter);
                prop_assert!(d <= BACKOFF_CAP_MS);
                prop_assert!(d >= BACKOFF_BASE_MS / 2);
            }

            #[test]
            fn diffs_in_any_split_reach_the_same_roster(
                ops in proptest::collection::vec((0u8..6, any::<bool>(), any::<bool>()), 0..40)
            ) {
                // The relay's truth, and a view fed the same changes as diffs.
                let mut truth: BTreeMap<String, Member> = BTreeMap::new();
                let mut v = ChannelView::default();
                v.apply(&snapshot(0, vec![]));
                for (seq, (id, join, typing)) in ops.into_iter().enumerate() {
                    let id = id.to_string();
                    let msg = if join {
                        truth.insert(id.clone(), member(&id, typing));
                        diff(seq as u64 + 1, truth.len(), vec![member(&id, typing)], vec![])
                    } else {
                        truth.remove(&id);
                        diff(seq as u64 + 1, truth.len(), vec![], vec![&id])
                    };
                    prop_assert!(matches!(v.apply(&msg), Applied::Changed(_)));
                }
                prop_assert_eq!(v.users().cloned().collect::<Vec<_>>(), truth.values().cloned().collect::<Vec<_>>());
                prop_assert_eq!(v.count(), truth.len());
            }
        }
    }
}
