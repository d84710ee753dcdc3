//! The Pusher endpoint over real sockets: signatures, member events with rollcall's
//! first-client / last-client accounting, graces, the HTTP API, and a native rollcall
//! client and a Pusher client in one roster.
//!
//! Graces are a few hundred milliseconds (set in the config below); the rules themselves
//! are proven on a simulated clock in `core/tests/roster.rs`.

mod common;

use common::*;
use futures_util::{SinkExt, StreamExt};
use rollcall_relay::clock::unix_now;
use rollcall_relay::pusher::signature;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const APP_ID: &str = "4242";
const KEY: &str = "app-key";
const SECRET: &str = "app-secret-0123456789";
const CH: &str = "presence-site-online";

fn config(extra: &str) -> String {
    format!(
        r#"
[presence]
checkin_interval_ms = 1000
lease_timeout_ms = 1500
unload_grace_ms = 300
reconnect_grace_ms = 600
flush_interval_ms = 10
{extra}
[[pusher_app]]
id = "{APP_ID}"
key = "{KEY}"
secret = "{SECRET}"
"#
    )
}

struct Pusher {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    socket_id: String,
}

/// One Pusher event as received: (event, channel, data).
type Event = (String, Option<String>, Value);

impl Pusher {
    async fn connect(relay: &TestRelay) -> Pusher {
        Self::connect_to(relay, &format!("/app/{KEY}?protocol=7&client=rust&version=1"))
            .await
            .expect("connection_established")
    }

    /// `Err` holds the `pusher:error` code and the close code of a refusal.
    async fn connect_to(relay: &TestRelay, path: &str) -> Result<Pusher, (u64, Option<u16>)> {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{}{path}", relay.addr))
            .await
            .expect("ws connect");
        let mut p = Pusher {
            ws,
            socket_id: String::new(),
        };
        let (event, _, data) = p.recv().await;
        match event.as_str() {
            "pusher:connection_established" => {
                assert!(data["activity_timeout"].as_u64().is_some_and(|t| t >= 1), "{data}");
                p.socket_id = data["socket_id"].as_str().unwrap().to_string();
                Ok(p)
            }
            "pusher:error" => Err((data["code"].as_u64().unwrap(), p.closed().await)),
            other => panic!("unexpected {other}"),
        }
    }

    async fn send(&mut self, event: &str, data: Value) {
        let text = json!({"event": event, "data": data}).to_string();
        self.ws.send(Message::text(text)).await.expect("send");
    }

