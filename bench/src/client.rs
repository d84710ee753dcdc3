//! One simulated browser: a WebSocket that joins a channel, keeps count of its members,
//! notes when probe members come and go, and leaves when told or when its time is up.
//!
//! Buffers are small (4 KiB read, no write buffering) so one process holds thousands.

use crate::clock::now_ns;
use crate::proto::{Event, Proto, Session};
use crate::stats::Stats;
use futures_util::{SinkExt, StreamExt};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{watch, Semaphore};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// Orders broadcast to every client of a shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    Stay,
    /// Clients marked `leaver` leave and disconnect.
    LeaversGo,
    /// Everyone disconnects.
    AllGo,
}

#[derive(Clone, Debug)]
pub struct Spec {
    pub proto: Proto,
    /// host:port
    pub addr: String,
    pub user: String,
    pub channel: String,
    /// Counts toward "every watcher knows" and records probe sightings.
    pub watcher: bool,
    pub leaver: bool,
    /// A probe: its join and leave are timed in this round.
    pub round: Option<usize>,
    /// Leave by itself this long after being admitted.
    pub hold: Option<Duration>,
    /// Time the round from the connection's start rather than from the join frame.
    pub from_connect: bool,
    /// Join nothing: admitted as soon as the handshake is done.
    pub idle: bool,
    /// No client outlives this (CLOCK_MONOTONIC ns).
    pub deadline_ns: u64,
}

fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20))
}

fn remaining(deadline_ns: u64) -> Duration {
    Duration::from_nanos(deadline_ns.saturating_sub(now_ns()))
}

pub async fn run(spec: Spec, stats: Arc<Stats>, gate: Arc<Semaphore>, mut orders: watch::Receiver<Order>) {
    let permit = gate.acquire_owned().await.ok();
    let t_connect = now_ns();
    if let Some(r) = spec.round.filter(|_| spec.from_connect) {
        stats.rounds[r].start.store(t_connect, Ordering::Relaxed);
    }
    let connected = tokio::time::timeout(remaining(spec.deadline_ns), async {
        let tcp = TcpStream::connect(&spec.addr).await?;
        tcp.set_nodelay(true)?;
        let url = format!("ws://{}{}", spec.addr, spec.proto.path(&spec.user));
        let (ws, _) = tokio_tungstenite::client_async_with_config(url, tcp, Some(ws_config()))
            .await
            .map_err(std::io::Error::other)?;
        Ok::<_, std::io::Error>(ws)
    })
    .await;
    let mut ws = match connected {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => return stats.fail(format!("connect: {e}")),
        Err(_) => return stats.fail("connect: timed out".into()),
    };
    let p = spec.proto;
    let mut session = Session::default();
    for frame in p.opening(&spec.user) {
        if ws.send(Message::text(frame)).await.is_err() {
            return stats.fail("send hello".into());
        }
    }
    let mut permit = permit;
    let mut admitted = false;
    let mut joined = false;
    let mut count: i64 = 0;
    let mut reached_epoch = 0u32;
    let mut leave_at: Option<tokio::time::Instant> = None;
    let mut events = Vec::new();
    let far = tokio::time::Instant::now() + remaining(spec.deadline_ns);
    let mut ready = p.ready_on_open();
    if ready {
        events.push(Event::Ready);
    }
    loop {
        for ev in events.drain(..) {
            match ev {
                Event::Ready if spec.idle => {
                    ready = true;
                    if !admitted {
                        admitted = true;
                        stats.admit(now_ns());
                        permit.take();
                    }
                }
                Event::Ready => {
                    ready = true;
                    if !joined {
                        joined = true;
                        if let Some(r) = spec.round.filter(|_| !spec.from_connect) {
                            stats.rounds[r].start.store(now_ns(), Ordering::Relaxed);
                        }
                        for frame in p.join(&session, &spec.user, &spec.channel) {
                            if ws.send(Message::text(frame)).await.is_err() {
                                return stats.fail("send join".into());
                            }
                        }
                    }
                }
                Event::Admitted => {
                    if !admitted {
                        admitted = true;
                        let t = now_ns();
                        stats.admit(t);
                        permit.take();
                        if let Some(r) = spec.round {
                            stats.rounds[r].admitted.store(t, Ordering::Relaxed);
                        }
                        if let Some(hold) = spec.hold {
                            leave_at = Some(tokio::time::Instant::now() + hold);
                        }
                    }
                }
                Event::Count(n) => count = n,
                Event::Delta(d) => count += d,
                Event::Joined(id) | Event::Left(id) if !spec.watcher || !id.starts_with('p') => {
                    let _ = id;
                }
                Event::Joined(id) => {
                    if let Some(r) = probe_round(&id) {
                        stats.saw_join(r, now_ns());
                    }
                }
                Event::Left(id) => {
                    if let Some(r) = probe_round(&id) {
                        stats.saw_leave(r, now_ns());
                    }
                }
                Event::Reply(text) => {
                    let _ = ws.send(Message::text(text)).await;
                }
                Event::Refused(why) => {
                    stats.fail(format!("refused: {why}"));
                    return;
                }
            }
        }
        if spec.watcher {
            let (epoch, target) = stats.target();
            if epoch != reached_epoch && target == count {
                reached_epoch = epoch;
                stats.reach(now_ns());
            }
        }
        let go = tokio::select! {
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    stats.frames_in.fetch_add(1, Ordering::Relaxed);
                    stats.bytes_in.fetch_add(text.len() as u64, Ordering::Relaxed);
                    p.on_text(&mut session, &text, &mut events);
                    false
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    stats.fail(format!("closed by the server (admitted: {admitted}, ready: {ready})"));
                    return;
                }
                Some(Ok(_)) => false,
            },
            changed = orders.changed() => match changed {
                Ok(()) => match *orders.borrow_and_update() {
                    Order::Stay => false,
                    Order::LeaversGo => spec.leaver,
                    Order::AllGo => true,
                },
                Err(_) => true,
            },
            _ = sleep_until_opt(leave_at) => true,
            _ = tokio::time::sleep_until(far) => {
                if !admitted {
                    stats.fail("not admitted before the deadline".into());
                }
                return;
            }
        };
        if go {
            if let Some(r) = spec.round {
                stats.rounds[r].leave.store(now_ns(), Ordering::Relaxed);
            }
            // Leave explicitly, then close: what a page does when the user goes away.
            for frame in p.leave(&spec.channel) {
                let _ = ws.send(Message::text(frame)).await;
            }
            let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
            // Drain until the server's close so the socket ends cleanly.
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                while let Some(Ok(_)) = ws.next().await {}
            })
            .await;
            stats.closed.fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
}

async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Probe members are named `p<round>`.
pub fn probe_round(id: &str) -> Option<usize> {
    id.strip_prefix('p')?.parse().ok()
}
