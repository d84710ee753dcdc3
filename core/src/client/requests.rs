//! The client's requests: numbering them, the frames in flight awaiting `ok` or
//! `error`, answering each once, and what a refusal does to the want behind it.

use super::*;

impl Client {
    pub(super) fn new_request(&mut self, now: Instant) -> Ref {
        let reference = self.next_ref;
        self.next_ref += 1;
        self.deadlines.insert(reference, now + REQUEST_TIMEOUT_MS);
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
        self.send_request(msg, Kind::Subscribe, waiters);
    }

    /// Send a request frame with a wire ref that answers `waiters`.
    pub(super) fn send_request(&mut self, mut msg: ClientMsg, kind: Kind, waiters: Vec<Ref>) {
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
    pub(super) fn answer(&mut self, reference: Ref, result: Result<(), Failure>) {
        if self.deadlines.remove(&reference).is_some() {
            self.events.push_back(Event::Reply { reference, result });
        }
    }

    /// The socket is gone: frames on it will never be answered. Their wants stay and are
    /// re-asserted after the next welcome, which answers the waiters then.
    pub(super) fn fail_in_flight_later(&mut self) {
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
        let permanent = code.is_permanent();
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
