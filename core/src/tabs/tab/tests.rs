//! The tab protocol on a simulated clock: several tabs joined by a simulated bus, the
//! leader's socket answered by a scripted relay.

use super::*;
use crate::protocol::{Identity, Member, Meta};
use crate::roster::RosterConfig;
use serde_json::json;
use std::collections::VecDeque;

const T0: Instant = Instant(10_000);

fn meta(v: serde_json::Value) -> Meta {
    serde_json::from_value(v).unwrap()
}

fn enter(ch: &str) -> Ask {
    Ask::Want(Intent::Enter {
        ch: ch.into(),
        meta: meta(json!({})),
    })
}

fn leave(ch: &str) -> Ask {
    Ask::Want(Intent::Leave { ch: ch.into() })
}

fn member(id: &str) -> Member {
    Member {
        id: id.into(),
        name: None,
        avatar: None,
        status: Status::Active,
        meta: Meta::default(),
    }
}

fn welcome() -> ServerMsg {
    ServerMsg::Welcome {
        v: 1,
        session: "s1".into(),
        resumed: false,
        user: Identity {
            id: "7".into(),
            name: None,
            avatar: None,
        },
        // A relay on the defaults (protocol 1.2: check-ins answered).
        terms: RosterConfig::default().terms(),
    }
}

/// Tabs of one browser: a bus that delivers every post to every other open tab, and the
/// leader's socket, whose frames the test answers.
struct Browser {
    now: Instant,
    tabs: Vec<Tab>,
    /// What each tab asked of its shell, other than bus posts and socket frames.
    seen: Vec<Vec<Output>>,
    /// Frames written on the leader's socket, with the tab that wrote them.
    wire: Vec<(usize, ClientMsg)>,
    /// Tabs with an open socket.
    open: Vec<bool>,
    /// Every bus post, with the tab that posted it.
    posts: Vec<(usize, BusMsg)>,
}

impl Browser {
    fn new(n: usize) -> Browser {
        let tabs = (0..n)
            .map(|i| {
                Tab::new(
                    T0,
                    TabSetup {
                        tab: format!("t{i}"),
                        client_id: "c1".into(),
                        refreshable_token: false,
                        idle_after_ms: 60_000,
                        initial: SmallMap::default(),
                        hidden: false,
                        online: true,
                    },
                )
            })
            .collect();
        Browser {
            now: T0,
            tabs,
            seen: vec![Vec::new(); n],
            wire: Vec::new(),
            open: vec![false; n],
            posts: Vec::new(),
        }
    }

    /// One input to tab `i`, then everything it asks, and the bus's deliveries in order
    /// (as BroadcastChannel does: to every other open tab, first posted first delivered).
    fn step(&mut self, i: usize, f: impl FnOnce(&mut Tab, Instant)) {
        let now = self.now;
        f(&mut self.tabs[i], now);
        let mut bus: VecDeque<(usize, BusMsg)> = VecDeque::new();
        self.drain(i, &mut bus);
        while let Some((from, msg)) = bus.pop_front() {
            for j in 0..self.tabs.len() {
                if j != from && !self.tabs[j].is_closed() {
                    self.tabs[j].handle_bus(now, msg.clone(), 0.5);
                    self.drain(j, &mut bus);
                }
            }
        }
    }

    fn drain(&mut self, i: usize, bus: &mut VecDeque<(usize, BusMsg)>) {
        let now = self.now;
        self.tabs[i].after_input(now);
        while let Some(out) = self.tabs[i].poll_output() {
            match out {
                Output::Bus(msg) => {
                    self.posts.push((i, msg.clone()));
                    bus.push_back((i, msg));
                }
                Output::Send(msg) => {
                    if self.open[i] {
                        self.wire.push((i, msg));
                    }
                }
                Output::Connect { .. } => {
                    self.open[i] = true;
                    self.tabs[i].socket_opened(now, "token".into());
                    self.tabs[i].after_input(now);
                }
                Output::CloseSocket { .. } => self.open[i] = false,
                other => self.seen[i].push(other),
            }
        }
    }

    /// The relay's frame to the leader `i`.
    fn relay(&mut self, i: usize, msg: ServerMsg) {
        self.step(i, |t, now| t.socket_frame(now, msg));
    }

