//! A TCP fault proxy between a relay and Redis. It forwards bytes both ways until told
//! to fault the link:
//!
//! - `cut`: open links are dropped and new ones refused (a partition);
//! - `freeze`: bytes are held, in both directions, until the next mode (a stall: the
//!   relay's requests time out, nothing is lost or reordered);
//! - `slow(d)`: every chunk waits `d` (a congested link);
//! - `reset()`: every open link is closed with a TCP reset, new ones are accepted;
//! - `pass`: healthy again.
//!
//! It runs on the test's Tokio runtime. Links close with a TCP reset (`SO_LINGER` 0, which
//! never blocks, unlike the non-zero linger tokio's deprecation warns about).
#![allow(deprecated)]

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    Pass,
    Cut,
    Freeze,
    Slow(Duration),
}

pub struct FaultProxy {
    pub port: u16,
    mode: watch::Sender<Mode>,
    /// Bumped by [`FaultProxy::reset`]: links opened before it end with a reset.
    generation: watch::Sender<u64>,
    accept: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Listen on a free port of loopback and forward to `upstream` (host:port).
    pub async fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (mode, _) = watch::channel(Mode::Pass);
        let (generation, _) = watch::channel(0u64);
        let upstream = upstream.to_string();
        let modes = mode.clone();
        let generations = generation.clone();
        let accept = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if *modes.borrow() == Mode::Cut {
                    let _ = inbound.set_linger(Some(Duration::ZERO));
                    continue;
                }
                let upstream = upstream.clone();
                let mode = modes.subscribe();
                let generation = generations.subscribe();
                tokio::spawn(async move {
                    let Ok(outbound) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    link(inbound, outbound, mode, generation).await;
                });
            }
        });
        FaultProxy {
            port,
            mode,
            generation,
            accept,
        }
    }

    /// The URL a relay uses to reach Redis through this proxy.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    pub fn reset(&self) {
        self.generation.send_modify(|g| *g += 1);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.set(Mode::Cut);
        self.accept.abort();
    }
}

/// Forward both ways until either side closes, the link is cut, or reset. Sockets close
/// with a reset (linger 0), as a link that breaks does.
async fn link(
    inbound: TcpStream,
    outbound: TcpStream,
    mode: watch::Receiver<Mode>,
    mut generation: watch::Receiver<u64>,
) {
    for s in [&inbound, &outbound] {
        let _ = s.set_nodelay(true);
        let _ = s.set_linger(Some(Duration::ZERO));
    }
    let born = *generation.borrow_and_update();
    let (in_read, in_write) = inbound.into_split();
    let (out_read, out_write) = outbound.into_split();
    let reset = async {
        while generation.changed().await.is_ok() {
            if *generation.borrow() != born {
                return;
            }
        }
        std::future::pending::<()>().await
    };
    tokio::select! {
        _ = pump(in_read, out_write, mode.clone()) => {}
        _ = pump(out_read, in_write, mode) => {}
        _ = reset => {}
    }
}

/// Copy one direction, obeying the mode, until either side closes or the link is cut.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut mode: watch::Receiver<Mode>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if *mode.borrow_and_update() == Mode::Cut {
            return;
        }
        let n = tokio::select! {
            read = from.read(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            _ = mode.changed() => continue,
        };
        loop {
            let now = *mode.borrow_and_update();
            match now {
                Mode::Pass => break,
                Mode::Cut => return,
                Mode::Slow(d) => {
                    tokio::time::sleep(d).await;
                    break;
                }
                Mode::Freeze => {
                    if mode.changed().await.is_err() {
                        return;
                    }
                }
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
