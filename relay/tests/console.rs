//! The operator console over real sockets: its key, its live stream (causes, a slow
//! console, no work without one), its webhook test event and what it reads.

mod common;
mod hooks;

use hooks::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CH: &str = "/site/online";

fn console_config(extra: &str) -> String {
    format!(
        r#"
[presence]
unload_grace_ms = 300
reconnect_grace_ms = 600
flush_interval_ms = 10
[ledger]
heartbeat_ms = 100
{extra}
"#
    )
}

async fn call(
    relay: &TestRelay,
    method: &str,
    path: &str,
    key: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let client = reqwest::Client::new();
    let mut req = client.request(method.parse().unwrap(), format!("http://{}{path}", relay.addr));
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    let res = req.send().await.expect("relay answers");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, headers, res.text().await.unwrap())
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

async fn metrics(relay: &TestRelay) -> String {
    call(relay, "GET", "/metrics", None).await.2
}

/// The live stream, read as Server-Sent Events.
struct Stream {
    res: reqwest::Response,
    buffer: String,
}

impl Stream {
    async fn open(relay: &TestRelay) -> Stream {
        Stream::open_at(&relay.addr).await
    }

    async fn open_at(addr: &str) -> Stream {
        let res = reqwest::Client::new()
            .get(format!("http://{addr}/console/api/events"))
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200);
        assert_eq!(res.headers()["content-type"], "text/event-stream");
        let mut stream = Stream {
            res,
            buffer: String::new(),
        };
        assert_eq!(stream.next().await.0, "hello");
        stream
    }

    /// The next event: (event name, data).
    async fn next(&mut self) -> (String, Value) {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let chunk: String = self.buffer.drain(..end + 2).collect();
                let mut name = "message".to_string();
                let mut data = String::new();
                for line in chunk.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data += v.trim();
                    }
                }
                if data.is_empty() {
                    continue; // a keep-alive comment
                }
                return (name, serde_json::from_str(&data).unwrap());
            }
            let chunk = tokio::time::timeout(PATIENCE, self.res.chunk())
                .await
                .expect("an event in time")
                .unwrap()
                .expect("the stream stays open");
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// Events until one of `kind` about `user` comes.
    async fn until(&mut self, kind: &str, user: &str) -> Value {
        loop {
            let (_, ev) = self.next().await;
            if ev["type"] == kind && ev["user"]["id"] == user {
                return ev;
            }
        }
    }
}

