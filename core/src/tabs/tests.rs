use super::*;
use serde_json::json;

const T0: Instant = Instant(10_000);

fn meta(v: serde_json::Value) -> Meta {
    v.as_object().unwrap().clone()
}

fn enter(ch: &str, v: serde_json::Value) -> Intent {
    Intent::Enter {
        ch: ch.into(),
        meta: meta(v),
    }
}

fn leave(ch: &str) -> Intent {
    Intent::Leave { ch: ch.into() }
}

#[test]
fn a_channel_is_entered_once_and_left_only_when_no_tab_wants_it() {
    let mut tabs = Tabs::new("a", T0);
    assert_eq!(
        tabs.apply(T0, "a", &enter("/x/y", json!({}))),
        vec![enter("/x/y", json!({}))]
    );
    assert_eq!(tabs.apply(T0, "b", &enter("/x/y", json!({}))), vec![]);
    assert_eq!(tabs.apply(T0, "c", &enter("/x/y", json!({}))), vec![]);
    assert_eq!(tabs.enter_count("/x/y"), 3);
    assert_eq!(tabs.apply(T0, "a", &leave("/x/y")), vec![]);
    assert_eq!(tabs.apply(T0, "c", &leave("/x/y")), vec![]);
    assert_eq!(tabs.apply(T0, "b", &leave("/x/y")), vec![leave("/x/y")]);
}

#[test]
fn enter_meta_is_the_last_tabs_update_and_falls_back_when_it_leaves() {
    let mut tabs = Tabs::new("a", T0);
    tabs.apply(T0, "a", &enter("/x/y", json!({"typing": false})));
    assert_eq!(
        tabs.apply(T0, "b", &enter("/x/y", json!({"typing": true}))),
        vec![Intent::Update {
            ch: "/x/y".into(),
            meta: meta(json!({"typing": true}))
        }]
    );
    assert_eq!(
        tabs.apply(
            T0,
            "a",
            &Intent::Update {
                ch: "/x/y".into(),
                meta: meta(json!({"typing": "a"}))
            }
        ),
        vec![Intent::Update {
            ch: "/x/y".into(),
            meta: meta(json!({"typing": "a"}))
        }]
    );
    // The latest updater leaves: the other tab's meta is what remains.
    assert_eq!(
        tabs.apply(T0, "a", &leave("/x/y")),
        vec![Intent::Update {
            ch: "/x/y".into(),
            meta: meta(json!({"typing": true}))
        }]
    );
}

#[test]
fn an_update_for_a_channel_the_tab_did_not_enter_changes_nothing() {
    let mut tabs = Tabs::new("a", T0);
    let out = tabs.apply(
        T0,
        "b",
        &Intent::Update {
            ch: "/x/y".into(),
            meta: Meta::new(),
        },
    );
    assert!(out.is_empty());
    assert_eq!(tabs.wants(), TabWants::default_with(Status::Hidden));
}

#[test]
fn subscriptions_are_reference_counted_too() {
    let mut tabs = Tabs::new("a", T0);
    let sub = |ch: &str| Intent::Subscribe {
        ch: ch.into(),
        friends: vec![],
    };
    let unsub = |ch: &str| Intent::Unsubscribe { ch: ch.into() };
    assert_eq!(tabs.apply(T0, "a", &sub("/x/y")), vec![sub("/x/y")]);
    assert_eq!(tabs.apply(T0, "b", &sub("/x/y")), vec![]);
    assert_eq!(tabs.apply(T0, "a", &unsub("/x/y")), vec![]);
    assert_eq!(tabs.apply(T0, "b", &unsub("/x/y")), vec![unsub("/x/y")]);
}

