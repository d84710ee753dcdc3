//! A real Redis Cluster for tests: three masters with one replica each, on free ports in
//! a temporary directory, made with `redis-cli --cluster create`, stopped when dropped.
//! Helpers to find a key's master, move a slot (MOVED and ASK on the way) and fail a
//! master over to its replica by killing it.

use super::free_port;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// How long a node without an answer counts as failing; a replica takes over soon after.
pub const NODE_TIMEOUT_MS: u64 = 1_000;

pub struct RedisCluster {
    /// Client ports of the six nodes.
    pub ports: Vec<u16>,
    dir: PathBuf,
}

/// One line of `CLUSTER NODES`.
#[derive(Debug, Clone)]
pub struct Node {
    pub id: String,
    pub port: u16,
    pub master: bool,
    pub failing: bool,
    pub slots: Vec<(u16, u16)>,
}

impl RedisCluster {
    /// Start the cluster, or None (said on stderr) when `redis-server` is not installed.
    pub fn start() -> Option<RedisCluster> {
        let installed = Command::new("redis-server").arg("--version").output().is_ok()
            && Command::new("redis-cli").arg("--version").output().is_ok();
        if !installed {
            eprintln!("skipped: redis-server and redis-cli are not installed (scripts/setup.sh installs them)");
            return None;
        }
        let ports: Vec<u16> = (0..6).map(|_| free_port()).collect();
        let dir = std::env::temp_dir().join(format!("rollcall-redis-cluster-{}", ports[0]));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let cluster = RedisCluster { ports, dir };
        for &port in &cluster.ports {
            let bus = free_port();
            let d = cluster.dir.join(port.to_string());
            std::fs::create_dir_all(&d).unwrap();
            let status = Command::new("redis-server")
                .args(["--daemonize", "yes", "--bind", "127.0.0.1", "--port", &port.to_string()])
                .args(["--cluster-enabled", "yes", "--cluster-port", &bus.to_string()])
                .args(["--cluster-config-file", d.join("nodes.conf").to_str().unwrap()])
                .args(["--cluster-node-timeout", &NODE_TIMEOUT_MS.to_string()])
                // A replica takes over however long it was cut from its master.
                .args(["--cluster-replica-validity-factor", "0"])
                .args(["--save", "", "--appendonly", "no", "--dir", d.to_str().unwrap()])
                .args(["--pidfile", d.join("redis.pid").to_str().unwrap()])
                .args(["--logfile", d.join("redis.log").to_str().unwrap()])
                .status()
                .expect("redis-server runs");
            assert!(status.success(), "redis-server on {port}");
        }
        for &port in &cluster.ports {
            let deadline = Instant::now() + Duration::from_secs(5);
            while cluster.cli(port, &["ping"]).is_none_or(|o| o.trim() != "PONG") {
                assert!(Instant::now() < deadline, "redis-server on {port} did not start");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let addrs: Vec<String> = cluster.ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let out = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .expect("redis-cli runs");
        assert!(
            out.status.success(),
            "redis-cli --cluster create: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        cluster.settle(&cluster.ports.clone());
        Some(cluster)
    }

    /// Every node's URL, comma-separated: `redis_url` for a relay.
    pub fn url(&self) -> String {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}/"))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn cli(&self, port: u16, args: &[&str]) -> Option<String> {
        let out = Command::new("redis-cli")
            .arg("-p")
            .arg(port.to_string())
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Wait until every node of `alive` says the cluster is ok, with all slots served by
    /// masters that are not failing.
    pub fn settle(&self, alive: &[u16]) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ok = alive.iter().all(|&p| {
                let info = self.cli(p, &["cluster", "info"]).unwrap_or_default();
                info.contains("cluster_state:ok")
                    && info.contains("cluster_slots_ok:16384")
                    && info.contains("cluster_slots_pfail:0")
                    && info.contains("cluster_slots_fail:0")
            });
            if ok {
                return;
            }
            assert!(Instant::now() < deadline, "the cluster did not settle");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The nodes as `port` sees them.
    pub fn nodes(&self, port: u16) -> Vec<Node> {
        let text = self.cli(port, &["cluster", "nodes"]).expect("cluster nodes");
        text.lines()
            .filter_map(|line| {
                let f: Vec<&str> = line.split_whitespace().collect();
                let port = f.get(1)?.split(['@', ',']).next()?.rsplit_once(':')?.1.parse().ok()?;
                let slots = f[8..]
                    .iter()
                    .filter(|s| !s.starts_with('['))
                    .filter_map(|s| match s.split_once('-') {
                        Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                        None => s.parse().ok().map(|a| (a, a)),
                    })
                    .collect();
                Some(Node {
                    id: f[0].to_string(),
                    port,
                    master: f[2].contains("master"),
                    failing: f[2].split(',').any(|flag| flag == "fail"),
                    slots,
                })
            })
            .collect()
    }

    pub fn slot_of(&self, key: &str, alive: &[u16]) -> u16 {
        self.cli(alive[0], &["cluster", "keyslot", key])
            .and_then(|o| o.trim().parse().ok())
            .expect("cluster keyslot")
    }

    /// The master that serves `key`'s slot, as a live node sees it.
    pub fn master_of(&self, key: &str, alive: &[u16]) -> Node {
        let slot = self.slot_of(key, alive);
        self.nodes(alive[0])
            .into_iter()
            .find(|n| n.master && !n.failing && n.slots.iter().any(|(a, b)| (*a..=*b).contains(&slot)))
            .expect("a master serves the slot")
    }

    /// Move `key`'s slot to another master, as `redis-cli --cluster reshard` does:
    /// importing, migrating (clients are answered ASK meanwhile), the keys, then the
    /// slot's new owner told to every master (clients are answered MOVED after).
    pub fn move_slot_of(&self, key: &str, alive: &[u16]) -> (u16, u16) {
        let slot = self.slot_of(key, alive);
        let from = self.master_of(key, alive);
        let to = self
            .nodes(alive[0])
            .into_iter()
            .find(|n| n.master && !n.failing && n.id != from.id)
            .expect("another master");
        let s = slot.to_string();
        self.cli(to.port, &["cluster", "setslot", &s, "importing", &from.id])
            .expect("importing");
        self.cli(from.port, &["cluster", "setslot", &s, "migrating", &to.id])
            .expect("migrating");
        loop {
            let keys = self
                .cli(from.port, &["cluster", "getkeysinslot", &s, "100"])
                .unwrap_or_default();
            let keys: Vec<&str> = keys.lines().filter(|k| !k.is_empty()).collect();
            if keys.is_empty() {
                break;
            }
            let port = to.port.to_string();
            let mut args = vec!["migrate", "127.0.0.1", &port, "", "0", "5000", "KEYS"];
            args.extend(keys);
            self.cli(from.port, &args).expect("migrate");
        }
        for n in self.nodes(alive[0]).iter().filter(|n| n.master && !n.failing) {
            self.cli(n.port, &["cluster", "setslot", &s, "node", &to.id])
                .expect("setslot node");
        }
        (from.port, to.port)
    }

    /// SIGKILL the node on `port` (no goodbye: its replica takes over after the node
    /// timeout). Returns the ports still alive.
    pub fn kill(&self, port: u16) -> Vec<u16> {
        let pid = std::fs::read_to_string(self.dir.join(port.to_string()).join("redis.pid")).expect("pid file");
        let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
        self.ports.iter().copied().filter(|p| *p != port).collect()
    }

    /// Wait until every node of `alive` holds the node on `dead` as failed, with none
    /// of the slots, and the cluster is ok again (its replica took over).
    pub fn failed_over(&self, dead: u16, alive: &[u16]) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let done = alive.iter().all(|&p| {
                self.nodes(p)
                    .iter()
                    .any(|n| n.port == dead && n.failing && n.slots.is_empty())
            });
            if done {
                break;
            }
            assert!(Instant::now() < deadline, "no replica took over from {dead}");
            std::thread::sleep(Duration::from_millis(50));
        }
        self.settle(alive);
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for &port in &self.ports {
            let _ = self.cli(port, &["shutdown", "nosave"]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
