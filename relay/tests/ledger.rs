//! The session ledger: its rules on a simulated clock (durations to the millisecond,
//! days, statuses, restarts), then its two API endpoints on a real relay.

mod common;
mod hooks;

use hooks::*;
use rollcall_core::protocol::{Identity, Status};
use rollcall_core::roster::{EndCause, Event};
use rollcall_relay::clock::{parse_time, Ms};
use rollcall_relay::ledger::book::{Book, Session, Split, Write};
use rollcall_relay::webhooks::event::Kind;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

const CH: &str = "/site/online";

fn who(id: &str) -> Identity {
    Identity {
        id: id.into(),
        name: Some(format!("User {id}")),
        avatar: None,
    }
}

fn at(text: &str) -> Ms {
    parse_time(text).unwrap()
}

/// A book on a simulated clock, with every write it made.
struct Sim {
    book: Book,
    writes: Vec<Write>,
}

impl Sim {
    fn new() -> Sim {
        Sim {
            book: Book::new(1),
            writes: Vec::new(),
        }
    }

    fn on(&mut self, now: Ms, event: Event) {
        self.book.handle(now, &event);
        self.writes.extend(self.book.drain());
    }

    fn timeout(&mut self, now: Ms) {
        self.book.handle_timeout(now);
        self.writes.extend(self.book.drain());
    }

    /// Each session as last written.
    fn sessions(&self) -> BTreeMap<i64, Session> {
        let mut out = BTreeMap::new();
        for w in &self.writes {
            if let Write::Open(s) | Write::Save(s) = w {
                out.insert(s.id, s.clone());
            }
        }
        out
    }

    fn session(&self, user: &str, channel: Option<&str>) -> Session {
        let found: Vec<Session> = self
            .sessions()
            .into_values()
            .filter(|s| s.user == user && s.channel.as_deref() == channel)
            .collect();
        assert_eq!(found.len(), 1, "{found:?}");
        found[0].clone()
    }

    /// A user's time by UTC day (days since 1970).
    fn days(&self, user: &str) -> BTreeMap<i64, Split> {
        let mut out: BTreeMap<i64, Split> = BTreeMap::new();
        for w in &self.writes {
            if let Write::Time { user: u, day, split } = w {
                if u == user {
                    let entry = out.entry(*day).or_default();
                    *entry = entry.plus(*split);
                }
            }
        }
        out
    }

    /// Notices as "type user channel @ms".
    fn notices(&self) -> Vec<String> {
        self.writes
            .iter()
            .filter_map(|w| match w {
                Write::Notify(n) => {
                    let mut parts = vec![n.kind.as_str().to_string()];
                    if let Some(u) = &n.user {
                        parts.push(u.id.clone());
                    }
                    if let Some(ch) = &n.channel {
                        parts.push(ch.clone());
                    }
                    parts.push(format!("@{}", n.at));
                    Some(parts.join(" "))
                }
                _ => None,
            })
            .collect()
    }
}

fn online(user: &str) -> Event {
    Event::UserOnline { user: who(user) }
}

fn offline(user: &str) -> Event {
    Event::UserOffline { user: who(user) }
}

fn join(user: &str, ch: &str) -> Event {
    Event::Join {
        ch: ch.into(),
        user: who(user),
    }
}

fn leave(user: &str, ch: &str) -> Event {
    Event::Leave {
        ch: ch.into(),
        user: who(user),
        cause: EndCause::Unload,
    }
}

fn status(user: &str, ch: &str, status: Status) -> Event {
    Event::Status {
        ch: ch.into(),
        user: user.into(),
        status,
    }
}