#[test]
fn a_channel_follows_the_friends_of_every_tab_watching_it() {
    let mut tabs = Tabs::new("a", T0);
    let sub = |friends: &[&str]| Intent::Subscribe {
        ch: "/site/online".into(),
        friends: friends.iter().map(|f| f.to_string()).collect(),
    };
    assert_eq!(tabs.apply(T0, "a", &sub(&["40"])), vec![sub(&["40"])]);
    // Another tab's friends are added: subscribed again with both.
    assert_eq!(tabs.apply(T0, "b", &sub(&["41", "40"])), vec![sub(&["40", "41"])]);
    // The same friends again change nothing.
    assert_eq!(tabs.apply(T0, "b", &sub(&["41"])), vec![]);
    assert_eq!(tabs.wants().intents().last(), Some(&sub(&["40", "41"])));
    // Its tab gone, a friend is no longer followed; the channel stays watched.
    assert_eq!(tabs.remove("b"), vec![sub(&["40"])]);
    assert_eq!(
        tabs.apply(
            T0,
            "a",
            &Intent::Unsubscribe {
                ch: "/site/online".into()
            }
        ),
        vec![Intent::Unsubscribe {
            ch: "/site/online".into()
        }]
    );
    assert!(tabs.wants().all_subscribed().next().is_none());
}

#[test]
fn status_is_the_liveliest_tabs() {
    let mut tabs = Tabs::new("a", T0);
    let st = |s| Intent::Status { status: s };
    assert_eq!(tabs.apply(T0, "a", &st(Status::Idle)), vec![st(Status::Idle)]);
    assert_eq!(tabs.apply(T0, "b", &st(Status::Active)), vec![st(Status::Active)]);
    assert_eq!(tabs.apply(T0, "a", &st(Status::Hidden)), vec![]);
    assert_eq!(tabs.remove("b"), vec![st(Status::Hidden)]);
}

#[test]
fn a_tab_that_stops_answering_pings_is_dropped_with_its_wants() {
    let mut tabs = Tabs::new("a", T0);
    tabs.apply(T0, "b", &enter("/x/y", json!({})));
    tabs.apply(T0, "c", &enter("/x/y", json!({})));
    let mut now = T0;
    let mut dropped = Vec::new();
    let mut left = Vec::new();
    // "c" answers every ping; "b" went silent.
    while now < T0 + 20_000 {
        now = tabs.poll_timeout().unwrap();
        let tick = tabs.handle_timeout(now);
        if tick.ping {
            tabs.heartbeat(now + 50, "c");
        }
        dropped.extend(tick.dropped);
        left.extend(tick.intents);
    }
    assert_eq!(dropped, vec!["b".to_string()]);
    assert!(left.is_empty(), "c still wants /x/y: {left:?}");
    assert!(tabs.knows("c"));
    assert!(!tabs.knows("b"));
    // Now "c" goes silent too: the channel is left.
    let mut intents = Vec::new();
    for _ in 0..4 {
        now = tabs.poll_timeout().unwrap();
        intents.extend(tabs.handle_timeout(now).intents);
    }
    assert_eq!(intents, vec![leave("/x/y")]);
}

#[test]
fn a_tab_is_dropped_within_one_ping_interval_and_answer_window() {
    let mut tabs = Tabs::new("a", T0);
    tabs.apply(T0, "b", &enter("/x/y", json!({})));
    let now = loop {
        let now = tabs.poll_timeout().unwrap();
        if !tabs.handle_timeout(now).dropped.is_empty() {
            break now;
        }
    };
    assert!(now.since(T0) <= PING_INTERVAL_MS + PING_ANSWER_MS, "{now:?}");
}

