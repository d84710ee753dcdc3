//! The lease table, dedup, rights and coalescing of the roster, on a simulated clock.

use rollcall_core::policy::Access;
use rollcall_core::protocol::{close, ErrorCode, Identity, Member, Meta, ServerMsg, Status};
use rollcall_core::roster::{ConnId, EndCause, Event, Output, Roster, RosterConfig, ONLINE};
use rollcall_core::Instant;
use std::collections::{BTreeMap, BTreeSet, HashMap};

const CH: &str = "/site/online";

/// A roster, a clock, and what every connection has received.
struct Sim {
    roster: Roster,
    now: Instant,
    inbox: HashMap<ConnId, Vec<ServerMsg>>,
    closed: HashMap<ConnId, u16>,
    log: Vec<(Instant, Event)>,
    shared: Vec<(String, String, Option<Status>)>,
    /// Users this relay told the others it has (`true`) or no longer has a client of.
    online: Vec<(String, bool)>,
}

fn who(id: &str) -> Identity {
    Identity {
        id: id.into(),
        name: Some(format!("user {id}")),
        avatar: None,
    }
}

fn meta(json: &str) -> Meta {
    serde_json::from_str(json).unwrap()
}

impl Sim {
    fn new() -> Sim {
        Sim::with(RosterConfig::default())
    }

    fn with(config: RosterConfig) -> Sim {
        Sim {
            roster: Roster::new(config),
            now: Instant(1_000),
            inbox: HashMap::new(),
            closed: HashMap::new(),
            log: Vec::new(),
            shared: Vec::new(),
            online: Vec::new(),
        }
    }

    fn connect(&mut self, conn: ConnId, user: &str, client: &str) -> bool {
        self.roster.connect(self.now, conn, who(user), client, None).resumed
    }

    fn enter(&mut self, conn: ConnId) {
        self.roster.enter(self.now, conn, CH, Access::OPEN, None, None).unwrap();
    }

    fn watch(&mut self, conn: ConnId, user: &str) {
        self.connect(conn, user, &format!("watcher-{conn}"));
        self.roster.subscribe(self.now, conn, CH, Access::OPEN).unwrap();
    }

    /// Step the clock deadline by deadline up to `now + ms`, as the relay's reaper does.
    fn advance(&mut self, ms: u64) {
        let end = self.now + ms;
        while let Some(at) = self.roster.poll_timeout() {
            if at > end {
                break;
            }
            self.now = self.now.max(at);
            self.roster.handle_timeout(self.now);
            self.drain();
        }
        self.now = end;
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(out) = self.roster.poll_output() {
            match out {
                Output::Deliver { to, frame } => {
                    let msg = ServerMsg::decode(&frame).unwrap();
                    for conn in to {
                        self.inbox.entry(conn).or_default().push(msg.clone());
                    }
                }
                Output::Send { conn, msg } => self.inbox.entry(conn).or_default().push(msg),
                Output::Close { conn, code, .. } => {
                    self.closed.insert(conn, code);
                }
                Output::Event { at, event } => self.log.push((at, event)),
                Output::Share { ch, user, view, .. } if ch == ONLINE => self.online.push((user, view.is_some())),
                Output::Share { ch, user, view, .. } => self.shared.push((ch, user, view.map(|v| v.status))),
            }
        }
    }

    fn take(&mut self, conn: ConnId) -> Vec<ServerMsg> {
        self.inbox.remove(&conn).unwrap_or_default()
    }

    /// Joins and leaves `conn` has seen since last asked, as ("+id" | "-id" | "~id").
    fn events(&mut self, conn: ConnId) -> Vec<String> {
        let mut out = Vec::new();
        for msg in self.take(conn) {
            if let ServerMsg::Diff {
                join, leave, update, ..
            } = msg
            {
                out.extend(join.iter().map(|m| format!("+{}", m.id)));
                out.extend(leave.iter().map(|id| format!("-{id}")));
                out.extend(update.iter().map(|m| format!("~{}", m.id)));
            }
        }
        out
    }

    fn present(&self) -> Vec<String> {
        self.roster
            .presence(CH)
            .unwrap_or_default()
            .into_iter()
            .map(|m| m.id)
            .collect()
    }
}

/// Conn 100 watches; returns the sim with the watcher's snapshot consumed.
fn watched() -> Sim {
    let mut sim = Sim::new();
    sim.watch(100, "w");
    sim.advance(50);
    assert!(matches!(
        sim.take(100).as_slice(),
        [ServerMsg::Snapshot { count: 0, .. }]
    ));
    sim
}

#[test]
fn snapshot_then_join_diff_with_consecutive_seq() {
    let mut sim = watched();
    sim.connect(1, "ann", "a1");
    sim.enter(1);
    sim.advance(50);
    let msgs = sim.take(100);
    let [ServerMsg::Diff {
        seq: 1, count: 1, join, ..
    }] = msgs.as_slice()
    else {
        panic!("{msgs:?}")
    };
    assert_eq!(join[0].id, "ann");
    assert_eq!(join[0].name.as_deref(), Some("user ann"));
    sim.connect(2, "bob", "b1");
    sim.enter(2);
    sim.advance(50);
    assert!(matches!(
        sim.take(100).as_slice(),
        [ServerMsg::Diff { seq: 2, count: 2, .. }]
    ));
}

#[test]
fn leave_message_ends_presence_at_the_next_flush() {
    let mut sim = watched();
    sim.connect(1, "ann", "a1");
    sim.enter(1);
    sim.advance(50);
    sim.events(100);
    sim.roster.leave(sim.now, 1, CH).unwrap();
    sim.advance(sim.roster.config().flush_interval_ms);
    assert_eq!(sim.events(100), ["-ann"]);
    assert!(sim.present().is_empty());
}

#[test]
fn two_clients_of_one_user_are_one_member_until_the_last_goes() {
    let mut sim = watched();
    sim.connect(1, "ann", "laptop");
    sim.enter(1);
    sim.connect(2, "ann", "phone");
    sim.enter(2);
    sim.advance(50);
    assert_eq!(sim.events(100), ["+ann"]);
    assert_eq!(sim.present(), ["ann"]);
    sim.roster.leave(sim.now, 1, CH).unwrap();
    sim.advance(50);
    assert_eq!(sim.events(100), Vec::<String>::new(), "ann is still there on her phone");
    sim.roster.leave(sim.now, 2, CH).unwrap();
    sim.advance(50);
    assert_eq!(sim.events(100), ["-ann"]);
}

#[test]
fn clients_by_user_counts_the_browser_profiles_with_a_live_connection() {
    let mut sim = Sim::new();
    sim.connect(1, "ann", "laptop");
    sim.connect(2, "ann", "phone");
    sim.connect(3, "bob", "laptop");
    // A newer connection of the same profile replaces the older one.
    sim.connect(4, "bob", "laptop");
    let counts = |sim: &Sim| sim.roster.clients_by_user().into_iter().collect::<BTreeMap<_, _>>();
    assert_eq!(
        counts(&sim),
        BTreeMap::from([("ann".to_string(), 2), ("bob".to_string(), 1)])
    );
    // A profile in its reconnect grace has no live connection.
    sim.roster.disconnect(sim.now, 2, false);
    assert_eq!(
        counts(&sim),
        BTreeMap::from([("ann".to_string(), 1), ("bob".to_string(), 1)])
    );
}

#[test]
fn a_refresh_within_the_unload_grace_shows_nothing() {
    let mut sim = watched();
    sim.connect(1, "ann", "a1");
    sim.enter(1);
    sim.advance(50);
    sim.events(100);
    sim.roster.beacon(sim.now, 1);
    sim.roster.disconnect(sim.now, 1, true);
    sim.advance(1_500);
    assert!(sim.connect(2, "ann", "a1"), "the same client resumes");
    sim.enter(2);
    sim.advance(10_000);
    assert_eq!(sim.events(100), Vec::<String>::new());
    assert_eq!(sim.present(), ["ann"]);
}

#[test]
fn a_closed_page_leaves_after_the_unload_grace() {
    let mut sim = watched();
    sim.connect(1, "ann", "a1");
    sim.enter(1);
    sim.advance(50);
    sim.events(100);
    sim.roster.beacon(sim.now, 1);
    sim.roster.disconnect(sim.now, 1, true);
    sim.advance(2_900);
    assert_eq!(sim.events(100), Vec::<String>::new(), "not before the grace");
    sim.advance(200);
    assert_eq!(sim.events(100), ["-ann"]);
    assert_eq!(sim.roster.stats().ended[EndCause::Unload as usize], 1);
}

#[test]
fn a_beacon_alone_ends_the_lease_after_the_unload_grace_if_the_socket_lingers() {
    let mut sim = watched();
    sim.connect(1, "ann", "a1");
    sim.enter(1);
    sim.advance(50);
    sim.events(100);
    sim.roster.beacon(sim.now, 1);
    sim.roster.touch(sim.now, 1, false); // a pong does not cancel it
    sim.advance(3_100);
    assert_eq!(sim.events(100), ["-ann"]);
    assert!(sim.closed.contains_key(&1));
}

