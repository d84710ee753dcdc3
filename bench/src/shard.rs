//! One load-generator process: its slice (`--shard i/n`) of a workload's clients, run
//! phase by phase. Between phases it prints `REPORT <json>` and waits for `go` on
//! stdin, so the suite can read the server's CPU and memory at the same instants for
//! every shard. Each process stops by itself at `--max-seconds`.

use crate::client::{self, Order, Spec};
use crate::clock::now_ns;
use crate::proto::Proto;
use crate::stats::Stats;
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{watch, Semaphore};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    W1,
    W2,
    W3,
    W4,
    W5,
    /// W1 on a `count_only` channel.
    W6,
    /// A reconnect storm: fill, restart the server, everyone comes back.
    W7,
    /// W1 on a channel whose member list is capped (`list_cap`).
    W8,
}

#[derive(Args, Clone, Debug)]
pub struct ShardArgs {
    #[arg(long, value_enum)]
    pub proto: Proto,
    /// The server, host:port; several, comma-separated, for several relays sharing one
    /// channel (client i goes to the i-th modulo their number). Only loopback addresses
    /// are accepted.
    #[arg(long, value_delimiter = ',', required = true)]
    pub addr: Vec<String>,
    /// Connect from this loopback address: one source address and one server port have
    /// about 28,000 ephemeral ports between them.
    #[arg(long)]
    pub source: Option<std::net::Ipv4Addr>,
    #[arg(long, value_enum)]
    pub workload: Workload,
    /// Members in the channel (W1, W2, W5 to W8), connections (W3) or watchers (W4).
    #[arg(long)]
    pub size: usize,
    /// Watchers that stay (W5).
    #[arg(long, default_value_t = 10)]
    pub watchers: usize,
    /// Probe rounds (W2).
    #[arg(long, default_value_t = 40)]
    pub rounds: usize,
    /// Probe rounds after the fill (W6, W8): one newcomer at a time joins, stays
    /// `--hold-ms` and leaves, every `--period-ms`; watchers time it by their count.
    #[arg(long, default_value_t = 0)]
    pub count_probes: usize,
    /// Time between probe rounds (W2), ms.
    #[arg(long, default_value_t = 400)]
    pub period_ms: u64,
    /// Churn: connections per second (W4).
    #[arg(long, default_value_t = 100)]
    pub rate: u64,
    /// Churn: seconds of churn (W4).
    #[arg(long, default_value_t = 10)]
    pub churn_seconds: u64,
    /// How long a churning or probing client stays, ms.
    #[arg(long, default_value_t = 1000)]
    pub hold_ms: u64,
    /// Members per channel (W3).
    #[arg(long, default_value_t = 100)]
    pub room: usize,
    /// This process's slice: i/n.
    #[arg(long, default_value = "0/1")]
    pub shard: String,
    /// Longest a phase may take, seconds.
    #[arg(long, default_value_t = 60)]
    pub phase_seconds: u64,
    /// Joins in flight at once.
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,
    /// The process exits by itself after this many seconds, whatever happens.
    #[arg(long, default_value_t = 300)]
    pub max_seconds: u64,
    /// Quiet time after a phase before it is reported (late frames, allocator settling), ms.
    /// The relay's allocator gives freed pages back gradually over about a second: at
    /// 2 s, two relays holding 20,000 read 160 or 185 MB from one run to the next.
    #[arg(long, default_value_t = 6000)]
    pub settle_ms: u64,
    /// Connect and finish the handshake but join nothing (to measure what a bare
    /// connection costs a server, against W3's present ones).
    #[arg(long)]
    pub idle: bool,
    /// After a restart (W7), how long to keep watching for leaves once everyone is
    /// back, ms: a relay's old entries are dropped after its reconnect grace.
    #[arg(long, default_value_t = 2000)]
    pub watch_ms: u64,
    /// Run without waiting for `go` on stdin (for a manual try).
    #[arg(long)]
    pub no_wait: bool,
    /// Never sleep: poll the sockets in a loop that gives the core up to anything else
    /// runnable, for a generator with a core of its own. A process asleep in
    /// `epoll_wait` is woken by the sender of each frame, and on loopback that wake-up
    /// (an interrupt to the other core, a VM exit here) is charged to the server's
    /// core: 2 to 3 µs a frame, which a server sending to remote browsers never pays.
    #[arg(long)]
    pub poll: bool,
}