#[test]
fn an_unloading_tab_keeps_its_wants_through_the_grace_so_a_refresh_shows_nothing() {
    let mut tabs = Tabs::new("a", T0);
    tabs.apply(T0, "old", &enter("/x/y", json!({"n": 1})));
    tabs.unloading(T0 + 10, "old", 3_000);
    let mut intents = Vec::new();
    // The refreshed page is a new tab that enters again a second later.
    let mut now = T0;
    while now < T0 + 1_000 {
        now = tabs.poll_timeout().unwrap();
        intents.extend(tabs.handle_timeout(now).intents);
    }
    assert!(
        intents.is_empty(),
        "kept through the grace despite unanswered pings: {intents:?}"
    );
    assert!(tabs.knows("old"));
    tabs.apply(T0 + 1_000, "new", &enter("/x/y", json!({"n": 1})));
    let mut dropped = Vec::new();
    while now < T0 + 5_000 {
        now = tabs.poll_timeout().unwrap();
        tabs.heartbeat(now, "new");
        let tick = tabs.handle_timeout(now);
        intents.extend(tick.intents);
        dropped.extend(tick.dropped);
    }
    assert_eq!(dropped, vec!["old".to_string()]);
    assert!(intents.is_empty(), "the channel never left: {intents:?}");
}

#[test]
fn an_unloading_tab_that_does_not_come_back_is_left_after_the_grace() {
    let mut tabs = Tabs::new("a", T0);
    tabs.apply(T0, "b", &enter("/x/y", json!({})));
    tabs.unloading(T0, "b", 3_000);
    assert_eq!(tabs.poll_timeout().map(|t| t <= T0 + 3_000), Some(true));
    let mut left_at = None;
    while left_at.is_none() {
        let now = tabs.poll_timeout().unwrap();
        if tabs.handle_timeout(now).intents == vec![leave("/x/y")] {
            left_at = Some(now);
        }
    }
    assert_eq!(left_at, Some(T0 + 3_000));
}

#[test]
fn the_leaders_own_tab_never_times_out() {
    let mut tabs = Tabs::new("a", T0);
    tabs.apply(T0, "a", &enter("/x/y", json!({})));
    for i in 0..20 {
        let tick = tabs.handle_timeout(T0 + i * 1_000);
        assert!(tick.dropped.is_empty());
    }
    assert_eq!(tabs.enter_count("/x/y"), 1);
    assert!(tabs.remove("a").is_empty());
}

#[test]
fn a_late_timer_does_not_drop_tabs_that_answer_promptly() {
    // The leader's own timers may fire late (a hidden tab): the verdict is about
    // answers to pings actually sent, not about wall time since the last heartbeat.
    let mut tabs = Tabs::new("a", T0);
    tabs.apply(T0, "b", &enter("/x/y", json!({})));
    let tick = tabs.handle_timeout(T0);
    assert!(tick.ping);
    tabs.heartbeat(T0 + 10, "b");
    let late = T0 + 60_000;
    let tick = tabs.handle_timeout(late);
    assert!(tick.dropped.is_empty());
    assert!(tick.ping);
    tabs.heartbeat(late + 10, "b");
    assert!(tabs.handle_timeout(late + PING_ANSWER_MS).dropped.is_empty());
}

#[test]
fn a_new_leader_reasserts_the_union_of_every_tabs_wants() {
    let mut a = TabWants::default();
    a.apply(&enter("/x/y", json!({"n": 1})));
    a.apply(&Intent::Subscribe {
        ch: "/x/y".into(),
        friends: vec![],
    });
    a.status = Status::Active;
    let mut b = TabWants::default();
    b.apply(&enter("/p/q", json!({})));
    b.apply(&Intent::Subscribe {
        ch: "/w/w".into(),
        friends: vec!["40".into()],
    });
    b.status = Status::Hidden;

    let mut tabs = Tabs::new("b", T0);
    let mut client_side: Vec<Intent> = Vec::new();
    client_side.extend(tabs.sync(T0, "b", b.clone()));
    client_side.extend(tabs.sync(T0 + 5, "a", a.clone()));
    let w = tabs.wants();
    let mut entered: Vec<&str> = w.all_entered().map(|(ch, _)| ch.as_str()).collect();
    entered.sort();
    assert_eq!(entered, vec!["/p/q", "/x/y"]);
    let mut subscribed: Vec<&str> = w.all_subscribed().map(|(ch, _)| ch.as_str()).collect();
    subscribed.sort();
    assert_eq!(subscribed, vec!["/w/w", "/x/y"]);
    assert_eq!(w.friends("/w/w"), Some(&vec!["40".to_string()]));
    assert_eq!(w.status, Status::Active);
    // Every part of the union was handed to the client exactly once.
    for intent in w.intents() {
        assert!(client_side.contains(&intent), "{intent:?} in {client_side:?}");
    }
    // A re-sync of the same wants changes nothing.
    assert!(tabs.sync(T0 + 6, "a", a).is_empty());
}

