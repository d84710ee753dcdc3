//! The leader's side: taking the connection over, what it does with each tab's intent
//! (the ledger first, then the client, the answer routed back to the tab that asked), and
//! the connection's events turned into replies, broadcast frames and the end of it.

use super::*;

#[derive(Debug)]
pub(super) struct Leader {
    pub(super) client: Client,
    pub(super) tabs: Tabs,
    /// Which tab's request a client request answers.
    pub(super) routes: SmallMap<Ref, Route>,
}

#[derive(Debug)]
pub(super) struct Route {
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

    pub(super) fn apply_all(&mut self, now: Instant, changes: Vec<Intent>) {
        for change in changes {
            self.apply(now, change);
        }
    }
}

impl Tab {
    /// This tab got the lock (or won the election): it takes the connection over.
    pub fn become_leader(&mut self, now: Instant) {
        if !matches!(self.role, Role::Follower) {
            return;
        }
        let mut leader = Leader {
            client: Client::new(self.client_id.clone(), self.refreshable_token),
            tabs: Tabs::new(self.tab.clone(), now),
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
        self.ask_again(now);
    }

    pub(super) fn step_down(&mut self) {
        if let Role::Leader(_) = std::mem::replace(&mut self.role, Role::Follower) {
            self.outputs.push_back(Output::CloseSocket {
                code: close::UNLOADING,
                reason: "handing over",
            });
        }
        self.connected = false;
        self.synced_with = None;
    }

    pub(super) fn votes(&mut self, now: Instant, vote: Option<Vote>) {
        match vote {
            Some(Vote::BecameLeader) => self.become_leader(now),
            Some(Vote::SteppedDown { .. }) => return self.step_down(),
            Some(Vote::Announce) => {}
            None => return,
        }
        self.post(BusMsg::Announce { tab: self.tab.clone() });
    }

    /// The leader's handling of one tab's intent.
    pub(super) fn lead_intent(&mut self, now: Instant, tab: String, req: u64, intent: Intent) {
        if let Some(err) = self.stopped.clone() {
            // The connection ended for good (e.g. a refused token): say why at once.
            self.reply(now, tab, req, Some(err), None);
            return;
        }
        let Role::Leader(leader) = &mut self.role else { return };
        let changes = leader.tabs.apply(now, &tab, &intent);
        let mut routed = false;
        for change in changes {
            if let Some(r) = leader.apply(now, change) {
                if !routed && req != 0 {
                    leader.routes.push(
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
            self.reply(now, tab, req, None, None);
            if let Intent::Subscribe { ch, .. } = &intent {
                self.rebroadcast(ch);
            }
        }
    }

    /// The leader's handling of one tab's page request.
    pub(super) fn lead_page(
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
        leader.routes.push(r, Route { tab, req, intent: None });
    }

    pub(super) fn reply(&mut self, now: Instant, tab: String, req: u64, error: Option<ErrorBody>, page: Option<Page>) {
        if req == 0 {
            return;
        }
        if tab == self.tab {
            self.settle(now, req, error, page);
        } else {
            self.post(BusMsg::Reply { tab, req, error, page });
        }
    }

    /// Drain the leader's client: frames to the socket, events to the page and tabs.
    pub(super) fn pump(&mut self, now: Instant) {
        loop {
            let Role::Leader(l) = &mut self.role else { return };
            while let Some(msg) = l.client.poll_transmit() {
                self.outputs.push_back(Output::Send(msg));
            }
            let Some(event) = l.client.poll_event() else { return };
            self.on_client_event(now, event);
        }
    }

    pub(super) fn on_client_event(&mut self, now: Instant, event: Event) {
        let Role::Leader(l) = &mut self.role else { return };
        match event {
            Event::Connect { fresh_token } => self.outputs.push_back(Output::Connect { fresh_token }),
            Event::Disconnect { code } => {
                self.outputs.push_back(Output::CloseSocket { code, reason: "" });
                self.connected = false;
            }
            Event::Welcome => {
                self.connected = true;
                if std::mem::take(&mut self.ready_pending) {
                    self.outputs.push_back(Output::Ready);
                }
                // Followers learn at once that the relay is up.
                self.post(BusMsg::Ping {
                    leader: self.tab.clone(),
                    connected: true,
                });
            }
            Event::Reply { reference, result } => {
                let Some(route) = l.routes.remove(&reference) else {
                    return;
                };
                let error = result.err();
                if error.as_ref().is_some_and(|e| is_permanent(&e.code)) {
                    // The client dropped the want; the ledger must forget it too.
                    if let Some(undo) = route.intent.as_ref().and_then(Intent::undo) {
                        let _ = l.tabs.apply(now, &route.tab, &undo);
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
            Event::Error { ch, failure: error } => {
                self.post(BusMsg::Error {
                    ch: ch.clone(),
                    error: error.clone(),
                });
                self.channel_error(ch, error);
            }
            Event::TokenNeeded => self.outputs.push_back(Output::RefreshToken),
            Event::Stopped(error) => {
                if !error.is_closed() {
                    self.post(BusMsg::Stopped { error: error.clone() });
                }
                self.stop(error);
            }
        }
    }

    /// The connection ended for good: fail everything waiting.
    pub(super) fn stop(&mut self, error: ErrorBody) {
        self.connected = false;
        if std::mem::take(&mut self.ready_pending) {
            self.outputs.push_back(Output::ReadyFailed(error.clone()));
        }
        for (req, _) in std::mem::take(&mut self.pending).0 {
            self.outputs.push_back(Output::Reject {
                req,
                error: error.clone(),
            });
        }
        if !error.is_closed() && self.stopped.is_none() {
            // A page that was welcomed long ago has no pending promise to learn from.
            self.outputs.push_back(Output::Stopped(error.clone()));
        }
        self.stopped = Some(error);
        self.link.close();
    }

    /// The leader's socket is open.
    pub fn socket_opened(&mut self, now: Instant, token: String) {
        if let Role::Leader(l) = &mut self.role {
            l.client.opened(now, token);
        }
    }

    /// A frame from the relay on the leader's socket.
    pub fn socket_frame(&mut self, now: Instant, msg: ServerMsg) {
        if let Role::Leader(l) = &mut self.role {
            l.client.handle_msg(now, msg);
        }
    }

    /// The leader's socket closed with `code`.
    pub fn socket_closed(&mut self, now: Instant, code: u16, jitter: f64) {
        if let Role::Leader(l) = &mut self.role {
            self.connected = false;
            l.client.closed(now, code, jitter);
        }
    }

    /// A new token from the token function, after [`Output::RefreshToken`].
    pub fn token_refreshed(&mut self, now: Instant, token: String) {
        if let Role::Leader(l) = &mut self.role {
            l.client.token_refreshed(now, token);
        }
    }
}