#[test]
fn a_session_with_thirty_idle_seconds_counts_active_and_idle_to_the_millisecond() {
    let t0 = at("2026-11-24T10:00:00Z");
    let mut sim = Sim::new();
    sim.on(t0, online("ann"));
    sim.on(t0 + 1_000, join("ann", CH));
    sim.on(t0 + 31_000, status("ann", CH, Status::Idle));
    sim.on(t0 + 61_000, status("ann", CH, Status::Active));
    sim.on(t0 + 90_000, leave("ann", CH));
    sim.on(t0 + 91_000, offline("ann"));

    let ch = sim.session("ann", Some(CH));
    assert_eq!((ch.started, ch.ended), (t0 + 1_000, Some(t0 + 90_000)));
    assert_eq!(ch.duration_at(0), 89_000);
    assert_eq!(
        ch.split,
        Split {
            active_ms: 59_000,
            idle_ms: 30_000,
            hidden_ms: 0
        }
    );
    assert_eq!(ch.cause.as_deref(), Some("unload_grace"));
    let user = sim.session("ann", None);
    assert_eq!(user.duration_at(0), 91_000);
    assert_eq!(
        user.split,
        Split {
            active_ms: 61_000,
            idle_ms: 30_000,
            hidden_ms: 0
        }
    );
    let days = sim.days("ann");
    assert_eq!(days.len(), 1);
    assert_eq!(days.values().next().unwrap().online_ms(), 91_000);
    assert_eq!(
        sim.notices(),
        [
            format!("user.online ann @{t0}"),
            format!("channel.occupied /site/online @{}", t0 + 1_000),
            format!("channel.join ann /site/online @{}", t0 + 1_000),
            format!("channel.leave ann /site/online @{}", t0 + 90_000),
            format!("channel.vacated /site/online @{}", t0 + 90_000),
            format!("user.offline ann @{}", t0 + 91_000),
        ]
    );
}

#[test]
fn a_session_across_midnight_counts_on_both_days() {
    let t0 = at("2026-11-24T23:59:30Z");
    let mut sim = Sim::new();
    sim.on(t0, online("ann"));
    sim.on(t0, join("ann", CH));
    sim.on(at("2026-11-24T23:59:50Z"), status("ann", CH, Status::Hidden));
    sim.on(at("2026-11-25T00:00:45Z"), leave("ann", CH));
    sim.on(at("2026-11-25T00:00:45Z"), offline("ann"));
    let days: Vec<Split> = sim.days("ann").into_values().collect();
    assert_eq!(
        days,
        [
            Split {
                active_ms: 20_000,
                idle_ms: 0,
                hidden_ms: 10_000
            },
            Split {
                active_ms: 0,
                idle_ms: 0,
                hidden_ms: 45_000
            },
        ]
    );
    assert_eq!(sim.session("ann", None).duration_at(0), 75_000);
}

#[test]
fn a_user_is_as_active_as_their_most_active_channel() {
    let t0 = at("2026-11-24T08:00:00Z");
    let mut sim = Sim::new();
    sim.on(t0, online("ann"));
    sim.on(t0, join("ann", "/a/x"));
    sim.on(t0, join("ann", "/b/y"));
    sim.on(t0 + 10_000, status("ann", "/a/x", Status::Hidden));
    // Still active in /b/y: the user is active.
    sim.on(t0 + 20_000, status("ann", "/b/y", Status::Idle));
    sim.on(t0 + 30_000, status("ann", "/b/y", Status::Hidden));
    sim.on(t0 + 40_000, leave("ann", "/a/x"));
    sim.on(t0 + 40_000, leave("ann", "/b/y"));
    sim.on(t0 + 40_000, offline("ann"));
    assert_eq!(
        sim.session("ann", None).split,
        Split {
            active_ms: 20_000,
            idle_ms: 10_000,
            hidden_ms: 10_000
        }
    );
    assert_eq!(
        sim.session("ann", Some("/a/x")).split,
        Split {
            active_ms: 10_000,
            idle_ms: 0,
            hidden_ms: 30_000
        }
    );
}

