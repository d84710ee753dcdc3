//! The relay over real sockets: the lease table as others see it, every limit and bad
//! input, rights, and the HTTP side.
//!
//! Graces here are a few hundred milliseconds (set in each test's config): the rules
//! themselves are proven on a simulated clock in `core/tests/roster.rs`; these tests
//! prove the shell wires real sockets, closes and beacons to them.

mod common;

use common::*;
use futures_util::SinkExt;
use rollcall_core::policy::Claims;
use rollcall_core::protocol::ServerMsg;
use rollcall_relay::clock::unix_now;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const CH: &str = "/site/online";

const FAST: &str = r#"
[presence]
checkin_interval_ms = 1000
lease_timeout_ms = 1500
unload_grace_ms = 300
reconnect_grace_ms = 600
flush_interval_ms = 10
"#;

#[tokio::test]
async fn two_users_and_a_second_client_see_joins_updates_and_leaves_as_the_lease_table_says() {
    let relay = TestRelay::start(FAST).await;
    let mut watcher = relay.connect("w", "w1").await;
    assert_eq!(watcher.subscribe(CH).await, Vec::<String>::new());

    let mut ann = relay.connect("ann", "laptop").await;
    ann.enter(CH, json!({"typing": false})).await.unwrap();
    assert_eq!(watcher.diff().await, ["+ann"]);
    let mut bob = relay.connect("bob", "b1").await;
    bob.enter(CH, json!({})).await.unwrap();
    assert_eq!(watcher.diff().await, ["+bob"]);

    // Ann's phone: still one ann. It enters with the laptop's meta, so the member looks
    // the same (a member shows its newest client's meta): a different meta would be an
    // update of its own, coalesced with the next one or not depending on timing.
    let mut phone = relay.connect("ann", "phone").await;
    phone.enter(CH, json!({"typing": false})).await.unwrap();
    ann.request(json!({"type": "update", "ch": CH, "meta": {"typing": true}}))
        .await
        .unwrap();
    assert_eq!(watcher.diff().await, ["~ann"]);
    phone.request(json!({"type": "leave", "ch": CH})).await.unwrap();
    watcher.nothing_for(Duration::from_millis(100)).await;
    ann.request(json!({"type": "leave", "ch": CH})).await.unwrap();
    assert_eq!(watcher.diff().await, ["-ann"]);

    let mut api = watcher.subscribe(CH).await;
    api.sort();
    assert_eq!(api, ["bob"]);
}

#[tokio::test]
async fn a_refresh_within_the_unload_grace_shows_nothing_and_a_close_leaves_after_it() {
    let relay = TestRelay::start(FAST).await;
    let mut watcher = relay.connect("w", "w1").await;
    watcher.subscribe(CH).await;
    let mut ann = relay.connect("ann", "a1").await;
    ann.enter(CH, json!({})).await.unwrap();
    assert_eq!(watcher.diff().await, ["+ann"]);

    // Refresh: beacon, close marked unloading, the same client back at once.
    assert_eq!(relay.beacon(&ann.session.clone()).await, 204);
    ann.close_unloading().await;
    let mut again = relay.connect("ann", "a1").await;
    again.enter(CH, json!({})).await.unwrap();
    watcher.nothing_for(Duration::from_millis(600)).await;

    // Close: the leave comes after the unload grace (300 ms), not before.
    let closed_at = Instant::now();
    again.close_unloading().await;
    assert_eq!(watcher.diff().await, ["-ann"]);
    let waited = closed_at.elapsed();
    assert!(
        waited >= Duration::from_millis(290) && waited < Duration::from_millis(2_000),
        "{waited:?}"
    );
}

#[tokio::test]
async fn a_dropped_connection_leaves_after_the_reconnect_grace_unless_it_comes_back() {
    let relay = TestRelay::start(FAST).await;
    let mut watcher = relay.connect("w", "w1").await;
    watcher.subscribe(CH).await;
    for (user, client) in [("ann", "a1"), ("bob", "b1")] {
        relay.connect(user, client).await.enter(CH, json!({})).await.unwrap();
        watcher.diff().await;
    }
    // Both sockets above were dropped without a close frame as they went out of scope;
    // bob comes back inside the grace.
    let mut bob = relay.connect("bob", "b1").await;
    bob.enter(CH, json!({})).await.unwrap();
    let started = Instant::now();
    assert_eq!(watcher.diff().await, ["-ann"]);
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    watcher.nothing_for(Duration::from_millis(700)).await;
}

