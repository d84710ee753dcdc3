//! The floors: what any WebSocket server on this machine pays before doing anything
//! useful. `main` is a bare tokio WebSocket server with no presence at all: it answers
//! `join` with `ok` and otherwise only holds the socket (its CPU and memory per
//! connection). `fanout_main` is the least a presence server does when someone joins:
//! one frame to every subscriber (its latency to every member).

use crate::proto::str_field;
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

pub fn main(listen: &str) -> Result<(), String> {
    serve(listen, "floor", |tcp, config| {
        tokio::spawn(async move {
            let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(tcp, Some(config)).await else {
                return;
            };
            while let Some(Ok(msg)) = ws.next().await {
                if let Message::Text(text) = msg {
                    if text.as_str() == "join" && ws.send(Message::text("ok")).await.is_err() {
                        return;
                    }
                }
            }
        });
    })
}

/// Both floors' server: a runtime, a listener on loopback that says where it listens
/// (as `<name> listening on ws://...`), and each accepted socket handed to `accepted`
/// with the WebSocket settings to accept it with.
fn serve(listen: &str, name: &str, mut accepted: impl FnMut(TcpStream, WebSocketConfig)) -> Result<(), String> {
    crate::shard::check_loopback(listen)?;
    crate::clock::raise_nofile();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let listener = TcpListener::bind(listen).await.map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        println!("{name} listening on ws://{addr}");
        let config = WebSocketConfig::default()
            .read_buffer_size(4 * 1024)
            .write_buffer_size(0)
            .max_message_size(Some(64 * 1024));
        loop {
            let (tcp, _) = match listener.accept().await {
                Ok(x) => x,
                // Out of files for a moment: back off rather than spin.
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            accepted(tcp, config);
        }
    })
}

/// The fan-out floor: the least a presence server must do for W2, on this machine. It
/// speaks enough of rollcall's wire for the generator (`hello` gets a `welcome`,
/// `subscribe` a `snapshot` with the count, `enter` an `ok` and a `diff` to every
/// subscriber at once, a `leave` or a close a `diff`), keeps a count and the subscribers'
/// sockets per channel, and nothing else: no tokens checked, no lists, no leases, no
/// coalescing, no outbox and no send task. A join's frame is framed once and written
/// straight to every subscriber's socket from the fan-out's loop, one `write` each: what
/// it measures is the cost of the writes alone, which no server here can go below.
pub fn fanout_main(listen: &str) -> Result<(), String> {
    let channels: Channels = Arc::default();
    let mut next_id = 0u64;
    serve(listen, "fan-out floor", move |tcp, config| {
        next_id += 1;
        tokio::spawn(connection(tcp, config, channels.clone(), next_id));
    })
}

/// A connection's socket for writing: the same socket as the reader's (a duplicate of
/// its descriptor, non-blocking like it). Every frame to the client goes through here.
#[derive(Clone)]
struct Writer(Arc<Mutex<std::net::TcpStream>>);

impl Writer {
    /// One whole frame, or nothing more to this client: a client that does not read is
    /// not waited for (the generator always reads).
    fn send(&self, frame: &[u8]) {
        let mut socket = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let _ = std::io::Write::write_all(&mut *socket, frame);
    }
}

/// A server's text frame: unmasked, FIN, opcode 1.
fn text_frame(text: &str) -> Vec<u8> {
    let len = text.len();
    let mut frame = Vec::with_capacity(len + 10);
    frame.push(0x81);
    if len < 126 {
        frame.push(len as u8);
    } else if len < 65_536 {
        frame.push(126);
        frame.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        frame.push(127);
        frame.extend_from_slice(&(len as u64).to_be_bytes());
    }
    frame.extend_from_slice(text.as_bytes());
    frame
}

#[derive(Default)]
struct Channel {
    count: i64,
    subscribers: HashMap<u64, Writer>,
}

type Channels = Arc<Mutex<HashMap<String, Channel>>>;

fn fan_out(channels: &Channels, ch: &str, change: i64, user: &str) {
    let mut all = channels.lock().unwrap_or_else(|e| e.into_inner());
    let channel = all.entry(ch.to_string()).or_default();
    channel.count += change;
    let text = if change > 0 {
        format!(
            r#"{{"type":"diff","ch":"{ch}","count":{},"join":[{{"id":"{user}"}}]}}"#,
            channel.count
        )
    } else {
        format!(
            r#"{{"type":"diff","ch":"{ch}","count":{},"leave":["{user}"]}}"#,
            channel.count
        )
    };
    // Framed once, written to every subscriber.
    let frame = text_frame(&text);
    for writer in channel.subscribers.values() {
        writer.send(&frame);
    }
}

async fn connection(tcp: TcpStream, config: WebSocketConfig, channels: Channels, id: u64) {
    use std::os::fd::AsFd;
    let Ok(fd) = tcp.as_fd().try_clone_to_owned() else {
        return;
    };
    let writer = Writer(Arc::new(Mutex::new(std::net::TcpStream::from(fd))));
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(tcp, Some(config)).await else {
        return;
    };
    let mut user = String::new();
    let mut entered: Vec<String> = Vec::new();
    let mut watching: Vec<String> = Vec::new();
    while let Some(Ok(msg)) = ws.next().await {
        let Message::Text(text) = msg else { continue };
        let text = text.as_str();
        let (Some(kind), ch) = (str_field(text, "type"), str_field(text, "ch")) else {
            continue;
        };
        match (kind, ch) {
            ("hello", _) => {
                user = str_field(text, "client")
                    .unwrap_or("c?")
                    .trim_start_matches('c')
                    .to_string();
                writer.send(&text_frame(r#"{"type":"welcome","v":1}"#));
            }
            ("subscribe", Some(ch)) => {
                let mut all = channels.lock().unwrap_or_else(|e| e.into_inner());
                let channel = all.entry(ch.to_string()).or_default();
                channel.subscribers.insert(id, writer.clone());
                let snapshot = format!(r#"{{"type":"snapshot","ch":"{ch}","count":{}}}"#, channel.count);
                writer.send(&text_frame(&snapshot));
                watching.push(ch.to_string());
            }
            ("enter", Some(ch)) if !entered.iter().any(|c| c == ch) => {
                writer.send(&text_frame(r#"{"type":"ok","ref":2}"#));
                entered.push(ch.to_string());
                fan_out(&channels, ch, 1, &user);
            }
            ("leave", Some(ch)) if entered.iter().any(|c| c == ch) => {
                entered.retain(|c| c != ch);
                fan_out(&channels, ch, -1, &user);
            }
            _ => {}
        }
    }
    {
        let mut all = channels.lock().unwrap_or_else(|e| e.into_inner());
        for ch in &watching {
            if let Some(channel) = all.get_mut(ch) {
                channel.subscribers.remove(&id);
            }
        }
    }
    for ch in &entered {
        fan_out(&channels, ch, -1, &user);
    }
}