#[test]
fn intents_keep_their_serde_shape() {
    let i: Intent = serde_json::from_str(r#"{"leave":{"ch":"/x/y"}}"#).unwrap();
    assert_eq!(i, leave("/x/y"));
}

#[test]
fn unknown_tabs_are_told_apart_by_heartbeat() {
    let mut tabs = Tabs::new("a", T0);
    assert!(!tabs.heartbeat(T0, "b"));
    tabs.sync(T0, "b", TabWants::default());
    assert!(tabs.heartbeat(T0, "b"));
}

// ----- the status every tab shows -----

use crate::client::{Client, Link};
use crate::protocol::{close, Identity, ServerMsg};
use crate::roster::RosterConfig;

/// How soon the relay of these tests says it answers a check-in (protocol 1.2).
const CHECKIN_ANSWER_MS: u64 = 10_000;

fn welcome(resumed: bool) -> String {
    ServerMsg::Welcome {
        v: 1,
        session: "s1".into(),
        resumed,
        user: Identity {
            id: "7".into(),
            name: None,
            avatar: None,
        },
        // A relay on the defaults; its check-ins are answered within CHECKIN_ANSWER_MS.
        terms: RosterConfig::default().terms(),
    }
    .encode()
}

/// One leader's client and the views of every tab, the leader's included; after each
/// step the leader tells its link to every view (as the shell does), and what each
/// tab shows is recorded.
struct Browser {
    client: Client,
    leader: usize,
    views: Vec<LinkView>,
    seen: Vec<Vec<Link>>,
}

impl Browser {
    fn new(tabs: usize) -> Browser {
        Browser {
            client: Client::new("c1", false),
            leader: 0,
            views: vec![LinkView::new(true); tabs],
            seen: vec![Vec::new(); tabs],
        }
    }

    fn step(&mut self, f: impl FnOnce(&mut Client)) {
        f(&mut self.client);
        while self.client.poll_event().is_some() {}
        while self.client.poll_transmit().is_some() {}
        let link = self.client.link();
        for (i, view) in self.views.iter_mut().enumerate() {
            view.told(link);
            self.seen[i].push(view.shown());
        }
    }

    fn connect(&mut self, now: Instant, resumed: bool) {
        self.step(|c| c.start(now));
        self.step(|c| c.opened(now + 1, "tok".into()));
        self.step(|c| c.handle_frame(now + 2, &welcome(resumed)));
    }

    /// The leader tab is gone (its client with it); `next` leads with a new client.
    fn hand_over(&mut self, now: Instant, next: usize) {
        self.views.remove(self.leader);
        self.seen.remove(self.leader);
        self.leader = next;
        let mut client = Client::new("c1", false);
        self.views[next].lead(now, &mut client);
        self.client = client;
    }
}

#[test]
fn a_leader_handover_shows_no_reconnect_in_any_tab() {
    let mut b = Browser::new(3);
    b.connect(T0, false);
    for seen in &mut b.seen {
        seen.clear();
    }
    // The leader tab closes; tab 0 of the two left takes over and reconnects as the
    // same client.
    b.hand_over(T0 + 1_000, 0);
    b.connect(T0 + 1_100, true);
    for (tab, seen) in b.seen.iter().enumerate() {
        assert_eq!(seen, &vec![Link::Connected; 3], "tab {tab}");
    }
}

#[test]
fn a_handover_whose_socket_fails_is_a_reconnect_seen_by_every_tab() {
    let mut b = Browser::new(3);
    b.connect(T0, false);
    b.hand_over(T0 + 1_000, 0);
    b.step(|c| c.start(T0 + 1_000));
    b.step(|c| c.closed(T0 + 1_010, 1006, 0.0));
    let retry = b.client.poll_timeout().unwrap();
    for seen in &b.seen {
        assert_eq!(seen.last(), Some(&Link::Reconnecting { at: Some(retry) }));
    }
}

#[test]
fn followers_show_the_leaders_status_through_a_relay_restart() {
    let mut b = Browser::new(2);
    b.step(|_| {});
    b.connect(T0, false);
    b.step(|c| c.closed(T0 + 10, close::RELAY_RESTART, 0.0));
    b.step(|c| c.opened(T0 + 11, "tok".into()));
    b.step(|c| c.handle_frame(T0 + 12, &welcome(true)));
    let expected = vec![
        Link::Connecting,
        Link::Connecting,
        Link::Connecting,
        Link::Connected,
        Link::Reconnecting { at: None },
        Link::Reconnecting { at: None },
        Link::Connected,
    ];
    assert_eq!(b.seen[0], expected);
    assert_eq!(b.seen[1], b.seen[0], "the follower sees what the leader sees");
}

#[test]
fn a_stalled_link_shows_reconnecting_in_every_tab_then_connected() {
    let mut b = Browser::new(2);
    b.connect(T0, false);
    // The check-in goes out and nothing comes back.
    let checkin = b.client.poll_timeout().unwrap();
    b.step(|c| c.handle_timeout(checkin, 0.0));
    let dead = b.client.poll_timeout().unwrap();
    assert_eq!(dead, checkin + CHECKIN_ANSWER_MS);
    b.step(|c| c.handle_timeout(dead, 0.0));
    let retry = b.client.poll_timeout().unwrap();
    for seen in &b.seen {
        assert_eq!(seen.last(), Some(&Link::Reconnecting { at: Some(retry) }));
    }
    b.step(|c| c.handle_timeout(retry, 0.0));
    b.step(|c| c.opened(retry + 1, "tok".into()));
    b.step(|c| c.handle_frame(retry + 2, &welcome(true)));
    assert_eq!(b.seen[0].last(), Some(&Link::Connected));
    assert_eq!(b.seen[1], b.seen[0], "the follower sees what the leader sees");
}

#[test]
fn a_handover_while_a_checkin_is_unanswered_shows_no_reconnect() {
    let mut b = Browser::new(3);
    b.connect(T0, false);
    let checkin = b.client.poll_timeout().unwrap();
    b.step(|c| c.handle_timeout(checkin, 0.0));
    for seen in &mut b.seen {
        seen.clear();
    }
    // The leader tab closes with its check-in unanswered: the new leader's link is a
    // new one, and nothing of the old one's wait is left to end it.
    b.hand_over(checkin + 1_000, 0);
    b.connect(checkin + 1_100, true);
    b.step(|c| c.handle_timeout(checkin + CHECKIN_ANSWER_MS, 0.0));
    for (tab, seen) in b.seen.iter().enumerate() {
        assert_eq!(seen, &vec![Link::Connected; 4], "tab {tab}");
    }
}

#[test]
fn a_follower_shows_connecting_until_told_offline_when_its_browser_says_and_closed_last() {
    let mut v = LinkView::new(true);
    assert_eq!(v.shown(), Link::Connecting);
    assert!(v.told(Link::Connected));
    assert!(!v.told(Link::Connected), "the same status is no change");
    assert!(v.set_online(false));
    assert_eq!(v.shown(), Link::Offline);
    // The leader's news while offline is kept for when the network is back.
    assert!(!v.told(Link::Reconnecting { at: None }));
    assert!(v.set_online(true));
    assert_eq!(v.shown(), Link::Reconnecting { at: None });
    // A connection ended for good, or this tab closed: closed, offline or not.
    assert!(v.told(Link::Closed));
    v.set_online(false);
    assert_eq!(v.shown(), Link::Closed);
    let mut v = LinkView::new(false);
    assert_eq!(v.shown(), Link::Offline);
    assert!(v.close());
    assert_eq!(v.shown(), Link::Closed);
}

#[test]
fn a_new_leader_started_offline_waits_for_the_network() {
    let mut v = LinkView::new(true);
    v.told(Link::Connected);
    v.set_online(false);
    let mut c = Client::new("c1", false);
    v.lead(T0, &mut c);
    c.start(T0);
    assert_eq!(c.link(), Link::Offline);
    c.closed(T0 + 5, 1006, 0.0);
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn a_lone_tab_claims_leadership_after_the_claim_wait() {
    let mut e = Election::new("m", T0, 0.0);
    assert_eq!(e.handle_timeout(T0 + CLAIM_WAIT_MS - 1, 0.0), None);
    assert_eq!(e.handle_timeout(T0 + CLAIM_WAIT_MS, 0.0), Some(Vote::BecameLeader));
    assert!(e.is_leader());
    assert_eq!(e.handle_timeout(e.poll_timeout(), 0.0), Some(Vote::Announce));
}

#[test]
fn a_tab_that_hears_a_leader_follows_and_takes_over_when_it_falls_silent() {
    let mut e = Election::new("m", T0, 0.0);
    e.heard_announce(T0 + 100, "k", 0.0);
    assert_eq!(e.handle_timeout(T0 + 1_000, 0.0), None);
    assert_eq!(e.leader(), Some("k"));
    let claim = e.poll_timeout();
    assert_eq!(claim, T0 + 100 + LEADER_TIMEOUT_MS);
    assert_eq!(e.handle_timeout(claim, 0.0), Some(Vote::BecameLeader));
}

#[test]
fn of_two_leaders_the_lower_id_keeps_the_role() {
    let mut low = Election::new("a", T0, 0.0);
    let mut high = Election::new("b", T0, 0.0);
    low.handle_timeout(T0 + 1_000, 0.0);
    high.handle_timeout(T0 + 1_000, 0.0);
    assert_eq!(low.heard_announce(T0 + 1_001, "b", 0.0), Some(Vote::Announce));
    assert_eq!(
        high.heard_announce(T0 + 1_002, "a", 0.0),
        Some(Vote::SteppedDown { leader: "a".into() })
    );
    assert!(low.is_leader() && !high.is_leader());
}

#[test]
fn a_resigning_leader_is_replaced_without_waiting_for_the_timeout() {
    let mut e = Election::new("m", T0, 0.0);
    e.heard_announce(T0, "k", 0.0);
    e.heard_resign(T0 + 10, "k", 0.5);
    assert!(e.poll_timeout() <= T0 + 10 + CLAIM_WAIT_MS);
    assert_eq!(e.handle_timeout(e.poll_timeout(), 0.0), Some(Vote::BecameLeader));
}

impl TabWants {
    fn default_with(status: Status) -> TabWants {
        TabWants {
            status,
            ..TabWants::default()
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod props {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, BTreeSet};

    /// What the connection holds after applying the ledger's output intents.
    #[derive(Default)]
    struct Connection {
        entered: BTreeMap<String, Meta>,
        subscribed: BTreeSet<String>,
        friends: BTreeMap<String, BTreeSet<String>>,
    }

    impl Connection {
        fn apply(&mut self, intents: Vec<Intent>) {
            for i in intents {
                match i {
                    Intent::Enter { ch, meta } => {
                        assert!(self.entered.insert(ch, meta).is_none(), "entered twice");
                    }
                    Intent::Update { ch, meta } => {
                        assert!(self.entered.insert(ch, meta).is_some(), "update before enter");
                    }
                    Intent::Leave { ch } => {
                        assert!(self.entered.remove(&ch).is_some(), "left twice");
                    }
                    Intent::Subscribe { ch, friends } => {
                        let friends: BTreeSet<String> = friends.into_iter().collect();
                        // Again only to follow other friends.
                        let again = !self.subscribed.insert(ch.clone());
                        assert!(!again || self.friends.get(&ch) != Some(&friends), "subscribed twice");
                        self.friends.insert(ch, friends);
                    }
                    Intent::Unsubscribe { ch } => {
                        assert!(self.subscribed.remove(&ch));
                        self.friends.remove(&ch);
                    }
                    Intent::Status { .. } => {}
                }
            }
        }
    }

    fn op() -> impl Strategy<Value = (u8, u8, u8, u8)> {
        // (tab, kind, channel, meta value)
        (0u8..3, 0u8..6, 0u8..3, 0u8..3)
    }

    proptest! {
        #[test]
        fn the_connection_holds_exactly_what_some_tab_wants(ops in proptest::collection::vec(op(), 0..60)) {
            let mut tabs = Tabs::new("t0", T0);
            let mut conn = Connection::default();
            // Each tab's own record, as the tab itself keeps it.
            let mut own: BTreeMap<String, TabWants> = BTreeMap::new();
            for (tab, kind, ch, v) in ops {
                let tab = format!("t{tab}");
                let ch = format!("/c/{ch}");
                let meta = meta(json!({ "v": v }));
                let intent = match kind {
                    0 => Intent::Enter { ch, meta },
                    1 => Intent::Update { ch, meta },
                    2 => Intent::Leave { ch },
                    // Friends: none, one, or two, by the meta value.
                    3 => Intent::Subscribe {
                        ch,
                        friends: ["f1", "f2"].iter().take(v as usize).map(|f| format!("{f}-{tab}")).collect(),
                    },
                    4 => Intent::Unsubscribe { ch },
                    _ => {
                        if tab != "t0" {
                            own.remove(&tab);
                        }
                        conn.apply(tabs.remove(&tab));
                        continue;
                    }
                };
                own.entry(tab.clone()).or_default().apply(&intent);
                conn.apply(tabs.apply(T0, &tab, &intent));
            }
            // The leader's own tab cannot be removed; it keeps what it asked for.
            let mine = |id: &str| own.get(id).cloned().unwrap_or_default();
            let live: Vec<TabWants> = ["t0", "t1", "t2"]
                .iter()
                .filter(|id| **id == "t0" || tabs.knows(id))
                .map(|id| mine(id))
                .collect();
            let want_entered: BTreeSet<&String> = live.iter().flat_map(|w| w.all_entered().map(|(c, _)| c)).collect();
            let want_subscribed: BTreeSet<&String> = live.iter().flat_map(|w| w.all_subscribed().map(|(c, _)| c)).collect();
            prop_assert_eq!(conn.entered.keys().collect::<BTreeSet<_>>(), want_entered);
            prop_assert_eq!(conn.subscribed.iter().collect::<BTreeSet<_>>(), want_subscribed);
            // A watched channel follows the friends every live tab asked for there.
            for ch in &conn.subscribed {
                let want: BTreeSet<String> = live
                    .iter()
                    .flat_map(|w| w.friends(ch.as_str()).into_iter().flatten().cloned())
                    .collect();
                prop_assert_eq!(conn.friends.get(ch).cloned().unwrap_or_default(), want, "friends of {}", ch);
            }
            // And the meta held is one that a tab in the channel asked for.
            for (ch, meta) in &conn.entered {
                prop_assert!(live.iter().any(|w| w.entered(ch.as_str()) == Some(meta)));
            }
        }
    }
}