#[tokio::test]
async fn the_console_needs_the_key_in_a_header_and_never_reads_it_from_a_url() {
    let relay = TestRelay::start(&console_config("")).await;
    // The page itself holds nothing secret and loads without a key, under a strict policy.
    let (status, headers, page) = call(&relay, "GET", "/console/", None).await;
    assert_eq!(status, 200);
    assert!(page.contains("console.js"));
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    let (status, _, script) = call(&relay, "GET", "/console/console.js", None).await;
    assert_eq!(status, 200);
    assert!(script.contains("Authorization: `Bearer ${key}`"));
    assert!(!script.contains("?key=") && !script.contains("&key="));

    for path in ["/console/api/now", "/console/api/events", "/console/api/webhooks"] {
        assert_eq!(call(&relay, "GET", path, None).await.0, 401, "{path} without a key");
        assert_eq!(
            call(&relay, "GET", path, Some("wrong")).await.0,
            401,
            "{path} wrong key"
        );
        let in_url = format!("{path}?key={API_KEY}&api_key={API_KEY}&token={API_KEY}");
        assert_eq!(
            call(&relay, "GET", &in_url, None).await.0,
            401,
            "{path}: a key in the URL is ignored"
        );
    }
    let (status, headers, body) = call(&relay, "POST", "/console/api/login", Some(API_KEY)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(call(&relay, "GET", "/console/api/now", Some(API_KEY)).await.0, 200);
    assert!(metric(&metrics(&relay).await, "rollcall_console_refused_total") >= 9);
}

#[tokio::test]
async fn wrong_keys_are_rate_limited_and_then_every_key_waits_for_the_minute() {
    let relay = TestRelay::start(&console_config("[console]\nlogin_attempts_per_minute = 3")).await;
    for _ in 0..3 {
        assert_eq!(call(&relay, "POST", "/console/api/login", Some("guess")).await.0, 401);
    }
    let (status, headers, body) = call(&relay, "POST", "/console/api/login", Some("guess")).await;
    assert_eq!(status, 429, "{body}");
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    // Even the right key: a guess that succeeds must look like one that did not.
    assert_eq!(call(&relay, "POST", "/console/api/login", Some(API_KEY)).await.0, 429);
    // The server API itself is not affected.
    assert_eq!(
        call(&relay, "GET", "/v1/presence?channel=/a/b", Some(API_KEY)).await.0,
        200
    );
}

#[tokio::test]
async fn the_live_stream_tells_joins_and_leaves_with_their_causes() {
    let relay = TestRelay::start(&console_config("")).await;
    let mut stream = Stream::open(&relay).await;

    let mut ann = relay.tab("ann", "a1").await;
    ann.enter(CH).await;
    let join = stream.until("channel.join", "ann").await;
    assert_eq!(join["channel"], CH);
    assert_eq!(join["user"]["name"], "User ann");
    assert!(join["at_ms"].as_u64().unwrap() > 1_700_000_000_000);
    ann.leave(CH).await;
    assert_eq!(stream.until("channel.leave", "ann").await["cause"], "leave");

    let mut bob = relay.tab("bob", "b1").await;
    bob.enter(CH).await;
    bob.drop_tcp();
    assert_eq!(stream.until("channel.leave", "bob").await["cause"], "reconnect_grace");

    let mut cat = relay.tab("cat", "c1").await;
    cat.enter(CH).await;
    cat.status(CH, "idle").await;
    let status = stream.until("channel.status", "cat").await;
    assert_eq!(status["status"], "idle");
    cat.close_page().await;
    assert_eq!(stream.until("channel.leave", "cat").await["cause"], "unload_grace");
    assert_eq!(stream.until("user.offline", "cat").await["type"], "user.offline");
}

#[tokio::test]
async fn nothing_is_prepared_for_the_live_stream_while_no_console_listens() {
    let relay = TestRelay::start(&console_config("")).await;
    let mut tabs = Vec::new();
    for i in 0..5 {
        let mut tab = relay.tab(&format!("u{i}"), "c").await;
        tab.enter(CH).await;
        tabs.push(tab);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let text = metrics(&relay).await;
    assert_eq!(
        metric(&text, "rollcall_console_events_total"),
        0,
        "no listener, no work"
    );
    assert_eq!(metric(&text, "rollcall_console_listeners"), 0);

    let mut stream = Stream::open(&relay).await;
    assert_eq!(metric(&metrics(&relay).await, "rollcall_console_listeners"), 1);
    let mut late = relay.tab("late", "c").await;
    late.enter(CH).await;
    stream.until("channel.join", "late").await;
    assert!(metric(&metrics(&relay).await, "rollcall_console_events_total") >= 2);
}

#[tokio::test]
async fn a_console_that_does_not_read_falls_behind_without_holding_up_the_relay() {
    let relay = TestRelay::start(&console_config(
        "[console]\nfeed_capacity = 16\n[limits]\nframes_per_second = 10000\nframe_burst = 10000",
    ))
    .await;
    // A console with a tiny receive window that reads nothing for now.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(2048).unwrap();
    let mut slow = socket.connect(relay.addr.parse().unwrap()).await.unwrap();
    let request = format!(
        "GET /console/api/events HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {API_KEY}\r\n\r\n",
        relay.addr
    );
    slow.write_all(request.as_bytes()).await.unwrap();
    let deadline = Instant::now() + PATIENCE;
    while metric(&metrics(&relay).await, "rollcall_console_listeners") == 0 {
        assert!(Instant::now() < deadline, "the console never started listening");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let mut watcher = common::client_at(&relay.addr, "watcher", "w").await;
    watcher.subscribe("/busy/watched").await;
    // Thousands of events while the console sleeps: every request still answered.
    // Frames go out without waiting for each answer; one request at the end of each
    // round waits for all of them.
    let mut clients = Vec::new();
    for i in 0..10 {
        let mut c = common::client_at(&relay.addr, &format!("user-{i:02}"), "c").await;
        for round in 0..4 {
            for kind in ["enter", "leave"] {
                for n in 0..99 {
                    c.send(json!({"type": kind, "ch": format!("/busy/channel-{i:02}-{n:03}")}))
                        .await;
                }
            }
            c.enter(&format!("/busy/sync-{round}"), json!({})).await.unwrap();
        }
        clients.push(c);
    }
    let mut last = relay.tab("last", "c").await;
    let asked = Instant::now();
    last.enter("/busy/watched").await;
    assert_eq!(watcher.diff().await, vec!["+last"]);
    assert!(asked.elapsed() < Duration::from_secs(1), "{:?}", asked.elapsed());
    assert_eq!(call(&relay, "GET", "/healthz", None).await.0, 200);

    // When the console reads again, it is told how many events it missed.
    let mut read = String::new();
    let mut buf = vec![0u8; 65_536];
    let deadline = Instant::now() + PATIENCE;
    while !read.contains("event: lagged") {
        assert!(Instant::now() < deadline, "never told it lagged");
        let n = tokio::time::timeout(PATIENCE, slow.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "the stream ended");
        read.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let dropped = metric(&metrics(&relay).await, "rollcall_console_events_dropped_total");
    let sent = metric(&metrics(&relay).await, "rollcall_console_events_total");
    assert!(dropped > 0 && sent >= 10_000, "dropped {dropped} of {sent}");
}

/// A webhook endpoint that always fails, with an answer a site might give.
async fn failing_site() -> String {
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(|| async {
            (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "database is down <script>alert(1)</script>",
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test]
async fn a_test_event_reaches_the_endpoint_signed_and_a_failing_endpoint_shows_its_answer() {
    let receiver = Receiver::start().await;
    let failing = failing_site().await;
    let toml = format!(
        "{}[[webhooks.endpoint]]\nurl = \"{failing}\"\n",
        config(&receiver.url, None)
    );
    let relay = TestRelay::start(&toml).await;

    let (status, _, body) = call(&relay, "POST", "/console/api/webhooks/0/test", Some(API_KEY)).await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["ok"], true, "{answer}");
    let events = receiver.events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "test");
    assert_eq!(events[0]["id"], answer["id"]);
    assert_eq!(receiver.bad_signatures(), 0, "signed with the endpoint's secret");

    let (_, _, body) = call(&relay, "POST", "/console/api/webhooks/1/test", Some(API_KEY)).await;
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["ok"], false);
    assert!(answer["answer"].as_str().unwrap().contains("503"), "{answer}");
    assert!(
        answer["answer"].as_str().unwrap().contains("database is down"),
        "{answer}"
    );
    assert_eq!(
        call(&relay, "POST", "/console/api/webhooks/7/test", Some(API_KEY))
            .await
            .0,
        400
    );

    // Real events: the good endpoint's success and the failing one's queue and retries.
    let mut ann = relay.tab("ann", "a1").await;
    ann.enter(CH).await;
    receiver.wait_for(&["channel.join ann /site/online"]).await;
    let deadline = Instant::now() + PATIENCE;
    let hooks = loop {
        let (_, _, body) = call(&relay, "GET", "/console/api/webhooks", Some(API_KEY)).await;
        let hooks: Value = serde_json::from_str(&body).unwrap();
        if hooks["endpoints"][1]["failures_in_a_row"].as_u64().unwrap() > 0 {
            break hooks;
        }
        assert!(Instant::now() < deadline, "{hooks}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let good = &hooks["endpoints"][0];
    assert_eq!(good["url"], receiver.url.as_str());
    assert!(good["last_ok_ms"].as_u64().is_some(), "{good}");
    assert_eq!(good["last_error"], Value::Null);
    let bad = &hooks["endpoints"][1];
    assert!(bad["pending"].as_u64().unwrap() >= 3, "{bad}");
    assert!(bad["retry_at_ms"].as_u64().is_some(), "{bad}");
    assert!(
        bad["last_error"]["answer"]
            .as_str()
            .unwrap()
            .contains("503 Service Unavailable: database is down"),
        "{bad}"
    );
}

#[tokio::test]
async fn now_lists_channels_by_members_and_a_channel_its_members_with_meta_and_clients() {
    let relay = TestRelay::start(&console_config("")).await;
    let mut ann = common::client_at(&relay.addr, "ann", "laptop").await;
    ann.enter(CH, json!({})).await.unwrap();
    let mut ann_phone = common::client_at(&relay.addr, "ann", "phone").await;
    ann_phone.enter(CH, json!({"typing": true})).await.unwrap();
    let mut bob = common::client_at(&relay.addr, "bob", "b").await;
    bob.enter(CH, json!({})).await.unwrap();
    bob.enter("/doc/1", json!({})).await.unwrap();
    // Two watch the channel: ann's phone, and a watcher who is not in it.
    ann_phone.subscribe(CH).await;
    let mut eve = common::client_at(&relay.addr, "eve", "e").await;
    eve.subscribe(CH).await;

    let (status, _, body) = call(&relay, "GET", "/console/api/now", Some(API_KEY)).await;
    assert_eq!(status, 200);
    let now: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(now["users"], 3);
    assert_eq!(now["relay"]["connections"], 4);
    assert_eq!(now["channels"][0], json!({"name": CH, "members": 2}));
    assert_eq!(now["channels"][1], json!({"name": "/doc/1", "members": 1}));
    let (_, _, body) = call(&relay, "GET", "/console/api/now?q=DOC", Some(API_KEY)).await;
    let found: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(found["channels"], json!([{"name": "/doc/1", "members": 1}]));

    let path = format!("/console/api/channel?name={}", "%2Fsite%2Fonline");
    let (_, _, body) = call(&relay, "GET", &path, Some(API_KEY)).await;
    let channel: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(channel["count"], 2);
    assert_eq!(channel["watchers"], 2);
    let ann_row = &channel["members"][0];
    assert_eq!(ann_row["id"], "ann");
    assert_eq!(ann_row["clients_here"], 2);
    assert_eq!(ann_row["status"], "active");
    assert_eq!(channel["members"][1]["clients_here"], 1);
    assert!(channel["members"].to_string().contains("typing"), "{channel}");
}

#[tokio::test]
async fn the_ledger_charts_read_sessions_and_time_by_status() {
    let relay = TestRelay::start(&console_config("")).await;
    let mut ann = relay.tab("ann", "a1").await;
    ann.enter(CH).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    ann.status(CH, "idle").await;
    ann.leave(CH).await;
    ann.close_page().await;
    tokio::time::sleep(Duration::from_millis(700)).await;

    let (status, _, body) = call(&relay, "GET", "/console/api/ledger/online?range=24h", Some(API_KEY)).await;
    assert_eq!(status, 200, "{body}");
    let online: Value = serde_json::from_str(&body).unwrap();
    let users = online["users"].as_array().unwrap();
    assert_eq!(users.len(), 288);
    assert_eq!(users.last().unwrap(), 1, "ann was online in the last five minutes");
    assert_eq!(users.iter().filter_map(Value::as_u64).sum::<u64>(), 1);

    let (_, _, body) = call(&relay, "GET", "/console/api/ledger/status?days=7", Some(API_KEY)).await;
    let status: Value = serde_json::from_str(&body).unwrap();
    let days = status["days"].as_array().unwrap();
    assert_eq!(days.len(), 7);
    let today = days.last().unwrap();
    assert!(today["active_ms"].as_u64().unwrap() >= 250, "{today}");

    let (_, _, body) = call(&relay, "GET", "/console/api/ledger/user?id=ann", Some(API_KEY)).await;
    let user: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(user["known"], true);
    assert_eq!(user["online"].as_array().unwrap().len(), 1);
    assert_eq!(user["sessions"][0]["channel"], CH);
    assert_eq!(user["sessions"][0]["cause"], "leave");
    assert_eq!(user["per_channel"][0]["channel"], CH);
    assert!(user["per_channel"][0]["ms"].as_u64().unwrap() >= 250);
    assert_eq!(
        call(&relay, "GET", "/console/api/ledger/online?range=1y", Some(API_KEY))
            .await
            .0,
        400
    );
}

#[tokio::test]
async fn demo_mode_opens_the_console_without_a_key_and_it_can_be_turned_off() {
    let mut config = rollcall_relay::config::Config::from_toml("").unwrap();
    config.demo = true;
    config.secrets = vec![common::SECRET.into()];
    let relay = rollcall_relay::Relay::start(config);
    let (status, _, _) = common::call(relay.state(), "GET", "/console/api/now", &[], "").await;
    assert_eq!(status, 200);

    let config = rollcall_relay::config::Config::from_toml("[console]\nenabled = false").unwrap();
    let relay = rollcall_relay::Relay::start(config);
    let (status, _, _) = common::call(relay.state(), "GET", "/console/", &[], "").await;
    assert_eq!(status, 404);
    let (status, _, _) = common::call(
        relay.state(),
        "GET",
        "/console/api/now",
        &[("authorization", "Bearer x")],
        "",
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn every_metric_the_grafana_dashboard_charts_is_served_at_metrics() {
    let relay = TestRelay::start(&console_config("")).await;
    let served = metrics(&relay).await;
    let dashboard =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/grafana-dashboard.json")).unwrap();
    let parsed: Value = serde_json::from_str(&dashboard).expect("the dashboard is JSON");
    assert!(parsed["panels"].as_array().unwrap().len() >= 20);
    let mut charted: Vec<&str> = dashboard
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("rollcall_"))
        .collect();
    charted.sort();
    charted.dedup();
    assert!(charted.len() >= 25, "{charted:?}");
    let missing: Vec<&&str> = charted
        .iter()
        .filter(|m| !served.contains(&format!("# TYPE {m} ")))
        .collect();
    assert!(missing.is_empty(), "charted but not served: {missing:?}");
}

#[tokio::test]
async fn with_redis_now_shows_each_relay_and_the_total_and_the_stream_tells_a_relay_dying() {
    let redis = common::RedisServer::start();
    let toml = "[presence]\ncheckin_interval_ms = 1000\nlease_timeout_ms = 2000\nreconnect_grace_ms = 500\n";
    let a = common::RelayProcess::start(toml, &redis.url());
    let mut b = common::RelayProcess::start(toml, &redis.url());
    let ann = common::keep_alive(a.client("ann", "a").await);
    let mut bob = b.client("bob", "b").await;
    bob.enter(CH, json!({})).await.unwrap();
    let _bob = common::keep_alive(bob);

    // Each relay writes its counts every few seconds: wait for both to be seen.
    let deadline = Instant::now() + Duration::from_secs(15);
    let now = loop {
        let (status, now) = get_at(&a.addr, "/console/api/now", Some(API_KEY)).await;
        assert_eq!(status, 200, "{now}");
        let relays = now["relays"].as_array().cloned().unwrap_or_default();
        // Bob reaches relay A through Redis's pub/sub; counts every few seconds.
        if relays.len() == 2 && now["total"]["connections"] == 2 && now["users"] == 2 && now["members"] == 1 {
            break now;
        }
        assert!(Instant::now() < deadline, "{now}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let relays = now["relays"].as_array().unwrap();
    assert_eq!(relays.iter().filter(|r| r["this"] == true).count(), 1, "{now}");
    assert!(
        relays.iter().all(|r| r["alive"] == true && r["connections"] == 1),
        "{now}"
    );
    assert_eq!(now["relay"]["connections"], 1, "this relay's own");
    assert_eq!(now["users"], 2, "users of every relay: {now}");
    assert_eq!(
        now["channels"][0],
        json!({"name": CH, "members": 1}),
        "bob, through the other relay"
    );
    let other = relays.iter().find(|r| r["this"] == false).unwrap()["id"].clone();

    // The other relay dies without a word: after the lease timeout, relay A says so.
    let mut stream = Stream::open_at(&a.addr).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    b.kill();
    let deadline = Instant::now() + Duration::from_secs(15);
    let (mut down, mut left) = (None, None);
    while down.is_none() || left.is_none() {
        assert!(Instant::now() < deadline, "no relay.down or leave");
        let (_, ev) = stream.next().await;
        if ev["type"] == "relay.down" {
            down = Some(ev);
        } else if ev["type"] == "channel.leave" && ev["user"]["id"] == "bob" {
            left = Some(ev);
        }
    }
    assert_eq!(down.unwrap()["relay"], other);
    assert_eq!(left.unwrap()["cause"], "lease_timeout");
    ann.abort();
}