#[test]
fn occupied_and_vacated_follow_the_first_and_the_last_user() {
    let t0 = at("2026-11-24T08:00:00Z");
    let mut sim = Sim::new();
    for user in ["ann", "bob"] {
        sim.on(t0, online(user));
        sim.on(t0, join(user, CH));
    }
    sim.on(t0 + 1, leave("ann", CH));
    sim.on(t0 + 2, leave("bob", CH));
    let kinds: Vec<String> = sim
        .notices()
        .into_iter()
        .filter(|n| n.starts_with("channel.occupied") || n.starts_with("channel.vacated"))
        .collect();
    assert_eq!(
        kinds,
        [
            format!("channel.occupied /site/online @{t0}"),
            format!("channel.vacated /site/online @{}", t0 + 2),
        ]
    );
}

#[test]
fn after_a_restart_a_returning_user_goes_on_and_the_others_end_at_the_last_heartbeat() {
    let t0 = at("2026-11-24T08:00:00Z");
    let mut before = Sim::new();
    for user in ["ann", "bob"] {
        before.on(t0, online(user));
        before.on(t0, join(user, CH));
    }
    before.on(t0 + 5_000, status("bob", CH, Status::Idle));
    let open: Vec<Session> = before.sessions().into_values().collect();
    let next_id = open.iter().map(|s| s.id).max().unwrap() + 1;

    // The relay died; its last heartbeat was at t0 + 60 s; it is back at t0 + 90 s.
    let alive = t0 + 60_000;
    let back = t0 + 90_000;
    let identities: BTreeMap<String, Identity> = ["ann", "bob"].iter().map(|u| (u.to_string(), who(u))).collect();
    let mut after = Sim {
        book: Book::new(next_id),
        writes: Vec::new(),
    };
    after.book.restore(open, &identities, alive, back + 15_000);
    assert_eq!(after.book.poll_timeout(), Some(back + 15_000));
    // Ann reconnects inside the grace: no second online, no second join.
    after.on(back + 2_000, online("ann"));
    after.on(back + 2_000, join("ann", CH));
    assert_eq!(after.notices(), Vec::<String>::new());
    after.timeout(back + 15_000);
    assert_eq!(
        after.notices(),
        [
            format!("channel.leave bob /site/online @{alive}"),
            format!("user.offline bob @{alive}"),
        ],
        "the channel stays occupied by ann"
    );
    let bob = after.session("bob", None);
    assert_eq!(bob.ended, Some(alive));
    assert_eq!(bob.cause.as_deref(), Some("relay_restart"));
    assert_eq!(
        bob.split,
        Split {
            active_ms: 5_000,
            idle_ms: 55_000,
            hidden_ms: 0
        }
    );
    assert_eq!(after.days("bob").values().next().unwrap().online_ms(), 55_000);
    let ann = after.book.presence("ann").expect("ann goes on");
    assert_eq!(ann.session.started, t0);
    assert_eq!(ann.channels, [CH]);
    // New sessions never reuse an old id.
    after.on(back + 20_000, online("cid"));
    assert_eq!(after.session("cid", None).id, next_id);
    assert_eq!(after.book.poll_timeout(), None);
    assert!(Kind::parse("user.offline").is_some());
}

