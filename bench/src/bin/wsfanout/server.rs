//! The server under test: one candidate WebSocket library behind axum's HTTP upgrade,
//! shaped like the relay (a send task draining a bounded outbox, a receive loop), and a
//! hub that fans one shared frame out to every connection's outbox.
//!
//! The driver steers it over stdin, one command a line, and reads one answer a line:
//! `count`, `big BYTES`, `small COUNT BYTES INTERVAL_MS`, `trim`.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use std::io::{BufRead, Write};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Outbox slots per connection: one big frame and the 200 small ones fit, so no frame
/// is dropped and every candidate writes the same bytes.
const OUTBOX: usize = 1024;
/// Largest frame a client may send; the bench clients only send close and ping.
const MAX_IN: usize = 64 * 1024;
/// The relay's read buffer (relay/src/upgrade.rs, READ_BUFFER_BYTES). tungstenite and
/// tokio-websockets (vendored with the setting, vendor/README.md) take it;
/// fastwebsockets reads into 8 KiB.
const READ_BUFFER: usize = 1024;

#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum Candidate {
    /// axum's `ws` (tokio-tungstenite 0.29), as the relay uses it today.
    Axum,
    /// tokio-websockets 0.13: a queue of header + shared `Bytes`, written vectored.
    TokioWebsockets,
    /// fastwebsockets 0.10: `Payload::Borrowed` written with writev above 1 KiB.
    Fastwebsockets,
}

impl Candidate {
    pub const ALL: [Candidate; 3] = [Candidate::Axum, Candidate::TokioWebsockets, Candidate::Fastwebsockets];

    pub fn name(self) -> &'static str {
        match self {
            Candidate::Axum => "axum ws (tokio-tungstenite 0.29)",
            Candidate::TokioWebsockets => "tokio-websockets 0.13",
            Candidate::Fastwebsockets => "fastwebsockets 0.10",
        }
    }

    pub fn arg(self) -> &'static str {
        match self {
            Candidate::Axum => "axum",
            Candidate::TokioWebsockets => "tokio-websockets",
            Candidate::Fastwebsockets => "fastwebsockets",
        }
    }
}

/// Every connection's outbox. A std mutex: it is held only to push a sender or to
/// clone a frame handle into each outbox, never across an await.
struct Hub<T> {
    outboxes: Mutex<Vec<mpsc::Sender<T>>>,
}

impl<T: Clone> Hub<T> {
    fn new() -> Arc<Self> {
        Arc::new(Hub {
            outboxes: Mutex::new(Vec::new()),
        })
    }

    fn register(&self) -> mpsc::Receiver<T> {
        let (tx, rx) = mpsc::channel(OUTBOX);
        self.outboxes.lock().expect("hub lock").push(tx);
        rx
    }

    fn count(&self) -> usize {
        let mut outboxes = self.outboxes.lock().expect("hub lock");
        outboxes.retain(|tx| !tx.is_closed());
        outboxes.len()
    }

    /// One frame to every outbox: a handle is cloned, never the bytes.
    fn fan_out(&self, frame: T) -> usize {
        let outboxes = self.outboxes.lock().expect("hub lock");
        outboxes.iter().filter(|tx| tx.try_send(frame.clone()).is_err()).count()
    }
}

/// How the receive loop treats a client's close frame.
#[derive(Clone, Copy)]
struct Conf {
    /// Stop reading at the close frame, as relay/src/ws.rs does today, instead of
    /// reading on until the library ends the stream.
    break_on_close: bool,
}

pub fn main(candidate: Candidate, break_on_close: bool) -> Result<(), String> {
    let conf = Conf { break_on_close };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        match candidate {
            Candidate::Axum => {
                let hub = Hub::new();
                let app = Router::new()
                    .route("/ws", get(axum_ws::upgrade))
                    .with_state((hub.clone(), conf));
                serve(listener, app, addr, hub, |b| {
                    axum::extract::ws::Utf8Bytes::try_from(b).expect("ascii")
                })
                .await
            }
            Candidate::TokioWebsockets => {
                let hub = Hub::new();
                let app = Router::new()
                    .route("/ws", get(tws::upgrade))
                    .with_state((hub.clone(), conf));
                serve(listener, app, addr, hub, tokio_websockets::Message::text).await
            }
            Candidate::Fastwebsockets => {
                let hub = Hub::new();
                let app = Router::new()
                    .route("/ws", get(fws::upgrade))
                    .with_state((hub.clone(), conf));
                serve(listener, app, addr, hub, fws::Out::Text).await
            }
        }
    })
}

