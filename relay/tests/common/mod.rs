//! A relay on a real socket and a WebSocket test client that speaks protocol v1.

#![allow(dead_code)]

pub mod proxy;
pub mod redis_cluster;

use futures_util::{SinkExt, StreamExt};
use rollcall_core::policy::Claims;
use rollcall_core::protocol::{ServerMsg, Terms};
use rollcall_relay::auth::sign;
use rollcall_relay::clock::unix_now;
use rollcall_relay::config::Config;
use rollcall_relay::{router, serve, AppState, Relay};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const SECRET: &str = "test-secret-0123456789abcdef";
pub const API_KEY: &str = "test-api-key";
/// How long a test waits for a frame that must come. Real sockets on loopback answer in
/// microseconds; the bound only turns a hang into a failure.
pub const PATIENCE: Duration = Duration::from_secs(5);

pub struct TestRelay {
    pub addr: String,
    pub state: AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TestRelay {
    pub async fn start(toml: &str) -> TestRelay {
        let mut config = Config::from_toml(toml).expect("test config");
        config.secrets = vec![SECRET.to_string()];
        config.api_key = Some(API_KEY.to_string());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let relay = Relay::start(config);
        let state = relay.state().clone();
        let server = tokio::spawn(serve(listener, relay, async move {
            let _ = stopped.await;
        }));
        TestRelay {
            addr,
            state,
            stop: Some(stop),
            server,
        }
    }

    pub fn http(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stop as a crash would: the server and the relay are dropped, nothing is written
    /// on the way out and nobody is told.
    /// Returns once the relay is gone: its tasks dropped, its ledger's recorder stopped.
    pub async fn kill(self) {
        self.server.abort();
        let _ = self.server.await;
    }

    /// SIGTERM, as the binary handles it.
    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(PATIENCE, self.server)
            .await
            .expect("relay stops")
            .unwrap()
            .unwrap();
    }

    pub async fn connect(&self, user: &str, client: &str) -> TestClient {
        self.connect_with(&token(user, &[]), client).await.expect("welcome")
    }

    /// Hello with `token`; `Err` holds the refusal (error code, close code).
    pub async fn connect_with(&self, token: &str, client: &str) -> Result<TestClient, (String, Option<u16>)> {
        let mut c = self.raw().await;
        c.send(json!({"type": "hello", "v": [1], "token": token, "client": client}))
            .await;
        match c.recv().await {
            ServerMsg::Welcome { session, terms, .. } => {
                c.session = session;
                c.terms = Some(terms);
                Ok(c)
            }
            ServerMsg::Error { code, .. } => Err((code.as_str().to_string(), c.closed().await)),
            other => panic!("unexpected {other:?}"),
        }
    }

    /// A socket that has not said hello.
    pub async fn raw(&self) -> TestClient {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/v1/ws", self.addr))
            .await
            .expect("ws connect");
        TestClient {
            ws,
            session: String::new(),
            terms: None,
            next_ref: 1,
        }
    }

    pub async fn beacon(&self, session: &str) -> u16 {
        let body = json!({ "session": session }).to_string();
        call(
            &self.state,
            "POST",
            "/v1/beacon",
            &[("content-type", "text/plain;charset=UTF-8")],
            &body,
        )
        .await
        .0
    }
}

pub fn token(user: &str, groups: &[&str]) -> String {
    token_with(Claims {
        sub: user.into(),
        name: Some(format!("User {user}")),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        exp: Some(unix_now() + 600),
        ..Claims::default()
    })
}

pub fn token_with(claims: Claims) -> String {
    sign(SECRET, &claims)
}

pub struct TestClient {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub session: String,
    pub terms: Option<Terms>,
    next_ref: u64,
}

impl TestClient {
    pub async fn send(&mut self, frame: Value) {
        self.ws.send(Message::text(frame.to_string())).await.expect("send");
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text.to_string())).await.expect("send");
    }

    /// The next protocol frame (pings are answered by the client library as it reads).
    pub async fn recv(&mut self) -> ServerMsg {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .expect("a frame in time")
                .expect("open")
                .expect("ok");
            match msg {
                Message::Text(text) => return ServerMsg::decode(&text).expect("valid server frame"),
                Message::Close(frame) => panic!("closed: {frame:?}"),
                _ => continue,
            }
        }
    }

    /// A request with a `ref`; returns the reply (`ok` or `error`), skipping diffs.
    pub async fn request(&mut self, mut frame: Value) -> Result<(), String> {
        let reference = self.next_ref;
        self.next_ref += 1;
        frame["ref"] = json!(reference);
        self.send(frame).await;
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            assert!(tokio::time::Instant::now() < deadline, "no reply to ref {reference}");
            match self.recv().await {
                ServerMsg::Ok { reference: r } if r == reference => return Ok(()),
                ServerMsg::Error {
                    reference: Some(r),
                    code,
                    ..
                } if r == reference => return Err(code.as_str().to_string()),
                _ => continue,
            }
        }
    }

    pub async fn enter(&mut self, ch: &str, meta: Value) -> Result<(), String> {
        self.request(json!({"type": "enter", "ch": ch, "meta": meta})).await
    }

    /// Subscribe and return the snapshot's member ids.
    pub async fn subscribe(&mut self, ch: &str) -> Vec<String> {
        self.request(json!({"type": "subscribe", "ch": ch}))
            .await
            .expect("subscribed");
        loop {
            if let ServerMsg::Snapshot { users, .. } = self.recv().await {
                return users.unwrap_or_default().into_iter().map(|m| m.id).collect();
            }
        }
    }

    /// The next diff, as "+id", "-id", "~id" strings.
    pub async fn diff(&mut self) -> Vec<String> {
        loop {
            if let ServerMsg::Diff {
                join, leave, update, ..
            } = self.recv().await
            {
                let mut out: Vec<String> = join.iter().map(|m| format!("+{}", m.id)).collect();
                out.extend(leave.iter().map(|id| format!("-{id}")));
                out.extend(update.iter().map(|m| format!("~{}", m.id)));
                return out;
            }
        }
    }

    /// Assert that no protocol frame arrives for `quiet` (used only where "nothing
    /// happens" is the behaviour under test, and bounded by the grace being tested).
    pub async fn nothing_for(&mut self, quiet: Duration) {
        let deadline = tokio::time::Instant::now() + quiet;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return,
                Ok(Some(Ok(Message::Text(text)))) => panic!("expected silence, got {text}"),
                Ok(Some(Ok(_))) => continue,
                Ok(other) => panic!("connection ended: {other:?}"),
            }
        }
    }

    /// Wait for the relay to close this socket; its close code.
    pub async fn closed(&mut self) -> Option<u16> {
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

    /// The error codes told before the close, and the close code.
    pub async fn told_then_closed(&mut self) -> (Vec<String>, Option<u16>) {
        let mut told = Vec::new();
        loop {
            match tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("closed in time")
            {
                Some(Ok(Message::Text(text))) => {
                    if let Ok(ServerMsg::Error { code, .. }) = ServerMsg::decode(&text) {
                        told.push(code.as_str().to_string());
                    }
                }
                Some(Ok(Message::Close(frame))) => return (told, frame.map(|f| u16::from(f.code))),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return (told, None),
            }
        }
    }

    /// Close as a page that is going away does.
    pub async fn close_unloading(mut self) {
        let frame = CloseFrame {
            code: CloseCode::from(4001),
            reason: "unload".into(),
        };
        let _ = self.ws.close(Some(frame)).await;
    }

    /// Vanish without a close frame (network dropped).
    pub fn drop_tcp(self) {
        drop(self.ws);
    }
}