#[tokio::test]
async fn a_silent_client_loses_its_lease_after_the_timeout_while_a_pong_answering_one_keeps_it() {
    let relay = TestRelay::start(FAST).await;
    let mut watcher = relay.connect("w", "w1").await;
    watcher.subscribe(CH).await;
    // The frozen client never reads again, so it never answers the relay's pings.
    let mut frozen = relay.connect("ann", "a1").await;
    frozen.enter(CH, json!({})).await.unwrap();
    assert_eq!(watcher.diff().await, ["+ann"]);
    let started = Instant::now();
    // The watcher sends no frames at all: reading (and so answering pings) keeps it.
    assert_eq!(watcher.diff().await, ["-ann"]);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1_400) && waited < Duration::from_millis(4_000),
        "{waited:?}"
    );
    drop(frozen);
}

#[tokio::test]
async fn count_only_channels_show_counts_and_never_identities() {
    let relay = TestRelay::start(&format!(
        "{FAST}\n[[channel]]\npattern = \"/site/*\"\ncount_only = true\n"
    ))
    .await;
    let mut watcher = relay.connect("w", "w1").await;
    watcher.request(json!({"type": "subscribe", "ch": CH})).await.unwrap();
    let mut ann = relay.connect("ann", "a1").await;
    ann.enter(CH, json!({"secret": "x"})).await.unwrap();
    // Whatever the order of snapshot and diff, the count reaches 1 and no frame names anyone.
    loop {
        let msg = watcher.recv().await;
        let text = msg.encode();
        assert!(
            !text.contains("ann") && !text.contains("secret") && !text.contains("users"),
            "{text}"
        );
        if let ServerMsg::Snapshot { count: 1, .. } | ServerMsg::Diff { count: 1, .. } = msg {
            break;
        }
    }
}

#[tokio::test]
async fn rules_separate_viewing_from_entering_and_tokens_can_grant_channels() {
    let rules = r#"
[[channel]]
pattern = "/staff/**"
public = true
allowed_groups = ["staff"]
[[channel]]
pattern = "/site/*"
"#;
    let relay = TestRelay::start(rules).await;
    let mut user = relay.connect("u", "u1").await;
    assert_eq!(
        user.enter("/staff/room", json!({})).await,
        Err("forbidden_enter".into())
    );
    assert_eq!(user.subscribe("/staff/room").await, Vec::<String>::new());
    assert_eq!(user.enter("/secret/x", json!({})).await, Err("forbidden_enter".into()));
    assert_eq!(
        user.request(json!({"type": "subscribe", "ch": "/secret/x"})).await,
        Err("forbidden_view".into())
    );
    let mut staff = relay.connect_with(&token("s", &["staff"]), "s1").await.unwrap();
    staff.enter("/staff/room", json!({})).await.unwrap();
    let granted = token_with(Claims {
        sub: "g".into(),
        channels: vec!["/secret/*".into()],
        exp: Some(unix_now() + 60),
        ..Claims::default()
    });
    let mut guest = relay.connect_with(&granted, "g1").await.unwrap();
    guest.enter("/secret/x", json!({})).await.unwrap();
    assert_eq!(
        guest.enter("/secret/x/y", json!({})).await,
        Err("forbidden_enter".into())
    );
}

