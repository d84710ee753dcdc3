use super::*;
use crate::protocol::Identity;
use crate::view::Change;
use serde_json::json;

const T0: Instant = Instant(1_000);
/// How soon the relay of these tests says it answers a check-in (protocol 1.2).
const CHECKIN_ANSWER_MS: u64 = 10_000;

fn terms(checkin: u64) -> Terms {
    Terms {
        checkin_interval_ms: checkin,
        lease_timeout_ms: 60_000,
        unload_grace_ms: 3_000,
        reconnect_grace_ms: 15_000,
        max_meta_bytes: 1024,
        max_channels: 100,
        checkin_answer_ms: Some(CHECKIN_ANSWER_MS),
    }
}

fn welcome(resumed: bool, checkin: u64) -> String {
    ServerMsg::Welcome {
        v: 1,
        session: "s1".into(),
        resumed,
        user: Identity {
            id: "7".into(),
            name: Some("ann".into()),
            avatar: None,
        },
        terms: terms(checkin),
    }
    .encode()
}

fn meta(v: serde_json::Value) -> Meta {
    v.as_object().unwrap().clone()
}

fn member(id: &str, typing: bool) -> Member {
    Member {
        id: id.into(),
        name: Some(format!("user{id}")),
        avatar: None,
        status: Status::Active,
        meta: meta(json!({ "typing": typing })),
    }
}

fn sent(c: &mut Client) -> Vec<ClientMsg> {
    std::iter::from_fn(|| c.poll_transmit()).collect()
}

fn events(c: &mut Client) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

/// The relay's `ok` to a request or check-in.
fn ok(msg: &ClientMsg) -> String {
    ServerMsg::Ok {
        reference: wire_ref(msg),
    }
    .encode()
}

/// The statuses of the check-ins among `msgs`.
fn statuses(msgs: &[ClientMsg]) -> Vec<Status> {
    msgs.iter()
        .filter_map(|m| match m {
            ClientMsg::Checkin { status, .. } => Some(*status),
            _ => None,
        })
        .collect()
}

fn wire_ref(msg: &ClientMsg) -> u64 {
    msg.reference().expect("request frames carry a ref")
}

/// A client that has connected and been welcomed at `T0`, outputs drained.
fn ready(checkin: u64) -> Client {
    let mut c = Client::new("c1", true);
    c.start(T0);
    c.opened(T0, "tok".into());
    c.handle_frame(T0, &welcome(false, checkin));
    sent(&mut c);
    events(&mut c);
    c
}

/// Step simulated time to each deadline until `until`, collecting what was sent.
fn run_until(c: &mut Client, until: Instant, jitter: f64) -> Vec<(Instant, ClientMsg)> {
    let mut out = Vec::new();
    while let Some(t) = c.poll_timeout().filter(|&t| t <= until) {
        c.handle_timeout(t, jitter);
        for msg in sent(c) {
            out.push((t, msg));
        }
    }
    out
}

#[test]
fn start_asks_for_a_socket_and_hello_names_the_client() {
    let mut c = Client::new("c1", false);
    c.start(T0);
    assert_eq!(events(&mut c), vec![Event::Connect { fresh_token: false }]);
    c.opened(T0, "tok".into());
    assert_eq!(
        sent(&mut c),
        vec![ClientMsg::Hello {
            v: vec![1],
            token: "tok".into(),
            client: "c1".into(),
            resume: false,
        }]
    );
}

#[test]
fn wants_made_offline_are_asserted_after_welcome_and_answered_then() {
    let mut c = Client::new("c1", false);
    let r_enter = c.enter(T0, "/a/b", meta(json!({"typing": false})));
    let r_sub = c.subscribe(T0, "/a/b");
    let r_watch = c.subscribe(T0, "/x/y");
    c.start(T0);
    c.opened(T0, "tok".into());
    assert!(events(&mut c).iter().all(|e| !matches!(e, Event::Reply { .. })));
    c.handle_frame(T0 + 5, &welcome(false, 30_000));
    let out = sent(&mut c);
    assert!(matches!(&out[0], ClientMsg::Hello { .. }));
    let frames = &out[1..];
    assert_eq!(frames.len(), 3, "{frames:?}");
    assert!(
        matches!(&frames[0], ClientMsg::Enter { ch, meta: Some(m), status: Some(Status::Active), .. }
        if ch == "/a/b" && m["typing"] == json!(false))
    );
    assert!(matches!(&frames[1], ClientMsg::Subscribe { ch, .. } if ch == "/a/b"));
    assert!(matches!(&frames[2], ClientMsg::Subscribe { ch, .. } if ch == "/x/y"));
    for f in frames {
        c.handle_frame(T0 + 6, &ok(f));
    }
    let replies: Vec<Ref> = events(&mut c)
        .into_iter()
        .filter_map(|e| match e {
            Event::Reply {
                reference,
                result: Ok(()),
            } => Some(reference),
            _ => None,
        })
        .collect();
    assert_eq!(replies, vec![r_enter, r_sub, r_watch]);
}

#[test]
fn every_reconnect_reasserts_every_want_with_the_latest_meta() {
    let mut c = ready(30_000);
    c.enter(T0, "/a/b", meta(json!({"typing": false})));
    c.subscribe(T0, "/c/d");
    c.update(T0, "/a/b", meta(json!({"typing": true})));
    sent(&mut c);
    c.closed(T0 + 10, 1006, 0.0);
    let t = run_until(&mut c, T0 + 10_000, 0.0);
    assert!(t.is_empty());
    assert!(events(&mut c).contains(&Event::Connect { fresh_token: false }));
    c.opened(T0 + 600, "tok".into());
    c.handle_frame(T0 + 600, &welcome(true, 30_000));
    let out = sent(&mut c);
    assert!(out
        .iter()
        .any(|m| matches!(m, ClientMsg::Enter { ch, meta: Some(m), .. }
        if ch == "/a/b" && m["typing"] == json!(true))));
    assert!(out
        .iter()
        .any(|m| matches!(m, ClientMsg::Subscribe { ch, .. } if ch == "/c/d")));
}

#[test]
fn backoff_doubles_from_base_and_is_capped_at_thirty_seconds() {
    assert_eq!(backoff_delay(0, 0.0), 250);
    assert_eq!(backoff_delay(0, 0.999_999), 499);
    assert_eq!(backoff_delay(1, 0.0), 500);
    assert_eq!(backoff_delay(3, 0.0), 2_000);
    for attempt in [6, 7, 20, 100, u32::MAX] {
        assert!(backoff_delay(attempt, 0.999_999) <= BACKOFF_CAP_MS);
        assert!(backoff_delay(attempt, 0.0) >= BACKOFF_CAP_MS / 2);
    }
    assert_eq!(backoff_delay(2, f64::NAN), backoff_delay(2, 0.0));
}

#[test]
fn failed_attempts_back_off_further_and_a_welcome_resets_the_backoff() {
    let mut c = ready(30_000);
    let mut now = T0;
    let mut waits = Vec::new();
    for _ in 0..8 {
        c.closed(now, 1006, 0.5);
        let retry = c.poll_timeout().unwrap();
        waits.push(retry.since(now));
        c.handle_timeout(retry, 0.5);
        assert!(events(&mut c).contains(&Event::Connect { fresh_token: false }));
        now = retry;
    }
    assert!(waits.windows(2).all(|w| w[1] >= w[0]), "{waits:?}");
    assert_eq!(*waits.last().unwrap(), 22_500);
    c.opened(now, "tok".into());
    c.handle_frame(now, &welcome(true, 30_000));
    c.closed(now + 1, 1006, 0.5);
    assert_eq!(c.poll_timeout().unwrap().since(now + 1), 375);
}

#[test]
fn close_1012_reconnects_at_once() {
    let mut c = ready(30_000);
    c.closed(T0 + 5, close::RELAY_RESTART, 0.9);
    assert_eq!(events(&mut c), vec![Event::Connect { fresh_token: false }]);
}