#[tokio::test]
async fn the_user_endpoint_says_online_channels_status_and_time_today() {
    let receiver = Receiver::start().await;
    let relay = TestRelay::start(&config(&receiver.url, None)).await;
    let mut tab = relay.tab("ann", "a1").await;
    tab.enter(CH).await;
    tab.status(CH, "idle").await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (status, user) = relay.get("/v1/users/ann").await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["online"], true);
    assert_eq!(user["name"], "User ann");
    assert_eq!(user["channels"], json!([CH]));
    assert_eq!(user["status"], "idle");
    let today = &user["today"];
    // (Checked on the total: a test run across midnight splits "today".)
    assert!(user["total"]["online_ms"].as_u64().unwrap() >= 250, "{user}");
    assert!(user["total"]["idle_ms"].as_u64().unwrap() >= 250, "{user}");
    assert!(today["online_ms"].as_u64().unwrap() <= user["total"]["online_ms"].as_u64().unwrap());
    assert_eq!(
        today["online_ms"].as_u64().unwrap(),
        today["active_ms"].as_u64().unwrap()
            + today["idle_ms"].as_u64().unwrap()
            + today["hidden_ms"].as_u64().unwrap()
    );
    assert_eq!(user["days"].as_array().unwrap().len(), 7);
    assert_eq!(user["days"][0]["day"], today["day"]);

    tab.close_page().await;
    receiver.wait_for(&["user.offline ann"]).await;
    let (_, user) = relay.get("/v1/users/ann?days=2").await;
    assert_eq!(user["online"], false, "{user}");
    assert_eq!(user["channels"], json!([]));
    assert!(user["last_seen"].as_str().unwrap().ends_with('Z'));
    assert!(user["total"]["online_ms"].as_u64().unwrap() >= 250);
    assert_eq!(user["days"].as_array().unwrap().len(), 2);

    let (_, nobody) = relay.get("/v1/users/nobody").await;
    assert_eq!(nobody["online"], false);
    assert_eq!(nobody["last_seen"], serde_json::Value::Null);
    assert_eq!(nobody["total"]["online_ms"], 0);

    assert_eq!(relay.get_with("/v1/users/ann", None).await.0, 401);
    assert_eq!(relay.get_with("/v1/sessions", Some("wrong")).await.0, 401);
    let (status, err) = relay.get("/v1/users/ann?days=0").await;
    assert_eq!((status, err["error"].as_str()), (400, Some("bad_days")));
}