#[test]
fn a_frame_after_the_beacon_means_the_page_stayed() {
    let mut sim = watched();
    sim.connect(1, "ann", "a1");
    sim.enter(1);
    sim.roster.beacon(sim.now, 1);
    sim.advance(100);
    sim.roster.checkin(sim.now, 1, Status::Active);
    sim.advance(10_000);
    assert_eq!(sim.present(), ["ann"]);
}

#[test]
fn a_dropped_network_leaves_after_the_reconnect_grace_unless_it_returns() {
    let mut sim = watched();
    sim.connect(1, "ann", "a1");
    sim.enter(1);
    sim.connect(2, "bob", "b1");
    sim.enter(2);
    sim.advance(50);
    sim.events(100);
    sim.roster.disconnect(sim.now, 1, false);
    sim.roster.disconnect(sim.now, 2, false);
    sim.advance(14_000);
    assert!(sim.connect(3, "bob", "b1"));
    sim.enter(3);
    sim.advance(900);
    assert_eq!(sim.events(100), Vec::<String>::new());
    sim.advance(200);
    assert_eq!(sim.events(100), ["-ann"]);
    assert_eq!(sim.present(), ["bob"]);
    sim.advance(30_000);
    assert_eq!(sim.present(), ["bob"], "bob's new connection holds its own lease");
}

#[test]
fn silence_ends_the_lease_after_the_lease_timeout_and_pongs_keep_it() {
    let mut sim = watched();
    sim.connect(1, "ann", "a1");
    sim.enter(1);
    sim.connect(2, "bob", "b1");
    sim.enter(2);
    sim.advance(50);
    sim.events(100);
    // Bob's hidden tab sends no frames, but the browser answers the relay's pings.
    for _ in 0..6 {
        sim.advance(20_000);
        sim.roster.touch(sim.now, 2, false);
        sim.roster.touch(sim.now, 100, false);
    }
    assert_eq!(sim.events(100), ["-ann"]);
    assert_eq!(sim.closed.get(&1), Some(&close::LEASE_EXPIRED));
    assert_eq!(sim.present(), ["bob"]);
    assert_eq!(sim.roster.stats().ended[EndCause::Timeout as usize], 1);
}

#[test]
fn the_lease_ends_exactly_at_the_timeout() {
    let mut sim = Sim::new();
    sim.connect(1, "ann", "a1");
    sim.enter(1);
    let start = sim.now;
    sim.advance(59_999);
    assert_eq!(sim.present(), ["ann"]);
    sim.advance(1);
    assert_eq!(sim.now.since(start), 60_000);
    assert!(sim.present().is_empty());
}

#[test]
fn a_resumed_client_that_no_longer_wants_a_channel_leaves_it_at_the_grace_end() {
    let mut sim = watched();
    sim.connect(1, "ann", "a1");
    sim.enter(1);
    sim.roster
        .enter(sim.now, 1, "/topic/1", Access::OPEN, None, None)
        .unwrap();
    sim.advance(50);
    sim.events(100);
    sim.roster.disconnect(sim.now, 1, true);
    sim.advance(1_000);
    assert!(sim.connect(2, "ann", "a1"));
    sim.enter(2); // the new page wants /site/online but not /topic/1
    sim.advance(1_900);
    assert_eq!(sim.roster.presence("/topic/1").map(|m| m.len()), Some(1));
    sim.advance(200);
    assert_eq!(sim.roster.presence("/topic/1"), None);
    assert_eq!(sim.present(), ["ann"]);
    assert_eq!(sim.events(100), Vec::<String>::new());
}

#[test]
fn a_newer_connection_of_the_same_client_replaces_the_old_one_invisibly() {
    let mut sim = watched();
    sim.connect(1, "ann", "a1");
    sim.enter(1);
    sim.advance(50);
    sim.events(100);
    assert!(sim.connect(2, "ann", "a1"));
    assert_eq!(
        sim.closed.get(&1),
        None,
        "closing is an output, drained on the next step"
    );
    sim.drain();
    assert_eq!(sim.closed.get(&1), Some(&close::REPLACED));
    sim.roster.disconnect(sim.now, 1, false); // the old socket's close arrives late: ignored
    sim.enter(2);
    sim.advance(30_000);
    assert_eq!(sim.events(100), Vec::<String>::new());
    assert_eq!(sim.present(), ["ann"]);
}