/// Serve `app` and obey the driver's commands; `wrap` turns the shared bytes into the
/// library's own message once per fan-out.
async fn serve<T: Clone + Send + 'static>(
    listener: tokio::net::TcpListener,
    app: Router,
    addr: std::net::SocketAddr,
    hub: Arc<Hub<T>>,
    wrap: fn(Bytes) -> T,
) -> Result<(), String> {
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    println!("listening {addr}");
    let (tx, mut commands) = mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    while let Some(line) = commands.recv().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        let arg = |i: usize| words.get(i).and_then(|w| w.parse::<u64>().ok()).unwrap_or(0);
        let answer = match words.first().copied() {
            Some("count") => format!("count {}", hub.count()),
            Some("big") => {
                let dropped = hub.fan_out(wrap(payload(arg(1) as usize, 0)));
                format!("sent dropped={dropped}")
            }
            Some("small") => {
                let (count, size) = (arg(1), arg(2) as usize);
                let mut tick = tokio::time::interval(std::time::Duration::from_millis(arg(3).max(1)));
                let mut dropped = 0;
                for i in 0..count {
                    tick.tick().await;
                    dropped += hub.fan_out(wrap(payload(size, i + 1)));
                }
                format!("sent dropped={dropped}")
            }
            Some("trim") => {
                // SAFETY: malloc_trim only returns free heap pages to the kernel.
                unsafe { libc::malloc_trim(0) };
                "trimmed".to_string()
            }
            Some("quit") | None => break,
            Some(other) => format!("unknown {other}"),
        };
        println!("{answer}");
        let _ = std::io::stdout().flush();
    }
    Ok(())
}

/// A JSON-looking text frame of exactly `size` bytes, different for each `seq`.
fn payload(size: usize, seq: u64) -> Bytes {
    let mut s = format!("{{\"seq\":{seq},\"members\":\"");
    while s.len() + 2 < size {
        s.push(char::from(b'a' + (s.len() % 26) as u8));
    }
    s.push_str("\"}");
    s.truncate(size.max(1));
    Bytes::from(s)
}

fn bad_request(why: &'static str) -> Response {
    (StatusCode::BAD_REQUEST, why).into_response()
}

/// (a) axum's own extractor; the relay's settings from relay/src/ws.rs.
mod axum_ws {
    use super::*;
    use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};

    pub async fn upgrade(State((hub, conf)): State<(Arc<Hub<Utf8Bytes>>, Conf)>, ws: WebSocketUpgrade) -> Response {
        ws.read_buffer_size(READ_BUFFER)
            .write_buffer_size(0)
            .max_message_size(MAX_IN)
            .max_frame_size(MAX_IN)
            .on_upgrade(move |socket| run(socket, hub, conf))
    }

    async fn run(socket: WebSocket, hub: Arc<Hub<Utf8Bytes>>, conf: Conf) {
        let (mut sink, mut stream) = socket.split();
        let mut outbox = hub.register();
        let sender = tokio::spawn(async move {
            while let Some(text) = outbox.recv().await {
                if sink.send(Message::Text(text)).await.is_err() {
                    return;
                }
            }
        });
        // tungstenite queues its answer to a close (and to a ping) and writes it on the
        // next read: the loop must read on until the stream ends.
        while let Some(Ok(msg)) = stream.next().await {
            if matches!(msg, Message::Close(_)) && conf.break_on_close {
                break;
            }
        }
        sender.abort();
    }
}

/// (b) tokio-websockets: no axum or hyper integration, so the 101 is written here.
mod tws {
    use super::*;
    use tokio_websockets::{Config, Limits, Message, ServerBuilder};