#[tokio::test]
async fn bad_input_gets_its_error_and_changes_nothing() {
    let relay = TestRelay::start(&format!(
        "{FAST}\n[limits]\nmax_channels = 2\nmax_meta_bytes = 64\nmax_frame_bytes = 512\n"
    ))
    .await;
    let mut watcher = relay.connect("w", "w1").await;
    watcher.subscribe(CH).await;
    let mut c = relay.connect("ann", "a1").await;
    async fn error_of(c: &mut TestClient) -> String {
        loop {
            if let ServerMsg::Error { code, message, .. } = c.recv().await {
                assert!(!message.is_empty());
                return code.as_str().to_string();
            }
        }
    }
    c.send_text("{not json").await;
    assert_eq!(error_of(&mut c).await, "bad_frame");
    c.send_text(r#"{"type":"dance","ch":"/site/online"}"#).await;
    assert_eq!(error_of(&mut c).await, "unknown_type");
    c.send_text(r#"{"type":"enter"}"#).await;
    assert_eq!(error_of(&mut c).await, "bad_frame");
    c.ws.send(tokio_tungstenite::tungstenite::Message::binary(vec![1, 2, 3]))
        .await
        .unwrap();
    assert_eq!(error_of(&mut c).await, "bad_frame");
    assert_eq!(
        c.enter(CH, json!({"x": "y".repeat(100)})).await,
        Err("meta_too_large".into())
    );
    assert_eq!(c.enter("site/online", json!({})).await, Err("bad_channel".into()));
    assert_eq!(
        c.enter(&format!("/a/{}", "x".repeat(250)), json!({})).await,
        Err("bad_channel".into())
    );
    assert_eq!(
        c.request(json!({"type": "update", "ch": CH, "meta": {}})).await,
        Err("not_entered".into())
    );
    c.send(json!({"type": "hello", "v": [1], "token": "t", "client": "x"}))
        .await;
    assert_eq!(error_of(&mut c).await, "hello_first");
    c.enter("/a/1", json!({})).await.unwrap();
    c.enter("/a/2", json!({})).await.unwrap();
    assert_eq!(c.enter(CH, json!({})).await, Err("too_many_channels".into()));
    // None of it reached anyone.
    watcher.nothing_for(Duration::from_millis(100)).await;
    let (_, _, body) = call(
        &relay.state,
        "GET",
        "/v1/presence?channel=/site/online",
        &[("authorization", &format!("Bearer {API_KEY}"))],
        "",
    )
    .await;
    assert_eq!(body, r#"{"/site/online":null}"#);
    let (_, _, metrics) = call(&relay.state, "GET", "/metrics", &[], "").await;
    for reason in [
        "bad_frame",
        "unknown_type",
        "meta_too_large",
        "bad_channel",
        "too_many_channels",
    ] {
        assert!(
            metrics.contains(&format!("rollcall_frames_rejected_total{{reason=\"{reason}\"}}")),
            "{reason} in {metrics}"
        );
    }
}

#[tokio::test]
async fn a_flood_is_rate_limited_with_a_retry_after() {
    let relay = TestRelay::start(&format!("{FAST}\n[limits]\nframes_per_second = 5\nframe_burst = 5\n")).await;
    let mut c = relay.connect("ann", "a1").await;
    for _ in 0..8 {
        c.send(json!({"type": "checkin", "status": "active"})).await;
    }
    loop {
        if let ServerMsg::Error {
            code, retry_after_ms, ..
        } = c.recv().await
        {
            assert_eq!(code.as_str(), "rate_limited");
            let wait = retry_after_ms.expect("says how long to wait");
            assert!(wait > 0 && wait <= 200, "{wait}");
            break;
        }
    }
    // After the wait, requests work again.
    tokio::time::sleep(Duration::from_millis(400)).await;
    c.enter(CH, json!({})).await.unwrap();
}

#[tokio::test]
async fn a_sustained_flood_is_told_rate_limited_then_closed_with_1008() {
    let relay = TestRelay::start(&format!("{FAST}\n[limits]\nframes_per_second = 1\nframe_burst = 1\n")).await;
    let mut c = relay.connect("ann", "a1").await;
    // Sent without reading a thing: the relay must still get its last words through.
    for _ in 0..3_000 {
        c.send(json!({"type": "checkin", "status": "active"})).await;
    }
    let (told, code) = c.told_then_closed().await;
    assert_eq!(told.last().map(String::as_str), Some("rate_limited"), "{told:?}");
    assert_eq!(code, Some(1008));
}

#[tokio::test]
async fn a_frame_too_large_is_told_then_closed_with_1009() {
    let relay = TestRelay::start(FAST).await;
    // Over the 16 KiB limit, and five times over it.
    for size in [20 * 1024, 100 * 1024] {
        let mut c = relay.connect("ann", "a1").await;
        c.send_text(&format!(r#"{{"type":"checkin","status":"{}"}}"#, "x".repeat(size)))
            .await;
        assert_eq!(
            c.told_then_closed().await,
            (vec!["frame_too_large".to_string()], Some(1009)),
            "{size}"
        );
    }
    // As the first frame, before any hello.
    let mut c = relay.raw().await;
    c.send_text(&"x".repeat(100 * 1024)).await;
    assert_eq!(
        c.told_then_closed().await,
        (vec!["frame_too_large".to_string()], Some(1009))
    );
    // So large that the relay does not read it at all: the close alone says it.
    let mut c = relay.connect("ann", "a1").await;
    c.send_text(&"x".repeat(2 * 1024 * 1024)).await;
    assert_eq!(c.told_then_closed().await, (vec![], Some(1009)));
    // The relay is still fine, and counted them.
    relay.connect("bob", "b1").await.enter(CH, json!({})).await.unwrap();
    let (_, _, metrics) = call(&relay.state, "GET", "/metrics", &[], "").await;
    assert!(
        metrics.contains("rollcall_frames_rejected_total{reason=\"frame_too_large\"} 3"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_clean_close_is_answered_with_1000() {
    let relay = TestRelay::start(FAST).await;
    let mut c = relay.connect("ann", "a1").await;
    c.ws.close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
        code: 1000.into(),
        reason: "bye".into(),
    }))
    .await
    .unwrap();
    assert_eq!(c.closed().await, Some(1000));
    // Before the hello too.
    let mut c = relay.raw().await;
    c.ws.close(None).await.unwrap();
    assert_eq!(
        c.told_then_closed().await,
        (vec![], None),
        "an empty close is answered empty"
    );
}

#[tokio::test]
async fn hello_refusals_are_told_and_closed() {
    let relay = TestRelay::start(FAST).await;
    let forged = rollcall_relay::auth::sign(
        "some-other-secret-0123",
        &Claims {
            sub: "x".into(),
            ..Claims::default()
        },
    );
    assert_eq!(
        relay.connect_with(&forged, "c1").await.err(),
        Some(("bad_token".into(), Some(4003)))
    );
    assert_eq!(
        relay.connect_with("garbage", "c1").await.err(),
        Some(("bad_token".into(), Some(4003)))
    );
    let expired = token_with(Claims {
        sub: "x".into(),
        exp: Some(unix_now() - 5),
        ..Claims::default()
    });
    assert_eq!(
        relay.connect_with(&expired, "c1").await.err(),
        Some(("token_expired".into(), Some(4003)))
    );
    assert_eq!(
        relay.connect_with(&token("x", &[]), "bad id!").await.err(),
        Some(("bad_client_id".into(), Some(4003)))
    );

    let mut raw = relay.raw().await;
    raw.send(json!({"type": "enter", "ch": CH})).await;
    assert!(matches!(raw.recv().await, ServerMsg::Error { code, .. } if code.as_str() == "hello_first"));
    assert_eq!(raw.closed().await, Some(4003));

    let mut raw = relay.raw().await;
    raw.send(json!({"type": "hello", "v": [99], "token": token("x", &[]), "client": "c"}))
        .await;
    assert!(matches!(raw.recv().await, ServerMsg::Error { code, .. } if code.as_str() == "unsupported_version"));
}

#[tokio::test]
async fn welcome_tells_the_terms_and_a_resumed_client_knows_it() {
    let relay = TestRelay::start(FAST).await;
    let mut a = relay.raw().await;
    a.send(json!({"type": "hello", "v": [1], "token": token("ann", &[]), "client": "a1"}))
        .await;
    let ServerMsg::Welcome {
        v,
        resumed,
        user,
        terms,
        session,
    } = a.recv().await
    else {
        panic!()
    };
    assert_eq!(
        (v, resumed, user.id.as_str(), user.name.as_deref()),
        (1, false, "ann", Some("User ann"))
    );
    assert_eq!(terms.unload_grace_ms, 300);
    assert_eq!(session.len(), 32);
    a.send(json!({"type": "enter", "ch": CH})).await;
    a.drop_tcp();
    let mut b = relay.raw().await;
    b.send(json!({"type": "hello", "v": [1], "token": token("ann", &[]), "client": "a1"}))
        .await;
    assert!(matches!(b.recv().await, ServerMsg::Welcome { resumed: true, .. }));
}

/// Protocol 1.2: the relay answers a check-in that carries a `ref`, and says in its
/// welcome how soon; a check-in without one (a client older than 1.2) gets no answer,
/// as before.
#[tokio::test]
async fn a_checkin_with_a_ref_is_answered_and_one_without_is_not() {
    let relay = TestRelay::start(FAST).await;
    let mut c = relay.connect("ann", "a1").await;
    // Half of what the 1.5 s lease leaves after a 1 s check-in, at least 3 s.
    assert_eq!(c.terms.as_ref().unwrap().checkin_answer_ms, Some(3_000));
    c.request(json!({"type": "checkin", "status": "idle"})).await.unwrap();
    // The answer to the second proves the first had none: frames are answered in order.
    c.send(json!({"type": "checkin", "status": "active"})).await;
    c.send(json!({"type": "checkin", "status": "hidden", "ref": 90})).await;
    assert_eq!(c.recv().await, ServerMsg::Ok { reference: 90 });
    // A ref that is not an unsigned integer is a bad frame, answered without a ref.
    c.send(json!({"type": "checkin", "status": "active", "ref": -1})).await;
    assert!(matches!(
        c.recv().await,
        ServerMsg::Error { reference: None, code, .. } if code.as_str() == "bad_frame"
    ));
    c.request(json!({"type": "checkin", "status": "active"})).await.unwrap();
}

#[tokio::test]
async fn a_newer_connection_of_the_same_client_replaces_the_older_one() {
    let relay = TestRelay::start(FAST).await;
    let mut old = relay.connect("ann", "a1").await;
    old.enter(CH, json!({})).await.unwrap();
    let _new = relay.connect("ann", "a1").await;
    assert_eq!(old.closed().await, Some(4009));
}

#[tokio::test]
async fn an_expiring_token_is_told_and_a_new_one_keeps_the_place() {
    let relay = TestRelay::start(FAST).await;
    let short = token_with(Claims {
        sub: "ann".into(),
        exp: Some(unix_now() + 1),
        ..Claims::default()
    });
    let mut ann = relay.connect_with(&short, "a1").await.unwrap();
    ann.enter(CH, json!({})).await.unwrap();
    loop {
        if let ServerMsg::Error { code, .. } = ann.recv().await {
            assert_eq!(code.as_str(), "token_expired");
            break;
        }
    }
    assert_eq!(
        ann.request(json!({"type": "token", "token": token("bob", &[])})).await,
        Err("token_mismatch".into())
    );
    ann.request(json!({"type": "token", "token": token("ann", &[])}))
        .await
        .unwrap();
    // Past the token grace (the reconnect grace, 600 ms) the connection stays.
    ann.nothing_for(Duration::from_millis(900)).await;
    let mut watcher = relay.connect("w", "w1").await;
    assert_eq!(watcher.subscribe(CH).await, ["ann"]);
}

#[tokio::test]
async fn the_server_api_needs_the_key_and_answers_per_channel() {
    let relay = TestRelay::start(FAST).await;
    let mut ann = relay.connect("ann", "a1").await;
    ann.enter(CH, json!({"typing": true})).await.unwrap();
    let s = &relay.state;
    assert_eq!(
        call(s, "GET", "/v1/presence?channel=/site/online", &[], "").await.0,
        401
    );
    assert_eq!(
        call(
            s,
            "GET",
            "/v1/presence?channel=/site/online",
            &[("authorization", "Bearer wrong")],
            ""
        )
        .await
        .0,
        401
    );
    let auth = format!("Bearer {API_KEY}");
    let (status, _, body) = call(
        s,
        "GET",
        "/v1/presence?channel=/site/online&channel=/topic/9",
        &[("authorization", &auth)],
        "",
    )
    .await;
    assert_eq!(status, 200);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["/site/online"]["count"], 1);
    assert_eq!(
        body["/site/online"]["users"][0],
        json!({"id": "ann", "name": "User ann", "status": "active", "meta": {"typing": true}})
    );
    assert_eq!(body["/topic/9"], Value::Null);
    let many: String = (0..51).map(|i| format!("channel=/t/{i}&")).collect();
    let (status, _, body) = call(
        s,
        "GET",
        &format!("/v1/presence?{many}"),
        &[("authorization", &auth)],
        "",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        call(s, "GET", "/v1/presence?channel=nope", &[("authorization", &auth)], "")
            .await
            .0,
        400
    );
    let (status, _, health) = call(s, "GET", "/healthz", &[], "").await;
    assert_eq!(
        (status, serde_json::from_str::<Value>(&health).unwrap()["store"].clone()),
        (200, json!("memory"))
    );
    let (_, _, metrics) = call(s, "GET", "/metrics", &[], "").await;
    for name in [
        "rollcall_connections 1",
        "rollcall_members 1",
        "rollcall_frames_in_total",
        "rollcall_leases_ended_total{cause=\"lease_timeout\"} 0",
    ] {
        assert!(metrics.contains(name), "{name} in {metrics}");
    }
}

#[tokio::test]
async fn the_beacon_takes_what_send_beacon_sends_cross_origin() {
    let relay = TestRelay::start(FAST).await;
    let ann = relay.connect("ann", "a1").await;
    let body = json!({"session": ann.session}).to_string();
    let (status, headers, _) = call(
        &relay.state,
        "POST",
        "/v1/beacon",
        &[
            ("content-type", "text/plain;charset=UTF-8"),
            ("origin", "https://site.example"),
        ],
        &body,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(
        headers.get("access-control-allow-origin").map(|v| v.to_str().unwrap()),
        Some("*")
    );
    assert_eq!(relay.beacon("0123456789abcdef0123456789abcdef").await, 404);
    assert_eq!(call(&relay.state, "POST", "/v1/beacon", &[], "{oops").await.0, 400);
}

#[tokio::test]
async fn allowed_origins_narrow_cors_and_websocket_upgrades() {
    let relay = TestRelay::start(&format!("allowed_origins = [\"https://good.example\"]\n{FAST}")).await;
    let (_, headers, _) = call(
        &relay.state,
        "POST",
        "/v1/beacon",
        &[("origin", "https://evil.example")],
        "{}",
    )
    .await;
    assert!(headers.get("access-control-allow-origin").is_none());
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
        "ws://{}/v1/ws",
        relay.addr
    ))
    .unwrap();
    req.headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    assert!(tokio_tungstenite::connect_async(req).await.is_err());
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
        "ws://{}/v1/ws",
        relay.addr
    ))
    .unwrap();
    req.headers_mut()
        .insert("origin", "https://good.example".parse().unwrap());
    assert!(tokio_tungstenite::connect_async(req).await.is_ok());
}

#[tokio::test]
async fn shutdown_closes_every_connection_with_relay_restarting() {
    let relay = TestRelay::start(FAST).await;
    let mut a = relay.connect("ann", "a1").await;
    let mut b = relay.connect("bob", "b1").await;
    a.enter(CH, json!({})).await.unwrap();
    let closing = tokio::spawn(async move { (a.closed().await, b.closed().await) });
    relay.stop().await;
    assert_eq!(closing.await.unwrap(), (Some(1012), Some(1012)));
}

#[tokio::test]
async fn a_thousand_members_join_as_a_handful_of_frames() {
    let relay = TestRelay::start("[presence]\nflush_interval_ms = 50\n").await;
    let mut watcher = relay.connect("w", "w1").await;
    watcher.subscribe(CH).await;
    let mut clients = Vec::new();
    for i in 0..1000 {
        let mut c = relay.connect(&format!("u{i}"), "c").await;
        c.send(json!({"type": "enter", "ch": CH})).await;
        clients.push(c);
    }
    let mut frames = 0;
    let mut seen = 0;
    while seen < 1000 {
        seen += watcher.diff().await.len();
        frames += 1;
    }
    assert_eq!(seen, 1000);
    assert!(frames < 100, "{frames} frames for 1000 joins");
}