#[test]
fn close_1009_stops_with_frame_too_large_instead_of_sending_it_again() {
    let mut c = ready(30_000);
    c.closed(T0 + 5, close::TOO_LARGE, 0.0);
    assert!(c.is_stopped());
    let ev = events(&mut c);
    assert!(
        matches!(&ev[..], [Event::Stopped(f)] if f.code == "frame_too_large"),
        "{ev:?}"
    );
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn close_1008_is_told_and_retried_only_after_the_longest_backoff() {
    let mut c = ready(30_000);
    c.closed(T0 + 5, close::POLICY, 0.0);
    let ev = events(&mut c);
    assert!(
        matches!(&ev[..], [Event::Error { ch: None, failure }] if failure.code == "rate_limited"),
        "{ev:?}"
    );
    assert_eq!(c.poll_timeout().unwrap().since(T0 + 5), BACKOFF_CAP_MS / 2);
    assert!(!c.is_stopped());
}

#[test]
fn close_4009_replaced_stops_without_reconnecting() {
    let mut c = ready(30_000);
    c.closed(T0 + 5, close::REPLACED, 0.0);
    assert!(c.is_stopped());
    assert_eq!(events(&mut c), vec![Event::Stopped(ErrorBody::replaced())]);
    assert_eq!(c.poll_timeout(), None);
    c.handle_timeout(T0 + 120_000, 0.0);
    assert!(events(&mut c).is_empty());
}

#[test]
fn a_refused_hello_surfaces_the_relays_reason_and_fails_pending_requests() {
    let mut c = Client::new("c1", false);
    let r = c.enter(T0, "/a/b", Meta::new());
    c.start(T0);
    c.opened(T0, "forged".into());
    c.handle_frame(T0 + 1, &ServerMsg::error(ErrorCode::BadToken, None, None).encode());
    c.closed(T0 + 2, close::REFUSED, 0.0);
    let ev = events(&mut c);
    assert!(ev.contains(&Event::Reply {
        reference: r,
        result: Err(ErrorBody::relay(ErrorCode::BadToken))
    }));
    assert!(ev.contains(&Event::Stopped(ErrorBody::relay(ErrorCode::BadToken))));
    assert_eq!(ErrorBody::relay(ErrorCode::BadToken).code, "bad_token");
    assert!(c.is_stopped());
}

#[test]
fn a_fresh_token_refused_is_told_once_and_the_client_goes_on_trying() {
    let mut c = Client::new("c1", true);
    c.start(T0);
    events(&mut c);
    let mut now = T0;
    let mut told = 0;
    for _ in 0..4 {
        // The first try's token may be a stale one the function had kept; each
        // later try asks the function for a fresh one.
        c.opened(now, "signed-with-an-unknown-secret".into());
        c.handle_frame(now + 1, &ServerMsg::error(ErrorCode::BadToken, None, None).encode());
        c.closed(now + 2, close::REFUSED, 0.0);
        assert!(!c.is_stopped());
        now = c.poll_timeout().expect("a retry after the backoff");
        c.handle_timeout(now, 0.0);
        let ev = events(&mut c);
        told += ev
            .iter()
            .filter(|e| matches!(e, Event::Error { ch: None, failure } if failure.code == "bad_token"))
            .count();
        assert!(ev.contains(&Event::Connect { fresh_token: true }), "{ev:?}");
    }
    assert_eq!(told, 1, "told once (after the first fresh token), not at every try");
    // The site fixes its secret: the next token is welcomed; a later refusal is told again.
    c.opened(now, "good".into());
    c.handle_frame(now, &welcome(false, 30_000));
    events(&mut c);
    c.closed(now + 10, close::TOKEN_EXPIRED, 0.0);
    let now = c.poll_timeout().expect("a retry");
    c.handle_timeout(now, 0.0);
    assert!(events(&mut c).contains(&Event::Connect { fresh_token: true }));
    c.opened(now, "bad again".into());
    c.handle_frame(now + 1, &ServerMsg::error(ErrorCode::BadToken, None, None).encode());
    c.closed(now + 2, close::REFUSED, 0.0);
    assert!(events(&mut c)
        .iter()
        .any(|e| matches!(e, Event::Error { ch: None, .. })));
}

#[test]
fn a_cached_token_refused_after_a_welcome_is_not_told_but_replaced() {
    let mut c = Client::new("c1", true);
    c.start(T0);
    events(&mut c);
    c.opened(T0, "tok".into());
    c.handle_frame(T0, &welcome(false, 30_000));
    events(&mut c);
    c.closed(T0 + 10, close::RELAY_RESTART, 0.0);
    events(&mut c);
    c.opened(T0 + 20, "tok".into());
    c.handle_frame(T0 + 21, &ServerMsg::error(ErrorCode::BadToken, None, None).encode());
    c.closed(T0 + 22, close::REFUSED, 0.0);
    assert!(
        !events(&mut c).iter().any(|e| matches!(e, Event::Error { .. })),
        "the relay's new secret refuses the old token: that is what a fresh one is for"
    );
}

#[test]
fn an_expired_token_at_hello_reconnects_with_a_fresh_one_when_refreshable() {
    let mut c = Client::new("c1", true);
    c.start(T0);
    events(&mut c);
    c.opened(T0, "old".into());
    c.handle_frame(T0 + 1, &ServerMsg::error(ErrorCode::TokenExpired, None, None).encode());
    c.closed(T0 + 2, close::REFUSED, 0.0);
    assert!(!c.is_stopped());
    run_until(&mut c, T0 + 1_000, 0.0);
    assert_eq!(events(&mut c), vec![Event::Connect { fresh_token: true }]);
}

#[test]
fn a_bad_token_after_a_relay_restart_reconnects_with_a_fresh_one_backing_off() {
    // The relay restarted with another secret: the old token is refused as bad.
    let mut c = Client::new("c1", true);
    c.enter(T0, "/a/b", Meta::new());
    c.start(T0);
    events(&mut c);
    c.opened(T0, "tok".into());
    c.handle_frame(T0, &welcome(false, 30_000));
    sent(&mut c);
    events(&mut c);
    c.closed(T0 + 10, close::RELAY_RESTART, 0.5);
    assert_eq!(events(&mut c), vec![Event::Connect { fresh_token: false }]);
    let mut now = T0 + 20;
    let mut waits = Vec::new();
    for _ in 0..6 {
        c.opened(now, "refused".into());
        c.handle_frame(now + 1, &ServerMsg::error(ErrorCode::BadToken, None, None).encode());
        c.closed(now + 2, close::REFUSED, 0.5);
        assert!(!c.is_stopped());
        assert!(
            !events(&mut c)
                .iter()
                .any(|e| matches!(e, Event::Connect { .. } | Event::Stopped(_))),
            "nothing is tried before the backoff runs out"
        );
        // Step to each deadline (a request may time out first) until the retry.
        let retry = loop {
            let at = c.poll_timeout().expect("a retry is scheduled");
            c.handle_timeout(at, 0.5);
            if events(&mut c).contains(&Event::Connect { fresh_token: true }) {
                break at;
            }
        };
        waits.push(retry.since(now + 2));
        now = retry;
    }
    assert!(waits.windows(2).all(|w| w[1] > w[0]), "refusals back off: {waits:?}");
    assert!(waits[0] >= BACKOFF_BASE_MS / 2, "never a hot loop: {waits:?}");
    c.opened(now, "fresh".into());
    c.handle_frame(now + 1, &welcome(false, 30_000));
    assert!(c.is_ready());
    assert!(sent(&mut c)
        .iter()
        .any(|m| matches!(m, ClientMsg::Enter { ch, .. } if ch == "/a/b")));
}

#[test]
fn a_bad_token_without_a_token_function_stops_with_bad_token() {
    let mut c = Client::new("c1", false);
    c.start(T0);
    c.opened(T0, "tok".into());
    c.handle_frame(T0, &welcome(false, 30_000));
    events(&mut c);
    c.closed(T0 + 10, close::RELAY_RESTART, 0.5);
    events(&mut c);
    c.opened(T0 + 20, "tok".into());
    c.handle_frame(T0 + 21, &ServerMsg::error(ErrorCode::BadToken, None, None).encode());
    c.closed(T0 + 22, close::REFUSED, 0.5);
    assert!(c.is_stopped());
    assert_eq!(
        events(&mut c),
        vec![Event::Stopped(ErrorBody::relay(ErrorCode::BadToken))]
    );
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn token_expired_while_connected_asks_for_a_new_token_and_sends_it() {
    let mut c = ready(30_000);
    c.handle_frame(
        T0 + 100,
        &ServerMsg::error(ErrorCode::TokenExpired, None, None).encode(),
    );
    assert_eq!(events(&mut c), vec![Event::TokenNeeded]);
    c.token_refreshed(T0 + 150, "new".into());
    assert!(matches!(&sent(&mut c)[..], [ClientMsg::Token { token, reference: Some(_) }] if token == "new"));
}

#[test]
fn close_4012_reconnects_asking_for_a_fresh_token() {
    let mut c = ready(30_000);
    c.closed(T0, close::TOKEN_EXPIRED, 0.0);
    run_until(&mut c, T0 + 1_000, 0.0);
    assert_eq!(events(&mut c), vec![Event::Connect { fresh_token: true }]);
}

#[test]
fn checkins_follow_the_relays_interval_from_welcome() {
    let mut c = ready(2_000);
    let out = run_until(&mut c, T0 + 7_000, 0.0);
    let times: Vec<u64> = out
        .iter()
        .filter(|(_, m)| matches!(m, ClientMsg::Checkin { .. }))
        .map(|(t, _)| t.since(T0))
        .collect();
    assert_eq!(times, vec![2_000, 4_000, 6_000]);
}

#[test]
fn a_status_change_is_sent_at_once_then_throttled_to_the_latest() {
    let mut c = ready(30_000);
    c.set_status(T0 + 2_000, Status::Hidden);
    assert_eq!(statuses(&sent(&mut c)), vec![Status::Hidden]);
    c.set_status(T0 + 2_100, Status::Active);
    c.set_status(T0 + 2_200, Status::Idle);
    assert!(sent(&mut c).is_empty(), "throttled");
    let out = run_until(&mut c, T0 + 3_500, 0.0);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(
        (out[0].0, statuses(&[out[0].1.clone()])),
        (T0 + 3_000, vec![Status::Idle])
    );
    // Back to what was sent within the window: nothing to send.
    c.set_status(T0 + 3_100, Status::Hidden);
    c.set_status(T0 + 3_200, Status::Idle);
    assert!(run_until(&mut c, T0 + 5_000, 0.0).is_empty());
}

#[test]
fn a_status_change_moves_the_next_checkin() {
    let mut c = ready(10_000);
    c.set_status(T0 + 4_000, Status::Idle);
    let checkin = sent(&mut c).remove(0);
    c.handle_frame(T0 + 4_010, &ok(&checkin));
    let out = run_until(&mut c, T0 + 14_500, 0.0);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, T0 + 14_000);
}

#[test]
fn offline_status_changes_ride_on_the_next_enters() {
    let mut c = ready(30_000);
    c.enter(T0, "/a/b", Meta::new());
    c.closed(T0, 1006, 0.0);
    c.set_status(T0 + 10, Status::Hidden);
    run_until(&mut c, T0 + 1_000, 0.0);
    c.opened(T0 + 1_000, "t".into());
    c.handle_frame(T0 + 1_000, &welcome(true, 30_000));
    assert!(sent(&mut c).iter().any(|m| matches!(
        m,
        ClientMsg::Enter {
            status: Some(Status::Hidden),
            ..
        }
    )));
}

#[test]
fn a_refused_enter_rejects_and_is_not_reasserted() {
    let mut c = ready(30_000);
    let r = c.enter(T0, "/secret/x", Meta::new());
    let frame = sent(&mut c).remove(0);
    c.handle_frame(
        T0 + 1,
        &ServerMsg::error(ErrorCode::ForbiddenEnter, Some(wire_ref(&frame)), Some("/secret/x")).encode(),
    );
    assert!(
        matches!(&events(&mut c)[..], [Event::Reply { reference, result: Err(f) }]
        if *reference == r && f.code == "forbidden_enter")
    );
    assert!(!c.is_entered("/secret/x"));
    c.closed(T0 + 2, 1006, 0.0);
    run_until(&mut c, T0 + 1_000, 0.0);
    c.opened(T0 + 1_000, "t".into());
    c.handle_frame(T0 + 1_000, &welcome(true, 30_000));
    assert!(!sent(&mut c).iter().any(|m| matches!(m, ClientMsg::Enter { .. })));
}

#[test]
fn a_rate_limited_request_is_sent_again_after_retry_after() {
    let mut c = Client::new("c1", false);
    let r_enter = c.enter(T0, "/a/b", Meta::new());
    let r_sub = c.subscribe(T0, "/c/d");
    c.start(T0);
    c.opened(T0, "tok".into());
    c.handle_frame(T0, &welcome(false, 30_000));
    let out = sent(&mut c);
    let sub = out
        .iter()
        .find(|m| matches!(m, ClientMsg::Subscribe { .. }))
        .unwrap()
        .clone();
    let enter = out
        .iter()
        .find(|m| matches!(m, ClientMsg::Enter { .. }))
        .unwrap()
        .clone();
    c.handle_frame(
        T0,
        &ServerMsg::Ok {
            reference: wire_ref(&enter),
        }
        .encode(),
    );
    c.handle_frame(
        T0 + 1,
        &ServerMsg::Error {
            reference: Some(wire_ref(&sub)),
            code: ErrorCode::RateLimited,
            message: String::new(),
            ch: Some("/c/d".into()),
            retry_after_ms: Some(400),
        }
        .encode(),
    );
    let ev = events(&mut c);
    assert!(ev.contains(&Event::Reply {
        reference: r_enter,
        result: Ok(())
    }));
    assert!(
        !ev.iter()
            .any(|e| matches!(e, Event::Reply { reference, .. } if *reference == r_sub)),
        "not failed: retried"
    );
    assert!(run_until(&mut c, T0 + 400, 0.0).is_empty(), "waits retry_after_ms");
    let again = run_until(&mut c, T0 + 401, 0.0);
    assert!(
        matches!(&again[..], [(_, ClientMsg::Subscribe { ch, reference: Some(r), .. })] if ch == "/c/d" && Some(*r) != sub.reference())
    );
    c.handle_frame(
        T0 + 402,
        &ServerMsg::Ok {
            reference: wire_ref(&again[0].1),
        }
        .encode(),
    );
    assert_eq!(
        events(&mut c),
        vec![Event::Reply {
            reference: r_sub,
            result: Ok(())
        }]
    );
}

#[test]
fn requests_without_a_relay_fail_as_unreachable_but_stay_wanted() {
    let mut c = Client::new("c1", false);
    c.start(T0);
    let r = c.enter(T0, "/a/b", Meta::new());
    // The socket never opens: the welcome timeout gives it up and retries.
    let out = run_until(&mut c, T0 + REQUEST_TIMEOUT_MS, 0.0);
    assert!(out.is_empty());
    let ev = events(&mut c);
    assert!(ev.contains(&Event::Reply {
        reference: r,
        result: Err(ErrorBody::unreachable())
    }));
    assert!(ev.contains(&Event::Disconnect { code: CLOSE_GAVE_UP }));
    assert_eq!(ErrorBody::unreachable().code, "relay_unreachable");
    assert!(c.is_entered("/a/b"));
}

#[test]
fn leave_offline_answers_at_once_and_ends_the_resumed_lease_after_welcome() {
    let mut c = ready(30_000);
    c.enter(T0, "/a/b", Meta::new());
    sent(&mut c);
    c.closed(T0, 1006, 0.0);
    let r = c.leave(T0 + 1, "/a/b");
    assert!(events(&mut c).contains(&Event::Reply {
        reference: r,
        result: Ok(())
    }));
    run_until(&mut c, T0 + 1_000, 0.0);
    c.opened(T0 + 1_000, "t".into());
    c.handle_frame(T0 + 1_000, &welcome(true, 30_000));
    let out = sent(&mut c);
    assert!(out
        .iter()
        .any(|m| matches!(m, ClientMsg::Leave { ch, .. } if ch == "/a/b")));
    assert!(!out.iter().any(|m| matches!(m, ClientMsg::Enter { .. })));
}

#[test]
fn a_leave_offline_is_told_once_only_to_a_resumed_lease_and_an_enter_takes_it_back() {
    let left = |out: &[ClientMsg]| -> Vec<String> {
        out.iter()
            .filter_map(|m| match m {
                ClientMsg::Leave { ch, .. } => Some(ch.clone()),
                _ => None,
            })
            .collect()
    };
    let mut c = ready(30_000);
    c.enter(T0, "/a/b", Meta::new());
    c.enter(T0, "/c/d", Meta::new());
    sent(&mut c);
    c.closed(T0, 1006, 0.0);
    c.leave(T0 + 1, "/a/b");
    c.leave(T0 + 1, "/c/d");
    // Entered again before the connection is back: nothing to leave there.
    c.enter(T0 + 2, "/c/d", Meta::new());
    run_until(&mut c, T0 + 1_000, 0.0);
    c.opened(T0 + 1_000, "t".into());
    c.handle_frame(T0 + 1_000, &welcome(true, 30_000));
    let out = sent(&mut c);
    assert_eq!(left(&out), ["/a/b"], "{out:?}");
    assert!(out
        .iter()
        .any(|m| matches!(m, ClientMsg::Enter { ch, .. } if ch == "/c/d")));
    // Left offline again; a new lease (not resumed) holds nothing, so nothing is left,
    // and the next resumed welcome does not tell it either: the channel is forgotten.
    c.closed(T0 + 2_000, 1006, 0.0);
    c.leave(T0 + 2_001, "/c/d");
    run_until(&mut c, T0 + 3_000, 0.0);
    c.opened(T0 + 3_000, "t".into());
    c.handle_frame(T0 + 3_000, &welcome(false, 30_000));
    assert!(left(&sent(&mut c)).is_empty());
    assert!(!c.is_entered("/c/d"));
    c.closed(T0 + 4_000, 1006, 0.0);
    run_until(&mut c, T0 + 5_000, 0.0);
    c.opened(T0 + 5_000, "t".into());
    c.handle_frame(T0 + 5_000, &welcome(true, 30_000));
    assert!(left(&sent(&mut c)).is_empty());
}

#[test]
fn close_leaves_every_channel_and_fails_what_is_pending() {
    let mut c = ready(30_000);
    c.enter(T0, "/a/b", Meta::new());
    sent(&mut c);
    events(&mut c);
    c.close(T0 + 1);
    assert!(matches!(&sent(&mut c)[..], [ClientMsg::Leave { ch, .. }] if ch == "/a/b"));
    let ev = events(&mut c);
    assert!(ev.contains(&Event::Disconnect { code: CLOSE_NORMAL }));
    assert!(ev.contains(&Event::Stopped(ErrorBody::closed())));
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::Reply {
            result: Err(f),
            ..
        } if f.is_closed()
    )));
}