#[test]
fn update_reaches_others_as_update_never_leave_and_join() {
    let mut sim = watched();
    sim.connect(1, "ann", "a1");
    sim.roster
        .enter(sim.now, 1, CH, Access::OPEN, None, Some(meta(r#"{"typing":false}"#)))
        .unwrap();
    sim.advance(50);
    sim.events(100);
    sim.roster
        .update(sim.now, 1, CH, None, Some(meta(r#"{"typing":true}"#)))
        .unwrap();
    sim.advance(50);
    let msgs = sim.take(100);
    let [ServerMsg::Diff {
        join, leave, update, ..
    }] = msgs.as_slice()
    else {
        panic!("{msgs:?}")
    };
    assert!(join.is_empty() && leave.is_empty());
    assert_eq!(update[0].meta, meta(r#"{"typing":true}"#));
}

#[test]
fn the_newest_meta_and_the_most_active_status_win_across_clients() {
    let mut sim = Sim::new();
    sim.connect(1, "ann", "laptop");
    sim.roster
        .enter(
            sim.now,
            1,
            CH,
            Access::OPEN,
            Some(Status::Hidden),
            Some(meta(r#"{"doc":1}"#)),
        )
        .unwrap();
    sim.connect(2, "ann", "phone");
    sim.roster
        .enter(
            sim.now,
            2,
            CH,
            Access::OPEN,
            Some(Status::Idle),
            Some(meta(r#"{"doc":2}"#)),
        )
        .unwrap();
    let ann = &sim.roster.presence(CH).unwrap()[0];
    assert_eq!((ann.status, ann.meta.clone()), (Status::Idle, meta(r#"{"doc":2}"#)));
    sim.roster.checkin(sim.now, 1, Status::Active);
    let ann = &sim.roster.presence(CH).unwrap()[0];
    assert_eq!((ann.status, ann.meta.clone()), (Status::Active, meta(r#"{"doc":2}"#)));
}

#[test]
fn a_thousand_joins_in_one_tick_are_one_frame_per_subscriber() {
    let mut sim = Sim::new();
    for w in 0..10 {
        sim.watch(10_000 + w, &format!("w{w}"));
    }
    sim.advance(50);
    for w in 0..10 {
        sim.take(10_000 + w);
    }
    for i in 0..1_000 {
        sim.connect(i, &format!("u{i}"), "c");
        sim.enter(i);
    }
    sim.advance(sim.roster.config().flush_interval_ms);
    for w in 0..10 {
        let msgs = sim.take(10_000 + w);
        let [ServerMsg::Diff { count: 1000, join, .. }] = msgs.as_slice() else {
            panic!("{} frames", msgs.len())
        };
        assert_eq!(join.len(), 1000);
    }
    assert_eq!(sim.roster.stats().diffs_sent, 10);
}

#[test]
fn a_lone_change_goes_out_at_once_and_a_burst_waits_for_the_next_tick() {
    let mut sim = watched();
    sim.advance(1_000);
    sim.connect(1, "ann", "a1");
    sim.enter(1);
    assert!(sim.roster.poll_timeout() <= Some(sim.now), "flushed without waiting");
    sim.advance(0);
    assert_eq!(sim.events(100), ["+ann"]);
    let flushed = sim.now;
    sim.connect(2, "bob", "b1");
    sim.enter(2);
    sim.connect(3, "cid", "c1");
    sim.enter(3);
    assert_eq!(
        sim.roster.poll_timeout(),
        Some(flushed + sim.roster.config().flush_interval_ms)
    );
    sim.advance(sim.roster.config().flush_interval_ms);
    assert_eq!(sim.events(100), ["+bob", "+cid"], "one diff for the burst");
}

#[test]
fn a_join_and_leave_within_one_tick_cancel_out() {
    let mut sim = watched();
    sim.connect(1, "ann", "a1");
    sim.enter(1);
    sim.roster.leave(sim.now, 1, CH).unwrap();
    sim.advance(50);
    assert!(sim.take(100).is_empty());
}

#[test]
fn count_only_channels_never_send_identities() {
    let mut sim = Sim::new();
    let count_only = Access {
        count_only: true,
        ..Access::OPEN
    };
    sim.connect(100, "w", "w");
    sim.roster.subscribe(sim.now, 100, CH, count_only).unwrap();
    sim.connect(1, "ann", "a1");
    sim.roster
        .enter(sim.now, 1, CH, count_only, None, Some(meta(r#"{"secret":1}"#)))
        .unwrap();
    sim.advance(50);
    sim.connect(2, "bob", "b1");
    sim.roster.enter(sim.now, 2, CH, count_only, None, None).unwrap();
    sim.advance(50);
    sim.roster.update(sim.now, 2, CH, Some(Status::Idle), None).unwrap();
    sim.advance(50);
    let msgs = sim.take(100);
    assert_eq!(
        msgs.len(),
        2,
        "a snapshot and one diff; the update changed no count: {msgs:?}"
    );
    for msg in &msgs {
        let text = msg.encode();
        assert!(
            !text.contains("ann") && !text.contains("bob") && !text.contains("secret"),
            "{text}"
        );
    }
    assert!(
        matches!(
            msgs[0],
            ServerMsg::Snapshot {
                count: 1,
                seq: 1,
                users: None,
                ..
            }
        ),
        "{msgs:?}"
    );
    assert!(matches!(msgs[1], ServerMsg::Diff { count: 2, seq: 2, .. }), "{msgs:?}");
}

#[test]
fn rights_refusals_change_nothing() {
    let mut sim = watched();
    sim.connect(1, "ann", "a1");
    let watch_only = Access {
        enter: false,
        ..Access::OPEN
    };
    assert_eq!(
        sim.roster.enter(sim.now, 1, CH, watch_only, None, None),
        Err(ErrorCode::ForbiddenEnter)
    );
    assert_eq!(
        sim.roster.subscribe(
            sim.now,
            1,
            CH,
            Access {
                view: false,
                ..Access::OPEN
            }
        ),
        Err(ErrorCode::ForbiddenView)
    );
    assert_eq!(sim.roster.subscribe(sim.now, 1, CH, watch_only), Ok(()));
    assert_eq!(
        sim.roster.enter(sim.now, 1, "/nope", Access::OPEN, None, None),
        Err(ErrorCode::BadChannel)
    );
    let big = meta(&format!(r#"{{"x":"{}"}}"#, "y".repeat(1100)));
    assert_eq!(
        sim.roster.enter(sim.now, 1, CH, Access::OPEN, None, Some(big.clone())),
        Err(ErrorCode::MetaTooLarge)
    );
    assert_eq!(
        sim.roster.update(sim.now, 1, CH, None, None),
        Err(ErrorCode::NotEntered)
    );
    sim.advance(50);
    assert!(sim.present().is_empty());
    assert_eq!(sim.events(100), Vec::<String>::new());
    sim.enter(1);
    assert_eq!(
        sim.roster.update(sim.now, 1, CH, None, Some(big)),
        Err(ErrorCode::MetaTooLarge)
    );
}

#[test]
fn max_members_refuses_newcomers_but_not_a_second_client_of_a_member() {
    let mut sim = Sim::new();
    let two = Access {
        max_members: Some(2),
        ..Access::OPEN
    };
    for (conn, user) in [(1, "ann"), (2, "bob")] {
        sim.connect(conn, user, "c");
        sim.roster.enter(sim.now, conn, CH, two, None, None).unwrap();
    }
    sim.connect(3, "cid", "c");
    assert_eq!(
        sim.roster.enter(sim.now, 3, CH, two, None, None),
        Err(ErrorCode::ChannelFull)
    );
    sim.connect(4, "ann", "phone");
    assert_eq!(sim.roster.enter(sim.now, 4, CH, two, None, None), Ok(()));
    assert_eq!(sim.present(), ["ann", "bob"]);
}

#[test]
fn too_many_channels_counts_entered_and_subscribed_together() {
    let mut sim = Sim::with(RosterConfig {
        max_channels: 3,
        ..RosterConfig::default()
    });
    sim.connect(1, "ann", "a1");
    sim.roster.enter(sim.now, 1, "/a/1", Access::OPEN, None, None).unwrap();
    sim.roster.subscribe(sim.now, 1, "/a/1", Access::OPEN).unwrap();
    sim.roster.subscribe(sim.now, 1, "/a/2", Access::OPEN).unwrap();
    sim.roster.enter(sim.now, 1, "/a/3", Access::OPEN, None, None).unwrap();
    assert_eq!(
        sim.roster.enter(sim.now, 1, "/a/4", Access::OPEN, None, None),
        Err(ErrorCode::TooManyChannels)
    );
    assert_eq!(
        sim.roster.subscribe(sim.now, 1, "/a/4", Access::OPEN),
        Err(ErrorCode::TooManyChannels)
    );
    sim.roster.enter(sim.now, 1, "/a/2", Access::OPEN, None, None).unwrap();
    sim.roster.leave(sim.now, 1, "/a/3").unwrap();
    sim.roster.enter(sim.now, 1, "/a/4", Access::OPEN, None, None).unwrap();
}

#[test]
fn subscribing_again_after_a_gap_gives_a_fresh_snapshot() {
    let mut sim = watched();
    sim.connect(1, "ann", "a1");
    sim.enter(1);
    sim.advance(50);
    sim.take(100); // pretend it was lost
    sim.roster.subscribe(sim.now, 100, CH, Access::OPEN).unwrap();
    sim.advance(50);
    let msgs = sim.take(100);
    let [ServerMsg::Snapshot {
        seq: 1,
        count: 1,
        users: Some(users),
        ..
    }] = msgs.as_slice()
    else {
        panic!("{msgs:?}")
    };
    assert_eq!(users[0].id, "ann");
}

#[test]
fn an_expired_token_is_told_then_the_connection_closes_unless_renewed() {
    let mut sim = watched();
    sim.roster.connect(sim.now, 1, who("ann"), "a1", Some(sim.now + 5_000));
    sim.enter(1);
    sim.roster.connect(sim.now, 2, who("bob"), "b1", Some(sim.now + 5_000));
    sim.enter(2);
    sim.advance(5_000);
    for conn in [1, 2] {
        let msgs = sim.take(conn);
        assert!(
            matches!(
                msgs.as_slice(),
                [ServerMsg::Error {
                    code: ErrorCode::TokenExpired,
                    ..
                }]
            ),
            "{msgs:?}"
        );
    }
    sim.roster.refresh_token(sim.now, 2, Some(sim.now + 3_600_000));
    sim.advance(15_000);
    assert_eq!(sim.closed.get(&1), Some(&close::TOKEN_EXPIRED));
    assert_eq!(sim.closed.get(&2), None);
    // Ann's client is in its reconnect grace, not gone: a reconnect shows nothing.
    sim.events(100);
    assert!(sim.connect(3, "ann", "a1"));
    sim.enter(3);
    sim.advance(20_000);
    assert_eq!(sim.events(100), Vec::<String>::new());
    assert_eq!(sim.present(), ["ann", "bob"]);
}

#[test]
fn a_disconnected_watcher_stops_receiving_and_empty_channels_are_forgotten() {
    let mut sim = watched();
    sim.roster.disconnect(sim.now, 100, false);
    sim.connect(1, "ann", "a1");
    sim.enter(1);
    sim.advance(50);
    assert!(sim.take(100).is_empty());
    sim.roster.leave(sim.now, 1, CH).unwrap();
    sim.advance(50);
    assert_eq!(sim.roster.stats().channels, 0);
    assert_eq!(sim.roster.presence(CH), None);
}

#[test]
fn before_hello_everything_is_refused() {
    let mut sim = Sim::new();
    assert_eq!(
        sim.roster.enter(sim.now, 9, CH, Access::OPEN, None, None),
        Err(ErrorCode::HelloFirst)
    );
    assert_eq!(
        sim.roster.subscribe(sim.now, 9, CH, Access::OPEN),
        Err(ErrorCode::HelloFirst)
    );
    sim.roster.disconnect(sim.now, 9, false);
    sim.roster.beacon(sim.now, 9);
    sim.advance(100_000);
    assert_eq!(sim.roster.stats(), Default::default());
}

/// The events logged since last asked, in a compact form.
fn transitions(sim: &mut Sim) -> Vec<String> {
    sim.drain();
    std::mem::take(&mut sim.log)
        .into_iter()
        .filter_map(|(_, e)| match e {
            Event::UserOnline { user } => Some(format!("online {}", user.id)),
            Event::UserOffline { user } => Some(format!("offline {}", user.id)),
            Event::ChannelOccupied { ch } => Some(format!("occupied {ch}")),
            Event::ChannelVacated { ch } => Some(format!("vacated {ch}")),
            Event::Join { ch, user } => Some(format!("join {} {ch}", user.id)),
            Event::Leave { ch, user, cause } => Some(format!("leave {} {ch} {}", user.id, cause.as_str())),
            // Status changes (and any event added later) are checked by their own tests.
            _ => None,
        })
        .collect()
}

#[test]
fn events_a_refresh_sends_none_and_a_close_sends_leave_and_offline_once_after_the_grace() {
    let mut sim = Sim::new();
    sim.connect(1, "ann", "a1");
    sim.enter(1);
    sim.advance(50);
    assert_eq!(
        transitions(&mut sim),
        ["online ann", "occupied /site/online", "join ann /site/online"]
    );
    sim.roster.beacon(sim.now, 1);
    sim.roster.disconnect(sim.now, 1, true);
    sim.advance(1_000);
    sim.connect(2, "ann", "a1");
    sim.enter(2);
    sim.advance(10_000);
    assert_eq!(transitions(&mut sim), Vec::<String>::new(), "a refresh is invisible");
    sim.roster.disconnect(sim.now, 2, true);
    sim.advance(2_999);
    assert_eq!(
        transitions(&mut sim),
        Vec::<String>::new(),
        "nothing before the grace ends"
    );
    sim.advance(1);
    let at = sim.log.first().map(|(at, _)| *at);
    assert_eq!(
        transitions(&mut sim),
        [
            "leave ann /site/online unload_grace",
            "vacated /site/online",
            "offline ann"
        ]
    );
    assert_eq!(at, Some(sim.now), "stamped with the moment the grace ended");
    sim.advance(100_000);
    assert_eq!(transitions(&mut sim), Vec::<String>::new());
}

#[test]
fn events_two_tabs_and_a_phone_are_one_user_online() {
    let mut sim = Sim::new();
    // Two tabs share one client (one connection); the phone is a second client.
    sim.connect(1, "ann", "laptop");
    sim.enter(1);
    sim.connect(2, "ann", "phone");
    sim.enter(2);
    assert_eq!(
        transitions(&mut sim),
        ["online ann", "occupied /site/online", "join ann /site/online"]
    );
    sim.roster.disconnect(sim.now, 2, false);
    sim.advance(20_000);
    assert_eq!(transitions(&mut sim), Vec::<String>::new(), "still on the laptop");
    sim.roster.leave(sim.now, 1, CH).unwrap();
    sim.roster.disconnect(sim.now, 1, false);
    sim.advance(15_000);
    assert_eq!(
        transitions(&mut sim),
        ["leave ann /site/online leave", "vacated /site/online", "offline ann"]
    );
}

#[test]
fn events_a_watch_only_refresh_does_not_flap_online() {
    let mut sim = Sim::new();
    sim.watch(1, "ann");
    sim.roster.disconnect(sim.now, 1, true);
    sim.advance(500);
    sim.watch(2, "ann");
    sim.advance(30_000);
    assert_eq!(transitions(&mut sim), ["online ann"]);
}

#[test]
fn events_status_changes_are_reported_per_user_not_per_client() {
    let mut sim = Sim::new();
    sim.connect(1, "ann", "laptop");
    sim.enter(1);
    sim.connect(2, "ann", "phone");
    sim.roster
        .enter(sim.now, 2, CH, Access::OPEN, Some(Status::Hidden), None)
        .unwrap();
    sim.drain();
    sim.log.clear();
    sim.roster.checkin(sim.now, 2, Status::Idle);
    sim.drain();
    assert!(sim.log.is_empty(), "the laptop is still active: {:?}", sim.log);
    sim.roster.checkin(sim.now, 1, Status::Hidden);
    sim.drain();
    let statuses: Vec<Status> = sim
        .log
        .iter()
        .filter_map(|(_, e)| {
            if let Event::Status { status, .. } = e {
                Some(*status)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(statuses, [Status::Idle]);
}

fn remote_member(id: &str, status: Status) -> Member {
    Member {
        id: id.into(),
        name: Some(format!("user {id}")),
        avatar: None,
        status,
        meta: Meta::new(),
    }
}

#[test]
fn a_user_on_two_relays_is_one_member_and_leaves_only_when_both_let_go() {
    let mut sim = watched();
    sim.connect(1, "ann", "laptop");
    sim.enter(1);
    sim.roster
        .remote(sim.now, CH, "relay-b", remote_member("ann", Status::Idle), false);
    sim.roster
        .remote(sim.now, CH, "relay-b", remote_member("bob", Status::Active), false);
    sim.advance(50);
    assert_eq!(sim.events(100), ["+ann", "+bob"]);
    assert_eq!(
        sim.roster.presence(CH).unwrap()[0].status,
        Status::Active,
        "the most active of both relays"
    );
    sim.roster.leave(sim.now, 1, CH).unwrap();
    sim.advance(50);
    let msgs = sim.take(100);
    let [ServerMsg::Diff { update, leave, .. }] = msgs.as_slice() else {
        panic!("{msgs:?}")
    };
    assert!(leave.is_empty());
    assert_eq!(update[0].status, Status::Idle, "ann is still there through relay b");
    sim.roster.remote_gone(sim.now, CH, "relay-b", "ann", EndCause::Left);
    sim.advance(50);
    assert_eq!(sim.events(100), ["-ann"]);
    sim.roster.drop_relay(sim.now, "relay-b");
    sim.advance(50);
    assert_eq!(sim.events(100), ["-bob"]);
    assert!(sim.present().is_empty());
    assert!(sim.roster.remote_entries().is_empty());
}

#[test]
fn online_and_offline_are_told_once_across_relays() {
    let mut sim = Sim::new();
    sim.roster.share(true);
    let ann = Some(who("ann"));
    // Ann's phone is on relay b first: she comes online there.
    sim.roster.remote_online(sim.now, "relay-b", "ann", ann.clone());
    sim.connect(1, "ann", "laptop");
    sim.enter(1);
    sim.advance(50);
    assert_eq!(
        sim.online,
        [("ann".to_string(), true)],
        "relay b is told ann has a client here"
    );
    // The laptop closes: she is still online through relay b.
    sim.roster.disconnect(sim.now, 1, false);
    sim.advance(RosterConfig::default().reconnect_grace_ms + 100);
    assert_eq!(sim.online[1..], [("ann".to_string(), false)]);
    // Relay c sees her too, then b lets go: still online through c.
    sim.roster.remote_online(sim.now, "relay-c", "ann", ann.clone());
    sim.roster.remote_online(sim.now, "relay-b", "ann", None);
    sim.advance(50);
    // Relay c dies: now she is offline, once.
    sim.roster.drop_relay(sim.now, "relay-c");
    sim.advance(50);
    let t = transitions(&mut sim);
    let told: Vec<&String> = t
        .iter()
        .filter(|t| t.starts_with("online ") || t.starts_with("offline "))
        .collect();
    assert_eq!(told, ["online ann", "offline ann"], "{t:?}");
}

#[test]
fn a_remote_member_joins_and_leaves_with_its_cause_and_a_local_one_hides_it() {
    let mut sim = Sim::new();
    sim.roster
        .remote(sim.now, CH, "relay-b", remote_member("bob", Status::Hidden), false);
    sim.connect(1, "bob", "laptop");
    sim.enter(1);
    sim.roster.remote_gone(sim.now, CH, "relay-b", "bob", EndCause::Unload);
    sim.advance(50);
    sim.roster.leave(sim.now, 1, CH).unwrap();
    sim.roster
        .remote(sim.now, CH, "relay-b", remote_member("cy", Status::Active), false);
    sim.roster.remote_gone(sim.now, CH, "relay-b", "cy", EndCause::Timeout);
    sim.advance(50);
    let t = transitions(&mut sim);
    let in_channel: Vec<&str> = t
        .iter()
        .map(String::as_str)
        .filter(|t| !t.starts_with("online ") && !t.starts_with("offline "))
        .collect();
    let expected = [
        format!("occupied {CH}"),
        format!("join bob {CH}"),
        format!("leave bob {CH} leave"),
        format!("vacated {CH}"),
        format!("occupied {CH}"),
        format!("join cy {CH}"),
        format!("leave cy {CH} lease_timeout"),
        format!("vacated {CH}"),
    ];
    assert_eq!(
        in_channel,
        expected.iter().map(String::as_str).collect::<Vec<_>>(),
        "{t:?}"
    );
}

#[test]
fn local_views_are_shared_once_per_tick_and_remote_ones_never_echo() {
    let mut sim = Sim::new();
    sim.roster.share(true);
    sim.connect(1, "ann", "laptop");
    sim.enter(1);
    sim.roster.checkin(sim.now, 1, Status::Idle);
    sim.roster
        .remote(sim.now, CH, "relay-b", remote_member("bob", Status::Active), false);
    sim.advance(50);
    assert_eq!(sim.shared, [(CH.to_string(), "ann".to_string(), Some(Status::Idle))]);
    sim.shared.clear();
    sim.roster
        .remote(sim.now, CH, "relay-b", remote_member("ann", Status::Active), false);
    sim.advance(50);
    assert!(
        sim.shared.is_empty(),
        "a remote holder does not change the local view: {:?}",
        sim.shared
    );
    sim.roster.checkin(sim.now, 1, Status::Active);
    sim.advance(50);
    assert_eq!(
        sim.shared,
        [(CH.to_string(), "ann".to_string(), Some(Status::Active))],
        "a local view that changed is shared again"
    );
    sim.shared.clear();
    sim.roster.leave(sim.now, 1, CH).unwrap();
    sim.advance(50);
    assert_eq!(sim.shared, [(CH.to_string(), "ann".to_string(), None)]);
    let views = sim.roster.local_views();
    assert_eq!(
        views
            .iter()
            .map(|(ch, v)| (ch.as_str(), v.id.as_str()))
            .collect::<Vec<_>>(),
        [(ONLINE, "ann")],
        "ann is still connected here, in no channel"
    );
}

#[test]
fn events_a_join_from_a_background_tab_says_it_is_hidden() {
    let mut sim = Sim::new();
    sim.connect(1, "ann", "a1");
    sim.roster
        .enter(sim.now, 1, CH, Access::OPEN, Some(Status::Hidden), None)
        .unwrap();
    sim.drain();
    let kinds: Vec<String> = sim
        .log
        .iter()
        .map(|(_, e)| match e {
            Event::Join { .. } => "join".to_string(),
            Event::Status { status, .. } => format!("status {}", status.as_str()),
            other => format!("{other:?}").split_whitespace().next().unwrap_or("").to_string(),
        })
        .collect();
    assert_eq!(kinds, ["UserOnline", "ChannelOccupied", "join", "status hidden"]);
}

mod properties {
    //! Any sequence of inputs keeps the invariants, and a subscriber that applies the
    //! diffs to its snapshot always holds the relay's truth.
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Step {
        Connect { conn: u8, user: u8, client: u8 },
        Enter { conn: u8, ch: u8, status: u8, meta: u8 },
        Update { conn: u8, ch: u8, meta: u8 },
        Leave { conn: u8, ch: u8 },
        Subscribe { conn: u8, ch: u8 },
        Unsubscribe { conn: u8, ch: u8 },
        Checkin { conn: u8, status: u8 },
        Beacon { conn: u8 },
        Disconnect { conn: u8, unloading: bool },
        Pong { conn: u8 },
        Advance { ms: u32 },
        Remote { relay: u8, user: u8, ch: u8, status: u8 },
        RemoteGone { relay: u8, user: u8, ch: u8 },
        DropRelay { relay: u8 },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0..8u8, 0..4u8, 0..3u8).prop_map(|(conn, user, client)| Step::Connect { conn, user, client }),
            (0..8u8, 0..2u8, 0..3u8, 0..3u8).prop_map(|(conn, ch, status, meta)| Step::Enter {
                conn,
                ch,
                status,
                meta
            }),
            (0..8u8, 0..2u8, 0..3u8).prop_map(|(conn, ch, meta)| Step::Update { conn, ch, meta }),
            (0..8u8, 0..2u8).prop_map(|(conn, ch)| Step::Leave { conn, ch }),
            (0..8u8, 0..2u8).prop_map(|(conn, ch)| Step::Subscribe { conn, ch }),
            (0..8u8, 0..2u8).prop_map(|(conn, ch)| Step::Unsubscribe { conn, ch }),
            (0..8u8, 0..3u8).prop_map(|(conn, status)| Step::Checkin { conn, status }),
            (0..8u8).prop_map(|conn| Step::Beacon { conn }),
            (0..8u8, any::<bool>()).prop_map(|(conn, unloading)| Step::Disconnect { conn, unloading }),
            (0..8u8).prop_map(|conn| Step::Pong { conn }),
            prop_oneof![1..100u32, 1_000..20_000u32, 20_000..70_000u32].prop_map(|ms| Step::Advance { ms }),
            (0..2u8, 0..4u8, 0..2u8, 0..3u8).prop_map(|(relay, user, ch, status)| Step::Remote {
                relay,
                user,
                ch,
                status
            }),
            (0..2u8, 0..4u8, 0..2u8).prop_map(|(relay, user, ch)| Step::RemoteGone { relay, user, ch }),
            (0..2u8).prop_map(|relay| Step::DropRelay { relay }),
        ]
    }

    fn status(n: u8) -> Status {
        [Status::Active, Status::Idle, Status::Hidden][n as usize % 3]
    }

    fn channel(n: u8) -> &'static str {
        ["/site/online", "/topic/1"][n as usize % 2]
    }

    /// What one connection believes, built only from frames it received.
    #[derive(Default)]
    struct View {
        seq: u64,
        count: usize,
        users: BTreeMap<String, Member>,
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn diffs_applied_to_snapshots_always_give_the_truth(steps in proptest::collection::vec(step(), 1..120)) {
            let mut sim = Sim::with(RosterConfig { max_channels: 2, ..RosterConfig::default() });
            let mut live: HashMap<ConnId, bool> = HashMap::new();
            let mut views: HashMap<(ConnId, &'static str), View> = HashMap::new();
            let mut joined: BTreeSet<(String, String)> = BTreeSet::new();
            let mut occupied: BTreeSet<String> = BTreeSet::new();
            for step in steps {
                let now = sim.now;
                match step {
                    Step::Connect { conn, user, client } => {
                        let conn = conn as ConnId;
                        if live.get(&conn) == Some(&true) {
                            continue;
                        }
                        sim.roster.connect(now, conn, who(&format!("u{user}")), &format!("c{client}"), None);
                        live.insert(conn, true);
                        views.retain(|(c, _), _| *c != conn);
                    }
                    Step::Enter { conn, ch, status: s, meta: m } => {
                        let _ = sim.roster.enter(now, conn as ConnId, channel(ch), Access::OPEN, Some(status(s)), Some(super::meta(&format!(r#"{{"m":{m}}}"#))));
                    }
                    Step::Update { conn, ch, meta: m } => {
                        let _ = sim.roster.update(now, conn as ConnId, channel(ch), None, Some(super::meta(&format!(r#"{{"m":{m}}}"#))));
                    }
                    Step::Leave { conn, ch } => { let _ = sim.roster.leave(now, conn as ConnId, channel(ch)); }
                    Step::Subscribe { conn, ch } => { let _ = sim.roster.subscribe(now, conn as ConnId, channel(ch), Access::OPEN); }
                    Step::Unsubscribe { conn, ch } => {
                        let _ = sim.roster.unsubscribe(now, conn as ConnId, channel(ch));
                        views.remove(&(conn as ConnId, channel(ch)));
                    }
                    Step::Checkin { conn, status: s } => sim.roster.checkin(now, conn as ConnId, status(s)),
                    Step::Beacon { conn } => sim.roster.beacon(now, conn as ConnId),
                    Step::Disconnect { conn, unloading } => {
                        sim.roster.disconnect(now, conn as ConnId, unloading);
                        live.insert(conn as ConnId, false);
                        views.retain(|(c, _), _| *c != conn as ConnId);
                    }
                    Step::Pong { conn } => sim.roster.touch(now, conn as ConnId, false),
                    Step::Advance { ms } => sim.advance(ms as u64),
                    Step::Remote { relay, user, ch, status: s } => {
                        sim.roster.remote(now, channel(ch), &format!("r{relay}"), remote_member(&format!("u{user}"), status(s)), false)
                    }
                    Step::RemoteGone { relay, user, ch } => {
                        sim.roster.remote_gone(now, channel(ch), &format!("r{relay}"), &format!("u{user}"), EndCause::Left)
                    }
                    Step::DropRelay { relay } => sim.roster.drop_relay(now, &format!("r{relay}")),
                }
                sim.drain();
                // Apply what every connection received, in order.
                for (conn, msgs) in sim.inbox.drain() {
                    for msg in msgs {
                        match msg {
                            ServerMsg::Snapshot { ch, seq, count, users, .. } => {
                                let users = users.unwrap();
                                prop_assert_eq!(count, users.len());
                                let ch = channel(if ch == "/site/online" { 0 } else { 1 });
                                views.insert((conn, ch), View { seq, count, users: users.into_iter().map(|m| (m.id.clone(), m)).collect() });
                            }
                            ServerMsg::Diff { ch, seq, count, join, leave, update } => {
                                let ch = channel(if ch == "/site/online" { 0 } else { 1 });
                                let view = views.get_mut(&(conn, ch));
                                prop_assert!(view.is_some(), "a diff before its snapshot");
                                let view = view.unwrap();
                                prop_assert_eq!(seq, view.seq + 1, "consecutive seq");
                                view.seq = seq;
                                view.count = count;
                                for m in join.into_iter().chain(update) {
                                    view.users.insert(m.id.clone(), m);
                                }
                                for id in leave {
                                    view.users.remove(&id);
                                }
                            }
                            other => prop_assert!(false, "unexpected {:?}", other),
                        }
                    }
                }
                // A connection closed by the relay received what was sent before it closed.
                for (conn, _) in sim.closed.drain() {
                    live.insert(conn, false);
                    views.retain(|(c, _), _| *c != conn);
                }
                // Invariants of the truth.
                for ch in [channel(0), channel(1)] {
                    let truth = sim.roster.presence(ch).unwrap_or_default();
                    let mut ids: Vec<&str> = truth.iter().map(|m| m.id.as_str()).collect();
                    ids.dedup();
                    prop_assert_eq!(ids.len(), truth.len(), "each user listed once");
                }
                // The events tell every transition once, whichever relay caused it:
                // replayed, they give the members of each channel and its occupancy.
                for (_, event) in sim.log.drain(..) {
                    match event {
                        Event::Join { ch, user } => prop_assert!(joined.insert((ch, user.id)), "a join twice"),
                        Event::Leave { ch, user, .. } => prop_assert!(joined.remove(&(ch, user.id)), "a leave without a join"),
                        Event::ChannelOccupied { ch } => prop_assert!(occupied.insert(ch), "occupied twice"),
                        Event::ChannelVacated { ch } => prop_assert!(occupied.remove(&ch), "vacated while not occupied"),
                        _ => {}
                    }
                }
                for ch in [channel(0), channel(1)] {
                    let truth: BTreeSet<(String, String)> = sim.roster.presence(ch).unwrap_or_default().into_iter().map(|m| (ch.to_string(), m.id)).collect();
                    let told: BTreeSet<(String, String)> = joined.iter().filter(|(c, _)| c == ch).cloned().collect();
                    prop_assert_eq!(&told, &truth, "members told by events on {}", ch);
                    prop_assert_eq!(occupied.contains(ch), !truth.is_empty(), "occupancy told on {}", ch);
                }
                let stats = sim.roster.stats();
                prop_assert!(stats.members <= 8 && stats.clients <= 12);
            }
            // The truth told as events from nothing gives the same members.
            let mut replayed = BTreeSet::new();
            for event in sim.roster.truth() {
                if let Event::Join { ch, user } = event {
                    replayed.insert((ch, user.id));
                }
            }
            prop_assert_eq!(&replayed, &joined, "truth() replays the members");
            // Let every tick pass: each subscriber's view equals the truth.
            sim.advance(sim.roster.config().flush_interval_ms);
            for (conn, msgs) in sim.inbox.drain() {
                for msg in msgs {
                    if let ServerMsg::Diff { ch, seq, count, join, leave, update } = msg {
                        let ch = channel(if ch == "/site/online" { 0 } else { 1 });
                        if let Some(view) = views.get_mut(&(conn, ch)) {
                            prop_assert_eq!(seq, view.seq + 1);
                            view.seq = seq;
                            view.count = count;
                            for m in join.into_iter().chain(update) { view.users.insert(m.id.clone(), m); }
                            for id in leave { view.users.remove(&id); }
                        }
                    } else if let ServerMsg::Snapshot { ch, seq, count, users, .. } = msg {
                        let ch = channel(if ch == "/site/online" { 0 } else { 1 });
                        views.insert((conn, ch), View { seq, count, users: users.unwrap().into_iter().map(|m| (m.id.clone(), m)).collect() });
                    }
                }
            }
            for ((conn, ch), view) in &views {
                if !sim.roster.is_connected(*conn) { continue; }
                let truth: Vec<Member> = sim.roster.presence(ch).unwrap_or_default();
                prop_assert_eq!(view.count, truth.len(), "count equals users listed");
                let seen: Vec<&Member> = view.users.values().collect();
                prop_assert_eq!(seen, truth.iter().collect::<Vec<_>>(), "conn {} on {}", conn, ch);
            }
        }
    }
}

/// Diffs `conn` received since last asked.
fn diffs(sim: &mut Sim, conn: ConnId) -> Vec<ServerMsg> {
    sim.take(conn)
        .into_iter()
        .filter(|m| matches!(m, ServerMsg::Diff { .. }))
        .collect()
}

/// `watchers` connections watching `ch` with `access`, their snapshots taken.
fn crowd(sim: &mut Sim, ch: &str, access: Access, watchers: u64) -> Vec<ConnId> {
    let conns: Vec<ConnId> = (0..watchers).map(|w| 10_000 + w).collect();
    for &conn in &conns {
        sim.connect(conn, &format!("w{conn}"), "watcher");
        sim.roster.subscribe(sim.now, conn, ch, access).unwrap();
    }
    sim.advance(2_000);
    sim.inbox.clear();
    conns
}

/// A roster whose channels may send 10,000 frames a second: 1,000 watchers flush at
/// most every 100 ms.
fn budgeted() -> Sim {
    Sim::with(RosterConfig {
        fanout_per_second: 10_000,
        ..RosterConfig::default()
    })
}

#[test]
fn the_flush_interval_grows_with_subscribers_within_its_bounds() {
    let config = RosterConfig {
        fanout_per_second: 10_000,
        ..RosterConfig::default()
    };
    assert_eq!(config.flush_interval_for(0), 20);
    assert_eq!(config.flush_interval_for(200), 20);
    assert_eq!(config.flush_interval_for(1_000), 100);
    assert_eq!(config.flush_interval_for(5_000), 500);
    assert_eq!(
        config.flush_interval_for(10_000_000),
        rollcall_core::roster::MAX_FLUSH_INTERVAL_MS
    );
}

#[test]
fn a_large_channel_sends_within_its_fanout_budget_and_a_lone_change_still_goes_at_once() {
    let mut sim = budgeted();
    // 1,000 watchers and 10,000 frames a second: a diff at most every 100 ms.
    let crowd = crowd(&mut sim, CH, Access::OPEN, 1_000);
    let first = crowd[0];
    sim.connect(1, "ann", "a1");
    sim.enter(1);
    sim.advance(0);
    assert_eq!(sim.events(first), ["+ann"], "a lone join is sent at once");
    // A join every 5 ms for a second.
    let sent_before = sim.roster.stats().diffs_sent;
    for i in 0..200 {
        sim.connect(100 + i, &format!("u{i}"), "c");
        sim.enter(100 + i);
        sim.advance(5);
    }
    let mut got = diffs(&mut sim, first);
    assert!((9..=11).contains(&got.len()), "{} diffs in one second", got.len());
    let sent = sim.roster.stats().diffs_sent - sent_before;
    assert!(sent <= 11 * 1_000, "{sent} frames to 1,000 watchers in one second");
    // Nothing is lost by sending less often: every join arrives, in consecutive diffs.
    sim.advance(200);
    got.extend(diffs(&mut sim, first));
    let mut seen = BTreeSet::new();
    for pair in got.windows(2) {
        if let [ServerMsg::Diff { seq: a, .. }, ServerMsg::Diff { seq: b, .. }] = pair {
            assert_eq!(*b, a + 1);
        }
    }
    for msg in got {
        if let ServerMsg::Diff { join, .. } = msg {
            seen.extend(join.into_iter().map(|m| m.id));
        }
    }
    assert_eq!(seen.len(), 200);
}

#[test]
fn a_newcomer_that_subscribes_then_enters_is_seen_at_once_though_its_snapshot_just_flushed() {
    let mut sim = budgeted();
    // 1,000 watchers: a diff at most every 100 ms.
    let crowd = crowd(&mut sim, CH, Access::OPEN, 1_000);
    let first = crowd[0];
    // What a page does: subscribe, and a moment later enter.
    sim.connect(1, "ann", "a1");
    sim.roster.subscribe(sim.now, 1, CH, Access::OPEN).unwrap();
    sim.advance(0);
    assert!(
        sim.take(1).iter().any(|m| matches!(m, ServerMsg::Snapshot { .. })),
        "her snapshot goes at once"
    );
    sim.advance(5);
    sim.enter(1);
    sim.advance(0);
    assert_eq!(sim.events(first), ["+ann"], "her join does not wait for the interval");
    // The cadence of changes holds: the next join, 10 ms later, waits 100 ms from hers.
    sim.connect(2, "bob", "b1");
    sim.advance(10);
    sim.enter(2);
    sim.advance(0);
    assert!(sim.events(first).is_empty());
    sim.advance(89);
    assert!(sim.events(first).is_empty());
    sim.advance(1);
    assert_eq!(sim.events(first), ["+bob"]);
}

#[test]
fn a_channel_mostly_on_other_relays_flushes_at_the_cadence_of_its_whole_size() {
    let mut sim = budgeted();
    // 100 watchers here, 2,000 members on another relay: the whole channel (2,100) sets
    // the interval (210 ms), as it does on the relay that holds the 2,000.
    let crowd = crowd(&mut sim, CH, Access::OPEN, 100);
    for i in 0..2_000 {
        sim.roster.remote(
            sim.now,
            CH,
            "relay-b",
            remote_member(&format!("r{i}"), Status::Active),
            false,
        );
    }
    sim.advance(1_000);
    sim.inbox.clear();
    let sent_before = sim.roster.stats().diffs_sent;
    // A join every 10 ms for a second, from the other relay.
    for i in 0..100 {
        sim.roster.remote(
            sim.now,
            CH,
            "relay-b",
            remote_member(&format!("n{i}"), Status::Active),
            false,
        );
        sim.advance(10);
    }
    let got = diffs(&mut sim, crowd[0]);
    assert!((4..=6).contains(&got.len()), "{} diffs in one second", got.len());
    let sent = sim.roster.stats().diffs_sent - sent_before;
    assert!(sent <= 6 * 100, "{sent} frames to 100 watchers in one second");
}

#[test]
fn a_count_only_crowd_is_held_to_the_same_budget() {
    let mut sim = budgeted();
    let count_only = Access {
        count_only: true,
        ..Access::OPEN
    };
    let crowd = crowd(&mut sim, CH, count_only, 1_000);
    for i in 0..200 {
        sim.connect(100 + i, &format!("u{i}"), "c");
        sim.roster.enter(sim.now, 100 + i, CH, count_only, None, None).unwrap();
        sim.advance(5);
    }
    sim.advance(100);
    let got = diffs(&mut sim, crowd[0]);
    assert!((9..=12).contains(&got.len()), "{} count diffs in one second", got.len());
    assert!(
        matches!(got.last(), Some(ServerMsg::Diff { count: 200, .. })),
        "{got:?}"
    );
}

#[test]
fn a_small_channel_beside_a_busy_large_one_keeps_its_short_tick() {
    let mut sim = budgeted();
    let big = crowd(&mut sim, CH, Access::OPEN, 1_000);
    const SMALL: &str = "/room/small";
    sim.connect(2, "bob", "b");
    sim.roster.subscribe(sim.now, 2, SMALL, Access::OPEN).unwrap();
    sim.advance(50);
    sim.take(2);
    // The big channel flushes a join and must now wait 100 ms...
    sim.connect(1, "ann", "a1");
    sim.enter(1);
    sim.advance(0);
    assert_eq!(sim.events(big[0]), ["+ann"]);
    // ...which the small one does not: its join goes at once, the next within 20 ms.
    for (conn, user) in [(3, "cy"), (4, "di")] {
        sim.connect(conn, user, "c");
        sim.roster
            .enter(sim.now, conn, SMALL, Access::OPEN, None, None)
            .unwrap();
        sim.advance(0);
    }
    assert_eq!(sim.events(2), ["+cy"]);
    sim.advance(20);
    assert_eq!(sim.events(2), ["+di"]);
}

fn capped(cap: usize) -> Access {
    Access {
        list_cap: Some(cap),
        ..Access::OPEN
    }
}

/// `n` members u0..u{n-1} entered one flush apart (arrival order = number order).
fn capped_crowd(sim: &mut Sim, cap: usize, n: u64) {
    for i in 0..n {
        sim.connect(1 + i, &format!("u{i}"), "c");
        sim.roster.enter(sim.now, 1 + i, CH, capped(cap), None, None).unwrap();
        sim.advance(30);
    }
}

/// What `conn` holds after replaying everything it received (snapshot, diffs, focus).
fn replayed(msgs: &[ServerMsg], into: &mut BTreeMap<String, Member>, count: &mut usize) {
    for msg in msgs {
        match msg {
            ServerMsg::Snapshot { users, count: c, .. } => {
                into.clear();
                for m in users.clone().unwrap_or_default() {
                    into.insert(m.id.clone(), m);
                }
                *count = *c;
            }
            ServerMsg::Diff {
                join,
                leave,
                update,
                count: c,
                ..
            } => {
                *count = *c;
                for m in join.iter().chain(update) {
                    into.insert(m.id.clone(), m.clone());
                }
                for id in leave {
                    into.remove(id);
                }
            }
            ServerMsg::Focus {
                join, leave, update, ..
            } => {
                for m in join.iter().chain(update) {
                    into.insert(m.id.clone(), m.clone());
                }
                for id in leave {
                    into.remove(id);
                }
            }
            _ => {}
        }
    }
}

fn ids(list: &BTreeMap<String, Member>) -> Vec<String> {
    list.keys().cloned().collect()
}

#[test]
fn a_capped_channel_sends_the_first_arrivals_with_an_exact_count_and_a_freed_place_to_who_waited_longest() {
    let mut sim = Sim::new();
    capped_crowd(&mut sim, 3, 10);
    sim.connect(100, "w", "watcher");
    sim.roster.subscribe(sim.now, 100, CH, capped(3)).unwrap();
    sim.advance(30);
    let got = sim.take(100);
    assert!(
        matches!(&got[..], [ServerMsg::Snapshot { count: 10, cap: Some(3), users: Some(u), .. }] if u.len() == 3),
        "{got:?}"
    );
    let (mut list, mut count) = (BTreeMap::new(), 0);
    replayed(&got, &mut list, &mut count);
    assert_eq!(ids(&list), ["u0", "u1", "u2"]);
    // u1 leaves: u3 has waited longest.
    sim.roster.leave(sim.now, 2, CH).unwrap();
    sim.advance(30);
    let got = sim.take(100);
    assert!(
        matches!(&got[..], [ServerMsg::Diff { count: 9, join, leave, .. }] if join[0].id == "u3" && leave == &["u1"]),
        "{got:?}"
    );
    // Someone outside the list leaving or changing shows in the count only.
    sim.roster.leave(sim.now, 10, CH).unwrap();
    sim.roster
        .update(sim.now, 9, CH, None, Some(meta(r#"{"typing":true}"#)))
        .unwrap();
    sim.advance(30);
    let got = sim.take(100);
    assert!(
        matches!(&got[..], [ServerMsg::Diff { count: 8, join, leave, update, .. }] if join.is_empty() && leave.is_empty() && update.is_empty()),
        "{got:?}"
    );
}

#[test]
fn a_subscriber_always_sees_itself_and_its_friends_and_only_it_is_told_about_them() {
    let mut sim = Sim::new();
    capped_crowd(&mut sim, 2, 6);
    // zed is present too, and follows u4 (beyond the list) and u0 (in it).
    sim.connect(100, "zed", "z");
    sim.roster.enter(sim.now, 100, CH, capped(2), None, None).unwrap();
    sim.roster
        .subscribe_following(sim.now, 100, CH, capped(2), &["u4".into(), "u0".into(), "zed".into()])
        .unwrap();
    sim.connect(200, "other", "o");
    sim.roster.subscribe(sim.now, 200, CH, capped(2)).unwrap();
    sim.advance(30);
    let (mut zed, mut zed_count) = (BTreeMap::new(), 0);
    replayed(&sim.take(100), &mut zed, &mut zed_count);
    assert_eq!(ids(&zed), ["u0", "u1", "u4", "zed"]);
    assert_eq!(zed_count, 7);
    let (mut other, mut other_count) = (BTreeMap::new(), 0);
    replayed(&sim.take(200), &mut other, &mut other_count);
    assert_eq!(ids(&other), ["u0", "u1"]);
    // u4 changes and u5 changes: only zed hears of u4, nobody of u5.
    sim.roster
        .update(sim.now, 5, CH, None, Some(meta(r#"{"typing":true}"#)))
        .unwrap();
    sim.roster.update(sim.now, 6, CH, Some(Status::Idle), None).unwrap();
    sim.advance(30);
    let to_zed = sim.take(100);
    assert!(
        to_zed
            .iter()
            .any(|m| matches!(m, ServerMsg::Focus { update, .. } if update.len() == 1 && update[0].id == "u4")),
        "{to_zed:?}"
    );
    assert!(sim.take(200).iter().all(|m| !matches!(m, ServerMsg::Focus { .. })));
    replayed(&to_zed, &mut zed, &mut zed_count);
    assert_eq!(zed["u4"].meta, meta(r#"{"typing":true}"#));
    // u4 leaves: zed is told, the list and counts stay exact for both.
    sim.roster.leave(sim.now, 5, CH).unwrap();
    sim.advance(30);
    replayed(&sim.take(100), &mut zed, &mut zed_count);
    replayed(&sim.take(200), &mut other, &mut other_count);
    assert_eq!(ids(&zed), ["u0", "u1", "zed"]);
    assert_eq!((zed_count, other_count), (6, 6));
    // A friend arriving beyond the list is told to zed at once.
    sim.roster.leave(sim.now, 1, CH).unwrap();
    sim.advance(30);
    replayed(&sim.take(100), &mut zed, &mut zed_count);
    assert_eq!(ids(&zed), ["u1", "u2", "zed"], "u2 took u0's place");
    sim.connect(5, "u4", "again");
    sim.roster.enter(sim.now, 5, CH, capped(2), None, None).unwrap();
    sim.advance(30);
    replayed(&sim.take(100), &mut zed, &mut zed_count);
    assert_eq!(ids(&zed), ["u1", "u2", "u4", "zed"]);
}

#[test]
fn members_pages_the_whole_list_in_id_order_and_clamps_what_it_is_asked() {
    let mut sim = Sim::new();
    capped_crowd(&mut sim, 2, 5);
    sim.connect(100, "w", "watcher");
    let (count, page, next) = sim.roster.page(100, CH, capped(2), None, Some(2)).unwrap();
    assert_eq!((count, page.len(), next.as_deref()), (5, 2, Some("u1")));
    let (_, page, next) = sim.roster.page(100, CH, capped(2), next.as_deref(), Some(2)).unwrap();
    assert_eq!(page.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["u2", "u3"]);
    let (_, page, next) = sim.roster.page(100, CH, capped(2), next.as_deref(), Some(2)).unwrap();
    assert_eq!((page.len(), next), (1, None), "the last page says so");
    // A limit of zero is one; a huge one is the maximum; past the end is empty.
    assert_eq!(sim.roster.page(100, CH, capped(2), None, Some(0)).unwrap().1.len(), 1);
    assert_eq!(
        sim.roster
            .page(100, CH, capped(2), None, Some(usize::MAX))
            .unwrap()
            .1
            .len(),
        5
    );
    let (_, page, next) = sim.roster.page(100, CH, capped(2), Some("zzz"), None).unwrap();
    assert!(page.is_empty() && next.is_none());
    // Count-only channels never page their members; no right to view, no page.
    let count_only = Access {
        count_only: true,
        ..Access::OPEN
    };
    assert_eq!(
        sim.roster.page(100, CH, count_only, None, None),
        Err(ErrorCode::ForbiddenView)
    );
    let blind = Access {
        view: false,
        ..Access::OPEN
    };
    assert_eq!(
        sim.roster.page(100, CH, blind, None, None),
        Err(ErrorCode::ForbiddenView)
    );
}

#[test]
fn a_capped_list_replays_to_at_most_the_cap_plus_its_own_people_under_random_churn() {
    let cap = 4;
    let mut sim = Sim::new();
    sim.connect(1_000, "w", "watcher");
    sim.roster
        .subscribe_following(sim.now, 1_000, CH, capped(cap), &["u3".into(), "u17".into()])
        .unwrap();
    let (mut list, mut count) = (BTreeMap::new(), 0);
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut present: BTreeSet<u64> = BTreeSet::new();
    for step in 0..2_000 {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let user = (seed >> 33) % 24;
        if present.contains(&user) && (seed >> 20) % 3 == 0 {
            sim.roster.leave(sim.now, 1 + user, CH).unwrap();
            present.remove(&user);
        } else if present.contains(&user) {
            sim.roster
                .update(sim.now, 1 + user, CH, Some(Status::Idle), None)
                .unwrap();
        } else {
            sim.connect(1 + user, &format!("u{user}"), "c");
            sim.roster
                .enter(sim.now, 1 + user, CH, capped(cap), None, None)
                .unwrap();
            present.insert(user);
        }
        sim.advance((seed >> 40) % 40);
        replayed(&sim.take(1_000), &mut list, &mut count);
        if step % 50 == 0 {
            sim.advance(100);
            replayed(&sim.take(1_000), &mut list, &mut count);
            assert_eq!(count, present.len(), "step {step}");
            let shown: Vec<_> = list.keys().filter(|id| *id != "u3" && *id != "u17").collect();
            assert!(shown.len() <= cap, "step {step}: {shown:?}");
            assert!(
                list.len() >= present.len().min(cap),
                "step {step}: the list is full whenever enough are present ({list:?})"
            );
            for friend in [3, 17] {
                assert_eq!(
                    list.contains_key(&format!("u{friend}")),
                    present.contains(&friend),
                    "step {step}: friend u{friend}"
                );
            }
            for id in list.keys() {
                let n: u64 = id[1..].parse().unwrap();
                assert!(present.contains(&n), "step {step}: {id} is gone");
            }
        }
    }
}

#[test]
fn a_newcomers_snapshot_of_a_huge_capped_channel_is_a_few_kilobytes() {
    let mut sim = Sim::new();
    for i in 0..20_000u64 {
        sim.connect(1 + i, &format!("user-{i:05}"), "c");
        sim.roster.enter(sim.now, 1 + i, CH, capped(50), None, None).unwrap();
    }
    sim.advance(30);
    sim.connect(50_000, "new", "n");
    sim.roster.enter(sim.now, 50_000, CH, capped(50), None, None).unwrap();
    sim.roster
        .subscribe_following(sim.now, 50_000, CH, capped(50), &["user-19999".into()])
        .unwrap();
    // The snapshot goes with the channel's next flush: 20,000 members flush every 400 ms.
    sim.advance(RosterConfig::default().flush_interval_for(20_001));
    let got = sim.take(50_000);
    let snapshot = got
        .iter()
        .find(|m| matches!(m, ServerMsg::Snapshot { .. }))
        .expect("a snapshot");
    let bytes = snapshot.encode().len();
    assert!(bytes < 4_096, "{bytes} bytes");
    let ServerMsg::Snapshot {
        count,
        users: Some(users),
        ..
    } = snapshot
    else {
        unreachable!()
    };
    assert_eq!(*count, 20_001);
    assert_eq!(users.len(), 52, "50 shared, itself and its friend");
}

/// The site took a right back: the user's clients leave at once and watchers see it;
/// with the view taken too, their connections stop watching; unchanged rights only say
/// who still holds the channel.
#[test]
fn revoking_a_users_rights_takes_their_clients_out_and_stops_their_watching() {
    let mut sim = watched();
    let closed = Access {
        view: false,
        enter: false,
        ..Access::OPEN
    };
    sim.connect(1, "ann", "laptop");
    sim.enter(1);
    sim.connect(2, "ann", "phone");
    sim.enter(2);
    sim.roster.subscribe(sim.now, 2, CH, Access::OPEN).unwrap();
    sim.connect(3, "bob", "b1");
    sim.enter(3);
    sim.advance(50);
    assert_eq!(sim.events(100), ["+ann", "+bob"]);
    sim.take(2);

    let same = sim.roster.revoke(sim.now, CH, "ann", Access::OPEN);
    assert_eq!((same.left.len(), same.unwatched.len()), (0, 0));
    assert_eq!(same.held, [1, 2], "nothing moves when nothing is taken back");
    assert!(sim.roster.revoke(sim.now, "/other/x", "ann", closed).held.is_empty());

    let viewer = Access {
        enter: false,
        ..Access::OPEN
    };
    let gone = sim.roster.revoke(sim.now, CH, "ann", viewer);
    assert_eq!(gone.left, [1, 2]);
    assert_eq!(gone.held, [2], "the phone may still watch");
    sim.advance(sim.roster.config().flush_interval_ms);
    assert_eq!(sim.events(100), ["-ann"], "watchers see ann leave at once");
    assert_eq!(sim.events(2), ["-ann"], "ann's own watching connection too");
    assert_eq!(sim.present(), ["bob"]);
    assert!(sim
        .log
        .iter()
        .any(|(_, e)| matches!(e, Event::Leave { user, cause: EndCause::Left, .. } if user.id == "ann")));
    assert_eq!(
        sim.roster.update(sim.now, 1, CH, Some(Status::Idle), None),
        Err(ErrorCode::NotEntered),
        "the client no longer holds the channel"
    );

    let blind = sim.roster.revoke(sim.now, CH, "ann", closed);
    assert_eq!((blind.left.len(), blind.unwatched.as_slice()), (0, &[2][..]));
    sim.roster.leave(sim.now, 3, CH).unwrap();
    sim.advance(50);
    assert_eq!(sim.events(100), ["-bob"]);
    assert!(sim.events(2).is_empty(), "ann's connection no longer watches");
    // A connection still open keeps its other channels and may enter again when allowed.
    sim.roster.enter(sim.now, 1, CH, Access::OPEN, None, None).unwrap();
    sim.advance(50);
    assert_eq!(sim.events(100), ["+ann"]);
}

#[test]
fn after_a_restart_returning_clients_keep_their_list_until_the_storm_settles_and_newcomers_wait_for_nothing() {
    use rollcall_core::roster::WARM_SETTLE_MS;
    let mut sim = Sim::new();
    let grace = sim.roster.config().reconnect_grace_ms;
    sim.roster.warm_up(sim.now + grace);
    // 30 clients come back over three seconds, each entering and watching again.
    for i in 0..30u64 {
        sim.connect(1 + i, &format!("u{i}"), "c");
        sim.roster.resuming(sim.now, 1 + i);
        sim.enter(1 + i);
        sim.roster.subscribe(sim.now, 1 + i, CH, Access::OPEN).unwrap();
        sim.advance(100);
    }
    // A newcomer (no resume) gets the channel as it is, at once.
    sim.watch(500, "new");
    sim.advance(0);
    assert!(
        matches!(sim.take(500).as_slice(), [ServerMsg::Snapshot { count: 30, .. }]),
        "a newcomer is answered at once"
    );
    // Nobody who came back has been shown a half-empty channel...
    for i in 0..30u64 {
        assert!(
            sim.take(1 + i).iter().all(|m| !matches!(m, ServerMsg::Snapshot { .. })),
            "u{i} waited"
        );
    }
    // ...until nobody has come back for WARM_SETTLE_MS: then all of it at once.
    sim.advance(WARM_SETTLE_MS);
    for i in 0..30u64 {
        let got = sim.take(1 + i);
        assert!(
            matches!(got.as_slice(), [ServerMsg::Snapshot { count: 30, .. }]),
            "u{i}: {got:?}"
        );
    }
    // Returning after the storm, still within the warm-up: the same short wait.
    sim.connect(100, "late", "l");
    sim.roster.resuming(sim.now, 100);
    sim.roster.subscribe(sim.now, 100, CH, Access::OPEN).unwrap();
    sim.advance(WARM_SETTLE_MS - 1);
    assert!(sim.take(100).is_empty());
    sim.advance(1);
    assert!(matches!(sim.take(100).as_slice(), [ServerMsg::Snapshot { .. }]));
}

#[test]
fn the_warm_up_ends_with_the_reconnect_grace_even_while_clients_keep_coming_back() {
    let mut sim = Sim::new();
    let grace = sim.roster.config().reconnect_grace_ms;
    let until = sim.now + grace;
    sim.roster.warm_up(until);
    sim.connect(1, "ann", "a");
    sim.roster.resuming(sim.now, 1);
    sim.roster.subscribe(sim.now, 1, CH, Access::OPEN).unwrap();
    // A return every second, for longer than the grace.
    let mut n = 10;
    while sim.now < until {
        n += 1;
        sim.connect(n, &format!("u{n}"), "c");
        sim.roster.resuming(sim.now, n);
        sim.advance(1_000);
    }
    let got = sim.take(1);
    assert!(matches!(got.as_slice(), [ServerMsg::Snapshot { .. }]), "{got:?}");
    // And after it, resuming changes nothing.
    sim.connect(200, "bob", "b");
    sim.roster.resuming(sim.now, 200);
    sim.roster.subscribe(sim.now, 200, CH, Access::OPEN).unwrap();
    sim.advance(sim.roster.config().flush_interval_ms);
    assert!(matches!(sim.take(200).as_slice(), [ServerMsg::Snapshot { .. }]));
}
