//! Channels the site decides, against a small HTTP server that plays the site: it checks
//! each question's signature, counts the calls, and answers as the test tells it (allow,
//! deny, no such channel, slowly, not at all), and may change its mind.

mod common;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use common::*;
use rollcall_core::protocol::ServerMsg;
use rollcall_relay::clock::unix_now;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SITE_SECRET: &str = "site-secret-0123456789abcdef";

/// How the site answers one question.
#[derive(Clone)]
enum Reply {
    Json(Value),
    Status(u16),
    /// Answer after this long.
    Slow(Duration, Value),
}

type Rule = Box<dyn Fn(&Value) -> Reply + Send>;

#[derive(Default)]
struct Seen {
    questions: Vec<Value>,
    bad_signatures: usize,
}

struct Site {
    url: String,
    rule: Arc<Mutex<Rule>>,
    seen: Arc<Mutex<Seen>>,
}

#[derive(Clone)]
struct SiteState {
    rule: Arc<Mutex<Rule>>,
    seen: Arc<Mutex<Seen>>,
}

async fn decide(State(s): State<SiteState>, headers: HeaderMap, body: String) -> Response {
    let signature = headers
        .get("rollcall-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !rollcall_relay::webhooks::verify(SITE_SECRET, signature, body.as_bytes(), unix_now(), 300) {
        s.seen.lock().unwrap().bad_signatures += 1;
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let question: Value = serde_json::from_str(&body).expect("a JSON question");
    let reply = (s.rule.lock().unwrap())(&question);
    s.seen.lock().unwrap().questions.push(question);
    match reply {
        Reply::Json(v) => Json(v).into_response(),
        Reply::Status(code) => StatusCode::from_u16(code).unwrap().into_response(),
        Reply::Slow(wait, v) => {
            tokio::time::sleep(wait).await;
            Json(v).into_response()
        }
    }
}

impl Site {
    async fn start(rule: impl Fn(&Value) -> Reply + Send + 'static) -> Site {
        let state = SiteState {
            rule: Arc::new(Mutex::new(Box::new(rule))),
            seen: Arc::default(),
        };
        let app = Router::new().route("/decide", post(decide)).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/decide", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Site {
            url,
            rule: state.rule,
            seen: state.seen,
        }
    }

    fn answer(&self, rule: impl Fn(&Value) -> Reply + Send + 'static) {
        *self.rule.lock().unwrap() = Box::new(rule);
    }

    fn calls(&self) -> usize {
        let seen = self.seen.lock().unwrap();
        assert_eq!(seen.bad_signatures, 0, "every question is signed with the secret");
        seen.questions.len()
    }

    fn questions(&self) -> Vec<Value> {
        self.seen.lock().unwrap().questions.clone()
    }
}

/// The forum's rule: anyone may enter `/topic/1`, `/topic/2` is private, `/topic/9` does
/// not exist; others may be watched.
fn forum(q: &Value) -> Reply {
    Reply::Json(match q["channel"].as_str().unwrap() {
        "/topic/1" => json!({"enter": true}),
        "/topic/2" => json!({"view": false, "enter": false}),
        "/topic/9" => json!({"exists": false}),
        _ => json!({"view": true}),
    })
}

fn config(site: &Site, extra: &str) -> String {
    format!(
        "[decisions]\nurl = \"{}\"\nsecret = \"{SITE_SECRET}\"\n{extra}\n[[channel]]\npattern = \"/topic/*\"\nask_site = true\n",
        site.url
    )
}

/// The next error told to this client, skipping other frames.
async fn next_error(c: &mut TestClient) -> (String, Option<String>, String, Option<u64>) {
    loop {
        if let ServerMsg::Error {
            code,
            ch,
            message,
            retry_after_ms,
            ..
        } = c.recv().await
        {
            return (code.as_str().to_string(), ch, message, retry_after_ms);
        }
    }
}

/// A request's refusal: (code, message, retry_after_ms).
async fn refused(c: &mut TestClient, frame: Value) -> (String, String, Option<u64>) {
    c.send(frame).await;
    loop {
        match c.recv().await {
            ServerMsg::Error {
                reference: Some(_),
                code,
                message,
                retry_after_ms,
                ..
            } => return (code.as_str().to_string(), message, retry_after_ms),
            ServerMsg::Ok { .. } => panic!("accepted"),
            _ => continue,
        }
    }
}