    async fn recv(&mut self) -> Event {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .expect("an event in time")
                .expect("open")
                .expect("ok");
            match msg {
                Message::Text(text) => {
                    let v: Value = serde_json::from_str(&text).expect("JSON");
                    let data = match &v["data"] {
                        Value::String(s) => serde_json::from_str(s).unwrap_or(Value::String(s.clone())),
                        other => other.clone(),
                    };
                    return (
                        v["event"].as_str().expect("event").to_string(),
                        v["channel"].as_str().map(str::to_string),
                        data,
                    );
                }
                Message::Close(frame) => panic!("closed: {frame:?}"),
                _ => continue,
            }
        }
    }

    /// The next event that is not a member event nor a pong.
    async fn expect(&mut self, event: &str) -> Event {
        let got = self.recv().await;
        assert_eq!(got.0, event, "{got:?}");
        got
    }

    /// Member events as "+id" / "-id" until `quiet` passes without one.
    async fn members_for(&mut self, quiet: Duration) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            match tokio::time::timeout(quiet, self.ws.next()).await {
                Err(_) => return seen,
                Ok(Some(Ok(Message::Text(text)))) => {
                    let v: Value = serde_json::from_str(&text).unwrap();
                    let data: Value = serde_json::from_str(v["data"].as_str().unwrap()).unwrap();
                    match v["event"].as_str().unwrap() {
                        "pusher_internal:member_added" => seen.push(format!("+{}", data["user_id"].as_str().unwrap())),
                        "pusher_internal:member_removed" => {
                            seen.push(format!("-{}", data["user_id"].as_str().unwrap()))
                        }
                        other => panic!("unexpected {other}: {text}"),
                    }
                }
                Ok(Some(Ok(Message::Close(f)))) => panic!("closed: {f:?}"),
                Ok(Some(Ok(_))) => continue,
                Ok(other) => panic!("connection ended: {other:?}"),
            }
        }
    }

    /// The next member event.
    async fn member(&mut self) -> String {
        let (event, channel, data) = self.recv().await;
        assert_eq!(channel.as_deref(), Some(CH));
        let id = data["user_id"].as_str().expect("string user_id").to_string();
        match event.as_str() {
            "pusher_internal:member_added" => format!("+{id}"),
            "pusher_internal:member_removed" => format!("-{id}"),
            other => panic!("unexpected {other}"),
        }
    }

    fn channel_data(user: &str) -> String {
        json!({"user_id": user, "user_info": {"name": format!("User {user}")}}).to_string()
    }

    /// Subscribe with a correct signature, as a site's auth endpoint signs it.
    async fn send_subscribe(&mut self, channel: &str, channel_data: &str) {
        let auth = signature::channel_auth(KEY, SECRET, &self.socket_id, channel, Some(channel_data));
        self.send(
            "pusher:subscribe",
            json!({"channel": channel, "auth": auth, "channel_data": channel_data}),
        )
        .await;
    }

    /// Subscribe to `CH` as `user`; the subscription's presence data.
    async fn join(&mut self, user: &str) -> Value {
        self.send_subscribe(CH, &Self::channel_data(user)).await;
        let (_, channel, data) = self.expect("pusher_internal:subscription_succeeded").await;
        assert_eq!(channel.as_deref(), Some(CH));
        data["presence"].clone()
    }

    async fn closed(&mut self) -> Option<u16> {
        loop {
            match tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("closed in time")
            {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// Close as a browser tab that is going away (refresh, navigation) does.
    async fn close_going_away(mut self) {
        let frame = CloseFrame {
            code: CloseCode::Away,
            reason: "".into(),
        };
        let _ = self.ws.close(Some(frame)).await;
    }
}

fn ids(presence: &Value) -> Vec<String> {
    let mut ids: Vec<String> = presence["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn a_signed_subscription_gets_the_presence_hash_and_a_wrong_signature_gets_4009() {
    let relay = TestRelay::start(&config("")).await;
    let mut ann = Pusher::connect(&relay).await;
    let presence = ann.join("ann").await;
    assert_eq!(
        presence,
        json!({"ids": ["ann"], "hash": {"ann": {"name": "User ann"}}, "count": 1})
    );

    let mut eve = Pusher::connect(&relay).await;
    let data = Pusher::channel_data("eve");
    // Signed for another socket, with another secret, and over other channel_data.
    let wrong = [
        signature::channel_auth(KEY, SECRET, "1.1", CH, Some(&data)),
        signature::channel_auth(KEY, "not-the-secret", &eve.socket_id, CH, Some(&data)),
        signature::channel_auth(KEY, SECRET, &eve.socket_id, CH, Some(&Pusher::channel_data("ann"))),
    ];
    for auth in wrong {
        eve.send(
            "pusher:subscribe",
            json!({"channel": CH, "auth": auth, "channel_data": data}),
        )
        .await;
        let (_, channel, error) = eve.expect("pusher:error").await;
        assert_eq!(error["code"], 4009);
        assert_eq!(channel.as_deref(), Some(CH));
        assert!(
            error["message"].as_str().unwrap().contains("Invalid signature"),
            "{error}"
        );
    }
    // Refused subscriptions showed nobody to anybody.
    assert_eq!(ann.members_for(Duration::from_millis(150)).await, Vec::<String>::new());
    assert_eq!(relay.state.hub.presence("/pusher/site-online").unwrap().len(), 1);
}

#[tokio::test]
async fn members_are_added_and_removed_for_everyone_but_the_originating_socket() {
    let relay = TestRelay::start(&config("")).await;
    let mut ann = Pusher::connect(&relay).await;
    ann.join("ann").await;
    let mut bob = Pusher::connect(&relay).await;
    let presence = bob.join("bob").await;
    assert_eq!(ids(&presence), ["ann", "bob"]);
    assert_eq!(presence["count"], 2);
    assert_eq!(ann.member().await, "+bob");

    bob.send("pusher:unsubscribe", json!({"channel": CH})).await;
    assert_eq!(ann.member().await, "-bob");
    // Bob is told nothing about himself.
    assert_eq!(bob.members_for(Duration::from_millis(150)).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_second_socket_of_the_same_user_adds_no_member_and_closing_one_removes_none() {
    let relay = TestRelay::start(&config("")).await;
    let mut watcher = Pusher::connect(&relay).await;
    watcher.join("w").await;
    let mut tab1 = Pusher::connect(&relay).await;
    tab1.join("ann").await;
    assert_eq!(watcher.member().await, "+ann");
    let mut tab2 = Pusher::connect(&relay).await;
    let presence = tab2.join("ann").await;
    assert_eq!(ids(&presence), ["ann", "w"]);
    assert_eq!(presence["count"], 2);

    tab1.close_going_away().await;
    assert_eq!(
        watcher.members_for(Duration::from_millis(600)).await,
        Vec::<String>::new()
    );
    tab2.send("pusher:unsubscribe", json!({"channel": CH})).await;
    assert_eq!(watcher.member().await, "-ann");
}

#[tokio::test]
async fn a_refresh_within_the_grace_emits_no_member_removed_and_a_close_removes_after_it() {
    let relay = TestRelay::start(&config("")).await;
    let mut watcher = Pusher::connect(&relay).await;
    watcher.join("w").await;
    let mut page = Pusher::connect(&relay).await;
    page.join("ann").await;
    assert_eq!(watcher.member().await, "+ann");

    // A refresh: the old page's socket goes away, the new page's subscribes again.
    page.close_going_away().await;
    let mut again = Pusher::connect(&relay).await;
    again.join("ann").await;
    assert_eq!(
        watcher.members_for(Duration::from_millis(700)).await,
        Vec::<String>::new()
    );

    let closed_at = Instant::now();
    again.close_going_away().await;
    assert_eq!(watcher.member().await, "-ann");
    let waited = closed_at.elapsed();
    assert!(
        waited >= Duration::from_millis(290) && waited < Duration::from_millis(2_000),
        "{waited:?}"
    );
}

#[tokio::test]
async fn a_dropped_socket_is_removed_after_the_reconnect_grace() {
    let relay = TestRelay::start(&config("")).await;
    let mut watcher = Pusher::connect(&relay).await;
    watcher.join("w").await;
    let mut ann = Pusher::connect(&relay).await;
    ann.join("ann").await;
    assert_eq!(watcher.member().await, "+ann");
    let dropped_at = Instant::now();
    drop(ann);
    assert_eq!(watcher.member().await, "-ann");
    assert!(
        dropped_at.elapsed() >= Duration::from_millis(550),
        "{:?}",
        dropped_at.elapsed()
    );
}

#[tokio::test]
async fn a_native_client_and_a_pusher_client_in_mapped_channels_see_each_other() {
    let relay = TestRelay::start(&config("")).await;
    let mut native = relay.connect("sdk-user", "tab1").await;
    assert_eq!(native.subscribe("/pusher/site-online").await, Vec::<String>::new());
    native
        .enter("/pusher/site-online", json!({"typing": false}))
        .await
        .unwrap();
    assert_eq!(native.diff().await, ["+sdk-user"]);

    let mut pusher = Pusher::connect(&relay).await;
    let presence = pusher.join("pusher-user").await;
    assert_eq!(ids(&presence), ["pusher-user", "sdk-user"]);
    assert_eq!(
        presence["hash"]["sdk-user"],
        json!({"name": "User sdk-user", "typing": false})
    );
    assert_eq!(native.diff().await, ["+pusher-user"]);

    native
        .request(json!({"type": "leave", "ch": "/pusher/site-online"}))
        .await
        .unwrap();
    assert_eq!(pusher.member().await, "-sdk-user");
    native.enter("/pusher/site-online", json!({})).await.unwrap();
    let (event, _, data) = pusher.recv().await;
    assert_eq!(event, "pusher_internal:member_added");
    assert_eq!(
        data,
        json!({"user_id": "sdk-user", "user_info": {"name": "User sdk-user"}})
    );
}

#[tokio::test]
async fn the_http_api_answers_signed_requests_and_refuses_unsigned_and_wrong_ones() {
    let relay = TestRelay::start(&config("")).await;
    let mut ann = Pusher::connect(&relay).await;
    ann.join("ann").await;
    let mut bob = Pusher::connect(&relay).await;
    bob.join("bob").await;

    let signed = |path: &str, extra: &[(&str, &str)], secret: &str, at: u64| {
        let mut params: Vec<(String, String)> = vec![
            ("auth_key".into(), KEY.into()),
            ("auth_timestamp".into(), at.to_string()),
            ("auth_version".into(), "1.0".into()),
        ];
        params.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let sig = signature::sign(secret, &signature::api_message("GET", path, &params));
        let query: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{path}?{}&auth_signature={sig}", query.join("&"))
    };
    let users = format!("/apps/{APP_ID}/channels/{CH}/users");
    let info = format!("/apps/{APP_ID}/channels/{CH}");

    let (status, _, body) = call(&relay.state, "GET", &signed(&users, &[], SECRET, unix_now()), &[], "").await;
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    let mut got: Vec<&str> = body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    got.sort();
    assert_eq!(got, ["ann", "bob"]);

    let url = signed(&info, &[("info", "user_count")], SECRET, unix_now());
    let (status, _, body) = call(&relay.state, "GET", &url, &[], "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"occupied": true, "user_count": 2})
    );

    let empty = format!("/apps/{APP_ID}/channels/presence-nobody");
    let (_, _, body) = call(
        &relay.state,
        "GET",
        &signed(&empty, &[("info", "user_count")], SECRET, unix_now()),
        &[],
        "",
    )
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"occupied": false, "user_count": 0})
    );

    for url in [
        users.clone(),
        format!("{users}?auth_key={KEY}&auth_timestamp={}&auth_version=1.0", unix_now()),
        signed(&users, &[], "wrong-secret", unix_now()),
        signed(&users, &[], SECRET, unix_now() - 601),
        signed(&info, &[("info", "user_count")], SECRET, unix_now()).replace("user_count", "subscription_count"),
    ] {
        let (status, _, body) = call(&relay.state, "GET", &url, &[], "").await;
        assert_eq!(status, 401, "{url}: {body}");
    }
    let (status, _, _) = call(
        &relay.state,
        "GET",
        &signed("/apps/999/channels/presence-x/users", &[], SECRET, unix_now()),
        &[],
        "",
    )
    .await;
    assert_eq!(status, 404);
    let (status, _, body) = call(&relay.state, "POST", &format!("/apps/{APP_ID}/events"), &[], "{}").await;
    assert_eq!(status, 400);
    assert!(body.contains("publishes no events"), "{body}");
    let private = format!("/apps/{APP_ID}/channels/private-x/users");
    let (status, _, body) = call(&relay.state, "GET", &signed(&private, &[], SECRET, unix_now()), &[], "").await;
    assert_eq!(status, 400);
    assert!(body.contains("presence channels only"), "{body}");
}

#[tokio::test]
async fn public_and_private_channels_and_client_events_are_refused_with_a_reason() {
    let relay = TestRelay::start(&config("")).await;
    let mut p = Pusher::connect(&relay).await;
    p.send("pusher:subscribe", json!({"channel": "news"})).await;
    let (_, channel, error) = p.expect("pusher:error").await;
    assert_eq!((channel.as_deref(), error["code"].as_u64()), (Some("news"), Some(4300)));
    assert!(error["message"].as_str().unwrap().contains("presence channels only"));

    let auth = signature::channel_auth(KEY, SECRET, &p.socket_id, "private-chat", None);
    p.send("pusher:subscribe", json!({"channel": "private-chat", "auth": auth}))
        .await;
    let (_, _, error) = p.expect("pusher:error").await;
    assert_eq!(error["code"], 4300);

    p.join("ann").await;
    p.ws.send(Message::text(
        json!({"event": "client-typing", "channel": CH, "data": {}}).to_string(),
    ))
    .await
    .unwrap();
    let (_, _, error) = p.expect("pusher:error").await;
    assert_eq!(error["code"], 4300);
    assert!(error["message"].as_str().unwrap().contains("Client events"));

    // The socket stays usable.
    p.send("pusher:ping", json!({})).await;
    p.expect("pusher:pong").await;
}

#[tokio::test]
async fn a_member_too_large_gets_4301_and_the_channel_stays_empty() {
    let relay = TestRelay::start(&config("[limits]\nmax_meta_bytes = 64")).await;
    let mut p = Pusher::connect(&relay).await;
    let data = json!({"user_id": "ann", "user_info": {"bio": "x".repeat(100)}}).to_string();
    p.send_subscribe(CH, &data).await;
    let (_, _, error) = p.expect("pusher:error").await;
    assert_eq!(error["code"], 4301);
    assert_eq!(relay.state.hub.presence("/pusher/site-online"), None);
}

#[tokio::test]
async fn a_full_channel_and_a_full_relay_answer_4100() {
    let relay = TestRelay::start(&config(
        "[limits]\nmax_connections = 2\n[[channel]]\npattern = \"/pusher/*\"\nmax_members = 1\n",
    ))
    .await;
    let mut ann = Pusher::connect(&relay).await;
    ann.join("ann").await;
    let mut bob = Pusher::connect(&relay).await;
    bob.send_subscribe(CH, &Pusher::channel_data("bob")).await;
    let (_, _, error) = bob.expect("pusher:error").await;
    assert_eq!(error["code"], 4100);
    // ann and bob are the relay's two connections now.
    let refused = Pusher::connect_to(&relay, &format!("/app/{KEY}?protocol=7")).await;
    assert_eq!(refused.err(), Some((4100, Some(4100))));
}

#[tokio::test]
async fn an_unknown_key_or_protocol_is_refused_and_closed() {
    let relay = TestRelay::start(&config("")).await;
    let refused = Pusher::connect_to(&relay, "/app/nope?protocol=7").await;
    assert_eq!(refused.err(), Some((4001, Some(4001))));
    let refused = Pusher::connect_to(&relay, &format!("/app/{KEY}?protocol=3")).await;
    assert_eq!(refused.err(), Some((4007, Some(4007))));
    let refused = Pusher::connect_to(&relay, &format!("/app/{KEY}")).await;
    assert_eq!(refused.err(), Some((4008, Some(4008))));
}

#[tokio::test]
async fn a_clean_close_is_answered_with_1000() {
    let relay = TestRelay::start(&config("")).await;
    let mut p = Pusher::connect(&relay).await;
    p.ws.close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
        code: 1000.into(),
        reason: "bye".into(),
    }))
    .await
    .unwrap();
    assert_eq!(p.closed().await, Some(1000));
}

