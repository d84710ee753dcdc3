//! The browser side of one connection: what this client wants, and what it owes the relay.
//!
//! Map of the file:
//! - **wants**: channels entered (with meta) and subscribed. They outlive sockets: every
//!   `welcome` re-asserts all of them, inside the relay's grace, so nobody sees a flicker.
//! - **connection**: idle, waiting to retry (exponential backoff with jitter, capped at
//!   [`BACKOFF_CAP_MS`], reset by a welcome), connecting, ready, stopped. The relay's
//!   close code decides what comes next (see [`Client::closed`]).
//! - **schedule**: a check-in every `terms.checkin_interval_ms`; an activity change is
//!   sent at once, at most once per [`STATUS_THROTTLE_MS`]. A relay of protocol 1.2
//!   answers check-ins: one without its answer within `terms.checkin_answer_ms` means
//!   the link stalled, and it is closed and made again like a dropped one. Coming back
//!   online with the socket still open checks the link at once.
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
//! Child modules: `connection` (the socket: hello, welcome, close codes, backoff) and
//! `requests` (frames in flight, answers, refusals); the view of one channel is
//! [`crate::view::ChannelView`].
//!
//! The shell feeds inputs with `now` (and `jitter` in `[0, 1)` where a retry may be
//! scheduled), sends what [`Client::poll_transmit`] returns, acts on
//! [`Client::poll_event`] and arms one timer at [`Client::poll_timeout`].

use crate::protocol::{close, ClientMsg, ErrorCode, Member, Meta, ServerMsg, Status, Terms, PROTOCOL_VERSION};
use crate::smallmap::Queue;
use crate::smallmap::SmallMap;
use crate::time::{earliest, Instant};
use crate::timing::DEFAULT_CHECKIN_INTERVAL_MS;
use crate::view::{Applied, ChannelView};

mod connection;
mod requests;

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
/// How long to wait before asserting a channel again after `unavailable` from a relay
/// that named no `retry_after_ms`.
pub const UNAVAILABLE_RETRY_MS: u64 = 5_000;
/// Close code the client uses when it gives up on a socket itself (no welcome in time).
pub const CLOSE_GAVE_UP: u16 = 4000;
/// Close code for a deliberate `presence.close()`.
pub const CLOSE_NORMAL: u16 = 1000;

/// A request id: returned by each request, echoed by its [`Event::Reply`].
pub type Ref = u64;

