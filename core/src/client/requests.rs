//! The client's requests: numbering them, the frames in flight awaiting `ok` or
//! `error`, answering each once, and what a refusal does to the want behind it.

use super::*;

impl Client {
    pub(super) fn new_request(&mut self, now: Instant) -> Ref {
        let reference = self.next_ref;
        self.next_ref += 1;
        self.deadlines.push(reference, now + REQUEST_TIMEOUT_MS);
        reference
    }

    /// Subscribe to `ch` (again), with the friends its want follows.
    pub(super) fn send_subscribe(&mut self, ch: &str, waiters: Vec<Ref>) {
        let friends = self.wants.get(ch).map(|w| w.friends.clone()).unwrap_or_default();
        let msg = ClientMsg::Subscribe {
            friends,
            ch: ch.to_string(),
            reference: None,
        };
        self.send_request(msg, waiters);
    }

    /// Send a request frame that answers the one request `reference`.
    pub(super) fn send_one(&mut self, msg: ClientMsg, reference: Ref) {
        self.send_request(msg, vec![reference]);
    }

    /// Send a request frame with a wire ref that answers `waiters`.
    pub(super) fn send_request(&mut self, mut msg: ClientMsg, waiters: Vec<Ref>) {
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
            // A check-in is awaited by the schedule, not as a request (`send_checkin`).
            ClientMsg::Hello { .. } | ClientMsg::Checkin { .. } => {}
        }
        self.in_flight.push(
            wire,
            InFlight {
                ch,
                waiters,
                msg: msg.clone(),
            },
        );
        self.outbox.push_back(msg);
    }

    /// Answer a request once; a late second answer (after a timeout) is dropped.
    pub(super) fn answer(&mut self, reference: Ref, result: Result<(), ErrorBody>) {
        if self.deadlines.remove(&reference).is_some() {
            self.events.push_back(Event::Reply { reference, result });
        }
    }

    /// The socket is gone: frames on it will never be answered. Their wants stay and are
    /// re-asserted after the next welcome, which answers the waiters then.
    pub(super) fn fail_in_flight_later(&mut self) {
        for (_, flight) in std::mem::take(&mut self.in_flight).0 {
            self.park(flight);
        }
        for (_, flight) in std::mem::take(&mut self.delayed) {
            self.park(flight);
        }
    }

    /// One request of a socket that is gone: its waiters wait for the next welcome, or
    /// are answered now if its want is gone.
    fn park(&mut self, flight: InFlight) {
        if let ClientMsg::Members { .. } = flight.msg {
            // A listing asked on a socket that is gone: ask again on the next one.
            self.pages.push(flight);
            return;
        }
        // A token's frame has no channel: nothing waits for it but its timeout.
        let Some(ch) = flight.ch.as_deref() else { return };
        match (&flight.msg, self.wants.get_mut(ch)) {
            (ClientMsg::Enter { .. } | ClientMsg::Update { .. }, Some(want)) if want.entered.is_some() => {
                want.enter_waiters.extend(flight.waiters)
            }
            (ClientMsg::Subscribe { .. }, Some(want)) if want.subscribed => {
                want.subscribe_waiters.extend(flight.waiters)
            }
            // A leave or an unsubscribe, or a want left or unsubscribed while in flight:
            // done as far as the page cares.
            _ => {
                for waiter in flight.waiters {
                    self.answer(waiter, Ok(()));
                }
            }
        }
    }

    pub(super) fn relay_error(
        &mut self,
        now: Instant,
        reference: Option<Ref>,
        code: ErrorCode,
        message: String,
        ch: Option<String>,
        retry_after_ms: Option<u64>,
    ) {
        if code == ErrorCode::RateLimited && reference.is_none() {
            // The relay reads this link, and drops unanswered what it refuses for a
            // while: a check-in sent meanwhile proves nothing either way.
            self.answer_due = None;
            self.limited_until = now + retry_after_ms.unwrap_or(STATUS_THROTTLE_MS);
        }
        let failure = ErrorBody::refused(code, message.clone());
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
                _ => {
                    if let Some(ch) = ch.as_deref() {
                        self.taken_back(now, ch, code, retry_after_ms);
                    }
                    self.events.push_back(Event::Error { ch, failure });
                }
            }
            return;
        };
        if code == ErrorCode::RateLimited && self.conn == Conn::Ready {
            let wait = retry_after_ms.unwrap_or(STATUS_THROTTLE_MS).max(1);
            self.delayed.push((now + wait, flight));
            return;
        }
        if let (ErrorCode::Unavailable, Conn::Ready, Some(ch)) = (code, &self.conn, flight.ch.as_deref()) {
            // The site that decides the channel did not answer: the want stays, and is
            // asserted again once the site may be back.
            let at = now + retry_after_ms.unwrap_or(UNAVAILABLE_RETRY_MS).max(1);
            self.assert_later(at, ch);
        }
        // A refusal that will not change by retrying drops the want, so it is not
        // re-asserted on every reconnect.
        let permanent = code.is_permanent();
        if let (true, Some(ch)) = (permanent, flight.ch.as_deref()) {
            match flight.msg {
                ClientMsg::Enter { .. } => {
                    if let Some(want) = self.wants.get_mut(ch) {
                        want.entered = None;
                    }
                }
                ClientMsg::Subscribe { .. } => {
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

    /// The relay took `ch` back unasked (a channel the site decides, protocol.md): what
    /// it no longer allows is dropped, like a refusal of the want; `unavailable` (the
    /// site could not be asked) keeps the wants and asserts them again after the wait.
    fn taken_back(&mut self, now: Instant, ch: &str, code: ErrorCode, retry_after_ms: Option<u64>) {
        let Some(want) = self.wants.get_mut(ch) else { return };
        match code {
            ErrorCode::ForbiddenEnter => want.entered = None,
            ErrorCode::ForbiddenView => {
                want.subscribed = false;
                self.views.remove(ch);
            }
            ErrorCode::Unavailable => {
                let at = now + retry_after_ms.unwrap_or(UNAVAILABLE_RETRY_MS).max(1);
                self.assert_later(at, ch);
            }
            _ => {}
        }
        self.prune(ch);
    }

    /// Assert `ch` again at `at` (its enter and subscribe, as far as still wanted then),
    /// once however often the relay says so (it tells a connection both entered and
    /// watching twice). Its view is no longer fed: it shows nothing until the new
    /// snapshot.
    fn assert_later(&mut self, at: Instant, ch: &str) {
        if self.is_subscribed(ch) {
            *self.views.or_default(ch) = ChannelView::default();
        }
        let ch = Some(ch.to_string());
        if !self.delayed.iter().any(|(_, f)| f.is_assert() && f.ch == ch) {
            let flight = InFlight {
                ch,
                waiters: Vec::new(),
                msg: ClientMsg::Checkin {
                    status: self.status,
                    reference: None,
                },
            };
            self.delayed.push((at, flight));
        }
    }

    /// A request put off (`rate_limited`, `unavailable`) goes out now: a channel to
    /// assert again, from its want as it is now; any other frame as it was.
    pub(super) fn send_delayed(&mut self, flight: InFlight) {
        match (
            flight.is_assert(),
            flight.ch.as_deref().and_then(|ch| self.wants.get(ch)),
        ) {
            (true, Some(want)) => {
                let enter = want.entered.is_some().then(Vec::new);
                let subscribe = want.subscribed.then(Vec::new);
                let ch = flight.ch.unwrap_or_default();
                self.assert_want(&ch, enter, subscribe);
            }
            // Left and unsubscribed meanwhile.
            (true, None) => {}
            (false, _) => self.send_request(flight.msg, flight.waiters),
        }
    }

    /// Send `ch`'s enter (answering `enter`, its waiters) and subscribe (`subscribe`),
    /// from the want as it is now.
    pub(super) fn assert_want(&mut self, ch: &str, enter: Option<Vec<Ref>>, subscribe: Option<Vec<Ref>>) {
        let meta = self.wants.get(ch).and_then(|w| w.entered.clone());
        if let (Some(waiters), Some(meta)) = (enter, meta) {
            let msg = ClientMsg::Enter {
                ch: ch.to_string(),
                meta: Some(meta),
                status: Some(self.status),
                reference: None,
            };
            self.send_request(msg, waiters);
        }
        if let Some(waiters) = subscribe {
            // Diffs of the old subscription are meaningless now; keep showing the old
            // state until the new snapshot replaces it.
            self.views.or_default(ch).await_snapshot();
            self.send_subscribe(ch, waiters);
        }
    }
}
