//! The cluster machine's rules, one order of inputs at a time.

use super::*;
use crate::policy::Access;
use crate::protocol::Status;
use crate::roster::Output;

fn member(id: &str) -> Member {
    Member {
        id: id.into(),
        name: None,
        avatar: None,
        status: Status::Active,
        meta: Default::default(),
    }
}

fn change(relay: &str, seq: u64, view: Option<Member>) -> Message {
    Message::Change(Change {
        relay: relay.into(),
        ch: "/doc/1".into(),
        user: "ann".into(),
        seq,
        view,
        cause: None,
    })
}

fn beaten(store_ms: u64, known: bool, table: &[(&str, u64)]) -> Beaten {
    Beaten {
        store_ms,
        known,
        table: table.iter().map(|(r, s)| (r.to_string(), *s)).collect(),
    }
}

/// A roster sharing its views and a cluster machine linked and loaded.
fn up() -> (Roster, Cluster) {
    let mut roster = Roster::new(RosterConfig::default());
    roster.share(true);
    let mut cluster = Cluster::new("me", ClusterConfig::from_presence(&RosterConfig::default()));
    cluster.link_up(Instant(0));
    assert_eq!(
        cluster.poll_op(),
        Some(Op::Beat {
            relay: "me".into(),
            shift_ms: 0
        })
    );
    cluster.beaten(Instant(0), &mut roster, beaten(1_000, false, &[("me", 1_000)]));
    assert_eq!(cluster.poll_op(), Some(Op::Load));
    cluster.loaded(Instant(0), &mut roster, Vec::new());
    assert!(cluster.is_up());
    (roster, cluster)
}

#[test]
fn an_older_view_arriving_late_changes_nothing() {
    let (mut roster, mut cluster) = up();
    cluster.message(Instant(1), &mut roster, change("other", 2, None));
    cluster.message(Instant(2), &mut roster, change("other", 1, Some(member("ann"))));
    assert_eq!(roster.presence("/doc/1"), None);
}

#[test]
fn a_leave_lost_with_the_link_is_written_at_the_resync() {
    let (mut roster, mut cluster) = up();
    roster.connect(
        Instant(0),
        1,
        Identity {
            id: "ann".into(),
            name: None,
            avatar: None,
        },
        "c",
        None,
    );
    roster.enter(Instant(0), 1, "/doc/1", Access::OPEN, None, None).unwrap();
    roster.handle_timeout(Instant(0));
    while let Some(out) = roster.poll_output() {
        if let Output::Share { ch, user, view, cause } = out {
            cluster.share(Instant(0), &ch, &user, view, cause);
        }
    }
    while cluster.poll_op().is_some() {}
    cluster.link_down(Instant(1));
    roster.leave(Instant(1), 1, "/doc/1").unwrap();
    roster.handle_timeout(Instant(100));
    while let Some(out) = roster.poll_output() {
        if let Output::Share { ch, user, view, cause } = out {
            cluster.share(Instant(100), &ch, &user, view, cause);
        }
    }
    assert_eq!(cluster.poll_op(), None, "nothing is written while the link is down");
    cluster.link_up(Instant(200));
    cluster.poll_op();
    cluster.beaten(Instant(200), &mut roster, beaten(2_000, true, &[("me", 2_000)]));
    let ops: Vec<Op> = std::iter::from_fn(|| cluster.poll_op()).collect();
    assert!(
        ops.iter()
            .any(|op| matches!(op, Op::Set(c) if c.ch == "/doc/1" && c.view.is_none())),
        "{ops:?}"
    );
}

#[test]
fn another_relays_view_keeps_a_channel_count_only() {
    let (mut roster, mut cluster) = up();
    roster.connect(
        Instant(0),
        1,
        Identity {
            id: "bob".into(),
            name: None,
            avatar: None,
        },
        "c",
        None,
    );
    let count_only = Access {
        count_only: true,
        ..Access::OPEN
    };
    roster.subscribe(Instant(0), 1, "/doc/1", count_only).unwrap();
    assert!(roster.is_count_only("/doc/1"));
    cluster.message(Instant(1), &mut roster, change("other", 1, Some(member("ann"))));
    assert!(roster.is_count_only("/doc/1"));
    assert!(!roster.is_count_only("/doc/2"));
}