#[derive(Serialize, Deserialize, Debug)]
pub struct PhaseReport {
    pub phase: String,
    pub shard: usize,
    pub report: crate::stats::Report,
}

pub fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let (i, n) = s.split_once('/').ok_or("--shard is i/n")?;
    let (i, n): (usize, usize) = (i.parse().map_err(|_| "bad i")?, n.parse().map_err(|_| "bad n")?);
    if n == 0 || i >= n {
        return Err("--shard i/n needs 0 <= i < n".into());
    }
    Ok((i, n))
}

/// Refuse anything but loopback: the benchmark loads only this machine.
pub fn check_loopback(addr: &str) -> Result<(), String> {
    let sock: std::net::SocketAddr = addr.parse().map_err(|_| format!("{addr} is not ip:port"))?;
    if !sock.ip().is_loopback() {
        return Err(format!(
            "{addr} is not a loopback address; the benchmark only targets 127.0.0.1"
        ));
    }
    Ok(())
}

struct Ctx {
    args: ShardArgs,
    shard: usize,
    shards: usize,
    stats: Arc<Stats>,
    gate: Arc<Semaphore>,
    orders: watch::Sender<Order>,
    deadline_ns: u64,
    lines: tokio::io::Lines<BufReader<tokio::io::Stdin>>,
}

impl Ctx {
    fn mine(&self, i: usize) -> bool {
        i % self.shards == self.shard
    }

    fn spec(&self, user: String, channel: &str) -> Spec {
        // The member number picks the relay, so every shard spreads alike.
        let n: usize = user
            .trim_start_matches(|c: char| !c.is_ascii_digit())
            .parse()
            .unwrap_or(0);
        Spec {
            proto: self.args.proto,
            addr: self.args.addr[n % self.args.addr.len()].clone(),
            user,
            channel: channel.to_string(),
            watcher: true,
            leaver: false,
            round: None,
            count_probes: self.args.count_probes > 0 && matches!(self.args.workload, Workload::W6 | Workload::W8),
            hold: None,
            from_connect: false,
            idle: self.args.idle,
            deadline_ns: self.deadline_ns,
            source: self.args.source.map(std::net::IpAddr::V4),
        }
    }

    fn spawn(&self, spec: Spec) {
        tokio::spawn(client::run(
            spec,
            self.stats.clone(),
            self.gate.clone(),
            self.orders.subscribe(),
        ));
    }

    async fn report(&mut self, phase: &str) {
        let r = PhaseReport {
            phase: phase.to_string(),
            shard: self.shard,
            report: self.stats.report(),
        };
        println!("REPORT {}", serde_json::to_string(&r).expect("reports serialize"));
        if !self.args.no_wait {
            // Wait for the suite's "go" (or its end: stdin closed).
            let _ = self.lines.next_line().await;
        }
    }

