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
    /// Stay; when the server goes away (a restart), come back as the same user and
    /// client, enter and watch again (W7).
    Rejoin,
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
    /// A watcher of a channel that names no probe (count_only, or a capped list): it
    /// counts each rise above the fill's count as the next round's join, and the fall
    /// back as its leave.
    pub count_probes: bool,
    /// Leave by itself this long after being admitted.
    pub hold: Option<Duration>,
    /// Time the round from the connection's start rather than from the join frame.
    pub from_connect: bool,
    /// Join nothing: admitted as soon as the handshake is done.
    pub idle: bool,
    /// No client outlives this (CLOCK_MONOTONIC ns).
    pub deadline_ns: u64,
    /// Connect from this loopback address (port chosen by the kernel).
    pub source: Option<std::net::IpAddr>,
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

/// What a client keeps across reconnects.
#[derive(Default)]
struct Life {
    admitted: bool,
    count: i64,
    /// A probe is in (count above the fill's), and how many rounds were seen whole.
    probe_in: bool,
    probes_seen: usize,
    reached_epoch: u32,
    /// The count it knew when told to come back after a restart.
    storm: Option<i64>,
    /// Back in after the restart.
    back: bool,
    dipped: bool,
}

enum End {
    /// Told to go, or out of time.
    Done,
    /// The server closed the connection or could not be reached.
    Lost(String),
}

pub async fn run(spec: Spec, stats: Arc<Stats>, gate: Arc<Semaphore>, mut orders: watch::Receiver<Order>) {
    let mut life = Life::default();
    let mut tries = 0u64;
    loop {
        let why = match session(&spec, &stats, &gate, &mut orders, &mut life).await {
            End::Done => return,
            End::Lost(why) => why,
        };
        if *orders.borrow() != Order::Rejoin {
            return stats.fail(why);
        }
        // After a restart: at once the first time, then every 100 to 300 ms while the
        // server is still down (spread so the retries do not come in waves).
        if tries > 0 {
            let jitter = (now_ns() ^ (tries * 0x9e37_79b9)) % 200;
            tokio::time::sleep(Duration::from_millis(100 + jitter)).await;
        }
        tries += 1;
        if now_ns() >= spec.deadline_ns {
            return stats.fail(format!("did not come back before the deadline: {why}"));
        }
    }
}

/// `IP_BIND_ADDRESS_NO_PORT`: what load generators that bind a source address set.
fn no_port_at_bind(socket: &tokio::net::TcpSocket) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let one: libc::c_int = 1;
    // SAFETY: setsockopt on the socket's own open descriptor, with a c_int it reads.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

async fn connect(spec: &Spec) -> std::io::Result<TcpStream> {
    let addr: std::net::SocketAddr = spec.addr.parse().map_err(std::io::Error::other)?;
    let socket = tokio::net::TcpSocket::new_v4()?;
    if let Some(ip) = spec.source {
        // The port is then chosen at connect(), for the whole 4-tuple, as without a
        // bind. A bind to port 0 alone takes a port for itself: one that no other socket
        // on the address holds, TIME_WAIT ones included. After one large case left
        // 10,000 of those, the next case's binds searched a crowded range and its fill
        // took 26 to 48 s of mostly kernel time instead of 5.
        no_port_at_bind(&socket)?;
        socket.bind(std::net::SocketAddr::new(ip, 0))?;
    }
    socket.connect(addr).await
}

