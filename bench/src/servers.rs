//! The servers under test: how to start each on a free loopback port, pinned to its own
//! core, and how much CPU and memory its process has used (from /proc).

use crate::proto::{Proto, PUSHER_APP_ID, PUSHER_KEY, PUSHER_SECRET, ROLLCALL_SECRET};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Rollcall,
    /// The relay's Pusher protocol endpoint (`/app/{key}`), driven like soketi.
    RollcallPusher,
    /// The relay with its state shared through a private `redis-server` (what several
    /// relays run with); CPU counts the relay and Redis together.
    RollcallRedis,
    Sockudo,
    Soketi,
    Socketio,
    SocketioFull,
    Floor,
    /// A count and a fan-out per channel on rollcall's wire: the floor of W2's latency.
    FanoutFloor,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Rollcall => "rollcall",
            Kind::RollcallPusher => "rollcall (Pusher)",
            Kind::RollcallRedis => "rollcall (Redis)",
            Kind::Sockudo => "sockudo",
            Kind::Soketi => "soketi",
            Kind::Socketio => "socket.io",
            Kind::SocketioFull => "socket.io (full list)",
            Kind::Floor => "floor",
            Kind::FanoutFloor => "fan-out floor",
        }
    }

    pub fn proto(self) -> Proto {
        match self {
            Kind::Rollcall | Kind::RollcallRedis | Kind::FanoutFloor => Proto::Rollcall,
            Kind::RollcallPusher | Kind::Sockudo | Kind::Soketi => Proto::Pusher,
            Kind::Socketio | Kind::SocketioFull => Proto::Socketio,
            Kind::Floor => Proto::Floor,
        }
    }
}

/// Where things are.
#[derive(Clone, Debug)]
pub struct Paths {
    pub repo: PathBuf,
    pub relay: PathBuf,
    pub results: PathBuf,
    pub sockudo: Option<PathBuf>,
    pub me: PathBuf,
}

impl Paths {
    pub fn soketi_entry(&self) -> PathBuf {
        self.repo.join("bench/node_modules/@soketi/soketi/bin/server.js")
    }
}

/// `sockudo` on PATH or in ~/.cargo/bin.
pub fn find_sockudo() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(Path::new(&home).join(".cargo/bin"));
    }
    dirs.into_iter().map(|d| d.join("sockudo")).find(|p| p.is_file())
}