#[tokio::test]
async fn sessions_page_newest_first_and_filter_by_user_channel_and_time() {
    let receiver = Receiver::start().await;
    let relay = TestRelay::start(&config(&receiver.url, None)).await;
    let mut ann = relay.tab("ann", "a1").await;
    for ch in ["/a/1", "/a/2", "/a/3"] {
        ann.enter(ch).await;
    }
    ann.leave("/a/1").await;
    let mut bob = relay.tab("bob", "b1").await;
    bob.enter("/a/1").await;
    receiver.wait_for(&["channel.join bob /a/1"]).await;

    let (status, page) = relay.get("/v1/sessions?user=ann&channel=*&limit=2").await;
    assert_eq!(status, 200, "{page}");
    let got: Vec<&str> = page["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["channel"].as_str().unwrap())
        .collect();
    assert_eq!(got, ["/a/3", "/a/2"], "newest first");
    let cursor = page["next_cursor"].as_str().expect("a next page").to_string();
    let (_, rest) = relay
        .get(&format!("/v1/sessions?user=ann&channel=*&limit=2&cursor={cursor}"))
        .await;
    let rest = rest["sessions"].as_array().unwrap().clone();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0]["channel"], "/a/1");
    assert_eq!(rest[0]["open"], false);
    assert_eq!(rest[0]["end_cause"], "leave");

    let (_, in_a1) = relay.get("/v1/sessions?channel=/a/1").await;
    let users: Vec<&str> = in_a1["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["user"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["bob", "ann"]);
    assert_eq!(in_a1["next_cursor"], serde_json::Value::Null);

    let (_, users_only) = relay.get("/v1/sessions").await;
    assert_eq!(users_only["sessions"].as_array().unwrap().len(), 2, "{users_only}");
    assert!(users_only["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["channel"].is_null()));

    let (_, future) = relay.get("/v1/sessions?since=2999-01-01").await;
    assert_eq!(future["sessions"], json!([]));
    let (_, past) = relay.get("/v1/sessions?until=2000-01-01T00:00:00Z").await;
    assert_eq!(past["sessions"], json!([]));
    let (_, window) = relay.get("/v1/sessions?since=2000-01-01&until=2999-01-01").await;
    assert_eq!(window["sessions"].as_array().unwrap().len(), 2);

    let (status, err) = relay.get("/v1/sessions?since=yesterday").await;
    assert_eq!((status, err["error"].as_str()), (400, Some("bad_time")));
    let (status, err) = relay.get("/v1/sessions?channel=nope").await;
    assert_eq!((status, err["error"].as_str()), (400, Some("bad_channel")));
    let (status, err) = relay.get("/v1/sessions?limit=5000").await;
    assert_eq!((status, err["error"].as_str()), (400, Some("bad_limit")));
}

/// What every ledger storage must do: keep open sessions, totals and the queue across a
/// reopen (another process, or another relay), and prune only old ended sessions.
fn storage_keeps_what_it_is_given(open: impl Fn() -> rollcall_relay::ledger::db::Db) {
    use rollcall_relay::ledger::rows::SessionQuery;
    let t0 = at("2026-11-20T10:00:00Z");
    let mut sim = Sim::new();
    sim.on(t0, online("ann"));
    sim.on(t0, join("ann", CH));
    sim.on(t0 + 60_000, leave("ann", CH));
    sim.on(t0 + 60_000, offline("ann"));
    sim.on(t0 + 120_000, online("bob"));
    {
        let mut db = open();
        let queue = vec![(
            "http://127.0.0.1:1/hooks".to_string(),
            "evt_1".to_string(),
            t0,
            "{}".to_string(),
        )];
        let seqs = db.apply(t0 + 120_000, &sim.writes, &queue).unwrap();
        assert_eq!(seqs.len(), 1);
    }
    let mut db = open();
    assert_eq!(db.alive().unwrap(), Some(t0 + 120_000));
    let open_now = db.open_sessions().unwrap();
    assert_eq!(open_now.len(), 1);
    assert_eq!(open_now[0].user, "bob");
    assert_eq!(db.open_sessions_of("bob").unwrap(), open_now);
    assert!(db.open_sessions_of("ann").unwrap().is_empty());
    assert_eq!(db.next_id().unwrap(), open_now[0].id + 1);
    let asked = ["bob".to_string(), "nobody".to_string()].into_iter().collect();
    let identities = db.identities(&asked).unwrap();
    assert_eq!(
        identities.keys().collect::<Vec<_>>(),
        ["bob"],
        "a user without a row is left out"
    );
    assert_eq!(identities["bob"].name.as_deref(), Some("User bob"));
    let queued = db.queued().unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(db.bodies(&[queued[0].seq]).unwrap(), ["{}"]);
    let ann = db.user("ann").unwrap().unwrap();
    assert_eq!(ann.total.online_ms(), 60_000);
    assert_eq!(ann.last_seen, t0 + 60_000);
    assert_eq!(ann.identity.name.as_deref(), Some("User ann"));
    let days = db.days("ann", 0, i64::MAX).unwrap();
    assert_eq!(days.values().map(|d| d.online_ms()).sum::<u64>(), 60_000);

    let all = |db: &mut rollcall_relay::ledger::db::Db| {
        db.sessions(&SessionQuery {
            channel: Some(None),
            limit: 100,
            now: t0 + 200_000,
            ..SessionQuery::default()
        })
        .unwrap()
        .len()
            + db.sessions(&SessionQuery {
                limit: 100,
                now: t0 + 200_000,
                ..SessionQuery::default()
            })
            .unwrap()
            .len()
    };
    assert_eq!(all(&mut db), 3);
    let in_channel = db
        .sessions(&SessionQuery {
            user: Some("ann".into()),
            channel: Some(Some(CH.into())),
            limit: 100,
            now: t0 + 200_000,
            ..SessionQuery::default()
        })
        .unwrap();
    assert_eq!(in_channel.len(), 1);
    assert_eq!(in_channel[0].duration_at(t0 + 200_000), 60_000);
    // Ann's two sessions ended at t0 + 60 s; bob's is open and stays.
    assert_eq!(db.prune(t0 + 59_000).unwrap(), 0);
    assert_eq!(db.prune(t0 + 61_000).unwrap(), 2);
    assert_eq!(all(&mut db), 1);
    db.dequeue(&[queued[0].seq]).unwrap();
    assert!(db.queued().unwrap().is_empty());
}

#[test]
fn the_sqlite_file_keeps_open_sessions_totals_and_the_queue_and_prunes_only_old_ended_sessions() {
    use rollcall_relay::ledger::db::Db;
    let path = temp_db();
    storage_keeps_what_it_is_given(|| Db::open(Some(&path)).unwrap());
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[test]
fn redis_keeps_open_sessions_totals_and_the_queue_and_prunes_only_old_ended_sessions() {
    use rollcall_relay::ledger::db::Db;
    use rollcall_relay::ledger::redis::RedisDb;
    let redis = common::RedisServer::start();
    storage_keeps_what_it_is_given(|| {
        Db::Redis(RedisDb::open(
            rollcall_relay::redis_conn::Target::open(&redis.url(), false).unwrap(),
        ))
    });
}

/// A takeover writes every user online in one batch: 4,000 users and their channel
/// sessions are more writes than one transaction takes, and all of them arrive, with the
/// webhook event queued beside them.
#[test]
fn redis_takes_a_batch_larger_than_one_transaction_whole() {
    use rollcall_relay::ledger::db::Db;
    use rollcall_relay::ledger::redis::RedisDb;
    let redis = common::RedisServer::start();
    let open = || {
        Db::Redis(RedisDb::open(
            rollcall_relay::redis_conn::Target::open(&redis.url(), false).unwrap(),
        ))
    };
    let t0 = at("2026-11-20T10:00:00Z");
    let mut sim = Sim::new();
    let users: Vec<String> = (0..4_000).map(|i| format!("u{i:04}")).collect();
    for user in &users {
        sim.on(t0, online(user));
        sim.on(t0, join(user, CH));
    }
    assert!(sim.writes.len() > 10_000, "{} writes", sim.writes.len());
    let queue = vec![(
        "http://127.0.0.1:1/hooks".to_string(),
        "evt_1".to_string(),
        t0,
        "{}".to_string(),
    )];
    let seqs = open().apply(t0 + 1_000, &sim.writes, &queue).unwrap();
    assert_eq!(seqs.len(), 1);
    let mut db = open();
    assert_eq!(
        db.open_sessions().unwrap().len(),
        8_000,
        "a user's and a channel's session each"
    );
    let asked = users.iter().cloned().collect();
    assert_eq!(db.identities(&asked).unwrap().len(), 4_000);
    assert_eq!(db.queued().unwrap().len(), 1);
    assert_eq!(db.alive().unwrap(), Some(t0 + 1_000));
}

/// A commit holds the recorder role for another term: a takeover that writes for
/// longer than one term keeps it.
#[test]
fn a_recorders_commit_and_its_keeper_hold_its_role_for_another_term() {
    use rollcall_relay::ledger::db::{Claim, Db};
    use rollcall_relay::ledger::redis::RedisDb;
    let redis = common::RedisServer::start();
    let mut db = Db::Redis(RedisDb::open(
        rollcall_relay::redis_conn::Target::open(&redis.url(), false).unwrap(),
    ));
    let Db::Redis(r) = &mut db else { unreachable!() };
    assert_eq!(r.claim("relay-a", 60_000).unwrap(), Claim::Took);
    let mut raw = redis::Client::open(redis.url()).unwrap().get_connection().unwrap();
    let ttl = |raw: &mut redis::Connection| -> i64 { redis::cmd("PTTL").arg("rc:l:recorder").query(raw).unwrap() };
    // Most of the term gone, as during a long takeover.
    let _: () = redis::cmd("PEXPIRE")
        .arg("rc:l:recorder")
        .arg(1_000)
        .query(&mut raw)
        .unwrap();
    assert!(ttl(&mut raw) <= 1_000);
    let mut sim = Sim::new();
    sim.on(at("2026-11-20T10:00:00Z"), online("ann"));
    db.apply(at("2026-11-20T10:00:01Z"), &sim.writes, &[]).unwrap();
    assert!(
        ttl(&mut raw) > 50_000,
        "the commit renewed the hold: {} ms left",
        ttl(&mut raw)
    );
    // The keeper renews the hold on its own connection while the state is busy.
    let keeper = r_keeper(&db);
    let _: () = redis::cmd("PEXPIRE")
        .arg("rc:l:recorder")
        .arg(1_000)
        .query(&mut raw)
        .unwrap();
    assert!(keeper.renew().unwrap());
    assert!(ttl(&mut raw) > 50_000);
    // Another relay's hold is never extended by this one's commit: the commit fails.
    let _: () = redis::cmd("SET")
        .arg("rc:l:recorder")
        .arg("relay-b")
        .arg("PX")
        .arg(1_000)
        .query(&mut raw)
        .unwrap();
    assert!(db.apply(at("2026-11-20T10:00:02Z"), &sim.writes, &[]).is_err());
    assert!(ttl(&mut raw) <= 1_000);
    assert!(!keeper.renew().unwrap(), "nor by its keeper");
    assert!(ttl(&mut raw) <= 1_000);
}

fn r_keeper(db: &rollcall_relay::ledger::db::Db) -> rollcall_relay::ledger::redis::Keeper {
    match db {
        rollcall_relay::ledger::db::Db::Redis(r) => r.keeper().expect("claimed"),
        _ => unreachable!(),
    }
}

#[test]
fn online_time_today_counts_the_running_session_split_at_midnight() {
    use rollcall_relay::clock::day_of;
    use rollcall_relay::ledger::api::user_report;
    use rollcall_relay::ledger::rows::UserRow;
    let t0 = at("2026-11-24T23:00:00Z");
    let mut sim = Sim::new();
    sim.on(t0, online("ann"));
    sim.on(t0, join("ann", CH));
    sim.on(at("2026-11-24T23:59:00Z"), status("ann", CH, Status::Idle));
    let accounted = sim.days("ann");
    assert_eq!(accounted.values().map(Split::online_ms).sum::<u64>(), 59 * 60_000);
    let presence = sim.book.presence("ann").unwrap();
    let row = UserRow {
        identity: who("ann"),
        first_seen: t0,
        last_seen: t0,
        total: Split {
            active_ms: 59 * 60_000 + 7_000,
            idle_ms: 0,
            hidden_ms: 0,
        },
    };
    let now = at("2026-11-25T00:00:30Z");
    let report = user_report(now, "ann", Some(&presence), Some(&row), accounted, 2);
    assert_eq!(report["online"], true);
    assert_eq!(report["status"], "idle");
    assert_eq!(report["online_since"], "2026-11-24T23:00:00.000Z");
    assert_eq!(report["last_seen"], "2026-11-25T00:00:30.000Z");
    assert_eq!(
        report["today"],
        json!({"day": "2026-11-25", "online_ms": 30_000, "active_ms": 0, "idle_ms": 30_000, "hidden_ms": 0})
    );
    assert_eq!(report["days"][1]["day"], "2026-11-24");
    assert_eq!(report["days"][1]["online_ms"], 60 * 60_000);
    assert_eq!(report["days"][1]["idle_ms"], 60_000);
    // The total adds the running 90 s to what the row holds.
    assert_eq!(report["total"]["online_ms"], 59 * 60_000 + 7_000 + 90_000);
    assert_eq!(day_of(now) - day_of(t0), 1);
}