    /// Answer `ok` to every request on the wire; returns what was answered.
    fn ok_all(&mut self, i: usize) -> Vec<ClientMsg> {
        let sent: Vec<ClientMsg> = std::mem::take(&mut self.wire)
            .into_iter()
            .filter(|(from, _)| *from == i)
            .map(|(_, m)| m)
            .collect();
        for msg in &sent {
            if let Some(reference) = msg.reference() {
                self.relay(i, ServerMsg::Ok { reference });
            }
        }
        sent
    }

    fn advance(&mut self, ms: u64) {
        let until = self.now + ms;
        loop {
            let next = self.tabs.iter().filter_map(Tab::poll_timeout).min();
            match next {
                Some(at) if at <= until => {
                    self.now = self.now.max(at);
                    for i in 0..self.tabs.len() {
                        if self.tabs[i].poll_timeout().is_some_and(|t| t <= self.now) {
                            self.step(i, |t, now| t.handle_timeout(now, 0.5));
                        }
                    }
                }
                _ => break,
            }
        }
        self.now = until;
    }

    fn take(&mut self, i: usize) -> Vec<Output> {
        std::mem::take(&mut self.seen[i])
    }

    /// Tab 0 leads, connected; the others follow it.
    fn led(n: usize) -> Browser {
        let mut b = Browser::new(n);
        b.step(0, |t, now| t.become_leader(now));
        b.relay(0, welcome());
        b.advance(2_100);
        for i in 0..n {
            b.take(i);
        }
        b.wire.clear();
        b
    }
}

fn entered(msgs: &[ClientMsg]) -> Vec<&str> {
    msgs.iter()
        .filter_map(|m| match m {
            ClientMsg::Enter { ch, .. } => Some(ch.as_str()),
            _ => None,
        })
        .collect()
}