pub fn taskset_available() -> bool {
    Command::new("taskset")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A command pinned to `cpu` when pinning is possible.
pub fn pinned(cpu: Option<usize>, program: &Path) -> Command {
    match cpu {
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(cpu.to_string()).arg(program);
            c
        }
        None => Command::new(program),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

pub struct Server {
    /// One address per process (several relays share one Redis).
    pub addrs: Vec<String>,
    kind: Kind,
    procs: Vec<Child>,
    redis: Option<Redis>,
    cpu: Option<usize>,
    log: PathBuf,
    /// Several relays on this machine: each runs one runtime worker, as README's
    /// configuration reference advises (`TOKIO_WORKER_THREADS`).
    one_worker: bool,
}

/// A private `redis-server` beside a relay, on its own port, without persistence.
struct Redis {
    port: u16,
    pid: u32,
}

impl Redis {
    fn start(dir: &Path, cpu: Option<usize>) -> Result<Redis, String> {
        let port = free_port();
        let pidfile = dir.join(format!("redis-{port}.pid"));
        let program = which("redis-server").ok_or("redis-server is not installed (scripts/setup.sh installs it)")?;
        let status = pinned(cpu, &program)
            .args(["--daemonize", "yes", "--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--pidfile"])
            .arg(&pidfile)
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("redis-server: {e}"))?;
        if !status.success() {
            return Err("redis-server did not start".into());
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let pid = std::fs::read_to_string(&pidfile)
                .ok()
                .and_then(|p| p.trim().parse().ok());
            if let (Some(pid), true) = (pid, std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()) {
                return Ok(Redis { port, pid });
            }
            if Instant::now() > deadline {
                return Err("redis-server did not answer within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&self) {
        // SAFETY: kill(2) on the pid of the redis-server this process started.
        unsafe { libc::kill(self.pid as i32, libc::SIGTERM) };
    }
}

/// The port of `host:port`, 0 when there is none.
fn port_of(addr: &str) -> u16 {
    addr.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or(0)
}

impl Server {
    /// Start `kind`; `relays` processes of it when it is `rollcall (Redis)` (they share
    /// one Redis), one otherwise.
    pub fn start(kind: Kind, paths: &Paths, cpu: Option<usize>, log: &Path, relays: usize) -> Result<Server, String> {
        let relays = if kind == Kind::RollcallRedis { relays.max(1) } else { 1 };
        let mut server = Server {
            addrs: Vec::new(),
            kind,
            procs: Vec::new(),
            redis: None,
            cpu,
            log: log.to_path_buf(),
            one_worker: relays > 1,
        };
        let _ = std::fs::remove_file(log);
        if kind == Kind::RollcallRedis {
            server.redis = Some(Redis::start(&paths.results, cpu)?);
        }
        for _ in 0..relays {
            match server.spawn(paths, None) {
                Ok((child, addr)) => {
                    server.procs.push(child);
                    server.addrs.push(addr);
                }
                Err(e) => {
                    server.stop();
                    return Err(e);
                }
            }
        }
        Ok(server)
    }

    /// Stop every process (Redis stays) and start them again on the same addresses:
    /// what a deploy does. Returns once every one accepts connections again.
    pub fn restart(&mut self, paths: &Paths) -> Result<(), String> {
        for child in std::mem::take(&mut self.procs) {
            stop_child(child);
        }
        for addr in self.addrs.clone() {
            let (child, _) = self.spawn(paths, Some(&addr))?;
            self.procs.push(child);
        }
        Ok(())
    }

    /// One server process, on a free port or on `listen`; its address once it accepts.
    fn spawn(&self, paths: &Paths, listen: Option<&str>) -> Result<(Child, String), String> {
        let (kind, cpu, log) = (self.kind, self.cpu, self.log.as_path());
        let node = which("node").unwrap_or_else(|| PathBuf::from("node"));
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| format!("{}: {e}", log.display()))?;
        // Servers told their port up front are ready when it accepts; the others say
        // where they listen on stdout.
        let mut port = 0u16;
        let mut cmd = match kind {
            Kind::Rollcall | Kind::RollcallPusher | Kind::RollcallRedis => {
                let config = paths.results.join("relay-bench.toml");
                let text = if kind == Kind::RollcallPusher {
                    format!("{RELAY_CONFIG}{}", relay_pusher_app())
                } else {
                    RELAY_CONFIG.to_string()
                };
                std::fs::write(&config, text).map_err(|e| e.to_string())?;
                let mut c = pinned(cpu, &paths.relay);
                c.arg("--config")
                    .arg(&config)
                    .arg("--listen")
                    .arg(listen.unwrap_or("127.0.0.1:0"));
                c.env("ROLLCALL_SECRET", ROLLCALL_SECRET).env("RUST_LOG", "error");
                if self.one_worker {
                    c.env("TOKIO_WORKER_THREADS", "1");
                }
                if let Some(r) = &self.redis {
                    c.env("ROLLCALL_REDIS_URL", format!("redis://127.0.0.1:{}/", r.port));
                }
                c
            }
            Kind::Floor => {
                let mut c = pinned(cpu, &paths.me);
                c.arg("floor").arg("--listen").arg(listen.unwrap_or("127.0.0.1:0"));
                c
            }
            Kind::FanoutFloor => {
                let mut c = pinned(cpu, &paths.me);
                c.arg("fanout-floor")
                    .arg("--listen")
                    .arg(listen.unwrap_or("127.0.0.1:0"));
                c
            }
            Kind::Socketio | Kind::SocketioFull => {
                let mut c = pinned(cpu, &node);
                c.arg(paths.repo.join("bench/peers/socketio-server.mjs"));
                c.env("PORT", listen.map_or(0, port_of).to_string())
                    .env("MODE", if kind == Kind::SocketioFull { "full" } else { "delta" });
                c
            }
            Kind::Soketi => {
                port = listen.map_or_else(free_port, port_of);
                let mut c = pinned(cpu, &node);
                c.arg(paths.soketi_entry()).arg("start");
                c.env("SOKETI_HOST", "127.0.0.1")
                    .env("SOKETI_PORT", port.to_string())
                    .env("SOKETI_DEFAULT_APP_ID", PUSHER_APP_ID)
                    .env("SOKETI_DEFAULT_APP_KEY", PUSHER_KEY)
                    .env("SOKETI_DEFAULT_APP_SECRET", PUSHER_SECRET)
                    .env("SOKETI_PRESENCE_MAX_MEMBERS", "1000000")
                    .env("SOKETI_DEFAULT_APP_MAX_CONNS", "-1")
                    .env("SOKETI_METRICS_ENABLED", "false")
                    .env("SOKETI_METRICS_HOST", "127.0.0.1")
                    .env("SOKETI_METRICS_SERVER_PORT", free_port().to_string())
                    // soketi always starts node discovery, which by default broadcasts on
                    // the LAN: keep its hellos on loopback.
                    .env("SOKETI_CLUSTER_UNICAST_ADDRESSES", "127.0.0.1")
                    .env("SOKETI_CLUSTER_PORT", free_port().to_string())
                    .env("SOKETI_CLUSTER_HOST", "127.0.0.1");
                c
            }
            Kind::Sockudo => {
                let bin = paths.sockudo.as_ref().ok_or("sockudo is not installed")?;
                port = listen.map_or_else(free_port, port_of);
                let mut c = pinned(cpu, bin);
                c.env("HOST", "127.0.0.1")
                    .env("PORT", port.to_string())
                    .env("SOCKUDO_DEFAULT_APP_ID", PUSHER_APP_ID)
                    .env("SOCKUDO_DEFAULT_APP_KEY", PUSHER_KEY)
                    .env("SOCKUDO_DEFAULT_APP_SECRET", PUSHER_SECRET)
                    .env("SOCKUDO_DEFAULT_APP_MAX_CONNECTIONS", "1000000")
                    .env("SOCKUDO_DEFAULT_APP_MAX_PRESENCE_MEMBERS_PER_CHANNEL", "1000000")
                    .env("SOCKUDO_DEFAULT_APP_ENABLED", "true")
                    // Every client of the benchmark comes from loopback: no per-address
                    // limit on upgrades (the relay does not limit loopback either).
                    .env("RATE_LIMITER_ENABLED", "false")
                    .env("METRICS_ENABLED", "false")
                    .env("METRICS_HOST", "127.0.0.1")
                    .env("METRICS_PORT", free_port().to_string());
                c
            }
        };
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(stderr);
        let mut child = cmd.spawn().map_err(|e| format!("start {}: {e}", kind.name()))?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        // Keep draining the server's stdout so it never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        let addr = loop {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{} did not start within 20 s (see {})",
                    kind.name(),
                    log.display()
                ));
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "{} exited at start: {status} (see {})",
                    kind.name(),
                    log.display()
                ));
            }
            if port != 0 {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    break format!("127.0.0.1:{port}");
                }
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    if let Some(addr) = listening_addr(&line) {
                        break addr;
                    }
                }
                Err(_) => continue,
            }
        };
        Ok((child, addr))
    }

    pub fn pids(&self) -> Vec<u32> {
        self.procs.iter().map(Child::id).collect()
    }

    /// The servers' CPU (with their Redis, when they have one) and RSS, summed over
    /// the processes; Redis's own RSS apart.
    pub fn usage(&self) -> Usage {
        let mut usage = Usage::default();
        for pid in self.pids() {
            let u = Usage::of(pid);
            usage.cpu_ms += u.cpu_ms;
            usage.rss_kb += u.rss_kb;
        }
        if let Some(redis) = &self.redis {
            let r = Usage::of(redis.pid);
            usage.cpu_ms += r.cpu_ms;
            usage.redis_rss_kb = r.rss_kb;
        }
        usage
    }

    pub fn stop(mut self) {
        if let Some(redis) = self.redis.take() {
            redis.stop();
        }
        for child in std::mem::take(&mut self.procs) {
            stop_child(child);
        }
    }
}