fn present(relay: &TestRelay, ch: &str) -> Vec<String> {
    relay
        .state
        .hub
        .presence(ch)
        .unwrap_or_default()
        .into_iter()
        .map(|m| m.id)
        .collect()
}

#[tokio::test]
async fn the_site_lets_a_user_enter_topic_1_but_not_topic_2_and_says_which_topics_do_not_exist() {
    let site = Site::start(forum).await;
    let relay = TestRelay::start(&config(&site, "")).await;
    let mut ann = relay.connect("ann", "a1").await;
    ann.enter("/topic/1", json!({}))
        .await
        .expect("the site allows /topic/1");
    let (code, message, _) = refused(&mut ann, json!({"type": "enter", "ch": "/topic/2", "ref": 90})).await;
    assert_eq!(code, "forbidden_enter");
    assert!(message.contains("site"), "{message}");
    let (code, message, _) = refused(&mut ann, json!({"type": "subscribe", "ch": "/topic/9", "ref": 91})).await;
    assert_eq!(code, "forbidden_view");
    assert!(message.contains("does not exist"), "{message}");
    let (code, _, _) = refused(&mut ann, json!({"type": "enter", "ch": "/topic/3", "ref": 92})).await;
    assert_eq!(code, "forbidden_enter", "a watcher may not enter");
    assert_eq!(ann.subscribe("/topic/3").await, Vec::<String>::new(), "but may watch");
    assert_eq!(present(&relay, "/topic/1"), ["ann"]);

    // Answers are cached per user and channel: asking again costs nothing.
    let calls = site.calls();
    assert_eq!(calls, 4);
    ann.enter("/topic/1", json!({"again": true})).await.unwrap();
    ann.subscribe("/topic/1").await;
    assert_eq!(site.calls(), calls, "answered from the cache");
    let mut bob = relay.connect("bob", "b1").await;
    bob.enter("/topic/1", json!({})).await.unwrap();
    assert_eq!(site.calls(), calls + 1, "another user is another question");

    let q = &site.questions()[0];
    assert_eq!(q["type"], "channel.decide");
    assert_eq!(
        (q["action"].as_str(), q["channel"].as_str()),
        (Some("enter"), Some("/topic/1"))
    );
    assert_eq!(q["user"]["id"], "ann");
    assert_eq!(q["claims"]["sub"], "ann");
    // Channels no rule sends to the site are not asked about.
    let static_relay = TestRelay::start(&format!("{}[[channel]]\npattern = \"/site/*\"\n", config(&site, ""))).await;
    let mut carl = static_relay.connect("carl", "c1").await;
    carl.enter("/site/online", json!({})).await.unwrap();
    assert_eq!(site.calls(), calls + 1);
}

#[tokio::test]
async fn concurrent_requests_for_one_user_and_channel_share_one_call() {
    let site = Site::start(|_| Reply::Slow(Duration::from_millis(300), json!({"enter": true}))).await;
    let relay = TestRelay::start(&config(&site, "")).await;
    let mut tabs = Vec::new();
    for i in 0..12 {
        tabs.push(relay.connect("ann", &format!("tab{i}")).await);
    }
    let answers = futures_util::future::join_all(tabs.iter_mut().enumerate().map(|(i, tab)| async move {
        if i % 2 == 0 {
            tab.enter("/topic/1", json!({})).await
        } else {
            tab.request(json!({"type": "subscribe", "ch": "/topic/1"})).await
        }
    }))
    .await;
    assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    assert_eq!(site.calls(), 1, "one call for twelve requests");
    assert_eq!(present(&relay, "/topic/1"), ["ann"]);

    let mut others = Vec::new();
    for user in ["bob", "carl", "dan"] {
        others.push(relay.connect(user, "x").await);
    }
    let answers = futures_util::future::join_all(others.iter_mut().map(|c| c.enter("/topic/1", json!({})))).await;
    assert!(answers.iter().all(Result::is_ok));
    assert_eq!(site.calls(), 4, "one call per user");
}