#[tokio::test]
async fn sign_in_with_a_good_signature_succeeds_and_a_bad_one_closes_with_4009() {
    let relay = TestRelay::start(&config("")).await;
    let mut p = Pusher::connect(&relay).await;
    let user_data = json!({"id": "ann", "user_info": {"name": "Ann"}}).to_string();
    let auth = signature::user_auth(KEY, SECRET, &p.socket_id, &user_data);
    p.send("pusher:signin", json!({"auth": auth, "user_data": user_data}))
        .await;
    let (_, _, data) = p.expect("pusher:signin_success").await;
    assert_eq!(data["user_data"], user_data);
    // pusher-js then subscribes to the user's server channel; it succeeds quietly.
    p.send("pusher:subscribe", json!({"channel": "#server-to-user-ann"}))
        .await;
    p.expect("pusher_internal:subscription_succeeded").await;
    // The signed-in user is the socket's user: channel_data for another is refused.
    p.send_subscribe(CH, &Pusher::channel_data("bob")).await;
    assert_eq!(p.expect("pusher:error").await.2["code"], 4009);
    let presence = p.join("ann").await;
    assert_eq!(ids(&presence), ["ann"]);

    let mut eve = Pusher::connect(&relay).await;
    let forged = signature::user_auth(KEY, SECRET, "1.1", &user_data);
    eve.send("pusher:signin", json!({"auth": forged, "user_data": user_data}))
        .await;
    let (_, _, error) = eve.expect("pusher:error").await;
    assert_eq!(error["code"], 4009);
    assert_eq!(eve.closed().await, Some(4009));
}