/// SIGTERM, then a bounded wait, then SIGKILL.
fn stop_child(mut child: Child) {
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The relay's config for the benchmark: the defaults (20 ms flush, 50,000 frames a
/// second per channel), the connection limit raised above any run, `count_only`
/// channels under `/bench/count/` (W6) and lists capped at 20 under `/bench/capped/`
/// (W8). The relay does not limit connections per address from loopback. With rules, a channel no rule matches is
/// closed: the last rule opens the rest.
pub const RELAY_CONFIG: &str = "\
[limits]
max_connections = 200000

[[channel]]
pattern = \"/bench/count/**\"
count_only = true

[[channel]]
pattern = \"/bench/capped/**\"
list_cap = 20

[[channel]]
pattern = \"/**\"
";

fn relay_pusher_app() -> String {
    format!("\n[[pusher_app]]\nid = \"{PUSHER_APP_ID}\"\nkey = \"{PUSHER_KEY}\"\nsecret = \"{PUSHER_SECRET}\"\n")
}

/// `host:port` from a start line such as `... listening on http://127.0.0.1:7400 (...)`.
fn listening_addr(line: &str) -> Option<String> {
    let at = line.find("listening on ")? + "listening on ".len();
    let rest = &line[at..];
    let rest = rest.split("://").nth(1)?;
    let addr: String = rest.chars().take_while(|c| !c.is_whitespace() && *c != '/').collect();
    addr.parse::<std::net::SocketAddr>().ok().map(|a| a.to_string())
}

pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// CPU time and resident memory of one process.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct Usage {
    /// utime + stime, milliseconds.
    pub cpu_ms: f64,
    /// VmRSS, KiB.
    pub rss_kb: u64,
    /// VmRSS of the Redis beside the relays, KiB (0 without one).
    #[serde(default)]
    pub redis_rss_kb: u64,
}

