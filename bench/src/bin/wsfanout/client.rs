//! The clients: bare TCP sockets that do the WebSocket handshake by hand and then skip
//! through frames without keeping their payloads, so the client process costs the same
//! small read buffer per connection whatever the server sends.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Read buffer per client connection.
const READ_BUF: usize = 16 * 1024;

const REQUEST: &str = "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// What all the clients have seen so far.
#[derive(Default)]
pub struct Progress {
    pub connected: AtomicUsize,
    /// Clients that have read the whole big frame.
    pub big: AtomicUsize,
    /// Clients that have read the big frame and every small one.
    pub done: AtomicUsize,
    /// Clients that saw something else than expected (wrong size, order, opcode).
    pub wrong: AtomicUsize,
}

/// Open the socket and do the opening handshake; returns the bytes read past the 101.
pub async fn connect(addr: &str) -> std::io::Result<(TcpStream, Vec<u8>)> {
    let mut tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    tcp.write_all(REQUEST.as_bytes()).await?;
    let mut buf = Vec::with_capacity(1024);
    loop {
        let mut chunk = [0u8; 1024];
        let n = tcp.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            if !buf.starts_with(b"HTTP/1.1 101") {
                return Err(std::io::Error::other("no 101"));
            }
            return Ok((tcp, buf.split_off(end + 4)));
        }
    }
}

/// Read frames until `big` then `small` text frames of the expected sizes have come.
pub async fn receive(mut tcp: TcpStream, rest: Vec<u8>, big_len: usize, small: usize, progress: Arc<Progress>) {
    let mut buf = vec![0u8; READ_BUF];
    let (mut start, mut end) = (0, rest.len());
    buf[..end].copy_from_slice(&rest);
    let mut skip: u64 = 0;
    let mut frames = 0usize;
    let wrong = |p: &Progress| {
        p.wrong.fetch_add(1, Ordering::Relaxed);
    };
    loop {
        // Payload bytes of the current frame are skipped, never kept.
        if skip > 0 {
            let take = (skip as usize).min(end - start);
            start += take;
            skip -= take as u64;
            if skip == 0 {
                frames += 1;
                if frames == 1 {
                    progress.big.fetch_add(1, Ordering::Relaxed);
                }
                if frames == 1 + small {
                    progress.done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if skip == 0 && end - start >= 2 {
            let (b0, b1) = (buf[start], buf[start + 1]);
            let extra = match b1 & 0x7f {
                126 => 2,
                127 => 8,
                _ => 0,
            };
            if end - start >= 2 + extra {
                let len = match extra {
                    2 => u16::from_be_bytes([buf[start + 2], buf[start + 3]]) as u64,
                    8 => u64::from_be_bytes(buf[start + 2..start + 10].try_into().expect("8 bytes")),
                    _ => u64::from(b1 & 0x7f),
                };
                let size_ok = if frames == 0 { len as usize == big_len } else { len > 0 };
                if b0 != 0x81 || b1 & 0x80 != 0 || !size_ok {
                    wrong(&progress);
                    return;
                }
                start += 2 + extra;
                skip = len;
                continue;
            }
        }
        if start == end {
            start = 0;
            end = 0;
        } else if start > 0 && skip == 0 {
            buf.copy_within(start..end, 0);
            end -= start;
            start = 0;
        }
        match tcp.read(&mut buf[end..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => end += n,
        }
    }
}

/// A masked client frame.
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x12u8, 0x34, 0x56, 0x78];
    let mut f = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// Send a close 1000 (after a ping) on a fresh connection; what came back, in words.
pub async fn close_check(addr: &str) -> String {
    let Ok((mut tcp, mut got)) = connect(addr).await else {
        return "could not connect".into();
    };
    let mut out = client_frame(0x9, b"hi");
    out.extend(client_frame(0x8, &[0x03, 0xe8, b'b', b'y', b'e']));
    if tcp.write_all(&out).await.is_err() {
        return "write failed".into();
    }
    let read_all = async {
        let mut chunk = [0u8; 1024];
        while let Ok(n) = tcp.read(&mut chunk).await {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&chunk[..n]);
        }
    };
    let timed_out = tokio::time::timeout(Duration::from_secs(3), read_all).await.is_err();
    let mut seen = Vec::new();
    let mut i = 0;
    while i + 2 <= got.len() {
        let (op, len) = (got[i] & 0x0f, (got[i + 1] & 0x7f) as usize);
        let body = &got[(i + 2).min(got.len())..(i + 2 + len).min(got.len())];
        seen.push(match op {
            0xA => "pong".to_string(),
            0x8 if body.len() >= 2 => format!("close {}", u16::from_be_bytes([body[0], body[1]])),
            0x8 => "close (no code)".to_string(),
            other => format!("opcode {other}"),
        });
        i += 2 + len;
    }
    if seen.is_empty() {
        seen.push("nothing".into());
    }
    let end = if timed_out {
        "socket still open after 3 s"
    } else {
        "then EOF"
    };
    format!("{}, {end}", seen.join(", "))
}