    pub async fn upgrade(State((hub, conf)): State<(Arc<Hub<Message>>, Conf)>, mut req: Request) -> Response {
        let Some(accept) = accept_key(&req) else {
            return bad_request("not a WebSocket upgrade");
        };
        let on_upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            let Ok(upgraded) = on_upgrade.await else { return };
            let ws = ServerBuilder::new()
                .limits(Limits::default().max_payload_len(Some(MAX_IN)))
                .config(Config::default().read_buffer_size(READ_BUFFER))
                .serve(TokioIo::new(upgraded));
            run(ws, hub, conf).await;
        });
        Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(header::CONNECTION, "upgrade")
            .header(header::UPGRADE, "websocket")
            .header(header::SEC_WEBSOCKET_ACCEPT, accept)
            .body(Body::empty())
            .expect("static response")
    }

    /// RFC 6455 §4.2.2: base64(SHA-1(key ++ GUID)), after the checks axum's extractor makes.
    fn accept_key(req: &Request) -> Option<String> {
        use base64::Engine;
        use sha1::Digest;
        let h = req.headers();
        let has = |name: header::HeaderName, word: &str| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(word)))
        };
        if !has(header::CONNECTION, "upgrade")
            || !has(header::UPGRADE, "websocket")
            || !has(header::SEC_WEBSOCKET_VERSION, "13")
        {
            return None;
        }
        let key = h.get(header::SEC_WEBSOCKET_KEY)?;
        let mut sha = sha1::Sha1::new();
        sha.update(key.as_bytes());
        sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
        Some(base64::engine::general_purpose::STANDARD.encode(sha.finalize()))
    }

    async fn run<S>(ws: tokio_websockets::WebSocketStream<S>, hub: Arc<Hub<Message>>, conf: Conf)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sink, mut stream) = ws.split();
        let mut outbox = hub.register();
        let sender = tokio::spawn(async move {
            while let Some(msg) = outbox.recv().await {
                if sink.send(msg).await.is_err() {
                    return;
                }
            }
        });
        // The answer to a close is queued when the close is read and flushed by the next
        // poll of the stream, which then ends: read on until `None`.
        while let Some(Ok(msg)) = stream.next().await {
            if msg.is_close() && conf.break_on_close {
                break;
            }
        }
        sender.abort();
    }
}

/// (c) fastwebsockets with its `upgrade` helper and the `unstable-split` halves.
mod fws {
    use super::*;
    use fastwebsockets::{Frame, OpCode, Payload, WebSocketError};
    use tokio::sync::Mutex as AsyncMutex;

    #[derive(Clone)]
    pub enum Out {
        Text(Bytes),
    }

    pub async fn upgrade(State((hub, conf)): State<(Arc<Hub<Out>>, Conf)>, mut req: Request) -> Response {
        let Ok((response, fut)) = fastwebsockets::upgrade::upgrade(&mut req) else {
            return bad_request("not a WebSocket upgrade");
        };
        tokio::spawn(async move {
            let Ok(ws) = fut.await else { return };
            run(ws, hub, conf).await;
        });
        response.map(Body::new)
    }

    async fn run(ws: fastwebsockets::WebSocket<TokioIo<hyper::upgrade::Upgraded>>, hub: Arc<Hub<Out>>, conf: Conf) {
        let (mut read, mut write) = ws.split(tokio::io::split);
        read.set_max_message_size(MAX_IN);
        // Two tasks write: the send task, and the read half's answers to close and ping
        // (it hands them to a callback). An async mutex lets the answer wait for a
        // frame being written.
        write.set_writev(true);
        let write = Arc::new(AsyncMutex::new(write));
        let mut outbox = hub.register();
        let sending = write.clone();
        let sender = tokio::spawn(async move {
            while let Some(Out::Text(bytes)) = outbox.recv().await {
                let mut w = sending.lock().await;
                if w.write_frame(Frame::text(Payload::Borrowed(&bytes))).await.is_err() {
                    return;
                }
            }
        });
        let mut answer = |frame: Frame<'static>| {
            let write = write.clone();
            async move { write.lock().await.write_frame(frame).await }
        };
        loop {
            let frame: Result<Frame, WebSocketError> = read.read_frame(&mut answer).await;
            match frame {
                Ok(frame) if frame.opcode == OpCode::Close => {
                    // The answer has already been written by `answer`.
                    if conf.break_on_close {
                        break;
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        sender.abort();
    }
}