/// Why a request failed or the client stopped, as the page sees it (`err.code`,
/// `err.message`) and as the leader tells the other tabs: the relay's error codes plus
/// the client's own (`relay_unreachable`, `replaced`, `closed`), and a sentence a
/// developer can act on. One type from the client to the page: each conversion on the
/// way weighed in the browser's wasm.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: &str, message: &str) -> ErrorBody {
        ErrorBody {
            code: code.to_string(),
            message: message.to_string(),
        }
    }

    /// No connection to the relay (or no answer) within [`REQUEST_TIMEOUT_MS`].
    pub fn unreachable() -> ErrorBody {
        ErrorBody::new(
            "relay_unreachable",
            "The relay could not be reached; check its URL and that it is running. The SDK keeps retrying and asserts this when the relay is back.",
        )
    }

    /// Another connection of the same client took over (close 4009).
    pub fn replaced() -> ErrorBody {
        ErrorBody::new(
            "replaced",
            "Another connection of this browser took over; this one stopped. Use one connect() per page.",
        )
    }

    /// `close()` was called.
    pub fn closed() -> ErrorBody {
        ErrorBody::new(
            Self::CLOSED,
            "presence.close() was called; call connect() again to come back.",
        )
    }

    /// `close()` ended it, as [`ErrorBody::closed`] says.
    pub fn is_closed(&self) -> bool {
        self.code == Self::CLOSED
    }

    const CLOSED: &'static str = "closed";

    #[cfg(test)]
    fn relay(code: ErrorCode) -> ErrorBody {
        ErrorBody::new(code.as_str(), code.sentence())
    }

    /// The relay's refusal with the relay's own sentence. The client does not keep the
    /// sentences itself (they are the relay's, and would weigh in the browser's wasm);
    /// only a relay that sent none gets this generic one.
    fn refused(code: ErrorCode, message: String) -> ErrorBody {
        let message = if message.is_empty() {
            let mut m = String::from("The relay refused this with ");
            m.push_str(code.as_str());
            m.push_str("; see the relay's log and docs/protocol.md.");
            m
        } else {
            message
        };
        ErrorBody {
            code: code.as_str().to_string(),
            message,
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
    /// The relay's welcome is in (the session and the terms are read with
    /// [`Client::session`] and [`Client::terms`]; the page knows its user from its token).
    Welcome,
    /// The answer to a request.
    Reply {
        reference: Ref,
        result: Result<(), ErrorBody>,
    },
    /// The answer to [`Client::members`] (a refusal comes as a [`Event::Reply`]).
    Page { reference: Ref, page: Page },
    /// A snapshot or diff accepted in order, to be shown (and passed to other tabs).
    Frame(ServerMsg),
    /// An error not tied to a pending request, e.g. a re-asserted channel refused.
    Error { ch: Option<String>, failure: ErrorBody },
    /// The relay says the token expired: get a new one and hand it to
    /// [`Client::token_refreshed`].
    TokenNeeded,
    /// The client stopped for good; every pending request has been failed.
    Stopped(ErrorBody),
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
    /// A status named by [`Link::as_str`] (as told over the bus), with the next attempt's
    /// time; `None` for a name this version does not know.
    pub fn parse(status: &str, at: Option<Instant>) -> Option<Link> {
        Some(match status {
            "connecting" => Link::Connecting,
            "connected" => Link::Connected,
            "reconnecting" => Link::Reconnecting { at },
            "offline" => Link::Offline,
            "closed" => Link::Closed,
            _ => return None,
        })
    }

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
    /// Left while offline: a resumed lease still holds it, so the leave is told after
    /// the welcome. The want stays for this alone.
    left_offline: bool,
}

/// A frame on the wire waiting for `ok` or `error`, or put off until a time
/// (`Client::delayed`).
#[derive(Clone, Debug)]
struct InFlight {
    ch: Option<String>,
    waiters: Vec<Ref>,
    /// The frame as sent, to send again after `rate_limited`; what it is tells what a
    /// refusal does to the want behind it. A check-in stands for a channel to assert
    /// again (after `unavailable`), made from its want when it goes: no check-in is
    /// otherwise ever in flight (`Client::send_checkin`).
    msg: ClientMsg,
}

impl InFlight {
    fn is_assert(&self) -> bool {
        matches!(self.msg, ClientMsg::Checkin { .. })
    }
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
    /// The check-in whose answer is awaited, and when the link is taken for dead without
    /// it (protocol 1.2; never with an older relay, which answers none).
    answer_due: Option<(Ref, Instant)>,
    /// The relay said `rate_limited`: until then it may drop frames unanswered, a
    /// check-in too, so none is awaited.
    limited_until: Instant,
    status: Status,
    sent_status: Status,
    status_sent_at: Option<Instant>,
    status_due: Option<Instant>,
    wants: SmallMap<String, Want>,
    views: SmallMap<String, ChannelView>,
    in_flight: SmallMap<Ref, InFlight>,
    /// Requests the relay refused as `rate_limited`, and when to send them again (the
    /// re-assertion after a welcome can exceed the relay's burst); channels to assert
    /// again after `unavailable`. A new socket drops them: its welcome asserts all.
    delayed: Vec<(Instant, InFlight)>,
    /// Requests not answered yet, with the time they give up.
    deadlines: SmallMap<Ref, Instant>,
    next_ref: Ref,
    /// `members` requests made without a connection, sent after the next welcome.
    pages: Vec<InFlight>,
    outbox: Queue<ClientMsg>,
    events: Queue<Event>,
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
            answer_due: None,
            limited_until: Instant::ZERO,
            status: Status::Active,
            sent_status: Status::Active,
            status_sent_at: None,
            status_due: None,
            wants: SmallMap::default(),
            views: SmallMap::default(),
            in_flight: SmallMap::default(),
            delayed: Vec::new(),
            deadlines: SmallMap::default(),
            next_ref: 1,
            pages: Vec::new(),
            outbox: Queue::default(),
            events: Queue::default(),
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
        let want = self.wants.or_default(ch);
        want.left_offline = false;
        want.entered = Some(meta.clone());
        if self.conn == Conn::Ready {
            self.send_one(
                ClientMsg::Enter {
                    ch: ch.to_string(),
                    meta: Some(meta),
                    status: Some(self.status),
                    reference: None,
                },
                reference,
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
            let failure = ErrorBody::new(
                ErrorCode::NotEntered.as_str(),
                "update() needs enter() first: this tab is not in that channel.",
            );
            self.answer(reference, Err(failure));
            return reference;
        };
        want.entered = Some(meta.clone());
        if self.conn == Conn::Ready {
            self.send_one(
                ClientMsg::Update {
                    ch: ch.to_string(),
                    meta: Some(meta),
                    status: None,
                    reference: None,
                },
                reference,
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
        let ready = self.conn == Conn::Ready;
        let (was_entered, superseded) = match self.wants.get_mut(ch) {
            Some(want) => {
                let was = want.entered.take().is_some();
                want.left_offline |= was && !ready;
                (was, std::mem::take(&mut want.enter_waiters))
            }
            None => (false, Vec::new()),
        };
        // An enter still waiting for a connection is moot once left.
        for waiter in superseded {
            self.answer(waiter, Ok(()));
        }
        self.prune(ch);
        if was_entered && ready {
            self.send_one(
                ClientMsg::Leave {
                    ch: ch.to_string(),
                    reference: None,
                },
                reference,
            );
        } else {
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
        self.views.or_default(ch).await_snapshot();
        if self.conn == Conn::Ready {
            self.send_one(
                ClientMsg::Subscribe {
                    friends,
                    ch: ch.to_string(),
                    reference: None,
                },
                reference,
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
            self.send_one(
                ClientMsg::Unsubscribe {
                    ch: ch.to_string(),
                    reference: None,
                },
                reference,
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
            self.send_one(msg, reference);
        } else {
            self.pages.push(InFlight {
                ch: None,
                waiters: vec![reference],
                msg,
            });
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
            self.send_one(ClientMsg::Token { token, reference: None }, reference);
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
        self.stop(ErrorBody::closed());
        if had_socket {
            self.events.push_back(Event::Disconnect { code: CLOSE_NORMAL });
        }
    }

    /// The browser's `online`/`offline` events (`navigator.onLine`). Offline, no attempt
    /// is made (each would fail and lengthen the backoff); back online, a connection
    /// waiting for its next attempt makes it at once.
    pub fn set_online(&mut self, now: Instant, online: bool) {
        let back = online && !self.online;
        self.online = online;
        match self.conn {
            Conn::Waiting { .. } if online => self.begin_connect(now),
            // The socket outlived the network, or seems to: after a change of network it
            // may be dead without a word. A check-in now finds out within its answer's
            // wait rather than after the next one.
            Conn::Ready if back && self.answer_due.is_none() => self.send_checkin(now),
            _ => {}
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
        if let ServerMsg::Ok { reference }
        | ServerMsg::Error {
            reference: Some(reference),
            ..
        }
        | ServerMsg::Members {
            reference: Some(reference),
            ..
        } = msg
        {
            self.answered(now, reference);
        }
        match msg {
            ServerMsg::Welcome {
                session,
                resumed,
                terms,
                ..
            } => self.welcomed(now, session, resumed, terms),
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
                let view = self.views.or_default(ch.as_str());
                match view.apply(&msg) {
                    Applied::Changed(_) => self.events.push_back(Event::Frame(msg)),
                    Applied::Stale => {}
                    Applied::Gap => self.send_subscribe(&ch, vec![]),
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

    /// Timers: retry, welcome timeout, check-in and its answer, throttled status, request
    /// timeouts.
    pub fn handle_timeout(&mut self, now: Instant, jitter: f64) {
        match self.conn {
            // A check-in unanswered: the link stalled without closing. Close it and make
            // it again, as for a dropped socket.
            Conn::Ready if self.answer_due.is_some_and(|(_, t)| t <= now) => {
                self.events.push_back(Event::Disconnect { code: CLOSE_GAVE_UP });
                self.closed(now, CLOSE_GAVE_UP, jitter);
            }
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
        // Sending one puts nothing back on the list, so this ends.
        while let Some(i) = self
            .delayed
            .iter()
            .position(|(at, _)| *at <= now)
            .filter(|_| self.conn == Conn::Ready)
        {
            let (_, flight) = self.delayed.remove(i);
            self.send_delayed(flight);
        }
        let expired: Vec<Ref> = self
            .deadlines
            .iter()
            .filter(|(_, t)| **t <= now)
            .map(|(r, _)| *r)
            .collect();
        for reference in expired {
            self.answer(reference, Err(ErrorBody::unreachable()));
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
            Conn::Ready => self.delayed.iter().fold(
                earliest(
                    earliest(self.next_checkin, self.status_due),
                    self.answer_due.map(|(_, t)| t),
                ),
                |d, (at, _)| earliest(d, Some(*at)),
            ),
            Conn::Idle | Conn::Stopped => None,
        };
        self.deadlines.iter().fold(conn, |d, (_, t)| earliest(d, Some(*t)))
    }

    // ----- internals -----

    fn prune(&mut self, ch: &str) {
        if self
            .wants
            .get(ch)
            .is_some_and(|w| w.entered.is_none() && !w.subscribed && !w.left_offline)
        {
            self.wants.remove(ch);
        }
    }

    /// The relay answered `reference`. It answers in order: the awaited check-in's answer,
    /// or one to a later request, ends the wait; one to an earlier request shows the
    /// relay still working through what came before the check-in (frames behind a
    /// channel the site decides wait for its answer), so the wait starts again.
    fn answered(&mut self, now: Instant, reference: Ref) {
        if let Some((awaited, _)) = self.answer_due {
            let ms = self.terms.as_ref().and_then(|t| t.checkin_answer_ms).unwrap_or(0);
            self.answer_due = (reference < awaited).then_some((awaited, now + ms));
        }
    }

    fn send_checkin(&mut self, now: Instant) {
        // A relay that says how soon it answers gets a ref to answer. One answer awaited
        // at a time: a later check-in's answer comes after it anyway.
        let answer_ms = self.terms.as_ref().and_then(|t| t.checkin_answer_ms);
        let reference = answer_ms.map(|ms| {
            let reference = self.next_ref;
            self.next_ref += 1;
            if self.answer_due.is_none() && now >= self.limited_until {
                self.answer_due = Some((reference, now + ms));
            }
            reference
        });
        self.outbox.push_back(ClientMsg::Checkin {
            status: self.status,
            reference,
        });
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

#[cfg(test)]
mod tests;
