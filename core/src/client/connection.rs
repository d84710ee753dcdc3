//! The client's socket: asking for one, saying hello, being welcomed (which re-asserts
//! every want), and what each close code means next (retry after a backoff, at once,
//! with a fresh token, or stop).

use super::*;

impl Client {
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
            close::REPLACED => self.stop(ErrorBody::replaced()),
            close::REFUSED => {
                let (reason, message) = self.refusal.take().unwrap_or((ErrorCode::BadToken, String::new()));
                let token_refused = matches!(reason, ErrorCode::TokenExpired | ErrorCode::BadToken);
                if token_refused && self.refreshable_token {
                    if self.token_is_fresh && !self.refusal_told {
                        self.refusal_told = true;
                        self.events.push_back(Event::Error {
                            ch: None,
                            failure: ErrorBody::refused(reason, message),
                        });
                    }
                    self.fresh_token = true;
                    self.retry_after_backoff(now, jitter);
                } else {
                    self.stop(ErrorBody::refused(reason, message));
                }
            }
            close::TOKEN_EXPIRED => {
                self.fresh_token = self.refreshable_token;
                self.retry_after_backoff(now, jitter);
            }
            close::RELAY_RESTART => self.begin_connect(now),
            close::TOO_LARGE => self.stop(ErrorBody::refused(ErrorCode::FrameTooLarge, String::new())),
            close::POLICY => {
                self.events.push_back(Event::Error {
                    ch: None,
                    failure: ErrorBody::refused(ErrorCode::RateLimited, String::new()),
                });
                self.attempts = self.attempts.max(BACKOFF_CAP_ATTEMPT);
                self.retry_after_backoff(now, jitter);
            }
            _ => self.retry_after_backoff(now, jitter),
        }
    }

    pub(super) fn begin_connect(&mut self, now: Instant) {
        self.conn = Conn::Connecting {
            deadline: now + WELCOME_TIMEOUT_MS,
        };
        self.token_is_fresh = self.fresh_token;
        self.events.push_back(Event::Connect {
            fresh_token: self.fresh_token,
        });
    }

    pub(super) fn retry_after_backoff(&mut self, now: Instant, jitter: f64) {
        let delay = backoff_delay(self.attempts, jitter);
        self.attempts = self.attempts.saturating_add(1);
        self.conn = Conn::Waiting { until: now + delay };
    }

    pub(super) fn stop(&mut self, failure: ErrorBody) {
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

    pub(super) fn welcomed(&mut self, now: Instant, session: String, resumed: bool, terms: Terms) {
        if !matches!(self.conn, Conn::Connecting { .. }) {
            return;
        }
        self.conn = Conn::Ready;
        self.was_connected = true;
        self.handing_over = false;
        self.attempts = 0;
        self.fresh_token = false;
        self.refusal_told = false;
        self.session = Some(session);
        self.terms = Some(terms);
        self.next_checkin = Some(now + self.checkin_interval());
        self.answer_due = None;
        self.sent_status = self.status;
        self.status_sent_at = Some(now);
        self.status_due = None;
        // A resumed lease still holds channels left while offline: end them now rather
        // than at the end of the grace.
        let chans: Vec<String> = self.wants.iter().map(|(ch, _)| ch.clone()).collect();
        for ch in &chans {
            if self
                .wants
                .get_mut(ch.as_str())
                .is_some_and(|w| std::mem::take(&mut w.left_offline))
                && resumed
            {
                self.outbox.push_back(ClientMsg::Leave {
                    ch: ch.clone(),
                    reference: None,
                });
            }
            self.prune(ch);
        }
        for ch in chans {
            let Some(want) = self.wants.get_mut(ch.as_str()) else {
                continue;
            };
            let enter = want.entered.is_some().then(|| std::mem::take(&mut want.enter_waiters));
            let subscribe = want.subscribed.then(|| std::mem::take(&mut want.subscribe_waiters));
            self.assert_want(&ch, enter, subscribe);
        }
        // Pages asked while offline, unless they have timed out meanwhile.
        for flight in std::mem::take(&mut self.pages) {
            if flight.waiters.iter().any(|r| self.deadlines.contains_key(r)) {
                self.send_request(flight.msg, flight.waiters);
            }
        }
        self.events.push_back(Event::Welcome);
    }
}