async fn session(
    spec: &Spec,
    stats: &Stats,
    gate: &Arc<Semaphore>,
    orders: &mut watch::Receiver<Order>,
    life: &mut Life,
) -> End {
    let permit = gate.clone().acquire_owned().await.ok();
    let t_connect = now_ns();
    if let Some(r) = spec.round.filter(|_| spec.from_connect) {
        stats.rounds[r].start.store(t_connect, Ordering::Relaxed);
    }
    let connected = tokio::time::timeout(remaining(spec.deadline_ns), async {
        let tcp = connect(spec).await?;
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
        Ok(Err(e)) => return End::Lost(format!("connect: {e}")),
        Err(_) => return End::Lost("connect: timed out".into()),
    };
    let p = spec.proto;
    let mut session = Session::default();
    for frame in p.opening(&spec.user, life.admitted) {
        if ws.send(Message::text(frame)).await.is_err() {
            return End::Lost("send hello".into());
        }
    }
    let mut permit = permit;
    // This connection's own admission (a client admitted before a restart is admitted
    // again on its new connection).
    let mut admitted = false;
    let mut joined = false;
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
                        life.admit(stats, now_ns());
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
                                return End::Lost("send join".into());
                            }
                        }
                    }
                }
                Event::Admitted => {
                    if !admitted {
                        admitted = true;
                        let t = now_ns();
                        let first = life.admit(stats, t);
                        permit.take();
                        if let Some(r) = spec.round.filter(|_| first) {
                            stats.rounds[r].admitted.store(t, Ordering::Relaxed);
                        }
                        if let Some(hold) = spec.hold.filter(|_| first) {
                            leave_at = Some(tokio::time::Instant::now() + hold);
                        }
                    }
                }
                Event::Count(n) => {
                    if let Some(r) = spec.round {
                        let _ =
                            stats.rounds[r]
                                .state
                                .compare_exchange(0, now_ns(), Ordering::Relaxed, Ordering::Relaxed);
                    }
                    life.count = n;
                }
                Event::Delta(d) => life.count += d,
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
                // A server going down may say so first (Pusher's 4200 "reconnect"): after
                // a restart, that is one more way of being dropped.
                Event::Refused(why) if *orders.borrow() == Order::Rejoin => {
                    return End::Lost(format!("refused: {why}"));
                }
                Event::Refused(why) => {
                    stats.fail(format!("refused: {why}"));
                    return End::Done;
                }
            }
        }
        if spec.watcher {
            // A count below the one known before a restart is members seen leaving.
            if let Some(known) = life.storm.filter(|&k| life.count < k && !life.dipped) {
                let _ = known;
                life.dipped = true;
                stats.dipped.fetch_add(1, Ordering::Relaxed);
            }
            let (epoch, target) = stats.target();
            // After a restart, only a client that is back counts as knowing.
            if epoch != life.reached_epoch && target == life.count && (life.storm.is_none() || life.back) {
                life.reached_epoch = epoch;
                stats.reach(now_ns());
            }
            if spec.count_probes && life.reached_epoch == epoch {
                if !life.probe_in && life.count == target + 1 {
                    life.probe_in = true;
                    stats.saw_join(life.probes_seen, now_ns());
                } else if life.probe_in && life.count == target {
                    life.probe_in = false;
                    stats.saw_leave(life.probes_seen, now_ns());
                    life.probes_seen += 1;
                }
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
                    return End::Lost(format!("closed by the server (admitted: {admitted}, ready: {ready})"));
                }
                Some(Ok(_)) => false,
            },
            changed = orders.changed() => match changed {
                Ok(()) => match *orders.borrow_and_update() {
                    Order::Stay => false,
                    Order::Rejoin => {
                        if life.storm.is_none() {
                            life.storm = Some(stats.target().1);
                        }
                        false
                    }
                    Order::LeaversGo => spec.leaver,
                    Order::AllGo => true,
                },
                Err(_) => true,
            },
            _ = sleep_until_opt(leave_at) => true,
            _ = tokio::time::sleep_until(far) => {
                if !life.admitted {
                    stats.fail("not admitted before the deadline".into());
                }
                return End::Done;
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
            return End::Done;
        }
    }
}

impl Life {
    /// Count an admission: the first one, or the return after a restart. True for the
    /// first.
    fn admit(&mut self, stats: &Stats, t: u64) -> bool {
        if !self.admitted {
            self.admitted = true;
            stats.admit(t);
            return true;
        }
        if self.storm.is_some() && !self.back {
            self.back = true;
            stats.rejoined.fetch_add(1, Ordering::Relaxed);
            stats.last_rejoin.fetch_max(t, Ordering::Relaxed);
        }
        false
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