// ----- the check-in's answer: a stalled link (protocol 1.2) -----

/// A welcome from a relay older than 1.2: its terms say nothing of answering check-ins.
fn welcome_unanswering(checkin: u64) -> String {
    let mut welcome = ServerMsg::decode(&welcome(false, checkin)).unwrap();
    if let ServerMsg::Welcome { terms, .. } = &mut welcome {
        terms.checkin_answer_ms = None;
    }
    welcome.encode()
}

fn checkins(out: &[(Instant, ClientMsg)]) -> Vec<(u64, Option<u64>)> {
    out.iter()
        .filter_map(|(t, m)| match m {
            ClientMsg::Checkin { reference, .. } => Some((t.since(T0), *reference)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_checkin_unanswered_in_time_closes_the_link_and_reconnects_resuming_every_want() {
    let mut c = ready(30_000);
    c.enter(T0, "/a/b", Meta::new());
    for f in sent(&mut c) {
        c.handle_frame(T0 + 1, &ok(&f));
    }
    events(&mut c);
    // The network stalls: nothing closes, nothing comes. The check-in goes out anyway.
    let out = run_until(&mut c, T0 + 30_000, 0.0);
    assert!(matches!(checkins(&out)[..], [(30_000, Some(_))]), "{out:?}");
    assert_eq!(c.poll_timeout(), Some(T0 + 30_000 + CHECKIN_ANSWER_MS));
    assert_eq!(c.link(), Link::Connected, "connected while the answer may still come");
    // No answer in time: the link is closed and made again, as for a dropped socket.
    run_until(&mut c, T0 + 30_000 + CHECKIN_ANSWER_MS, 0.0);
    assert_eq!(events(&mut c), vec![Event::Disconnect { code: CLOSE_GAVE_UP }]);
    let retry = T0 + 30_000 + CHECKIN_ANSWER_MS + BACKOFF_BASE_MS / 2;
    assert_eq!(c.link(), Link::Reconnecting { at: Some(retry) });
    run_until(&mut c, retry, 0.0);
    assert_eq!(events(&mut c), vec![Event::Connect { fresh_token: false }]);
    c.opened(retry + 5, "tok".into());
    assert!(matches!(&sent(&mut c)[..], [ClientMsg::Hello { resume: true, .. }]));
    c.handle_frame(retry + 10, &welcome(true, 30_000));
    assert_eq!(c.link(), Link::Connected);
    assert!(
        sent(&mut c)
            .iter()
            .any(|m| matches!(m, ClientMsg::Enter { ch, .. } if ch == "/a/b")),
        "the presence is asserted again within the grace"
    );
}

#[test]
fn answered_checkins_keep_the_link_for_as_long_as_it_lasts() {
    let mut c = ready(30_000);
    let mut answered = 0;
    while let Some(t) = c.poll_timeout().filter(|&t| t <= T0 + 600_000) {
        c.handle_timeout(t, 0.0);
        for msg in sent(&mut c) {
            c.handle_frame(t + 150, &ok(&msg));
            answered += 1;
        }
    }
    assert_eq!(answered, 20);
    assert!(events(&mut c).is_empty(), "no disconnect");
    assert_eq!(c.link(), Link::Connected);
}

#[test]
fn a_relay_older_than_1_2_gets_checkins_without_a_ref_and_is_never_taken_for_dead() {
    let mut c = Client::new("c1", false);
    c.start(T0);
    c.opened(T0, "tok".into());
    c.handle_frame(T0, &welcome_unanswering(30_000));
    sent(&mut c);
    events(&mut c);
    c.set_status(T0 + 1_000, Status::Hidden);
    c.set_online(T0 + 2_000, false);
    c.set_online(T0 + 3_000, true);
    let out = run_until(&mut c, T0 + 600_000, 0.0);
    assert!(!out.is_empty());
    assert!(
        out.iter()
            .all(|(_, m)| matches!(m, ClientMsg::Checkin { reference: None, .. })),
        "{out:?}"
    );
    assert!(events(&mut c).is_empty(), "no disconnect");
    assert_eq!(c.link(), Link::Connected);
}

#[test]
fn a_status_change_checks_the_link_too_and_one_answer_is_awaited_at_a_time() {
    let mut c = ready(30_000);
    // The page comes back into view: its check-in goes out at once, and is awaited.
    c.set_status(T0 + 5_000, Status::Hidden);
    let first = sent(&mut c).remove(0);
    assert!(matches!(first, ClientMsg::Checkin { reference: Some(_), .. }));
    // A second one before the first is answered does not put the deadline off.
    c.set_status(T0 + 8_000, Status::Active);
    let second = sent(&mut c).remove(0);
    assert_ne!(wire_ref(&second), wire_ref(&first));
    assert_eq!(c.poll_timeout(), Some(T0 + 5_000 + CHECKIN_ANSWER_MS));
    // Its answer ends the wait; the second's, coming after it, changes nothing.
    c.handle_frame(T0 + 9_000, &ok(&first));
    assert_eq!(c.poll_timeout(), Some(T0 + 8_000 + 30_000), "the next check-in");
    c.handle_frame(T0 + 9_000, &ok(&second));
    assert_eq!(c.poll_timeout(), Some(T0 + 8_000 + 30_000));
    assert!(run_until(&mut c, T0 + 20_000, 0.0).is_empty());
    assert!(events(&mut c).is_empty());
}

#[test]
fn answers_to_requests_before_the_checkin_put_off_its_wait_and_a_later_ones_end_it() {
    let mut c = ready(30_000);
    // An enter the relay is slow to answer (a site that decides the channel, slow to
    // say), then the check-in behind it on the same socket.
    c.enter(T0 + 29_000, "/topic/1", Meta::new());
    let enter = sent(&mut c).remove(0);
    let checkin = run_until(&mut c, T0 + 30_000, 0.0).remove(0).1;
    let due = |c: &Client| c.answer_due.map(|(_, t)| t);
    assert_eq!(due(&c), Some(T0 + 30_000 + CHECKIN_ANSWER_MS));
    // The enter's answer comes late: the relay was working through it, and the check-in
    // is still to come.
    c.handle_frame(T0 + 38_000, &ok(&enter));
    assert_eq!(due(&c), Some(T0 + 38_000 + CHECKIN_ANSWER_MS));
    assert!(run_until(&mut c, T0 + 45_000, 0.0).is_empty());
    c.handle_frame(T0 + 45_000, &ok(&checkin));
    assert_eq!(due(&c), None);
    assert_eq!(c.poll_timeout(), Some(T0 + 60_000), "the next check-in");
    // An answer to a request sent after the check-in ends its wait too: the relay
    // answers in order.
    c.set_status(T0 + 50_000, Status::Idle);
    let checkin = sent(&mut c).remove(0);
    c.update(T0 + 50_100, "/topic/1", Meta::new());
    let update = sent(&mut c).remove(0);
    assert!(wire_ref(&update) > wire_ref(&checkin));
    c.handle_frame(T0 + 50_200, &ok(&update));
    assert_eq!(due(&c), None);
    assert!(run_until(&mut c, T0 + 70_000, 0.0).is_empty());
    assert!(events(&mut c).iter().all(|e| !matches!(e, Event::Disconnect { .. })));
}

#[test]
fn coming_back_online_with_the_socket_open_checks_the_link_at_once() {
    let mut c = ready(30_000);
    c.set_online(T0 + 10_000, false);
    assert!(sent(&mut c).is_empty());
    c.set_online(T0 + 20_000, true);
    let probe = sent(&mut c);
    assert!(
        matches!(probe[..], [ClientMsg::Checkin { reference: Some(_), .. }]),
        "{probe:?}"
    );
    assert_eq!(c.link(), Link::Connected);
    // The socket died with the old network: found within the answer's wait, not after
    // the next check-in.
    run_until(&mut c, T0 + 20_000 + CHECKIN_ANSWER_MS, 0.0);
    assert_eq!(events(&mut c), vec![Event::Disconnect { code: CLOSE_GAVE_UP }]);
    assert!(matches!(c.link(), Link::Reconnecting { at: Some(_) }));
    // An `online` event without an `offline` before it sends nothing.
    let mut c = ready(30_000);
    c.set_online(T0 + 20_000, true);
    assert!(sent(&mut c).is_empty());
}

#[test]
fn a_stall_while_offline_shows_offline_and_reconnects_when_the_network_is_back() {
    let mut c = ready(30_000);
    c.set_online(T0 + 25_000, false);
    run_until(&mut c, T0 + 30_000 + CHECKIN_ANSWER_MS, 0.0);
    assert_eq!(events(&mut c), vec![Event::Disconnect { code: CLOSE_GAVE_UP }]);
    assert_eq!(c.link(), Link::Offline);
    assert_eq!(c.poll_timeout(), None, "no attempt while offline");
    c.set_online(T0 + 100_000, true);
    assert_eq!(events(&mut c), vec![Event::Connect { fresh_token: false }]);
}

#[test]
fn a_relay_that_rate_limits_is_not_taken_for_dead_for_the_checkins_it_drops() {
    let mut c = ready(30_000);
    let limited = |retry: u64| {
        let mut msg = ServerMsg::error(ErrorCode::RateLimited, None, None);
        if let ServerMsg::Error { retry_after_ms, .. } = &mut msg {
            *retry_after_ms = Some(retry);
        }
        msg.encode()
    };
    // A check-in refused unanswered: the refusal says the relay reads the link.
    c.set_status(T0 + 1_000, Status::Idle);
    sent(&mut c);
    c.handle_frame(T0 + 1_050, &limited(2_000));
    events(&mut c);
    assert_eq!(c.poll_timeout(), Some(T0 + 1_000 + 30_000), "no answer awaited");
    // Within the wait it was told, a check-in may be dropped unanswered: not awaited.
    c.set_status(T0 + 2_100, Status::Active);
    assert!(matches!(sent(&mut c)[..], [ClientMsg::Checkin { .. }]));
    assert_eq!(c.poll_timeout(), Some(T0 + 2_100 + 30_000));
    // After it, check-ins are awaited again.
    c.set_status(T0 + 3_100, Status::Idle);
    sent(&mut c);
    assert_eq!(c.poll_timeout(), Some(T0 + 3_100 + CHECKIN_ANSWER_MS));
    assert!(events(&mut c).is_empty());
}

// ----- link: what the page shows about the connection -----

type Once = Box<dyn FnOnce(&mut Client)>;

/// The link after each step of `steps`, in order.
fn links_through(c: &mut Client, steps: Vec<Once>) -> Vec<Link> {
    steps
        .into_iter()
        .map(|step| {
            step(c);
            events(c);
            sent(c);
            c.link()
        })
        .collect()
}

#[test]
fn link_goes_connecting_connected_reconnecting_connected_through_a_relay_restart() {
    let mut c = Client::new("c1", false);
    assert_eq!(c.link(), Link::Connecting);
    let links = links_through(
        &mut c,
        vec![
            Box::new(|c| c.start(T0)),
            Box::new(|c| c.opened(T0 + 1, "tok".into())),
            Box::new(|c| c.handle_frame(T0 + 2, &welcome(false, 30_000))),
            // 1012: the relay restarts; the client tries again at once.
            Box::new(|c| c.closed(T0 + 10, close::RELAY_RESTART, 0.0)),
            Box::new(|c| c.opened(T0 + 11, "tok".into())),
            Box::new(|c| c.handle_frame(T0 + 12, &welcome(true, 30_000))),
        ],
    );
    let reconnecting_now = Link::Reconnecting { at: None };
    assert_eq!(
        links,
        vec![
            Link::Connecting,
            Link::Connecting,
            Link::Connected,
            reconnecting_now,
            reconnecting_now,
            Link::Connected
        ]
    );
}

#[test]
fn a_lost_connection_shows_reconnecting_with_the_time_of_the_next_attempt() {
    let mut c = ready(30_000);
    c.closed(T0 + 5, 1006, 0.0);
    let next = c.poll_timeout().expect("a retry");
    assert_eq!(next, T0 + 5 + BACKOFF_BASE_MS / 2);
    assert_eq!(c.link(), Link::Reconnecting { at: Some(next) });
    // The attempt starts: under way, no time to wait for.
    c.handle_timeout(next, 0.0);
    assert_eq!(c.link(), Link::Reconnecting { at: None });
    // It fails: the next one is further away, and said so.
    c.closed(next + 3, 1006, 0.0);
    let later = c.poll_timeout().unwrap();
    assert_eq!(later.since(next + 3), BACKOFF_BASE_MS);
    assert_eq!(c.link(), Link::Reconnecting { at: Some(later) });
}

#[test]
fn a_first_connection_that_fails_shows_when_it_tries_again() {
    let mut c = Client::new("c1", false);
    c.start(T0);
    c.closed(T0 + 5, 1006, 0.0);
    assert_eq!(c.link(), Link::Reconnecting { at: c.poll_timeout() });
    // No welcome in time: given up, and the next attempt is told.
    let mut c = Client::new("c1", false);
    c.start(T0);
    c.handle_timeout(T0 + WELCOME_TIMEOUT_MS, 0.0);
    assert!(matches!(c.link(), Link::Reconnecting { at: Some(_) }));
}

/// The close code table: what each close of a connected client shows.
#[test]
fn each_close_code_shows_its_link() {
    let after = |ms: u64| Link::Reconnecting { at: Some(T0 + 5 + ms) };
    let (at_once, closed) = (Link::Reconnecting { at: None }, Link::Closed);
    let (base, longest) = (after(BACKOFF_BASE_MS / 2), after(BACKOFF_CAP_MS / 2));
    type Step = Box<dyn Fn(&mut Client)>;
    let refused = |reason: ErrorCode| -> Step {
        Box::new(move |c: &mut Client| {
            // The refusal comes during a hello, then the close.
            c.closed(T0 + 1, 1006, 0.0);
            c.handle_timeout(c.poll_timeout().unwrap(), 0.0);
            c.opened(T0 + 2, "tok".into());
            c.handle_frame(T0 + 3, &ServerMsg::error(reason, None, None).encode());
            c.closed(T0 + 5, close::REFUSED, 0.0);
        })
    };
    let close = |code: u16| -> Step { Box::new(move |c: &mut Client| c.closed(T0 + 5, code, 0.0)) };
    // (what, token function, the close, what it shows)
    let cases: Vec<(&str, bool, Step, Link)> = vec![
        ("1012 relay restart", false, close(close::RELAY_RESTART), at_once),
        ("4009 replaced", false, close(close::REPLACED), closed),
        ("1008 flood", false, close(close::POLICY), longest),
        ("1009 frame too large", false, close(close::TOO_LARGE), closed),
        ("4012 token expired", true, close(close::TOKEN_EXPIRED), base),
        ("1006 dropped", false, close(1006), base),
        ("4003 bad token", false, refused(ErrorCode::BadToken), closed),
        ("4003 bad client id", true, refused(ErrorCode::BadClientId), closed),
        ("4003 forbidden", true, refused(ErrorCode::ForbiddenView), closed),
    ];
    for (name, refreshable, close, expected) in cases {
        let mut c = Client::new("c1", refreshable);
        c.start(T0);
        c.opened(T0, "tok".into());
        c.handle_frame(T0, &welcome(false, 30_000));
        close(&mut c);
        assert_eq!(c.link(), expected, "{name}");
    }
    // A bad token the token function can replace: reconnecting with a fresh one.
    let mut c = Client::new("c1", true);
    c.start(T0);
    c.opened(T0, "tok".into());
    c.handle_frame(T0, &welcome(false, 30_000));
    refused(ErrorCode::BadToken)(&mut c);
    assert_eq!(c.link(), Link::Reconnecting { at: c.poll_timeout() });
    assert!(c.poll_timeout().is_some());
    // And close() itself.
    let mut c = ready(30_000);
    c.close(T0 + 5);
    assert_eq!(c.link(), Link::Closed);
}

#[test]
fn offline_shows_offline_and_holds_retries_until_the_network_is_back() {
    let mut c = ready(30_000);
    // The browser goes offline; the socket then drops.
    c.set_online(T0 + 10, false);
    assert_eq!(c.link(), Link::Offline);
    c.closed(T0 + 20, 1006, 0.0);
    events(&mut c);
    assert_eq!(c.link(), Link::Offline);
    // No attempt while offline, however long it lasts.
    assert_eq!(c.poll_timeout(), None);
    c.handle_timeout(T0 + 600_000, 0.0);
    assert!(events(&mut c).is_empty());
    // Back online: an attempt at once, not after the backoff.
    c.set_online(T0 + 600_001, true);
    assert_eq!(events(&mut c), vec![Event::Connect { fresh_token: false }]);
    assert_eq!(c.link(), Link::Reconnecting { at: None });
    c.opened(T0 + 600_002, "tok".into());
    c.handle_frame(T0 + 600_003, &welcome(true, 30_000));
    assert_eq!(c.link(), Link::Connected);
}

#[test]
fn offline_while_the_socket_lives_shows_offline_and_online_shows_connected_again() {
    let mut c = ready(30_000);
    c.set_online(T0 + 10, false);
    assert_eq!(c.link(), Link::Offline);
    c.set_online(T0 + 20, true);
    assert_eq!(c.link(), Link::Connected);
    assert!(events(&mut c).is_empty(), "the socket lived through it");
    // Closed wins over offline.
    c.set_online(T0 + 30, false);
    c.closed(T0 + 40, close::REPLACED, 0.0);
    assert_eq!(c.link(), Link::Closed);
}

#[test]
fn a_new_leader_taking_over_a_connected_link_shows_connected_until_its_socket_fails() {
    let mut c = Client::new("c1", false);
    c.take_over(Link::Connected);
    let links = links_through(
        &mut c,
        vec![
            Box::new(|c| c.start(T0)),
            Box::new(|c| c.opened(T0 + 1, "tok".into())),
            Box::new(|c| c.handle_frame(T0 + 2, &welcome(true, 30_000))),
        ],
    );
    assert_eq!(links, vec![Link::Connected; 3]);
    // Had its first socket failed, that is a real reconnect.
    let mut c = Client::new("c1", false);
    c.take_over(Link::Connected);
    c.start(T0);
    c.closed(T0 + 5, 1006, 0.0);
    assert_eq!(c.link(), Link::Reconnecting { at: c.poll_timeout() });
    // Taking over a reconnecting link goes on reconnecting, not "connecting".
    let mut c = Client::new("c1", false);
    c.take_over(Link::Reconnecting { at: Some(T0 + 4_000) });
    c.start(T0);
    assert_eq!(c.link(), Link::Reconnecting { at: None });
    // A first connection still being made stays "connecting".
    let mut c = Client::new("c1", false);
    c.take_over(Link::Connecting);
    c.start(T0);
    assert_eq!(c.link(), Link::Connecting);
}

fn snapshot(seq: u64, users: Vec<Member>) -> ServerMsg {
    ServerMsg::Snapshot {
        ch: "/a/b".into(),
        seq,
        count: users.len(),
        users: Some(users),
        cap: None,
    }
}

fn diff(seq: u64, count: usize, join: Vec<Member>, leave: Vec<&str>) -> ServerMsg {
    ServerMsg::Diff {
        ch: "/a/b".into(),
        seq,
        count,
        join,
        leave: leave.into_iter().map(String::from).collect(),
        update: vec![],
    }
}

/// What the page is shown: the shell applies every frame the client passes on to a
/// view of its own and fires the listeners for its changes.
fn shown(page: &mut ChannelView, c: &mut Client) -> Vec<Change> {
    let mut changes = Vec::new();
    for event in events(c) {
        if let Event::Frame(frame) = event {
            if let Applied::Changed(mut more) = page.apply(&frame) {
                changes.append(&mut more);
            }
        }
    }
    changes
}

#[test]
fn join_and_leave_fire_only_for_real_changes_across_first_snapshot_gap_and_reconnect() {
    let mut c = ready(30_000);
    let mut page = ChannelView::default();
    c.subscribe(T0, "/a/b");
    sent(&mut c);
    // Two users were already there: the first snapshot shows them, no join fires.
    c.handle_frame(
        T0 + 10,
        &snapshot(1, vec![member("1", false), member("2", false)]).encode(),
    );
    assert_eq!(shown(&mut page, &mut c), vec![]);
    assert_eq!(page.count(), 2);
    c.handle_frame(T0 + 20, &diff(2, 3, vec![member("3", false)], vec![]).encode());
    assert_eq!(shown(&mut page, &mut c), vec![Change::Join(member("3", false))]);
    // A gap: the fresh snapshot fires only what changed while diffs were missed.
    c.handle_frame(T0 + 30, &diff(5, 3, vec![], vec![]).encode());
    assert!(matches!(&sent(&mut c)[..], [ClientMsg::Subscribe { .. }]));
    c.handle_frame(
        T0 + 40,
        &snapshot(6, vec![member("2", false), member("3", false), member("4", false)]).encode(),
    );
    assert_eq!(
        shown(&mut page, &mut c),
        vec![Change::Leave(member("1", false)), Change::Join(member("4", false))]
    );
    // A reconnect: the snapshot of the new subscription fires only the difference.
    c.closed(T0 + 50, 1006, 0.0);
    run_until(&mut c, T0 + 1_000, 0.0);
    c.opened(T0 + 1_000, "tok".into());
    c.handle_frame(T0 + 1_000, &welcome(true, 30_000));
    sent(&mut c);
    c.handle_frame(
        T0 + 1_010,
        &snapshot(1, vec![member("2", false), member("3", false), member("5", false)]).encode(),
    );
    assert_eq!(
        shown(&mut page, &mut c),
        vec![Change::Leave(member("4", false)), Change::Join(member("5", false))]
    );
    assert_eq!(page.count(), 3);
}

#[test]
fn a_first_snapshot_after_an_initial_state_fires_only_the_difference() {
    let mut v = ChannelView::with_initial(1, Some(vec![member("1", false)]));
    assert_eq!(
        v.apply(&snapshot(1, vec![member("1", false), member("2", false)])),
        Applied::Changed(vec![Change::Join(member("2", false))])
    );
}

#[test]
fn channel_view_applies_snapshot_then_consecutive_diffs() {
    let mut v = ChannelView::default();
    // The first snapshot is the state, not a change: nobody "joins" by being there.
    assert_eq!(
        v.apply(&snapshot(5, vec![member("1", false)])),
        Applied::Changed(vec![])
    );
    assert_eq!(
        v.apply(&diff(6, 2, vec![member("2", false)], vec![])),
        Applied::Changed(vec![Change::Join(member("2", false))])
    );
    // join for a known user is an upsert: an update if different, nothing if same.
    assert_eq!(
        v.apply(&diff(7, 2, vec![member("2", true)], vec![])),
        Applied::Changed(vec![Change::Update(member("2", true))])
    );
    assert_eq!(
        v.apply(&diff(8, 2, vec![member("2", true)], vec![])),
        Applied::Changed(vec![])
    );
    assert_eq!(
        v.apply(&diff(9, 1, vec![], vec!["1", "nobody"])),
        Applied::Changed(vec![Change::Leave(member("1", false))])
    );
    assert_eq!(v.count(), 1);
    assert_eq!(v.users().map(|m| m.id.as_str()).collect::<Vec<_>>(), vec!["2"]);
    assert_eq!(v.apply(&diff(9, 1, vec![], vec![])), Applied::Stale);
}

#[test]
fn a_sequence_gap_waits_for_a_new_snapshot_and_reports_the_difference() {
    let mut v = ChannelView::default();
    v.apply(&snapshot(1, vec![member("1", false), member("2", false)]));
    assert_eq!(v.apply(&diff(3, 3, vec![member("3", false)], vec![])), Applied::Gap);
    assert_eq!(v.apply(&diff(4, 3, vec![member("4", false)], vec![])), Applied::Stale);
    assert_eq!(
        v.apply(&snapshot(4, vec![member("2", true), member("3", false)])),
        Applied::Changed(vec![
            Change::Leave(member("1", false)),
            Change::Update(member("2", true)),
            Change::Join(member("3", false)),
        ])
    );
    assert_eq!(
        v.apply(&diff(5, 2, vec![], vec!["3"])),
        Applied::Changed(vec![Change::Leave(member("3", false))])
    );
}

#[test]
fn a_gap_makes_the_client_resubscribe_for_a_fresh_snapshot() {
    let mut c = ready(30_000);
    c.subscribe(T0, "/a/b");
    sent(&mut c);
    c.handle_frame(T0, &snapshot(1, vec![member("1", false)]).encode());
    c.handle_frame(T0, &diff(2, 2, vec![member("2", false)], vec![]).encode());
    assert!(sent(&mut c).is_empty());
    c.handle_frame(T0, &diff(4, 3, vec![member("3", false)], vec![]).encode());
    assert!(matches!(&sent(&mut c)[..], [ClientMsg::Subscribe { ch, .. }] if ch == "/a/b"));
    let frames = events(&mut c)
        .into_iter()
        .filter(|e| matches!(e, Event::Frame(_)))
        .count();
    assert_eq!(frames, 2, "the gapped diff is not shown");
    assert_eq!(c.view("/a/b").unwrap().count(), 2);
}

#[test]
fn count_only_snapshots_show_counts_and_no_identities() {
    let mut v = ChannelView::default();
    let r = v.apply(&ServerMsg::Snapshot {
        ch: "/a/b".into(),
        seq: 1,
        count: 12,
        users: None,
        cap: None,
    });
    assert_eq!(r, Applied::Changed(vec![]));
    assert!(v.is_count_only());
    assert_eq!(v.users().count(), 0);
    assert_eq!(v.apply(&diff(2, 13, vec![], vec![])), Applied::Changed(vec![]));
    assert_eq!(v.count(), 13);
}

#[test]
fn a_view_round_trips_through_its_snapshot() {
    let mut v = ChannelView::default();
    v.apply(&snapshot(3, vec![member("1", true), member("2", false)]));
    let mut other = ChannelView::default();
    other.apply(&v.snapshot("/a/b").unwrap());
    assert_eq!(other, v);
    assert_eq!(ChannelView::default().snapshot("/a/b"), None);
}

#[test]
fn unsubscribe_tells_the_relay_and_forgets_the_view() {
    let mut c = ready(30_000);
    c.subscribe(T0, "/a/b");
    sent(&mut c);
    c.handle_frame(T0, &snapshot(1, vec![member("1", false)]).encode());
    assert!(c.view("/a/b").is_some());
    c.unsubscribe(T0 + 1, "/a/b");
    assert!(matches!(&sent(&mut c)[..], [ClientMsg::Unsubscribe { ch, reference: Some(_) }] if ch == "/a/b"));
    assert!(c.view("/a/b").is_none());
    assert!(!c.is_subscribed("/a/b"));
    // Later diffs for it are not shown.
    events(&mut c);
    c.handle_frame(T0 + 2, &diff(2, 0, vec![], vec!["1"]).encode());
    assert!(events(&mut c).is_empty());
}

#[test]
fn update_before_enter_fails_with_not_entered() {
    let mut c = ready(30_000);
    let r = c.update(T0, "/a/b", Meta::new());
    assert!(sent(&mut c).is_empty());
    assert!(
        matches!(&events(&mut c)[..], [Event::Reply { reference, result: Err(f) }]
        if *reference == r && f.code == "not_entered")
    );
}

#[test]
fn frames_for_channels_not_subscribed_are_ignored() {
    let mut c = ready(30_000);
    c.handle_frame(T0, &snapshot(1, vec![member("1", false)]).encode());
    assert!(events(&mut c).is_empty());
    assert!(c.view("/a/b").is_none());
}

fn capped(seq: u64, count: usize, users: Vec<Member>, cap: usize) -> ServerMsg {
    ServerMsg::Snapshot {
        ch: "/a/b".into(),
        seq,
        count,
        users: Some(users),
        cap: Some(cap),
    }
}

fn focus(join: Vec<Member>, leave: Vec<&str>, update: Vec<Member>) -> ServerMsg {
    ServerMsg::Focus {
        ch: "/a/b".into(),
        join,
        leave: leave.into_iter().map(String::from).collect(),
        update,
    }
}

fn ids(v: &ChannelView) -> Vec<&str> {
    v.users().map(|m| m.id.as_str()).collect()
}

#[test]
fn a_capped_snapshot_tells_its_cap_and_focus_frames_change_the_list_like_diffs() {
    let mut c = ready(30_000);
    let mut page = ChannelView::default();
    c.subscribe_following(T0, "/a/b", vec!["40".into()]);
    sent(&mut c);
    // Two of 20,000 shared, and this user (7) outside the shared list.
    c.handle_frame(
        T0,
        &capped(
            3,
            20_000,
            vec![member("1", false), member("2", false), member("7", false)],
            2,
        )
        .encode(),
    );
    assert_eq!(shown(&mut page, &mut c), vec![]);
    assert_eq!(page.cap(), Some(2));
    assert_eq!(page.count(), 20_000);
    assert_eq!(ids(&page), vec!["1", "2", "7"]);
    // A friend arrives outside the shared list: a join, the count comes with diffs.
    c.handle_frame(T0 + 1, &focus(vec![member("40", false)], vec![], vec![]).encode());
    assert_eq!(shown(&mut page, &mut c), vec![Change::Join(member("40", false))]);
    assert_eq!(page.count(), 20_000);
    c.handle_frame(T0 + 2, &diff(4, 20_001, vec![], vec![]).encode());
    assert_eq!(shown(&mut page, &mut c), vec![]);
    assert_eq!(page.count(), 20_001);
    c.handle_frame(T0 + 3, &focus(vec![], vec![], vec![member("40", true)]).encode());
    assert_eq!(shown(&mut page, &mut c), vec![Change::Update(member("40", true))]);
    // Promoted into the shared list: already shown, so no second join.
    c.handle_frame(T0 + 4, &diff(5, 20_001, vec![member("40", true)], vec!["1"]).encode());
    assert_eq!(shown(&mut page, &mut c), vec![Change::Leave(member("1", false))]);
    c.handle_frame(T0 + 5, &focus(vec![], vec!["7"], vec![]).encode());
    assert_eq!(shown(&mut page, &mut c), vec![Change::Leave(member("7", false))]);
    assert_eq!(ids(&page), vec!["2", "40"]);
    // The client's own view agrees, and hands other tabs the cap with the state.
    let own = c.view("/a/b").unwrap();
    assert_eq!(own, &page);
    let mut tab = ChannelView::default();
    tab.apply(&own.snapshot("/a/b").unwrap());
    assert_eq!(tab.cap(), Some(2));
    assert_eq!(ids(&tab), vec!["2", "40"]);
    // A later uncapped snapshot (the rule changed) says so.
    page.apply(&snapshot(9, vec![member("2", false)]));
    assert_eq!(page.cap(), None);
}

#[test]
fn focus_before_the_snapshot_or_while_one_is_awaited_is_ignored() {
    let mut c = ready(30_000);
    c.subscribe(T0, "/a/b");
    sent(&mut c);
    c.handle_frame(T0, &focus(vec![member("40", false)], vec![], vec![]).encode());
    assert!(events(&mut c).is_empty(), "no state to apply it on");
    c.handle_frame(T0 + 1, &capped(1, 10, vec![member("1", false)], 1).encode());
    // A gap: what focus says now is about a state the next snapshot replaces.
    c.handle_frame(T0 + 2, &diff(3, 10, vec![], vec![]).encode());
    events(&mut c);
    c.handle_frame(T0 + 3, &focus(vec![member("40", false)], vec![], vec![]).encode());
    assert!(events(&mut c).is_empty());
    assert_eq!(ids(c.view("/a/b").unwrap()), vec!["1"]);
    c.handle_frame(T0 + 4, &capped(4, 11, vec![member("1", false)], 1).encode());
    c.handle_frame(T0 + 5, &focus(vec![member("40", false)], vec![], vec![]).encode());
    assert_eq!(ids(c.view("/a/b").unwrap()), vec!["1", "40"]);
    // On a channel not watched, nothing.
    events(&mut c);
    c.handle_frame(
        T0 + 6,
        &ServerMsg::Focus {
            ch: "/x/y".into(),
            join: vec![member("40", false)],
            leave: vec![],
            update: vec![],
        }
        .encode(),
    );
    assert!(events(&mut c).is_empty());
}

#[test]
fn subscribe_carries_its_friends_every_time_it_is_sent() {
    let friends = || vec!["40".to_string(), "41".to_string()];
    let sent_friends = |c: &mut Client| -> Vec<Vec<String>> {
        sent(c)
            .into_iter()
            .filter_map(|m| match m {
                ClientMsg::Subscribe { friends, .. } => Some(friends),
                _ => None,
            })
            .collect()
    };
    let mut c = ready(30_000);
    c.subscribe_following(T0, "/a/b", friends());
    assert_eq!(sent_friends(&mut c), vec![friends()]);
    // After a gap.
    c.handle_frame(T0, &capped(1, 3, vec![member("1", false)], 1).encode());
    c.handle_frame(T0, &diff(3, 3, vec![], vec![]).encode());
    assert_eq!(sent_friends(&mut c), vec![friends()]);
    // After a reconnect.
    c.closed(T0 + 1, 1006, 0.0);
    run_until(&mut c, T0 + 1_000, 0.0);
    c.opened(T0 + 1_000, "tok".into());
    c.handle_frame(T0 + 1_000, &welcome(true, 30_000));
    assert_eq!(sent_friends(&mut c), vec![friends()]);
    // Subscribing again replaces them; on the wire, none is no field at all.
    c.subscribe(T0 + 1_001, "/a/b");
    let out = sent(&mut c);
    assert!(matches!(&out[..], [ClientMsg::Subscribe { friends, .. }] if friends.is_empty()));
    assert!(!out[0].encode().contains("friends"));
}

fn page_of(count: usize, users: Vec<Member>, next: Option<&str>, reference: Option<u64>) -> String {
    ServerMsg::Members {
        ch: "/a/b".into(),
        reference,
        count,
        users,
        next: next.map(String::from),
    }
    .encode()
}

#[test]
fn a_members_request_resolves_with_its_page_or_the_refusal() {
    let mut c = ready(30_000);
    let r = c.members(T0, "/a/b", Some("7".into()), Some(2));
    let out = sent(&mut c);
    let [ClientMsg::Members {
        ch,
        after,
        limit,
        reference: Some(wire),
    }] = &out[..]
    else {
        panic!("{out:?}")
    };
    assert_eq!((ch.as_str(), after.as_deref(), *limit), ("/a/b", Some("7"), Some(2)));
    // Another request's page, and one with no ref, answer nothing.
    c.handle_frame(T0 + 1, &page_of(5, vec![], None, Some(wire + 100)));
    c.handle_frame(T0 + 1, &page_of(5, vec![], None, None));
    assert!(events(&mut c).is_empty());
    c.handle_frame(
        T0 + 2,
        &page_of(5, vec![member("8", false), member("9", false)], Some("9"), Some(*wire)),
    );
    assert_eq!(
        events(&mut c),
        vec![Event::Page {
            reference: r,
            page: Page {
                count: 5,
                users: vec![member("8", false), member("9", false)],
                next: Some("9".into()),
            }
        }]
    );
    // Answered once: no timeout follows.
    run_until(&mut c, T0 + REQUEST_TIMEOUT_MS + 1, 0.0);
    assert!(!events(&mut c).iter().any(|e| matches!(e, Event::Reply { .. })));

    let r = c.members(T0 + 20_000, "/c/d", None, None);
    let wire = wire_ref(&sent(&mut c)[0]);
    c.handle_frame(
        T0 + 20_001,
        &ServerMsg::error(ErrorCode::ForbiddenView, Some(wire), Some("/c/d")).encode(),
    );
    assert!(
        matches!(&events(&mut c)[..], [Event::Reply { reference, result: Err(f) }]
        if *reference == r && f.code == "forbidden_view")
    );
}

#[test]
fn a_members_request_without_a_socket_is_sent_after_the_welcome_and_asked_again_after_a_drop() {
    let mut c = Client::new("c1", false);
    let r = c.members(T0, "/a/b", None, Some(10));
    c.start(T0);
    c.opened(T0, "tok".into());
    assert!(matches!(&sent(&mut c)[..], [ClientMsg::Hello { .. }]));
    c.handle_frame(T0 + 1, &welcome(false, 30_000));
    let out = sent(&mut c);
    assert!(
        matches!(&out[..], [ClientMsg::Members { limit: Some(10), .. }]),
        "{out:?}"
    );
    // The socket drops before the answer: asked again on the next one.
    c.closed(T0 + 2, 1006, 0.0);
    run_until(&mut c, T0 + 1_000, 0.0);
    c.opened(T0 + 1_000, "tok".into());
    c.handle_frame(T0 + 1_000, &welcome(true, 30_000));
    let again = sent(&mut c);
    let [ClientMsg::Hello { .. }, asked @ ClientMsg::Members { .. }] = &again[..] else {
        panic!("{again:?}")
    };
    events(&mut c);
    c.handle_frame(
        T0 + 1_001,
        &page_of(1, vec![member("1", false)], None, asked.reference()),
    );
    assert!(matches!(&events(&mut c)[..], [Event::Page { reference, page }] if *reference == r && page.count == 1));
    // Never connected in time: it fails as unreachable, and is not sent later.
    let r = c.members(T0 + 2_000, "/a/b", None, None);
    c.closed(T0 + 2_000, 1006, 0.0);
    sent(&mut c);
    c.handle_timeout(T0 + 2_000 + REQUEST_TIMEOUT_MS, 0.0);
    assert!(events(&mut c).contains(&Event::Reply {
        reference: r,
        result: Err(ErrorBody::unreachable())
    }));
    c.opened(T0 + 20_000, "tok".into());
    c.handle_frame(T0 + 20_000, &welcome(true, 30_000));
    assert!(!sent(&mut c).iter().any(|m| matches!(m, ClientMsg::Members { .. })));
}

#[cfg(not(target_arch = "wasm32"))]
mod props {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    proptest! {
        #[test]
        fn backoff_never_exceeds_the_cap(attempt in 0u32..200, jitter in 0.0f64..1.0) {
            let d = backoff_delay(attempt, jitter);
            prop_assert!(d <= BACKOFF_CAP_MS);
            prop_assert!(d >= BACKOFF_BASE_MS / 2);
        }

        #[test]
        fn diffs_in_any_split_reach_the_same_roster(
            ops in proptest::collection::vec((0u8..6, any::<bool>(), any::<bool>()), 0..40)
        ) {
            // The relay's truth, and a view fed the same changes as diffs.
            let mut truth: BTreeMap<String, Member> = BTreeMap::new();
            let mut v = ChannelView::default();
            v.apply(&snapshot(0, vec![]));
            for (seq, (id, join, typing)) in ops.into_iter().enumerate() {
                let id = id.to_string();
                let msg = if join {
                    truth.insert(id.clone(), member(&id, typing));
                    diff(seq as u64 + 1, truth.len(), vec![member(&id, typing)], vec![])
                } else {
                    truth.remove(&id);
                    diff(seq as u64 + 1, truth.len(), vec![], vec![&id])
                };
                prop_assert!(matches!(v.apply(&msg), Applied::Changed(_)));
            }
            prop_assert_eq!(v.users().cloned().collect::<Vec<_>>(), truth.values().cloned().collect::<Vec<_>>());
            prop_assert_eq!(v.count(), truth.len());
        }
    }
}

// ----- a channel the site decides, taken back while connected -----

/// A client entered in `/a/b` and watching it, showing ann and bob.
fn in_and_watching() -> Client {
    let mut c = ready(30_000);
    c.enter(T0, "/a/b", meta(json!({"typing": false})));
    c.subscribe(T0, "/a/b");
    for frame in sent(&mut c) {
        c.handle_frame(T0, &ok(&frame));
    }
    c.handle_frame(T0, &snapshot(1, vec![member("1", false), member("7", false)]).encode());
    events(&mut c);
    c
}

/// The relay's error without `ref` about `/a/b`.
fn taken_back(code: ErrorCode, retry_after_ms: Option<u64>) -> String {
    ServerMsg::Error {
        reference: None,
        code,
        message: "The site says no.".into(),
        ch: Some("/a/b".into()),
        retry_after_ms,
    }
    .encode()
}

fn channel_errors(ev: &[Event]) -> Vec<(Option<&str>, &str)> {
    ev.iter()
        .filter_map(|e| match e {
            Event::Error { ch, failure } => Some((ch.as_deref(), failure.code.as_str())),
            _ => None,
        })
        .collect()
}

fn entered_and_watched(msgs: &[ClientMsg]) -> Vec<(&str, &str)> {
    msgs.iter()
        .filter_map(|m| match m {
            ClientMsg::Enter { ch, .. } => Some(("enter", ch.as_str())),
            ClientMsg::Subscribe { ch, .. } => Some(("subscribe", ch.as_str())),
            _ => None,
        })
        .collect()
}

/// Drop the socket at `at` and be welcomed again (resumed); what the welcome sent.
fn reconnect(c: &mut Client, at: Instant) -> Vec<ClientMsg> {
    c.closed(at, 1006, 0.0);
    let t = c.poll_timeout().unwrap();
    c.handle_timeout(t, 0.0);
    c.opened(t, "tok".into());
    c.handle_frame(t, &welcome(true, 30_000));
    sent(c)
        .into_iter()
        .filter(|m| !matches!(m, ClientMsg::Hello { .. }))
        .collect()
}

fn only_checkins(out: &[(Instant, ClientMsg)]) -> bool {
    out.iter().all(|(_, m)| matches!(m, ClientMsg::Checkin { .. }))
}

#[test]
fn a_view_taken_back_unasked_is_forgotten_and_not_asked_for_again() {
    let mut c = in_and_watching();
    c.handle_frame(T0 + 10, &taken_back(ErrorCode::ForbiddenView, None));
    assert_eq!(channel_errors(&events(&mut c)), [(Some("/a/b"), "forbidden_view")]);
    // Nobody is shown any more, and no further frame is taken for the channel.
    assert!(c.view("/a/b").is_none());
    assert!(!c.is_subscribed("/a/b"));
    c.handle_frame(T0 + 20, &diff(2, 3, vec![member("2", false)], vec![]).encode());
    assert!(events(&mut c).is_empty());
    // The presence is another right: it stays.
    assert!(c.is_entered("/a/b"));
    assert!(only_checkins(&run_until(&mut c, T0 + 20_000, 0.0)));
    let again = reconnect(&mut c, T0 + 20_000);
    assert_eq!(entered_and_watched(&again), [("enter", "/a/b")]);
}

#[test]
fn a_presence_taken_back_unasked_is_dropped_and_not_entered_again() {
    let mut c = in_and_watching();
    c.handle_frame(T0 + 10, &taken_back(ErrorCode::ForbiddenEnter, None));
    assert_eq!(channel_errors(&events(&mut c)), [(Some("/a/b"), "forbidden_enter")]);
    assert!(!c.is_entered("/a/b"));
    // Still watching: the diff that shows this user gone is applied.
    assert!(c.is_subscribed("/a/b"));
    c.handle_frame(T0 + 20, &diff(2, 1, vec![], vec!["7"]).encode());
    assert!(matches!(&events(&mut c)[..], [Event::Frame(_)]));
    assert_eq!(c.view("/a/b").map(ChannelView::count), Some(1));
    assert!(only_checkins(&run_until(&mut c, T0 + 20_000, 0.0)));
    let again = reconnect(&mut c, T0 + 20_000);
    assert_eq!(entered_and_watched(&again), [("subscribe", "/a/b")]);
}

#[test]
fn a_channel_taken_back_as_unavailable_shows_nobody_and_is_asserted_again_after_the_wait() {
    let mut c = in_and_watching();
    // One error for the presence, one for the view: both rights went.
    c.handle_frame(T0 + 10, &taken_back(ErrorCode::Unavailable, Some(5_000)));
    c.handle_frame(T0 + 10, &taken_back(ErrorCode::Unavailable, Some(5_000)));
    let ev = events(&mut c);
    assert_eq!(channel_errors(&ev), [(Some("/a/b"), "unavailable"); 2]);
    let view = c.view("/a/b").unwrap();
    assert_eq!((view.count(), view.users().count(), view.is_known()), (0, 0, false));
    assert!(c.is_entered("/a/b") && c.is_subscribed("/a/b"));
    // A diff still in the pipe is not applied to the empty view.
    c.handle_frame(T0 + 11, &diff(2, 1, vec![], vec!["7"]).encode());
    assert!(events(&mut c).is_empty());
    // The meta changed meanwhile: the enter sent again carries it.
    c.update(T0 + 100, "/a/b", meta(json!({"typing": true})));
    let update = sent(&mut c);
    c.handle_frame(T0 + 101, &ok(&update[0]));
    events(&mut c);
    assert!(only_checkins(&run_until(&mut c, T0 + 5_009, 0.0)));
    let out: Vec<ClientMsg> = run_until(&mut c, T0 + 5_010, 0.0).into_iter().map(|(_, m)| m).collect();
    assert_eq!(
        entered_and_watched(&out),
        [("enter", "/a/b"), ("subscribe", "/a/b")],
        "once each, though told twice"
    );
    assert!(
        matches!(&out[0], ClientMsg::Enter { meta: Some(m), reference: Some(_), .. } if m["typing"] == json!(true))
    );
    // The site is back: the new snapshot shows the channel again.
    for frame in &out {
        c.handle_frame(T0 + 5_020, &ok(frame));
    }
    c.handle_frame(
        T0 + 5_020,
        &snapshot(3, vec![member("1", false), member("7", true)]).encode(),
    );
    assert!(matches!(&events(&mut c)[..], [Event::Frame(_)]));
    assert_eq!(c.view("/a/b").map(ChannelView::count), Some(2));
    assert!(only_checkins(&run_until(&mut c, T0 + 20_000, 0.0)));
}

#[test]
fn a_reconnect_during_the_wait_asserts_the_channel_at_once_and_not_twice() {
    let mut c = in_and_watching();
    c.handle_frame(T0 + 10, &taken_back(ErrorCode::Unavailable, Some(5_000)));
    events(&mut c);
    let again = reconnect(&mut c, T0 + 1_000);
    assert_eq!(entered_and_watched(&again), [("enter", "/a/b"), ("subscribe", "/a/b")]);
    for frame in &again {
        c.handle_frame(T0 + 2_000, &ok(frame));
    }
    assert!(only_checkins(&run_until(&mut c, T0 + 20_000, 0.0)));
}

#[test]
fn a_channel_left_during_the_wait_is_not_entered_again() {
    let mut c = in_and_watching();
    c.handle_frame(T0 + 10, &taken_back(ErrorCode::Unavailable, Some(5_000)));
    c.leave(T0 + 100, "/a/b");
    sent(&mut c);
    let out: Vec<ClientMsg> = run_until(&mut c, T0 + 5_010, 0.0).into_iter().map(|(_, m)| m).collect();
    assert_eq!(entered_and_watched(&out), [("subscribe", "/a/b")]);
}

#[test]
fn a_channel_refused_as_unavailable_after_a_welcome_is_asserted_again_after_the_wait() {
    let mut c = in_and_watching();
    let again = reconnect(&mut c, T0 + 1_000);
    let at = T0 + 1_000 + BACKOFF_BASE_MS / 2;
    // The site is still down when the welcome asserts the channel again.
    for frame in &again {
        let refused = ServerMsg::Error {
            reference: frame.reference(),
            code: ErrorCode::Unavailable,
            message: String::new(),
            ch: Some("/a/b".into()),
            retry_after_ms: Some(2_000),
        };
        c.handle_frame(at, &refused.encode());
    }
    assert_eq!(channel_errors(&events(&mut c)), [(Some("/a/b"), "unavailable"); 2]);
    assert!(!c.view("/a/b").unwrap().is_known());
    assert!(only_checkins(&run_until(&mut c, at + 1_999, 0.0)));
    let out: Vec<ClientMsg> = run_until(&mut c, at + 2_000, 0.0).into_iter().map(|(_, m)| m).collect();
    assert_eq!(entered_and_watched(&out), [("enter", "/a/b"), ("subscribe", "/a/b")]);
}

#[test]
fn an_enter_the_page_asked_refused_as_unavailable_rejects_and_is_sent_again_after_the_wait() {
    let mut c = ready(30_000);
    let r = c.enter(T0, "/a/b", Meta::new());
    let frame = sent(&mut c).remove(0);
    let refused = ServerMsg::Error {
        reference: frame.reference(),
        code: ErrorCode::Unavailable,
        message: String::new(),
        ch: Some("/a/b".into()),
        retry_after_ms: None,
    };
    c.handle_frame(T0 + 1, &refused.encode());
    assert!(
        matches!(&events(&mut c)[..], [Event::Reply { reference, result: Err(f) }]
        if *reference == r && f.code == "unavailable")
    );
    assert!(c.is_entered("/a/b"));
    // The relay named no wait: the client's own.
    assert!(run_until(&mut c, T0 + UNAVAILABLE_RETRY_MS, 0.0).is_empty());
    let out: Vec<ClientMsg> = run_until(&mut c, T0 + 1 + UNAVAILABLE_RETRY_MS, 0.0)
        .into_iter()
        .map(|(_, m)| m)
        .collect();
    assert_eq!(entered_and_watched(&out), [("enter", "/a/b")]);
}