#[test]
fn a_relay_silent_for_the_lease_is_reaped_once_and_never_taken_back() {
    let (mut roster, mut cluster) = up();
    cluster.message(Instant(1), &mut roster, change("other", 1, Some(member("ann"))));
    assert!(roster.presence("/doc/1").is_some());
    let lease = cluster.config().lease_timeout_ms;
    cluster.handle_timeout(Instant(10_000), &mut roster);
    cluster.poll_op();
    cluster.beaten(
        Instant(10_000),
        &mut roster,
        beaten(1_001 + lease, true, &[("me", 1_001 + lease), ("other", 1_000)]),
    );
    assert_eq!(
        cluster.poll_op(),
        Some(Op::Reap {
            relay: "other".into(),
            successor: None
        })
    );
    // Done when the store says so.
    cluster.message(
        Instant(10_001),
        &mut roster,
        Message::Dead {
            relay: "other".into(),
            successor: None,
        },
    );
    assert_eq!(roster.presence("/doc/1"), None);
    cluster.message(Instant(10_001), &mut roster, change("other", 2, Some(member("ann"))));
    assert_eq!(roster.presence("/doc/1"), None, "a dead name is not taken back");
}

#[test]
fn a_relay_found_missing_from_the_table_comes_back_under_a_new_name() {
    let (mut roster, mut cluster) = up();
    cluster.handle_timeout(Instant(10_000), &mut roster);
    cluster.poll_op();
    cluster.beaten(Instant(10_000), &mut roster, beaten(5_000, false, &[("me", 5_000)]));
    assert_eq!(cluster.name(), "me.1");
    let ops: Vec<Op> = std::iter::from_fn(|| cluster.poll_op()).collect();
    assert_eq!(
        ops.first(),
        Some(&Op::Beat {
            relay: "me.1".into(),
            shift_ms: 0
        })
    );
    assert_eq!(
        ops.last(),
        Some(&Op::Reap {
            relay: "me".into(),
            successor: Some("me.1".into())
        })
    );
}

/// Drain the roster's events: what a watcher and the ledger are told.
fn events(roster: &mut Roster) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(o) = roster.poll_output() {
        if let Output::Event { event, .. } = o {
            match event {
                crate::roster::Event::Join { ch, user } => out.push(format!("+{} {ch}", user.id)),
                crate::roster::Event::Leave { ch, user, .. } => out.push(format!("-{} {ch}", user.id)),
                _ => {}
            }
        }
    }
    out
}

fn dead(relay: &str, successor: Option<&str>) -> Message {
    Message::Dead {
        relay: relay.into(),
        successor: successor.map(str::to_string),
    }
}

#[test]
fn a_relay_back_under_a_new_name_keeps_its_members_though_its_old_names_death_comes_first() {
    let (mut roster, mut cluster) = up();
    cluster.message(Instant(1), &mut roster, change("other", 1, Some(member("ann"))));
    roster.handle_timeout(Instant(1));
    assert_eq!(events(&mut roster), ["+ann /doc/1"]);
    // The old name's death overtakes the new name's view (published on different
    // nodes of a Redis Cluster): ann is kept meanwhile...
    cluster.message(Instant(2), &mut roster, dead("other", Some("other.1")));
    roster.handle_timeout(Instant(2));
    assert!(roster.presence("/doc/1").is_some());
    assert_eq!(events(&mut roster), Vec::<String>::new());
    // ...and the new name's view takes over from the old one, with no leave.
    cluster.message(Instant(3), &mut roster, change("other.1", 1, Some(member("ann"))));
    roster.handle_timeout(Instant(3));
    assert_eq!(events(&mut roster), Vec::<String>::new());
    let heartbeat = cluster.config().heartbeat_ms;
    cluster.handle_timeout(Instant(3 + heartbeat), &mut roster);
    roster.handle_timeout(Instant(3 + heartbeat));
    assert!(roster.presence("/doc/1").is_some());
    assert_eq!(events(&mut roster), Vec::<String>::new());
    // The new name's leave is ann's.
    cluster.message(Instant(4 + heartbeat), &mut roster, change("other.1", 2, None));
    roster.handle_timeout(Instant(4 + heartbeat));
    assert_eq!(events(&mut roster), ["-ann /doc/1"]);
}

#[test]
fn a_member_the_new_name_does_not_hold_leaves_within_a_heartbeat_of_the_old_names_death() {
    let (mut roster, mut cluster) = up();
    cluster.message(Instant(1), &mut roster, change("other", 1, Some(member("ann"))));
    roster.handle_timeout(Instant(1));
    events(&mut roster);
    cluster.message(Instant(2), &mut roster, dead("other", Some("other.1")));
    let heartbeat = cluster.config().heartbeat_ms;
    assert!(cluster.poll_timeout().is_some_and(|at| at <= Instant(2 + heartbeat)));
    cluster.handle_timeout(Instant(1 + heartbeat), &mut roster);
    assert!(roster.presence("/doc/1").is_some(), "not before its time");
    cluster.handle_timeout(Instant(2 + heartbeat), &mut roster);
    roster.handle_timeout(Instant(2 + heartbeat));
    assert_eq!(events(&mut roster), ["-ann /doc/1"]);
    // A late view of the dead name changes nothing.
    cluster.message(
        Instant(3 + heartbeat),
        &mut roster,
        change("other", 2, Some(member("ann"))),
    );
    assert_eq!(roster.presence("/doc/1"), None);
}

