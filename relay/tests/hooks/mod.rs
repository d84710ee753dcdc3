//! For the webhook and ledger tests: a real HTTP receiver for webhooks, and common's
//! relay and client (`mod common` beside this one) as a relay that can be killed
//! (dropped without shutdown) and started again on the same SQLite file, and a tab.

#![allow(dead_code)]

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use rollcall_relay::clock::unix_now;
use rollcall_relay::AppState;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use super::common::API_KEY;
pub const HOOK_SECRET: &str = "whsec-test-0123456789";
/// Bounds a wait for something that must happen (loopback answers in milliseconds).
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Graces of a few hundred milliseconds, batches of 100 ms, retries from 20 ms.
pub fn config(hook_url: &str, db: Option<&PathBuf>) -> String {
    let ledger = match db {
        Some(path) => format!("path = {:?}\n", path.display().to_string()),
        None => String::new(),
    };
    format!(
        r#"
[presence]
unload_grace_ms = 300
reconnect_grace_ms = 600
flush_interval_ms = 10
[webhooks]
secret = "{HOOK_SECRET}"
batch_ms = 100
backoff_base_ms = 20
backoff_max_ms = 200
timeout_ms = 2000
[[webhooks.endpoint]]
url = "{hook_url}"
[ledger]
{ledger}heartbeat_ms = 100
restore_grace_ms = 1000
"#
    )
}

/// A fresh folder for a SQLite file.
pub fn temp_db() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rollcall-ledger-{}", rollcall_relay::ids::random_id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("ledger.db")
}

#[derive(Default)]
struct Got {
    /// Requests to fail (500) before accepting again.
    fail: usize,
    attempts: usize,
    /// Accepted requests: (signature header, body).
    requests: Vec<(String, String)>,
    events: Vec<Value>,
    bad_signatures: usize,
}

/// The site's webhook endpoint.
pub struct Receiver {
    pub url: String,
    got: Arc<Mutex<Got>>,
    server: tokio::task::JoinHandle<()>,
}

async fn hook(State(got): State<Arc<Mutex<Got>>>, headers: HeaderMap, body: String) -> StatusCode {
    let mut got = got.lock().unwrap();
    got.attempts += 1;
    if got.fail > 0 {
        got.fail -= 1;
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let signature = headers
        .get("rollcall-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if !rollcall_relay::webhooks::verify(HOOK_SECRET, &signature, body.as_bytes(), unix_now(), 300) {
        got.bad_signatures += 1;
        return StatusCode::BAD_REQUEST;
    }
    let parsed: Value = serde_json::from_str(&body).expect("a JSON body");
    for event in parsed["events"].as_array().expect("an events array") {
        got.events.push(event.clone());
    }
    got.requests.push((signature, body));
    StatusCode::NO_CONTENT
}

impl Receiver {
    pub async fn start() -> Receiver {
        let got = Arc::new(Mutex::new(Got::default()));
        let app = Router::new().route("/hooks", post(hook)).with_state(got.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { url, got, server }
    }

    /// Answer the next `n` requests with 500.
    pub fn fail_next(&self, n: usize) {
        self.got.lock().unwrap().fail = n;
    }

    pub fn attempts(&self) -> usize {
        self.got.lock().unwrap().attempts
    }

    pub fn bad_signatures(&self) -> usize {
        self.got.lock().unwrap().bad_signatures
    }

    pub fn requests(&self) -> Vec<(String, String)> {
        self.got.lock().unwrap().requests.clone()
    }

    /// Every event accepted, duplicates included.
    pub fn raw_events(&self) -> Vec<Value> {
        self.got.lock().unwrap().events.clone()
    }

    /// Accepted events, deduplicated by id as a receiver does, in arrival order.
    pub fn events(&self) -> Vec<Value> {
        let mut seen = std::collections::HashSet::new();
        self.raw_events()
            .into_iter()
            .filter(|e| seen.insert(e["id"].as_str().unwrap().to_string()))
            .collect()
    }

    /// The deduplicated events as "type user channel" lines.
    pub fn lines(&self) -> Vec<String> {
        self.events().iter().map(line).collect()
    }

    /// Wait until the deduplicated events hold `want` (as lines, in any order).
    pub async fn wait_for(&self, want: &[&str]) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let lines = self.lines();
            if want.iter().all(|w| lines.iter().any(|l| l == w)) {
                return lines;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "waited for {want:?}, got {lines:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// "user.online ann" or "channel.join ann /site/online" or "channel.vacated /site/online".
pub fn line(event: &Value) -> String {
    let mut parts = vec![event["type"].as_str().unwrap().to_string()];
    if let Some(user) = event["user"]["id"].as_str() {
        parts.push(user.to_string());
    }
    if let Some(ch) = event["channel"].as_str() {
        parts.push(ch.to_string());
    }
    parts.join(" ")
}

/// A relay on a real socket (common's) that can also be killed: dropped without its
/// shutdown, as a crash would.
pub struct TestRelay {
    pub addr: String,
    pub state: AppState,
    relay: super::common::TestRelay,
}

impl TestRelay {
    pub async fn start(toml: &str) -> TestRelay {
        let relay = super::common::TestRelay::start(toml).await;
        TestRelay {
            addr: relay.addr.clone(),
            state: relay.state.clone(),
            relay,
        }
    }

    /// Stop as a crash would: no shutdown, nothing written on the way out. Returns once
    /// the relay is gone.
    pub async fn kill(self) {
        self.relay.kill().await;
    }

    /// A browser tab of `user` (client id `client`), welcomed.
    pub async fn tab(&self, user: &str, client: &str) -> Tab {
        Tab {
            client: self.relay.connect(user, client).await,
            addr: self.addr.clone(),
        }
    }

    /// GET with the API key: (status, JSON body).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.get_with(path, Some(API_KEY)).await
    }

    pub async fn get_with(&self, path: &str, key: Option<&str>) -> (u16, Value) {
        get_at(&self.addr, path, key).await
    }
}

/// GET `path` of the relay at `addr` (with `key` as bearer): (status, JSON body).
pub async fn get_at(addr: &str, path: &str, key: Option<&str>) -> (u16, Value) {
    let mut req = reqwest::Client::new().get(format!("http://{addr}{path}"));
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    let res = req.send().await.expect("relay answers");
    let status = res.status().as_u16();
    let text = res.text().await.expect("a body");
    (status, serde_json::from_str(&text).expect("a JSON answer"))
}

/// One page's connection: common's client, with the steps these tests take.
pub struct Tab {
    client: super::common::TestClient,
    addr: String,
}

impl Tab {
    pub async fn enter(&mut self, ch: &str) {
        self.client.enter(ch, json!({})).await.expect("entered");
    }

    pub async fn status(&mut self, ch: &str, status: &str) {
        self.client
            .request(json!({"type": "update", "ch": ch, "status": status}))
            .await
            .expect("updated");
    }

    pub async fn leave(&mut self, ch: &str) {
        self.client
            .request(json!({"type": "leave", "ch": ch}))
            .await
            .expect("left");
    }

    /// What a closing page does: a beacon, then a close frame marked "unloading".
    pub async fn close_page(self) {
        let status = reqwest::Client::new()
            .post(format!("http://{}/v1/beacon", self.addr))
            .header("content-type", "text/plain;charset=UTF-8")
            .body(json!({ "session": self.client.session }).to_string())
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), 204);
        self.client.close_unloading().await;
    }

    /// Vanish without a close frame (network dropped, leader tab gone).
    pub fn drop_tcp(self) {
        self.client.drop_tcp();
    }
}