impl Usage {
    pub fn of(pid: u32) -> Usage {
        let ticks = {
            // SAFETY: sysconf has no preconditions.
            let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
            if t > 0 {
                t as f64
            } else {
                100.0
            }
        };
        let cpu_ms = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                // Fields after the command name, which may hold spaces and parentheses.
                let rest = &s[s.rfind(')')? + 2..];
                let f: Vec<&str> = rest.split_whitespace().collect();
                let utime: f64 = f.get(11)?.parse().ok()?;
                let stime: f64 = f.get(12)?.parse().ok()?;
                Some((utime + stime) * 1000.0 / ticks)
            })
            .unwrap_or(0.0);
        let rss_kb = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            })
            .unwrap_or(0);
        Usage {
            cpu_ms,
            rss_kb,
            redis_rss_kb: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_lines_give_the_address() {
        assert_eq!(
            listening_addr("rollcall-relay listening on http://127.0.0.1:7400 (store: memory, config: none)"),
            Some("127.0.0.1:7400".into())
        );
        assert_eq!(
            listening_addr("socketio listening on http://127.0.0.1:41234 (mode: delta)"),
            Some("127.0.0.1:41234".into())
        );
        assert_eq!(
            listening_addr("floor listening on ws://127.0.0.1:5000"),
            Some("127.0.0.1:5000".into())
        );
    }

    #[test]
    fn this_process_has_cpu_and_memory() {
        let u = Usage::of(std::process::id());
        assert!(u.rss_kb > 0);
    }
}