#[tokio::test]
async fn a_site_that_changes_its_mind_takes_the_user_out_when_the_answer_expires() {
    let site = Site::start(|_| Reply::Json(json!({"enter": true}))).await;
    let relay = TestRelay::start(&config(&site, "ttl_ms = 400")).await;
    let mut ann = relay.connect("ann", "a1").await;
    ann.enter("/topic/1", json!({})).await.unwrap();
    let mut bob = relay.connect("bob", "b1").await;
    assert_eq!(bob.subscribe("/topic/1").await, ["ann"]);
    site.answer(|q| {
        Reply::Json(if q["user"]["id"] == "ann" {
            json!({"view": true})
        } else {
            json!({"enter": true})
        })
    });
    // Nothing changes before the TTL: the answer holds.
    assert_eq!(present(&relay, "/topic/1"), ["ann"]);
    assert_eq!(bob.diff().await, ["-ann"], "bob sees ann leave when her answer expires");
    let (code, ch, _, _) = next_error(&mut ann).await;
    assert_eq!((code.as_str(), ch.as_deref()), ("forbidden_enter", Some("/topic/1")));
    assert!(present(&relay, "/topic/1").is_empty());
    let rechecks: Vec<Value> = site
        .questions()
        .into_iter()
        .filter(|q| q["action"] == "recheck")
        .collect();
    assert!(rechecks.iter().any(|q| q["user"]["id"] == "ann"), "{rechecks:?}");
    // Ann may still watch, but not enter.
    ann.request(json!({"type": "subscribe", "ch": "/topic/1"}))
        .await
        .expect("ann may still watch");
    let (code, _, _) = refused(&mut ann, json!({"type": "enter", "ch": "/topic/1", "ref": 77})).await;
    assert_eq!(code, "forbidden_enter");

    // A user who left is not asked about again: only users still there cost a call.
    let mut carl = relay.connect("carl", "c1").await;
    carl.enter("/topic/5", json!({})).await.unwrap();
    carl.request(json!({"type": "leave", "ch": "/topic/5"})).await.unwrap();
    let rechecks_of = |user: &str| {
        site.questions()
            .iter()
            .filter(|q| q["action"] == "recheck" && q["user"]["id"] == user)
            .count()
    };
    // Bob, still watching, is rechecked every TTL; wait for two of his rechecks, by
    // which time carl's answer has expired too.
    let bob_before = rechecks_of("bob");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while rechecks_of("bob") < bob_before + 2 {
        assert!(tokio::time::Instant::now() < deadline, "bob is rechecked");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(rechecks_of("carl"), 0, "carl left: his answer expired without a call");
    drop(carl);
}

#[tokio::test]
async fn a_slow_site_gets_a_timeout_and_a_down_one_a_pause_unavailable_with_a_retry_hint_and_no_storm() {
    let site = Site::start(|_| Reply::Slow(Duration::from_secs(10), json!({"enter": true}))).await;
    let relay = TestRelay::start(&config(&site, "timeout_ms = 200\nretry_after_ms = 600")).await;
    let mut ann = relay.connect("ann", "a1").await;
    let started = tokio::time::Instant::now();
    let (code, message, retry) = refused(&mut ann, json!({"type": "enter", "ch": "/topic/1", "ref": 1})).await;
    assert!(started.elapsed() < Duration::from_secs(2), "the timeout ended the wait");
    assert_eq!(code, "unavailable");
    assert!(message.contains("site"), "{message}");
    assert_eq!(retry, Some(600));
    // Meanwhile every other question is refused at once, without calling the site.
    let mut users = Vec::new();
    for i in 0..10 {
        users.push(relay.connect(&format!("u{i}"), "x").await);
    }
    for (i, u) in users.iter_mut().enumerate() {
        let (code, _, retry) = refused(
            u,
            json!({"type": "enter", "ch": format!("/topic/{}", 10 + i), "ref": 1}),
        )
        .await;
        assert_eq!(code, "unavailable");
        assert!(retry.is_some_and(|r| r > 0 && r <= 600), "{retry:?}");
    }
    assert_eq!(site.calls(), 1, "no storm: one call while the site is down");
    assert!(relay
        .state
        .decisions
        .render_metrics()
        .contains("rollcall_decisions_requests_total{result=\"failed\"} 1"));

    // A site that errors is down too; when it is back, the next try after the hint passes.
    site.answer(|_| Reply::Status(503));
    tokio::time::sleep(Duration::from_millis(650)).await;
    let (code, _, _) = refused(&mut ann, json!({"type": "enter", "ch": "/topic/1", "ref": 2})).await;
    assert_eq!(code, "unavailable", "a 503 is not an answer");
    site.answer(|_| Reply::Json(json!({"enter": true})));
    tokio::time::sleep(Duration::from_millis(650)).await;
    ann.enter("/topic/1", json!({})).await.expect("the site is back");
    assert_eq!(site.calls(), 3);
}

#[tokio::test]
async fn presences_granted_are_kept_until_the_ttl_while_the_site_is_down_then_taken_back() {
    // A down window far past the test's patience: a presence kept until the site may be
    // asked again, rather than until its answer expires, would time the test out.
    let (ttl_ms, retry_after_ms) = (1_500, 60_000);
    let site = Site::start(|_| Reply::Json(json!({"enter": true}))).await;
    let relay = TestRelay::start(&config(
        &site,
        &format!("ttl_ms = {ttl_ms}\ntimeout_ms = 200\nretry_after_ms = {retry_after_ms}"),
    ))
    .await;
    let mut ann = relay.connect("ann", "a1").await;
    let granted = relay.state.hub.now();
    ann.enter("/topic/1", json!({})).await.unwrap();
    let mut bob = relay.connect("bob", "b1").await;
    assert_eq!(bob.subscribe("/topic/1").await, ["ann"]);
    site.answer(|_| Reply::Status(500));
    // Carl's question fails now; ann is kept: her answer has not expired.
    let mut carl = relay.connect("carl", "c1").await;
    let (code, _, _) = refused(&mut carl, json!({"type": "subscribe", "ch": "/topic/1", "ref": 5})).await;
    assert_eq!(code, "unavailable");
    assert_eq!(present(&relay, "/topic/1"), ["ann"]);
    // When it expires and the site still cannot answer, the right is not kept: never
    // open by default. Ann is told to retry when the site may be asked again.
    let (code, ch, _, retry) = next_error(&mut ann).await;
    assert_eq!((code.as_str(), ch.as_deref()), ("unavailable", Some("/topic/1")));
    assert!(retry.is_some_and(|r| r > 0 && r <= retry_after_ms), "{retry:?}");
    assert!(
        relay.state.hub.now() >= granted + ttl_ms,
        "kept until the answer expired, not less"
    );
    assert!(present(&relay, "/topic/1").is_empty());
    // Bob's own answer came a moment after ann's and expires with the site just as
    // down: he stops watching too, told why. Whether ann's leave reaches him first
    // depends on which of the two expiries is applied first, and on whether the
    // channel flushed in between; if anything reaches him before, it is that leave.
    loop {
        match bob.recv().await {
            ServerMsg::Diff {
                join, leave, update, ..
            } => {
                assert!(join.is_empty() && update.is_empty() && leave == ["ann"], "{leave:?}");
            }
            ServerMsg::Error {
                code,
                ch,
                retry_after_ms: r,
                ..
            } => {
                assert_eq!((code.as_str(), ch.as_deref()), ("unavailable", Some("/topic/1")));
                assert!(r.is_some_and(|r| r > 0 && r <= retry_after_ms), "{r:?}");
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn the_server_api_removes_a_user_at_once_and_forgets_answers_so_the_site_is_asked_again() {
    let site = Site::start(|_| Reply::Json(json!({"enter": true}))).await;
    let relay = TestRelay::start(&config(&site, "")).await;
    let mut ann = relay.connect("ann", "a1").await;
    ann.enter("/topic/1", json!({})).await.unwrap();
    let mut bob = relay.connect("bob", "b1").await;
    bob.enter("/topic/1", json!({})).await.unwrap();
    assert_eq!(bob.subscribe("/topic/1").await, ["ann", "bob"]);
    let auth = [("authorization", "Bearer test-api-key")];

    let (status, _, _) = call(&relay.state, "DELETE", "/v1/channels/%2Ftopic%2F1/users/ann", &[], "").await;
    assert_eq!(status, 401, "behind the API key");
    let (status, _, body) = call(&relay.state, "DELETE", "/v1/channels/%2Ftopic%2F1/users/ann", &auth, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"left": 1, "unwatched": 0})
    );
    assert_eq!(bob.diff().await, ["-ann"]);
    let (code, ch, _, _) = next_error(&mut ann).await;
    assert_eq!((code.as_str(), ch.as_deref()), ("forbidden_enter", Some("/topic/1")));
    // Her answer was forgotten: coming back asks the site, which now says no.
    site.answer(|q| {
        Reply::Json(if q["user"]["id"] == "ann" {
            json!({})
        } else {
            json!({"enter": true})
        })
    });
    let calls = site.calls();
    let (code, _, _) = refused(&mut ann, json!({"type": "enter", "ch": "/topic/1", "ref": 3})).await;
    assert_eq!(code, "forbidden_enter");
    assert_eq!(site.calls(), calls + 1);

    // Forgetting a channel's answers asks again at once for everyone still there.
    site.answer(|_| Reply::Json(json!({"view": true})));
    let (status, _, body) = call(&relay.state, "DELETE", "/v1/decisions?channel=%2Ftopic%2F1", &auth, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["forgotten"], 2);
    // Bob may only watch now: he is told, taken out, and still watches.
    let (mut told, mut diff) = (None, None);
    while told.is_none() || diff.is_none() {
        match bob.recv().await {
            ServerMsg::Error { code, ch, .. } => told = Some((code.as_str().to_string(), ch)),
            ServerMsg::Diff { leave, .. } => diff = Some(leave),
            _ => {}
        }
    }
    assert_eq!(
        told,
        Some(("forbidden_enter".to_string(), Some("/topic/1".to_string())))
    );
    assert_eq!(diff, Some(vec!["bob".to_string()]));
    let (status, _, body) = call(&relay.state, "DELETE", "/v1/decisions", &auth, "").await;
    assert_eq!(status, 400, "{body}");
    let (status, _, body) = call(&relay.state, "DELETE", "/v1/channels/topic/users/ann", &auth, "").await;
    assert_eq!(
        (status, body.contains("%2Ftopic")),
        (400, true),
        "the error says how to write it: {body}"
    );
    let (status, _, _) = call(&relay.state, "DELETE", "/v1/channels//topic/1/users/ann", &auth, "").await;
    assert_eq!(status, 404, "an unencoded channel is not a route");
}

#[tokio::test]
async fn the_cache_stays_bounded_and_keeps_the_answers_in_use() {
    let site = Site::start(|q| {
        Reply::Json(if q["channel"].as_str().unwrap().starts_with("/topic/open") {
            json!({"enter": true})
        } else {
            json!({})
        })
    })
    .await;
    let relay = TestRelay::start(&config(&site, "max_entries = 5")).await;
    let mut ann = relay.connect("ann", "a1").await;
    for i in 0..3 {
        ann.enter(&format!("/topic/open{i}"), json!({})).await.unwrap();
    }
    for i in 0..20 {
        let (code, _, _) = refused(
            &mut ann,
            json!({"type": "enter", "ch": format!("/topic/closed{i}"), "ref": 100 + i}),
        )
        .await;
        assert_eq!(code, "forbidden_enter");
    }
    let metrics = relay.state.decisions.render_metrics();
    assert!(metrics.contains("rollcall_decisions_cached 5\n"), "{metrics}");
    assert!(metrics.contains("rollcall_decisions_max_entries 5\n"), "{metrics}");
    assert!(metrics.contains("rollcall_decisions_evicted_total 18\n"), "{metrics}");
    assert_eq!(site.calls(), 23);
    // The answers ann's presences rely on were kept: no call to enter again.
    for i in 0..3 {
        ann.enter(&format!("/topic/open{i}"), json!({})).await.unwrap();
    }
    assert_eq!(site.calls(), 23);
    let (_, _, body) = call(&relay.state, "GET", "/metrics", &[], "").await;
    assert!(body.contains("rollcall_decisions_cached 5"), "/metrics shows it");
}

#[test]
fn a_decisions_section_is_read_and_checked_by_name() {
    let c = rollcall_relay::config::Config::from_toml(
        "[webhooks]\nsecret = \"0123456789abcdef0123\"\n[decisions]\nurl = \"https://example.com/rollcall/decide\"\nask_unmatched = true\n",
    )
    .unwrap();
    assert_eq!(c.decisions.ttl_ms, 120_000, "two minutes, as Discourse");
    assert_eq!(
        c.decisions.secret.as_ref().map(|s| s.0.as_str()),
        Some("0123456789abcdef0123")
    );
    for (toml, key) in [
        ("[[channel]]\npattern = \"/t/*\"\nask_site = true\n", "decisions.url"),
        ("[decisions]\nurl = \"https://x/\"\n", "decisions.secret"),
        ("[decisions]\nurl = \"https://x/\"\nsecret = \"0123456789abcdef\"\ntimeout_ms = 0\n", "decisions.timeout_ms"),
        ("[decisions]\nttl = 5\n", "ttl"),
        (
            "[decisions]\nurl = \"https://x/\"\nsecret = \"0123456789abcdef\"\n[[channel]]\npattern = \"/t/*\"\nask_site = true\npublic = true\n",
            "public",
        ),
    ] {
        let err = rollcall_relay::config::Config::from_toml(toml).unwrap_err();
        assert!(err.contains(key), "{key}: {err}");
    }
}

async fn both_listening(relays: &[&TestRelay]) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !relays.iter().all(|r| r.state.decisions.shared_up()) {
        assert!(tokio::time::Instant::now() < deadline, "the relays subscribe to redis");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Two relays asking at once about the same user and channel, of a site that says yes
/// to the first call and no to the second: both use the one answer stored first.
#[tokio::test]
async fn two_relays_on_redis_agree_on_one_answer_even_when_they_ask_at_once() {
    let redis = RedisServer::start();
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = calls.clone();
    let site = Site::start(move |_| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let answer = if n % 2 == 0 { json!({"enter": true}) } else { json!({}) };
        Reply::Slow(Duration::from_millis(200), answer)
    })
    .await;
    let toml = format!("redis_url = \"{}\"\n{}", redis.url(), config(&site, ""));
    let a = TestRelay::start(&toml).await;
    let b = TestRelay::start(&toml).await;
    both_listening(&[&a, &b]).await;
    let mut on_a = a.connect("ann", "laptop").await;
    let mut on_b = b.connect("ann", "phone").await;
    let (at_a, at_b) = tokio::join!(on_a.enter("/topic/1", json!({})), on_b.enter("/topic/1", json!({})));
    assert_eq!(site.calls(), 2, "both asked: nothing was stored yet");
    assert_eq!(
        at_a.is_ok(),
        at_b.is_ok(),
        "one answer for both relays: {at_a:?} {at_b:?}"
    );
    // A third relay's user of the same answer does not ask again.
    let c = TestRelay::start(&toml).await;
    let mut on_c = c.connect("ann", "tablet").await;
    assert_eq!(on_c.enter("/topic/1", json!({})).await.is_ok(), at_a.is_ok());
    assert_eq!(site.calls(), 2, "the third relay found the answer in redis");
    assert!(redis
        .cli(&["pttl", "rc:{/topic/1}:d:ann"])
        .is_some_and(|t| t.trim().parse::<i64>().is_ok_and(|ms| ms > 0 && ms <= 120_000)));
}

#[tokio::test]
async fn with_redis_a_removal_or_a_forgotten_answer_on_one_relay_holds_on_every_relay() {
    let redis = RedisServer::start();
    let site = Site::start(|_| Reply::Json(json!({"enter": true}))).await;
    let toml = format!("redis_url = \"{}\"\n{}", redis.url(), config(&site, ""));
    let a = TestRelay::start(&toml).await;
    let b = TestRelay::start(&toml).await;
    both_listening(&[&a, &b]).await;
    let mut ann_a = a.connect("ann", "laptop").await;
    ann_a.enter("/topic/1", json!({})).await.unwrap();
    let mut ann_b = b.connect("ann", "phone").await;
    ann_b.enter("/topic/1", json!({})).await.unwrap();
    assert_eq!(site.calls(), 1, "relay b used relay a's answer");
    let mut bob = b.connect("bob", "b1").await;
    bob.enter("/topic/1", json!({})).await.unwrap();
    let seen = bob.subscribe("/topic/1").await;
    assert_eq!(seen, ["ann", "bob"]);

    site.answer(|q| {
        Reply::Json(if q["user"]["id"] == "ann" {
            json!({})
        } else {
            json!({"enter": true})
        })
    });
    let auth = [("authorization", "Bearer test-api-key")];
    let (status, _, body) = call(&a.state, "DELETE", "/v1/channels/%2Ftopic%2F1/users/ann", &auth, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(bob.diff().await, ["-ann"], "gone from relay b too");
    let (code, _, _, _) = next_error(&mut ann_b).await;
    assert_eq!(code, "forbidden_enter");
    let (code, _, _) = refused(&mut ann_b, json!({"type": "enter", "ch": "/topic/1", "ref": 9})).await;
    assert_eq!(code, "forbidden_enter", "relay b asked the site again");
    assert_eq!(
        redis.cli(&["get", "rc:{/topic/1}:d:ann"]).map(|s| s.trim().to_string()),
        Some(r#"{"enter":false}"#.to_string()),
        "the new answer is the one stored"
    );

    // Forgetting a channel's answers on relay a makes relay b ask again for bob.
    site.answer(|_| Reply::Json(json!({"view": true})));
    let (status, _, body) = call(&a.state, "DELETE", "/v1/decisions?channel=%2Ftopic%2F1", &auth, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(bob.diff().await, ["-bob"], "relay b rechecked bob at once");
}