fn left(msgs: &[ClientMsg]) -> Vec<&str> {
    msgs.iter()
        .filter_map(|m| match m {
            ClientMsg::Leave { ch, .. } => Some(ch.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_followers_intent_goes_to_the_relay_once_and_is_answered_to_that_tab_only() {
    let mut b = Browser::led(3);
    let mut req = 0;
    b.step(1, |t, now| req = t.ask(now, enter("/a/b")).unwrap());
    let sent = b.ok_all(0);
    assert_eq!(entered(&sent), ["/a/b"]);
    assert_eq!(b.take(1), [Output::Resolve { req, page: None }]);
    assert!(b.take(0).is_empty() && b.take(2).is_empty());

    // A second tab wanting the same channel changes nothing on the wire, and is answered.
    let mut req2 = 0;
    b.step(2, |t, now| req2 = t.ask(now, enter("/a/b")).unwrap());
    assert!(b.ok_all(0).is_empty());
    assert_eq!(b.take(2), [Output::Resolve { req: req2, page: None }]);
}

#[test]
fn a_channel_is_left_on_the_wire_only_when_no_tab_wants_it() {
    let mut b = Browser::led(2);
    b.step(0, |t, now| drop(t.ask(now, enter("/a/b"))));
    b.step(1, |t, now| drop(t.ask(now, enter("/a/b"))));
    b.ok_all(0);
    b.step(1, |t, now| drop(t.ask(now, leave("/a/b"))));
    assert!(left(&b.ok_all(0)).is_empty());
    b.step(0, |t, now| drop(t.ask(now, leave("/a/b"))));
    assert_eq!(left(&b.ok_all(0)), ["/a/b"]);
}

#[test]
fn the_relays_frames_reach_every_subscribed_tabs_view() {
    let mut b = Browser::led(2);
    b.step(1, |t, now| t.listen(now, "/a/b", &[], true));
    assert!(matches!(&b.ok_all(0)[..], [ClientMsg::Subscribe { .. }]));
    b.relay(
        0,
        ServerMsg::Snapshot {
            ch: "/a/b".into(),
            seq: 1,
            count: 1,
            users: Some(vec![member("1")]),
            cap: None,
        },
    );
    assert_eq!(b.tabs[1].view("/a/b").map(ChannelView::count), Some(1));
    // The leader did not subscribe for itself: it keeps no view of its own.
    assert!(b.tabs[0].view("/a/b").is_none());
    b.relay(
        0,
        ServerMsg::Diff {
            ch: "/a/b".into(),
            seq: 2,
            count: 2,
            join: vec![member("2")],
            leave: vec![],
            update: vec![],
        },
    );
    assert_eq!(
        b.take(1).last(),
        Some(&Output::Changed {
            ch: "/a/b".into(),
            changes: vec![Change::Join(member("2"))]
        })
    );
}

#[test]
fn a_follower_that_skips_a_diff_asks_the_leader_for_a_snapshot() {
    let mut b = Browser::led(2);
    b.step(1, |t, now| t.listen(now, "/a/b", &[], true));
    b.ok_all(0);
    let snapshot = |seq| ServerMsg::Snapshot {
        ch: "/a/b".into(),
        seq,
        count: 0,
        users: Some(vec![]),
        cap: None,
    };
    b.relay(0, snapshot(1));
    // A diff the follower missed, then one it sees: it has a gap, and resyncs.
    let diff = |seq, id: &str| ServerMsg::Diff {
        ch: "/a/b".into(),
        seq,
        count: 1,
        join: vec![member(id)],
        leave: vec![],
        update: vec![],
    };
    b.step(1, |t, now| {
        t.handle_bus(now, BusMsg::Frame { frame: diff(3, "9") }, 0.5)
    });
    assert!(b
        .posts
        .iter()
        .any(|(from, m)| *from == 1 && matches!(m, BusMsg::Resync { ch, .. } if ch == "/a/b")));
    // The leader answered with the snapshot it holds (seq 1): the follower applies diffs
    // again from there, so the next one in order is shown.
    b.relay(0, diff(2, "5"));
    assert_eq!(b.tabs[1].view("/a/b").and_then(ChannelView::seq), Some(2));
    assert_eq!(b.tabs[1].view("/a/b").map(ChannelView::count), Some(1));
}

#[test]
fn when_the_leader_goes_a_follower_takes_over_and_reasserts_every_tabs_wants() {
    let mut b = Browser::led(3);
    b.step(1, |t, now| drop(t.ask(now, enter("/one"))));
    b.step(2, |t, now| drop(t.ask(now, enter("/two"))));
    b.ok_all(0);
    b.step(0, |t, now| t.page_hidden(now));
    assert!(b.take(0).contains(&Output::ReleaseLock));
    assert!(!b.open[0]);
    // The lock passes to tab 1.
    b.step(1, |t, now| t.become_leader(now));
    assert!(b.tabs[1].is_leader());
    b.relay(1, welcome());
    b.advance(2_100);
    let mut chans = entered(&b.ok_all(1)).into_iter().map(String::from).collect::<Vec<_>>();
    chans.sort();
    assert_eq!(chans, ["/one", "/two"]);
}

#[test]
fn a_request_the_old_leader_took_with_it_is_asked_again_of_the_new_one() {
    let mut b = Browser::led(3);
    let mut req = 0;
    b.step(2, |t, now| req = t.ask(now, enter("/a/b")).unwrap());
    // The leader goes before the relay answers.
    b.wire.clear();
    b.step(0, |t, now| t.page_hidden(now));
    assert!(b.take(2).is_empty());
    b.step(1, |t, now| t.become_leader(now));
    b.relay(1, welcome());
    b.advance(2_100);
    b.ok_all(1);
    assert_eq!(b.take(2), [Output::Resolve { req, page: None }]);
}

#[test]
fn a_follower_sends_its_whole_wants_to_a_leader_it_has_not_synced_with_once() {
    let mut b = Browser::new(2);
    b.step(1, |t, now| drop(t.ask(now, enter("/a/b"))));
    let syncs = |b: &Browser| {
        b.posts
            .iter()
            .filter(|(from, m)| *from == 1 && matches!(m, BusMsg::Sync { .. }))
            .count()
    };
    b.step(0, |t, now| t.become_leader(now));
    b.relay(0, welcome());
    b.advance(2_100);
    // The follower's wants reached the connection through its sync (its pong, posted
    // before it, made the leader ask with `who` too).
    let first = syncs(&b);
    assert!(first >= 1);
    assert_eq!(entered(&b.ok_all(0)), ["/a/b"]);
    // More pings from the same leader send nothing again.
    b.advance(10_000);
    assert_eq!(syncs(&b), first);
    assert!(entered(&b.ok_all(0)).is_empty());
    // A leader that lost track of the tab asks it (`who`): it syncs again.
    let who = BusMsg::Who {
        tab: "t1".into(),
        leader: "t0".into(),
        connected: true,
    };
    b.step(1, |t, now| t.handle_bus(now, who, 0.5));
    assert_eq!(syncs(&b), first + 1);
}

#[test]
fn a_permanent_refusal_drops_the_want_in_the_tab_and_in_the_leaders_ledger() {
    let mut b = Browser::led(2);
    let mut req = 0;
    b.step(1, |t, now| req = t.ask(now, enter("/no")).unwrap());
    let sent = std::mem::take(&mut b.wire);
    let reference = sent[0].1.reference();
    b.relay(
        0,
        ServerMsg::Error {
            reference,
            code: ErrorCode::ForbiddenEnter,
            message: "no".into(),
            ch: Some("/no".into()),
            retry_after_ms: None,
        },
    );
    assert!(
        matches!(&b.take(1)[..], [Output::Reject { req: r, error }] if *r == req && error.code == "forbidden_enter")
    );
    assert!(b.tabs[1].wants().entered("/no").is_none());
    // A new leader does not assert it again.
    b.step(0, |t, now| t.page_hidden(now));
    b.step(1, |t, now| t.become_leader(now));
    b.relay(1, welcome());
    b.advance(2_100);
    assert!(entered(&b.ok_all(1)).is_empty());
}

#[test]
fn a_closed_tab_refuses_requests_at_once_and_a_lone_leader_closes_the_connection() {
    let mut b = Browser::led(1);
    let mut req = 0;
    b.step(0, |t, now| req = t.ask(now, enter("/a/b")).unwrap());
    b.step(0, |t, now| t.close(now));
    let seen = b.take(0);
    assert!(seen.contains(&Output::ReleaseLock));
    assert!(seen
        .iter()
        .any(|o| matches!(o, Output::Reject { req: r, error } if *r == req && error.code == "closed")));
    assert!(
        !seen.iter().any(|o| matches!(o, Output::Stopped(_))),
        "close() is no error"
    );
    let refused = b.tabs[0].ask(b.now, enter("/x")).unwrap_err();
    assert_eq!(refused.code, "closed");
    assert_eq!(b.tabs[0].link(), Link::Closed);
}

#[test]
fn followers_show_the_leaders_status_and_ready_resolves_in_every_tab() {
    let mut b = Browser::new(2);
    b.step(0, |t, now| t.become_leader(now));
    assert_eq!(b.tabs[1].link(), Link::Connecting);
    b.relay(0, welcome());
    assert!(b.take(0).contains(&Output::Ready));
    assert!(b.take(1).contains(&Output::Ready));
    assert_eq!(b.tabs[1].link(), Link::Connected);
    assert!(b.tabs[1].connected());
    b.step(0, |t, now| t.socket_closed(now, 1006, 0.5));
    assert!(matches!(b.tabs[1].link(), Link::Reconnecting { at: Some(_) }));
    assert!(b
        .take(1)
        .iter()
        .any(|o| matches!(o, Output::Link(Link::Reconnecting { .. }))));
}

#[test]
fn a_tab_without_input_turns_idle_and_tells_the_leader() {
    let mut b = Browser::led(2);
    // The relay answers the check-in half-way.
    let mut sent = Vec::new();
    for _ in 0..2 {
        b.advance(30_000);
        sent.extend(b.ok_all(0));
    }
    assert!(
        sent.iter().any(|m| matches!(
            m,
            ClientMsg::Checkin {
                status: Status::Idle,
                ..
            }
        )),
        "{sent:?}"
    );
}

#[test]
fn link_names_read_back_and_unknown_ones_are_ignored() {
    for link in [Link::Connecting, Link::Connected, Link::Offline, Link::Closed] {
        assert_eq!(Link::parse(link.as_str(), None), Some(link));
    }
    let at = Some(T0 + 1_500);
    assert_eq!(Link::parse("reconnecting", at), Some(Link::Reconnecting { at }));
    assert_eq!(Link::parse("gone", None), None);
}

// ----- a channel the site decides, taken back while connected -----

/// Tab 1 entered in `/a/b`, both tabs watching it and showing two people.
fn watching_two() -> Browser {
    let mut b = Browser::led(2);
    b.step(1, |t, now| drop(t.ask(now, enter("/a/b"))));
    b.step(0, |t, now| t.listen(now, "/a/b", &[], true));
    b.step(1, |t, now| t.listen(now, "/a/b", &[], true));
    b.ok_all(0);
    b.relay(
        0,
        ServerMsg::Snapshot {
            ch: "/a/b".into(),
            seq: 1,
            count: 2,
            users: Some(vec![member("1"), member("7")]),
            cap: None,
        },
    );
    for i in 0..2 {
        assert_eq!(b.tabs[i].view("/a/b").map(ChannelView::count), Some(2));
        b.take(i);
    }
    b
}

fn taken_back(code: ErrorCode) -> ServerMsg {
    ServerMsg::Error {
        reference: None,
        code,
        message: "The site says no.".into(),
        ch: Some("/a/b".into()),
        retry_after_ms: Some(3_000),
    }
}

/// What tab `i` told its page: errors by code, and whether the channel's state changed
/// to nobody.
fn told(b: &mut Browser, i: usize) -> Vec<String> {
    b.take(i)
        .into_iter()
        .filter_map(|out| match out {
            Output::Error { ch: Some(ch), error } if ch == "/a/b" => Some(error.code),
            Output::Changed { ch, changes } if ch == "/a/b" && changes.is_empty() => Some("emptied".into()),
            _ => None,
        })
        .collect()
}

fn subscribed(msgs: &[ClientMsg]) -> Vec<&str> {
    msgs.iter()
        .filter_map(|m| match m {
            ClientMsg::Subscribe { ch, .. } => Some(ch.as_str()),
            _ => None,
        })
        .collect()
}

/// The leader goes and tab 1 takes over; what its welcome asserted.
fn hand_over(b: &mut Browser) -> Vec<ClientMsg> {
    b.step(0, |t, now| t.page_hidden(now));
    b.step(1, |t, now| t.become_leader(now));
    b.relay(1, welcome());
    b.advance(2_100);
    b.ok_all(1)
}

#[test]
fn a_view_taken_back_empties_every_tab_and_no_tab_asks_for_it_again() {
    let mut b = watching_two();
    b.relay(0, taken_back(ErrorCode::ForbiddenView));
    for i in 0..2 {
        assert_eq!(told(&mut b, i), ["forbidden_view", "emptied"], "tab {i}");
        assert_eq!(b.tabs[i].view("/a/b").map(ChannelView::count), Some(0));
        assert!(!b.tabs[i].view("/a/b").unwrap().is_known());
        assert!(b.tabs[i].wants().friends("/a/b").is_none());
    }
    // Nothing went on the wire for it; the presence stays, and a new leader enters again
    // but does not watch again.
    assert!(b.ok_all(0).is_empty());
    let again = hand_over(&mut b);
    assert_eq!(entered(&again), ["/a/b"]);
    assert!(subscribed(&again).is_empty());
}

#[test]
fn a_presence_taken_back_is_dropped_in_every_tab_and_the_view_stays() {
    let mut b = watching_two();
    b.relay(0, taken_back(ErrorCode::ForbiddenEnter));
    for i in 0..2 {
        assert_eq!(told(&mut b, i), ["forbidden_enter"], "tab {i}");
        assert_eq!(b.tabs[i].view("/a/b").map(ChannelView::count), Some(2));
    }
    assert!(b.tabs[1].wants().entered("/a/b").is_none());
    assert!(b.ok_all(0).is_empty());
    let again = hand_over(&mut b);
    assert!(entered(&again).is_empty());
    assert_eq!(subscribed(&again), ["/a/b"]);
}

#[test]
fn a_channel_taken_back_as_unavailable_empties_every_tab_until_its_snapshot_comes_again() {
    let mut b = watching_two();
    b.relay(0, taken_back(ErrorCode::Unavailable));
    b.relay(0, taken_back(ErrorCode::Unavailable));
    for i in 0..2 {
        assert_eq!(told(&mut b, i), ["unavailable", "emptied", "unavailable"], "tab {i}");
        assert_eq!(b.tabs[i].view("/a/b").map(ChannelView::count), Some(0));
    }
    assert!(b.tabs[1].wants().entered("/a/b").is_some());
    b.advance(2_999);
    assert!(subscribed(&b.ok_all(0)).is_empty());
    b.advance(1);
    let again = b.ok_all(0);
    assert_eq!((entered(&again), subscribed(&again)), (vec!["/a/b"], vec!["/a/b"]));
    b.relay(
        0,
        ServerMsg::Snapshot {
            ch: "/a/b".into(),
            seq: 4,
            count: 1,
            users: Some(vec![member("7")]),
            cap: None,
        },
    );
    for i in 0..2 {
        assert_eq!(b.tabs[i].view("/a/b").map(ChannelView::count), Some(1));
    }
}