#[tokio::test]
async fn shutdown_tells_pusher_clients_to_reconnect_with_4200() {
    let relay = TestRelay::start(&config("")).await;
    let mut p = Pusher::connect(&relay).await;
    p.join("ann").await;
    let stopping = tokio::spawn(relay.stop());
    let (_, _, error) = p.expect("pusher:error").await;
    assert_eq!(error["code"], 4200);
    assert_eq!(p.closed().await, Some(4200));
    stopping.await.unwrap();
}

/// A site's Pusher webhook endpoint: keeps (X-Pusher-Key, X-Pusher-Signature, body).
async fn pusher_receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<(String, String, String)>>>) {
    use axum::http::HeaderMap;
    use std::sync::{Arc, Mutex};
    let got: Arc<Mutex<Vec<(String, String, String)>>> = Arc::default();
    let kept = got.clone();
    let app = axum::Router::new().route(
        "/pusher/webhooks",
        axum::routing::post(move |headers: HeaderMap, body: String| async move {
            let header = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string()
            };
            kept.lock()
                .unwrap()
                .push((header("x-pusher-key"), header("x-pusher-signature"), body));
            axum::http::StatusCode::OK
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/pusher/webhooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

#[tokio::test]
async fn pusher_webhooks_are_signed_with_the_app_secret_and_a_refresh_sends_none() {
    let (url, got) = pusher_receiver().await;
    let relay = TestRelay::start(&format!(
        "{}\n[webhooks]\nbatch_ms = 20\n",
        config("").replace(
            &format!("secret = \"{SECRET}\""),
            &format!("secret = \"{SECRET}\"\nwebhook_url = \"{url}\"")
        )
    ))
    .await;
    let names = || -> Vec<String> {
        got.lock()
            .unwrap()
            .iter()
            .flat_map(|(_, _, body)| {
                let v: Value = serde_json::from_str(body).unwrap();
                v["events"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| {
                        let user = e["user_id"].as_str().map(|u| format!(" {u}")).unwrap_or_default();
                        format!(
                            "{} {}{user}",
                            e["name"].as_str().unwrap(),
                            e["channel"].as_str().unwrap()
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let wait_for = |n: usize| {
        let names = &names;
        async move {
            let deadline = Instant::now() + PATIENCE;
            while names().len() < n {
                assert!(Instant::now() < deadline, "{:?}", names());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };

    let mut page = Pusher::connect(&relay).await;
    page.join("ann").await;
    wait_for(2).await;
    assert_eq!(
        names(),
        [format!("channel_occupied {CH}"), format!("member_added {CH} ann")]
    );
    for (key, sig, body) in got.lock().unwrap().iter() {
        assert_eq!(key, KEY);
        assert!(signature::verify(SECRET, body, sig), "{sig} over {body}");
        let v: Value = serde_json::from_str(body).unwrap();
        assert!(v["time_ms"].as_u64().unwrap() / 1000 >= unix_now() - 60);
    }

    // A refresh within the grace sends nothing; closing for good sends the rest.
    page.close_going_away().await;
    let mut again = Pusher::connect(&relay).await;
    again.join("ann").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(names().len(), 2, "{:?}", names());
    again.close_going_away().await;
    wait_for(4).await;
    assert_eq!(
        names()[2..],
        [format!("member_removed {CH} ann"), format!("channel_vacated {CH}")]
    );
}

#[tokio::test]
async fn a_frozen_socket_without_channels_is_closed_with_4201_while_pusher_pings_keep_one_open() {
    let relay = TestRelay::start(&config("")).await;
    // Never read, so it never answers the relay's WebSocket pings either: a dead peer.
    let mut frozen = Pusher::connect(&relay).await;
    let mut pinging = Pusher::connect(&relay).await;
    // pusher-js pings after activity_timeout seconds without a message.
    for _ in 0..6 {
        pinging.send("pusher:ping", json!({})).await;
        assert_eq!(pinging.recv().await.0, "pusher:pong");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(frozen.closed().await, Some(4201));
    // Still open and serving after the frozen one was closed.
    assert_eq!(pinging.join("ann").await["count"], 1);
}

#[tokio::test]
async fn numeric_user_ids_are_strings_to_rollcall_and_a_socket_is_one_user() {
    let relay = TestRelay::start(&config("")).await;
    let mut p = Pusher::connect(&relay).await;
    p.send_subscribe(CH, r#"{"user_id":10,"user_info":{"name":"Mr. Channels"}}"#)
        .await;
    let (_, _, data) = p.expect("pusher_internal:subscription_succeeded").await;
    assert_eq!(data["presence"]["ids"], json!(["10"]));
    assert_eq!(data["presence"]["hash"]["10"], json!({"name": "Mr. Channels"}));
    let members = relay.state.hub.presence("/pusher/site-online").unwrap();
    assert_eq!(members[0].id, "10");
    assert_eq!(members[0].name.as_deref(), Some("Mr. Channels"));

    p.send_subscribe("presence-other", &Pusher::channel_data("11")).await;
    let (_, channel, error) = p.expect("pusher:error").await;
    assert_eq!(
        (channel.as_deref(), error["code"].as_u64()),
        (Some("presence-other"), Some(4009))
    );
    assert!(error["message"].as_str().unwrap().contains("one user per connection"));
}

/// A site that decides Pusher channels: ann may be in them, eve may not. Signed
/// questions only; each is counted.
async fn deciding_site() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = calls.clone();
    let app = axum::Router::new().route(
        "/decide",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let counted = counted.clone();
            async move {
                let signature = headers
                    .get("rollcall-signature")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if !rollcall_relay::webhooks::verify(SECRET, signature, body.as_bytes(), unix_now(), 300) {
                    return StatusCode::UNAUTHORIZED.into_response();
                }
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let q: Value = serde_json::from_str(&body).unwrap();
                axum::Json(json!({"enter": q["user"]["id"] == "ann"})).into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/decide", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, calls)
}

#[tokio::test]
async fn a_channel_the_site_decides_asks_it_for_pusher_subscriptions_too_and_a_removal_is_told() {
    let (url, calls) = deciding_site().await;
    let relay = TestRelay::start(&config(&format!(
        "[decisions]\nurl = \"{url}\"\nsecret = \"{SECRET}\"\n[[channel]]\npattern = \"/pusher/*\"\nask_site = true\n"
    )))
    .await;
    let mut ann = Pusher::connect(&relay).await;
    assert_eq!(ids(&ann.join("ann").await), ["ann"]);
    let mut eve = Pusher::connect(&relay).await;
    eve.send_subscribe(CH, &Pusher::channel_data("eve")).await;
    let (_, channel, error) = eve.expect("pusher:error").await;
    assert_eq!((error["code"].as_u64(), channel.as_deref()), (Some(4009), Some(CH)));
    assert!(error["message"].as_str().unwrap().contains("site"), "{error}");
    assert_eq!(
        calls.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "one question per user"
    );

    let (status, _, body) = call(
        &relay.state,
        "DELETE",
        "/v1/channels/%2Fpusher%2Fsite-online/users/ann",
        &[("authorization", "Bearer test-api-key")],
        "",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, channel, error) = ann.expect("pusher:error").await;
    assert_eq!((error["code"].as_u64(), channel.as_deref()), (Some(4009), Some(CH)));
    assert!(relay.state.hub.presence("/pusher/site-online").is_none());
}