    /// Wait until `done` holds or the phase's time is up.
    async fn until(&self, done: impl Fn(&Stats) -> bool) {
        let end = tokio::time::Instant::now() + Duration::from_secs(self.args.phase_seconds);
        while !done(&self.stats) && tokio::time::Instant::now() < end {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

pub fn main(args: ShardArgs) -> Result<(), String> {
    for addr in &args.addr {
        check_loopback(addr)?;
    }
    if let Some(ip) = args.source.filter(|ip| !ip.is_loopback()) {
        return Err(format!("--source {ip} is not a loopback address"));
    }
    let (shard, shards) = parse_shard(&args.shard)?;
    crate::clock::raise_nofile();
    let max = Duration::from_secs(args.max_seconds);
    std::thread::spawn(move || {
        std::thread::sleep(max);
        eprintln!("rollcall-bench shard: stopping after --max-seconds");
        std::process::exit(3);
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        if args.poll {
            // Always ready: the runtime never parks, and polls its sockets without
            // blocking between turns.
            tokio::spawn(async {
                loop {
                    std::thread::yield_now();
                    tokio::task::yield_now().await;
                }
            });
        }
        let rounds = match args.workload {
            Workload::W2 => args.rounds,
            Workload::W6 | Workload::W8 => args.count_probes,
            Workload::W4 => (args.rate * args.churn_seconds) as usize,
            _ => 0,
        };
        let (orders, _) = watch::channel(Order::Stay);
        let mut ctx = Ctx {
            shard,
            shards,
            stats: Arc::new(Stats::new(rounds)),
            gate: Arc::new(Semaphore::new(args.concurrency.max(1))),
            orders,
            deadline_ns: now_ns() + args.max_seconds * 1_000_000_000,
            lines: BufReader::new(tokio::io::stdin()).lines(),
            args,
        };
        println!("READY");
        if !ctx.args.no_wait {
            let _ = ctx.lines.next_line().await;
        }
        run(&mut ctx).await;
        let _ = ctx.orders.send(Order::AllGo);
        println!("END");
    });
    Ok(())
}

async fn run(ctx: &mut Ctx) {
    let a = ctx.args.clone();
    match a.workload {
        Workload::W1 | Workload::W6 | Workload::W8 => {
            let channel = match a.workload {
                Workload::W1 => "/bench/w1",
                Workload::W6 => "/bench/count/w6",
                _ => "/bench/capped/w8",
            };
            fill(ctx, channel, a.size, 0, a.size as i64).await;
            ctx.report("fill").await;
            // Let queues drain and allocators settle before the suite reads the RSS.
            tokio::time::sleep(Duration::from_millis(a.settle_ms)).await;
            ctx.report("hold").await;
            if a.count_probes > 0 && a.workload != Workload::W1 {
                let t0 = tokio::time::Instant::now();
                let period = Duration::from_millis(a.period_ms);
                if ctx.shard == 0 {
                    for r in 0..a.count_probes {
                        tokio::time::sleep_until(t0 + period * r as u32).await;
                        let mut spec = ctx.spec(format!("p{r}"), channel);
                        spec.watcher = false;
                        spec.count_probes = false;
                        spec.round = Some(r);
                        spec.hold = Some(Duration::from_millis(a.hold_ms));
                        ctx.spawn(spec);
                    }
                }
                tokio::time::sleep_until(t0 + period * a.count_probes as u32 + Duration::from_millis(a.settle_ms))
                    .await;
                ctx.report("probes").await;
            }
        }
        Workload::W7 => {
            fill(ctx, "/bench/w7", a.size, 0, a.size as i64).await;
            ctx.report("fill").await;
            let mine = (0..a.size).filter(|&i| ctx.mine(i)).count() as u64;
            ctx.stats.set_target(a.size as i64);
            let _ = ctx.orders.send(Order::Rejoin);
            // The suite restarts the server once every shard is armed.
            println!("ARMED");
            ctx.until(|s| {
                s.rejoined.load(Ordering::Relaxed) + s.failed.load(Ordering::Relaxed) >= mine
                    && s.reached.load(Ordering::Relaxed) >= mine
            })
            .await;
            tokio::time::sleep(Duration::from_millis(a.watch_ms)).await;
            ctx.report("storm").await;
        }
        Workload::W2 => {
            fill(ctx, "/bench/w2", a.size, 0, a.size as i64).await;
            ctx.report("fill").await;
            let t0 = tokio::time::Instant::now();
            let period = Duration::from_millis(a.period_ms);
            if ctx.shard == 0 {
                for r in 0..a.rounds {
                    tokio::time::sleep_until(t0 + period * r as u32).await;
                    let mut spec = ctx.spec(format!("p{r}"), "/bench/w2");
                    spec.watcher = false;
                    spec.round = Some(r);
                    spec.hold = Some(period / 2);
                    ctx.spawn(spec);
                }
            }
            tokio::time::sleep_until(t0 + period * a.rounds as u32 + Duration::from_millis(a.settle_ms)).await;
            ctx.report("probes").await;
        }
        Workload::W3 => {
            let mine = (0..a.size).filter(|&i| ctx.mine(i)).count() as u64;
            for i in (0..a.size).filter(|&i| ctx.mine(i)) {
                let mut spec = ctx.spec(format!("m{i}"), &format!("/bench/w3-{}", i / a.room.max(1)));
                spec.watcher = false;
                ctx.spawn(spec);
            }
            ctx.until(|s| s.admitted.load(Ordering::Relaxed) + s.failed.load(Ordering::Relaxed) >= mine)
                .await;
            // Let allocators and queues settle before the suite reads the server's RSS.
            tokio::time::sleep(Duration::from_millis(a.settle_ms)).await;
            ctx.report("hold").await;
        }
        Workload::W4 => {
            fill(ctx, "/bench/w4", a.size, 0, a.size as i64).await;
            ctx.report("fill").await;
            let t0 = tokio::time::Instant::now();
            let churners = a.rate * a.churn_seconds;
            for k in (0..churners as usize).filter(|&k| ctx.mine(k)) {
                tokio::time::sleep_until(t0 + Duration::from_nanos(k as u64 * 1_000_000_000 / a.rate.max(1))).await;
                let mut spec = ctx.spec(format!("p{k}"), "/bench/w4");
                spec.watcher = false;
                spec.round = Some(k);
                spec.hold = Some(Duration::from_millis(a.hold_ms));
                spec.from_connect = true;
                ctx.spawn(spec);
            }
            tokio::time::sleep_until(
                t0 + Duration::from_secs(a.churn_seconds) + Duration::from_millis(a.hold_ms + a.settle_ms),
            )
            .await;
            ctx.report("churn").await;
        }
        Workload::W5 => {
            let watchers = if ctx.shard == 0 { a.watchers } else { 0 };
            fill(ctx, "/bench/w5", a.size, watchers, (a.size + a.watchers) as i64).await;
            ctx.report("fill").await;
            let leavers = (0..a.size).filter(|&i| ctx.mine(i)).count() as u64;
            ctx.stats.set_target(a.watchers as i64);
            let _ = ctx.orders.send(Order::LeaversGo);
            ctx.until(|s| {
                s.closed.load(Ordering::Relaxed) >= leavers && s.reached.load(Ordering::Relaxed) >= watchers as u64
            })
            .await;
            ctx.report("empty").await;
        }
    }
}

/// Fill a channel with this shard's share of `members` leavers (`m<i>`, watching only
/// if there are no separate watchers) and its `watchers` (`w<j>`), then wait until all
/// are admitted and every watcher counts `target` members.
async fn fill(ctx: &mut Ctx, channel: &str, members: usize, watchers: usize, target: i64) {
    ctx.stats.set_target(target);
    // The floor has no presence: nobody can count members there.
    let counts = ctx.args.proto != Proto::Floor;
    let mut watching = 0u64;
    let mut total = 0u64;
    for j in 0..watchers {
        ctx.spawn(ctx.spec(format!("w{j}"), channel));
        watching += 1;
        total += 1;
    }
    for i in (0..members).filter(|&i| ctx.mine(i)) {
        let mut spec = ctx.spec(format!("m{i}"), channel);
        spec.leaver = true;
        spec.watcher = counts && watchers == 0 && ctx.args.workload != Workload::W5;
        if spec.watcher {
            watching += 1;
        }
        total += 1;
        ctx.spawn(spec);
    }
    ctx.until(|s| {
        let failed = s.failed.load(Ordering::Relaxed);
        s.admitted.load(Ordering::Relaxed) + failed >= total
            && (failed > 0 || s.reached.load(Ordering::Relaxed) >= watching)
    })
    .await;
}