/// The link drops and comes back at 2; the heartbeat finds both relays alive, and the
/// reload at 3 finds no view in the store.
fn reload_finding_nothing(roster: &mut Roster, cluster: &mut Cluster) {
    cluster.link_down(Instant(2));
    cluster.link_up(Instant(2));
    cluster.poll_op();
    cluster.beaten(
        Instant(2),
        roster,
        beaten(2_000, true, &[("me", 2_000), ("other", 1_900)]),
    );
    while cluster.poll_op().is_some() {}
    cluster.loaded(Instant(3), roster, Vec::new());
}

#[test]
fn a_relay_found_dead_without_a_successor_loses_its_members_at_once() {
    let (mut roster, mut cluster) = up();
    cluster.message(Instant(1), &mut roster, change("other", 1, Some(member("ann"))));
    cluster.message(Instant(2), &mut roster, dead("other", None));
    assert_eq!(roster.presence("/doc/1"), None);
}

#[test]
fn after_the_store_lost_writes_a_resync_waits_for_the_others_to_write_their_views_again() {
    let (mut roster, mut cluster) = up();
    cluster.message(Instant(1), &mut roster, change("other", 1, Some(member("ann"))));
    roster.handle_timeout(Instant(1));
    events(&mut roster);
    // A failover to a replica that lacked ann's view; this relay resyncs first.
    cluster.writes_lost();
    reload_finding_nothing(&mut roster, &mut cluster);
    roster.handle_timeout(Instant(3));
    assert_eq!(events(&mut roster), Vec::<String>::new(), "ann is kept meanwhile");
    // The other relay notices and writes ann again: nothing to tell.
    cluster.message(Instant(4), &mut roster, change("other", 2, Some(member("ann"))));
    let lease = cluster.config().lease_timeout_ms;
    cluster.handle_timeout(Instant(4 + lease), &mut roster);
    roster.handle_timeout(Instant(4 + lease));
    assert_eq!(events(&mut roster), Vec::<String>::new());
    assert!(roster.presence("/doc/1").is_some());
}

#[test]
fn after_a_plain_reconnection_a_view_missing_from_the_store_is_gone_at_once() {
    let (mut roster, mut cluster) = up();
    cluster.message(Instant(1), &mut roster, change("other", 1, Some(member("ann"))));
    roster.handle_timeout(Instant(1));
    events(&mut roster);
    reload_finding_nothing(&mut roster, &mut cluster);
    roster.handle_timeout(Instant(3));
    assert_eq!(events(&mut roster), ["-ann /doc/1"]);
}

#[test]
fn a_view_kept_after_a_loss_that_is_not_written_again_goes_after_the_lease_timeout() {
    let (mut roster, mut cluster) = up();
    cluster.message(Instant(1), &mut roster, change("other", 1, Some(member("ann"))));
    roster.handle_timeout(Instant(1));
    events(&mut roster);
    cluster.writes_lost();
    reload_finding_nothing(&mut roster, &mut cluster);
    let lease = cluster.config().lease_timeout_ms;
    cluster.handle_timeout(Instant(2 + lease), &mut roster);
    assert!(roster.presence("/doc/1").is_some());
    cluster.handle_timeout(Instant(3 + lease), &mut roster);
    roster.handle_timeout(Instant(3 + lease));
    assert_eq!(events(&mut roster), ["-ann /doc/1"]);
}

#[test]
fn a_relay_whose_own_clock_jumps_ends_no_one_early_death_is_read_in_the_stores_clock() {
    let (mut roster, mut cluster) = up();
    cluster.message(Instant(1), &mut roster, change("other", 1, Some(member("ann"))));
    // This relay's clock leaps an hour ahead; the store's has moved 5 s and the other
    // relay beat 1 s ago by it.
    let leap = Instant(3_600_000);
    cluster.handle_timeout(leap, &mut roster);
    assert!(matches!(cluster.poll_op(), Some(Op::Beat { .. })));
    cluster.beaten(
        leap,
        &mut roster,
        beaten(6_000, true, &[("me", 6_000), ("other", 5_000)]),
    );
    assert_eq!(cluster.poll_op(), None, "nobody is reaped by this relay's clock");
    assert!(roster.presence("/doc/1").is_some());
    // A store clock that steps back (a failover to a replica behind) reaps no one either.
    cluster.handle_timeout(Instant(3_700_000), &mut roster);
    cluster.poll_op();
    cluster.beaten(
        Instant(3_700_000),
        &mut roster,
        beaten(2_000, true, &[("me", 2_000), ("other", 5_000)]),
    );
    assert_eq!(cluster.poll_op(), None);
    assert!(roster.presence("/doc/1").is_some());
}