/// One HTTP request through the relay's router, without a socket (axum's `oneshot`):
/// (status, headers, body).
pub async fn call(
    state: &AppState,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, axum::http::HeaderMap, String) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let mut req = axum::http::Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = router(state.clone())
        .oneshot(req.body(axum::body::Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

/// Connect a test client to a relay at `addr` (any relay: in-process or a process).
pub async fn client_at(addr: &str, user: &str, client: &str) -> TestClient {
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/v1/ws"))
        .await
        .expect("ws connect");
    let mut c = TestClient {
        ws,
        session: String::new(),
        terms: None,
        next_ref: 1,
    };
    c.send(json!({"type": "hello", "v": [1], "token": token(user, &[]), "client": client}))
        .await;
    match c.recv().await {
        ServerMsg::Welcome { session, terms, .. } => {
            c.session = session;
            c.terms = Some(terms);
            c
        }
        other => panic!("unexpected {other:?}"),
    }
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A private `redis-server` on a free port, no persistence, stopped when dropped.
pub struct RedisServer {
    pub port: u16,
    dir: std::path::PathBuf,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("rollcall-redis-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        let server = RedisServer { port, dir };
        server.run();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Start (again) on the same port, empty.
    pub fn run(&self) {
        let status = std::process::Command::new("redis-server")
            .args([
                "--daemonize",
                "yes",
                "--bind",
                "127.0.0.1",
                "--port",
                &self.port.to_string(),
            ])
            .args(["--save", "", "--appendonly", "no", "--dir", self.dir.to_str().unwrap()])
            .args(["--pidfile", self.dir.join("redis.pid").to_str().unwrap()])
            .status()
            .expect("redis-server is installed (scripts/setup.sh installs it)");
        assert!(status.success());
        for _ in 0..100 {
            if self.cli(&["ping"]).is_some_and(|out| out.trim() == "PONG") {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not start on port {}", self.port);
    }

    /// Stop it without saving: all data gone.
    pub fn stop(&self) {
        let _ = self.cli(&["shutdown", "nosave"]);
    }

    pub fn cli(&self, args: &[&str]) -> Option<String> {
        let out = std::process::Command::new("redis-cli")
            .arg("-p")
            .arg(self.port.to_string())
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Resident memory of a process, in bytes.
pub fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc is readable");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS");
    kb * 1024
}

/// The relay binary as a process, as operators run it.
pub struct RelayProcess {
    pub addr: String,
    child: std::process::Child,
}

impl RelayProcess {
    pub fn start(toml: &str, redis_url: &str) -> RelayProcess {
        Self::spawn(toml, Some(redis_url))
    }

    /// A relay with its state in memory (`redis_url` None) or in Redis.
    pub fn spawn(toml: &str, redis_url: Option<&str>) -> RelayProcess {
        use std::io::BufRead;
        let path = std::env::temp_dir().join(format!("rollcall-relay-{}.toml", free_port()));
        std::fs::write(&path, toml).unwrap();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rollcall-relay"))
            .args(["--listen", "127.0.0.1:0", "--config", path.to_str().unwrap()])
            .env("ROLLCALL_SECRET", SECRET)
            .env("ROLLCALL_API_KEY", API_KEY)
            .env("ROLLCALL_REDIS_URL", redis_url.unwrap_or(""))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("relay binary");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .expect("start line")
            .to_string();
        let store = if redis_url.is_some() {
            "store: redis"
        } else {
            "store: memory"
        };
        assert!(line.contains(store), "{line}");
        RelayProcess { addr, child }
    }

    /// The process id, to read its memory from /proc.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no goodbye of any kind.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, as a deploy does; waits for the process to end.
    pub fn terminate(&mut self) {
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }

    pub async fn client(&self, user: &str, client: &str) -> TestClient {
        client_at(&self.addr, user, client).await
    }

    /// The members of `ch` as the server API tells them (`GET /v1/presence`), sorted.
    pub async fn presence(&self, ch: &str) -> Vec<String> {
        let ch_arg: String = form_urlencoded::byte_serialize(ch.as_bytes()).collect();
        let url = format!("http://{}/v1/presence?channel={ch_arg}", self.addr);
        let res = reqwest::Client::new()
            .get(url)
            .bearer_auth(API_KEY)
            .send()
            .await
            .expect("presence answers");
        let body: Value = serde_json::from_str(&res.text().await.expect("a body")).expect("presence is JSON");
        let mut ids: Vec<String> = body[ch]["users"]
            .as_array()
            .map(|users| {
                users
                    .iter()
                    .filter_map(|u| u["id"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids
    }

    /// `/healthz` as JSON.
    pub async fn health(&self) -> serde_json::Value {
        let res = reqwest::get(format!("http://{}/healthz", self.addr))
            .await
            .expect("healthz answers");
        serde_json::from_str(&res.text().await.expect("a body")).expect("healthz is JSON")
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Keep reading a client in the background, as a browser does: it answers the relay's
/// pings, so its lease holds while the test looks elsewhere.
pub fn keep_alive(mut c: TestClient) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move { while let Some(Ok(_)) = c.ws.next().await {} })
}

/// A client kept alive in the background (it answers pings, as a browser does) that
/// still takes requests: for tests that wait seconds between a client's actions.
pub struct Held {
    tx: tokio::sync::mpsc::UnboundedSender<(Value, tokio::sync::oneshot::Sender<Result<(), String>>)>,
}

pub fn hold(mut c: TestClient) -> Held {
    let (tx, mut rx) =
        tokio::sync::mpsc::unbounded_channel::<(Value, tokio::sync::oneshot::Sender<Result<(), String>>)>();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some((frame, reply)) => {
                        let _ = reply.send(c.request(frame).await);
                    }
                    None => return,
                },
                msg = c.ws.next() => if !matches!(msg, Some(Ok(_))) { return },
            }
        }
    });
    Held { tx }
}

impl Held {
    pub async fn request(&self, frame: Value) -> Result<(), String> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.tx.send((frame, reply)).map_err(|_| "client gone".to_string())?;
        answer.await.map_err(|_| "client gone".to_string())?
    }

    pub async fn enter(&self, ch: &str) -> Result<(), String> {
        self.request(json!({"type": "enter", "ch": ch, "meta": {}})).await
    }

    pub async fn leave(&self, ch: &str) -> Result<(), String> {
        self.request(json!({"type": "leave", "ch": ch})).await
    }
}

/// Every diff a subscriber of `ch` is told from now on, as "+id" and "-id", recorded in
/// the background (the client stays alive meanwhile).
pub async fn record(mut c: TestClient, ch: &str) -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
    c.subscribe(ch).await;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let out = seen.clone();
    tokio::spawn(async move {
        while let Some(Ok(msg)) = c.ws.next().await {
            let Message::Text(text) = msg else { continue };
            if let Ok(ServerMsg::Diff { join, leave, .. }) = ServerMsg::decode(&text) {
                let mut seen = out.lock().unwrap();
                seen.extend(join.iter().map(|m| format!("+{}", m.id)));
                seen.extend(leave.iter().map(|id| format!("-{id}")));
            }
        }
    });
    seen
}

/// Wait until every relay's server API (`GET /v1/presence`) tells exactly `truth` (channel
/// -> sorted member ids) for every channel, within `patience`.
pub async fn converge(
    relays: &[&RelayProcess],
    truth: &std::collections::BTreeMap<String, Vec<String>>,
    patience: Duration,
) {
    let deadline = std::time::Instant::now() + patience;
    loop {
        let mut wrong = Vec::new();
        for relay in relays {
            for (ch, want) in truth {
                let seen = relay.presence(ch).await;
                if seen != *want {
                    wrong.push(format!("{} {ch}: {seen:?}, not {want:?}", relay.addr));
                }
            }
        }
        if wrong.is_empty() {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "never converged: {wrong:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Wait until every relay's `/healthz` says `store_up` again. After a fault heals, a relay
/// reconnects when its backoff ends (at most `store::BACKOFF_MAX`) and resyncs (each step
/// within the store's 2 s timeout); the roster may be exact before that, from what it held.
pub async fn store_up(relays: &[&RelayProcess]) {
    let patience = rollcall_relay::store::BACKOFF_MAX + Duration::from_secs(6);
    let deadline = std::time::Instant::now() + patience;
    for relay in relays {
        loop {
            let health = relay.health().await;
            if health["store_up"] == true {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{} not linked to the store {patience:?} after the faults healed: {health}",
                relay.addr
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
