//! A relay on a real socket and a WebSocket test client that speaks protocol v1.

#![allow(dead_code)]

use futures_util::{SinkExt, StreamExt};
use rollcall_core::policy::Claims;
use rollcall_core::protocol::{ServerMsg, Terms};
use rollcall_relay::auth::{sign, unix_now};
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
