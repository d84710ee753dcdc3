//! wsfanout: which WebSocket library can send one shared frame to many connections
//! without a copy per connection, and give the memory back afterwards.
//!
//! The driver (this process, pinned to core 1) starts one server process per candidate
//! and size (`--server CANDIDATE`, pinned to core 0 with `taskset`, so its RSS is its
//! own), opens N bare client sockets, and asks the server to fan out one big text frame
//! (a big channel's snapshot) and then small ones (diffs). It reads the server's RSS and
//! CPU from /proc at each step and prints a Markdown table for BENCHMARKS.md.
//!
//! - `server`: the candidates behind axum's upgrade, and the fan-out hub.
//! - `client`: the bare clients and the close-handshake check.

mod client;
mod server;

use clap::Parser;
use client::Progress;
use server::Candidate;
use std::process::{ExitCode, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// Connects in flight at once, below the listener's accept queue.
const CONNECTS_IN_FLIGHT: usize = 256;
/// Longest wait for a step (all connected, a fan-out delivered) before giving up on it.
const STEP_TIMEOUT: Duration = Duration::from_secs(180);

#[derive(Parser)]
#[command(about = "One shared frame to many WebSocket connections: memory and CPU of each candidate library.")]
struct Cli {
    /// Run as the server under test (the driver starts these itself).
    #[arg(long, value_enum)]
    server: Option<Candidate>,
    /// Server only: stop reading at a client's close frame, as relay/src/ws.rs does.
    #[arg(long)]
    break_on_close: bool,
    /// Small sizes (200 connections), for a smoke test.
    #[arg(long)]
    quick: bool,
    /// Connection counts, comma separated.
    #[arg(long, value_delimiter = ',', default_values_t = vec![2000usize, 10000])]
    sizes: Vec<usize>,
    /// Candidates, comma separated (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    candidates: Vec<Candidate>,
    /// Size of the big frame, bytes.
    #[arg(long, default_value_t = 300_000)]
    big_bytes: usize,
    /// How many small frames follow it.
    #[arg(long, default_value_t = 200)]
    small_count: usize,
    /// Size of each small frame, bytes.
    #[arg(long, default_value_t = 60)]
    small_bytes: usize,
    /// Time between two small fan-outs: the relay's flush interval.
    #[arg(long, default_value_t = 20)]
    interval_ms: u64,
}

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    raise_nofile();
    if let Some(candidate) = cli.server {
        return match server::main(candidate, cli.break_on_close) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("wsfanout server: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if cli.quick {
        cli.sizes = vec![200];
        cli.small_count = cli.small_count.min(20);
    }
    if cli.candidates.is_empty() {
        cli.candidates = Candidate::ALL.to_vec();
    }
    pin_to_core(1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    match rt.block_on(drive(&cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wsfanout: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One run's figures: RSS in KiB, CPU in ms.
struct Run {
    candidate: Candidate,
    n: usize,
    rss_start: u64,
    rss_idle: u64,
    rss_big: u64,
    rss_small: u64,
    rss_trim: u64,
    cpu_big: u64,
    wall_big: Duration,
    cpu_small: u64,
    wall_small: Duration,
    wrong: usize,
    close: String,
}

async fn drive(cli: &Cli) -> Result<(), String> {
    println!(
        "wsfanout: big frame {} B, then {} small frames of {} B every {} ms; load average at start: {}",
        cli.big_bytes,
        cli.small_count,
        cli.small_bytes,
        cli.interval_ms,
        loadavg()
    );
    let mut runs = Vec::new();
    for &n in &cli.sizes {
        for &candidate in &cli.candidates {
            eprintln!("wsfanout: {} with {n} connections", candidate.name());
            runs.push(run(cli, candidate, n).await?);
        }
    }
    let mut closes = Vec::new();
    for &candidate in &cli.candidates {
        let mut read_on = Server::start(candidate, false).await?;
        let mut stop_at_close = Server::start(candidate, true).await?;
        closes.push((
            candidate,
            client::close_check(&read_on.addr).await,
            client::close_check(&stop_at_close.addr).await,
        ));
        read_on.stop().await;
        stop_at_close.stop().await;
    }
    println!("load average at end: {}\n", loadavg());
    print_tables(&runs, &closes);
    Ok(())
}

async fn run(cli: &Cli, candidate: Candidate, n: usize) -> Result<Run, String> {
    let mut server = Server::start(candidate, false).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_start = server.rss_kb();

    let progress = Arc::new(Progress::default());
    let permits = Arc::new(tokio::sync::Semaphore::new(CONNECTS_IN_FLIGHT));
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (addr, progress, permits) = (server.addr.clone(), progress.clone(), permits.clone());
        let (big, small) = (cli.big_bytes, cli.small_count);
        clients.spawn(async move {
            let permit = permits.acquire_owned().await.expect("semaphore");
            let Ok((tcp, rest)) = client::connect(&addr).await else {
                return;
            };
            drop(permit);
            progress.connected.fetch_add(1, Ordering::Relaxed);
            client::receive(tcp, rest, big, small, progress).await;
        });
    }
    wait_for("connections", || progress.connected.load(Ordering::Relaxed) >= n).await?;
    let deadline = Instant::now() + STEP_TIMEOUT;
    while server.ask("count").await? != format!("count {n}") {
        if Instant::now() > deadline {
            return Err("the server never registered every connection".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_idle = server.rss_kb();

    let (cpu0, t0) = (server.cpu_ms(), Instant::now());
    server.ask(&format!("big {}", cli.big_bytes)).await?;
    wait_for("the big frame", || progress.big.load(Ordering::Relaxed) >= n).await?;
    let (cpu_big, wall_big) = (server.cpu_ms() - cpu0, t0.elapsed());
    let rss_big = server.rss_kb();

    let (cpu0, t0) = (server.cpu_ms(), Instant::now());
    server
        .ask(&format!(
            "small {} {} {}",
            cli.small_count, cli.small_bytes, cli.interval_ms
        ))
        .await?;
    wait_for("the small frames", || progress.done.load(Ordering::Relaxed) >= n).await?;
    let (cpu_small, wall_small) = (server.cpu_ms() - cpu0, t0.elapsed());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_small = server.rss_kb();
    server.ask("trim").await?;
    let rss_trim = server.rss_kb();
    let close = client::close_check(&server.addr).await;
    server.stop().await;
    clients.shutdown().await;
    Ok(Run {
        candidate,
        n,
        rss_start,
        rss_idle,
        rss_big,
        rss_small,
        rss_trim,
        cpu_big,
        wall_big,
        cpu_small,
        wall_small,
        wrong: progress.wrong.load(Ordering::Relaxed),
        close,
    })
}

async fn wait_for(what: &str, done: impl Fn() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + STEP_TIMEOUT;
    while !done() {
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}"));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(())
}

/// A server process under test, steered over its stdin.
struct Server {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    pid: u32,
    addr: String,
}

impl Server {
    async fn start(candidate: Candidate, break_on_close: bool) -> Result<Server, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut cmd = Command::new("taskset");
        cmd.args(["-c", "0"]).arg(exe).args(["--server", candidate.arg()]);
        if break_on_close {
            cmd.arg("--break-on-close");
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("taskset: {e}"))?;
        let pid = child.id().ok_or("server exited")?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
        let first = lines.next_line().await.map_err(|e| e.to_string())?.unwrap_or_default();
        let addr = first
            .strip_prefix("listening ")
            .ok_or(format!("server said {first:?}"))?
            .to_string();
        Ok(Server {
            child,
            stdin,
            lines,
            pid,
            addr,
        })
    }

    async fn ask(&mut self, command: &str) -> Result<String, String> {
        self.stdin
            .write_all(format!("{command}\n").as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let answer = self
            .lines
            .next_line()
            .await
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        if answer.contains("dropped=") && !answer.ends_with("dropped=0") {
            return Err(format!("outboxes overflowed: {answer}"));
        }
        Ok(answer)
    }

    async fn stop(&mut self) {
        let _ = self.child.kill().await;
    }

    fn rss_kb(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            })
            .unwrap_or(0)
    }

    /// utime + stime, ms.
    fn cpu_ms(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).unwrap_or_default();
        let after_name = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let fields: Vec<u64> = after_name.split_whitespace().map(|f| f.parse().unwrap_or(0)).collect();
        // Fields 14 and 15 of stat(5); `after_name` starts at field 3.
        let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
        // SAFETY: sysconf reads a constant.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        ticks * 1000 / hz
    }
}

fn print_tables(runs: &[Run], closes: &[(Candidate, String, String)]) {
    let mb = |kb: u64| format!("{:.1}", kb as f64 / 1024.0);
    let per = |kb: u64, base: u64, n: usize| format!("{:.1}", (kb as f64 - base as f64) / n as f64);
    println!("| library | N | RSS before | idle | big frame delivered | after the small frames | after malloc_trim | KB per connection: idle / after big / after small | CPU: big fan-out (wall) | CPU: small fan-outs (wall) |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for r in runs {
        let wrong = if r.wrong > 0 {
            format!(" ({} clients saw a wrong frame)", r.wrong)
        } else {
            String::new()
        };
        println!(
            "| {}{wrong} | {} | {} MB | {} MB | {} MB | {} MB | {} MB | {} / {} / {} | {:.2} s ({:.2} s) | {:.2} s ({:.2} s) |",
            r.candidate.name(),
            r.n,
            mb(r.rss_start),
            mb(r.rss_idle),
            mb(r.rss_big),
            mb(r.rss_small),
            mb(r.rss_trim),
            per(r.rss_idle, r.rss_start, r.n),
            per(r.rss_big, r.rss_start, r.n),
            per(r.rss_small, r.rss_start, r.n),
            r.cpu_big as f64 / 1000.0,
            r.wall_big.as_secs_f64(),
            r.cpu_small as f64 / 1000.0,
            r.wall_small.as_secs_f64(),
        );
    }
    println!();
    println!("| library | ping, then close 1000 \"bye\": receive loop reads on to the end | the same, loop stops at the close frame | on the loaded server |");
    println!("|---|---|---|---|");
    for (candidate, read_on, stop) in closes {
        let loaded = runs
            .iter()
            .filter(|r| r.candidate == *candidate)
            .map(|r| format!("{}: {}", r.n, r.close))
            .collect::<Vec<_>>()
            .join("; ");
        println!("| {} | {read_on} | {stop} | {loaded} |", candidate.name());
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn pin_to_core(core: usize) {
    // SAFETY: the cpu_set_t is ours and zeroed before use.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

fn raise_nofile() {
    // SAFETY: getrlimit/setrlimit read and write the rlimit we own.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}
