//! How the relay reaches Redis: one server, or a Redis Cluster (`redis_cluster = true`),
//! behind one connection type, so the subsystems that keep state there (the store, the
//! ledger, the decisions, the console) do not care which.
//!
//! On a Cluster:
//! - a command goes to the master of its key's slot; the client follows MOVED and ASK
//!   and refreshes its map of slots after a failover;
//! - the keys one script or transaction touches share a hash tag (`rc:{<channel>}:m`,
//!   `rc:{l}:*`), so one slot; a pipeline is split by hash tag ([`Conn::run`]);
//! - SCAN runs on every master ([`Conn::scan`]);
//! - pub/sub is plain PUBLISH/SUBSCRIBE, which a Cluster forwards to every node: a
//!   subscriber listens on any one node (the seeds, tried in turn from a random one) and hears every
//!   relay's changes. Sharded pub/sub (SPUBLISH) would not fit: every relay needs every
//!   change, and a script may only SPUBLISH on its own key's slot, so a relay would have
//!   to subscribe to one shard channel per presence channel;
//! - a failover is seen as a change of the cluster's epoch ([`Conn::epoch`]), after
//!   which the store asserts its views again (Redis replicates asynchronously: a
//!   write the old master acknowledged may not have reached its replica).

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, ConnectionAddr, Pipeline, RedisFuture, RedisResult, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// Where Redis is, as the operator said: `redis_url` (one URL, or for a Cluster the URLs
/// of some of its nodes, separated by commas) and `redis_cluster`.
#[derive(Clone)]
pub struct Target {
    /// The server, or the Cluster's seed nodes.
    nodes: Vec<redis::Client>,
    cluster: bool,
    /// Where this relay starts trying the seeds for pub/sub: drawn at random, so that
    /// relays spread their subscriptions (and the fan-out of messages) over the nodes.
    first: usize,
    /// How long an answer may take before Redis counts as gone ([`answer_timeout`]).
    answer: Duration,
}

/// How long a relay waits for one answer from Redis, from the lease timeout: a sixth of
/// it, between 2 and 10 s (10 s with the default lease of 60 s).
///
/// A Redis that answers late is busy, or the relay is (six relays of 16,700 members on
/// one core wait seconds for their turn); one that does not answer at all is gone.
/// Counting a busy one as gone is the costly mistake: the relay drops its link and
/// reloads and asserts every view when it is back, which is more work for the same
/// busy core. A sixth of the lease still notices a silent Redis long before the other
/// relays would count this one dead, and a Redis that refuses or drops the connection
/// is noticed at once whatever the wait.
pub fn answer_timeout(lease_timeout_ms: u64) -> Duration {
    Duration::from_millis((lease_timeout_ms / 6).clamp(2_000, 10_000))
}

/// What a wrong `redis_url` is told.
const KEY: &str = "redis_url / ROLLCALL_REDIS_URL";

impl Target {
    pub fn open(urls: &str, cluster: bool) -> Result<Target, String> {
        let list: Vec<&str> = urls.split(',').map(str::trim).filter(|u| !u.is_empty()).collect();
        if list.is_empty() {
            return Err(format!("{KEY} is empty"));
        }
        if list.len() > 1 && !cluster {
            return Err(format!(
                "{KEY} lists {} servers; several are the nodes of a Redis Cluster: set redis_cluster = true (or ROLLCALL_REDIS_CLUSTER=1)",
                list.len()
            ));
        }
        let nodes = list
            .iter()
            .map(|u| redis::Client::open(*u))
            .collect::<RedisResult<Vec<_>>>()
            .map_err(|e| format!("{KEY}: {e}"))?;
        let first = u16::from_le_bytes(crate::ids::random_bytes::<2>()) as usize % nodes.len();
        Ok(Target {
            nodes,
            cluster,
            first,
            answer: Duration::from_secs(2),
        })
    }

    /// Wait up to `answer` for each answer (2 s unless told).
    pub fn answering_within(mut self, answer: Duration) -> Target {
        self.answer = answer;
        self
    }

    pub fn is_cluster(&self) -> bool {
        self.cluster
    }

    /// A multiplexed connection (on a Cluster, to every master as needed), with a time
    /// limit on connecting (`timeout`) and on each answer (the target's).
    pub async fn connect(&self, timeout: Duration) -> RedisResult<Conn> {
        if !self.cluster {
            let config = redis::AsyncConnectionConfig::new()
                .set_connection_timeout(timeout)
                .set_response_timeout(self.answer);
            let conn = self.nodes[0]
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            return Ok(Conn::Single(conn));
        }
        let client = redis::cluster::ClusterClientBuilder::new(self.infos())
            .connection_timeout(timeout)
            .response_timeout(self.answer)
            // Fail fast and let the caller reconnect: a relay never waits on Redis.
            .retries(2)
            .min_retry_wait(50)
            .max_retry_wait(500)
            .build()?;
        Ok(Conn::Cluster(client.get_async_connection().await?))
    }

    fn infos(&self) -> Vec<redis::ConnectionInfo> {
        self.nodes.iter().map(|n| n.get_connection_info().clone()).collect()
    }

    /// A pub/sub connection: to the server, or to the first seed of the Cluster that
    /// answers (a Cluster forwards every PUBLISH to every node), from a random one on.
    pub async fn pubsub(&self, timeout: Duration) -> RedisResult<redis::aio::PubSub> {
        let mut last = None;
        let n = self.nodes.len();
        for node in (0..n).map(|i| &self.nodes[(self.first + i) % n]) {
            match tokio::time::timeout(timeout, node.get_async_pubsub()).await {
                Ok(Ok(pubsub)) => return Ok(pubsub),
                Ok(Err(e)) => last = Some(e),
                Err(_) => last = Some(timed_out("connecting for pub/sub")),
            }
        }
        Err(last.unwrap_or_else(|| timed_out("no node")))
    }

    /// A blocking connection to the node that holds `key` (connected within `timeout`,
    /// each answer within the target's): the server, or on a Cluster
    /// the master of the key's slot (for the ledger, whose keys share one slot and are
    /// written in MULTI transactions). After a failover its commands fail (the node is
    /// gone, or answers MOVED): the caller drops it and asks again.
    pub fn blocking_for(&self, key: &str, timeout: Duration) -> RedisResult<redis::Connection> {
        let open = |client: &redis::Client| -> RedisResult<redis::Connection> {
            let conn = client.get_connection_with_timeout(timeout)?;
            conn.set_read_timeout(Some(self.answer))?;
            conn.set_write_timeout(Some(self.answer))?;
            Ok(conn)
        };
        if !self.cluster {
            return open(&self.nodes[0]);
        }
        let mut last = None;
        for seed in &self.nodes {
            let found = (|| {
                let mut conn = open(seed)?;
                let slot: u16 = redis::cmd("CLUSTER").arg("KEYSLOT").arg(key).query(&mut conn)?;
                let text: String = redis::cmd("CLUSTER").arg("NODES").query(&mut conn)?;
                let Some((host, port)) = masters(&text)
                    .into_iter()
                    .find(|m| m.slots.iter().any(|(a, b)| (*a..=*b).contains(&slot)))
                    .map(|m| (m.host, m.port))
                else {
                    return Err(redis::RedisError::from((
                        redis::ErrorKind::ClusterDown,
                        "no master holds the slot",
                        format!("slot {slot}"),
                    )));
                };
                let info = at(seed.get_connection_info(), host, port);
                open(&redis::Client::open(info)?)
            })();
            match found {
                Ok(conn) => return Ok(conn),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| timed_out("no node")))
    }
}

fn timed_out(what: &str) -> redis::RedisError {
    redis::RedisError::from(std::io::Error::new(std::io::ErrorKind::TimedOut, what.to_string()))
}

/// `info` with its address replaced (same credentials, same TLS).
fn at(info: &redis::ConnectionInfo, host: String, port: u16) -> redis::ConnectionInfo {
    let mut info = info.clone();
    info.addr = match info.addr {
        ConnectionAddr::TcpTls {
            insecure, tls_params, ..
        } => ConnectionAddr::TcpTls {
            host,
            port,
            insecure,
            tls_params,
        },
        _ => ConnectionAddr::Tcp(host, port),
    };
    info
}

/// A master of a Cluster and the slots it serves, from `CLUSTER NODES`.
#[derive(Debug, PartialEq)]
struct Master {
    host: String,
    port: u16,
    slots: Vec<(u16, u16)>,
}

/// The masters that serve slots, from `CLUSTER NODES` (one line per node: id,
/// `ip:port@cport[,hostname]`, flags, master id, ping, pong, epoch, link, slots...).
/// Nodes marked failing are left out.
fn masters(text: &str) -> Vec<Master> {
    let mut out = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 8 {
            continue;
        }
        let flags = fields[2];
        if !flags.split(',').any(|f| f == "master") || flags.contains("fail") {
            continue;
        }
        let addr = fields[1].split(['@', ',']).next().unwrap_or("");
        let Some((host, port)) = addr.rsplit_once(':') else {
            continue;
        };
        let Ok(port) = port.parse() else { continue };
        let slots: Vec<(u16, u16)> = fields[8..]
            .iter()
            .filter(|s| !s.starts_with('['))
            .filter_map(|s| match s.split_once('-') {
                Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                None => s.parse().ok().map(|a| (a, a)),
            })
            .collect();
        if !slots.is_empty() && !host.is_empty() {
            out.push(Master {
                host: host.to_string(),
                port,
                slots,
            });
        }
    }
    out
}

/// The first of a Cluster's 16384 slots that none of `masters` serves, if any.
fn first_unserved(masters: &[Master]) -> Option<u16> {
    let mut served = vec![false; 16_384];
    for (a, b) in masters.iter().flat_map(|m| &m.slots) {
        for slot in *a..=(*b).min(16_383) {
            served[slot as usize] = true;
        }
    }
    served.iter().position(|s| !s).map(|slot| slot as u16)
}

/// The hash tag of a key: what Redis Cluster hashes (the part between the first `{` and
/// the next `}`, when not empty), else the whole key.
pub fn hash_tag(key: &str) -> &str {
    if let Some(open) = key.find('{') {
        if let Some(len) = key[open + 1..].find('}') {
            if len > 0 {
                return &key[open + 1..open + 1 + len];
            }
        }
    }
    key
}

/// A connection to one Redis server or to a Cluster.
#[derive(Clone)]
pub enum Conn {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

impl Conn {
    /// Run `cmds` (each with the key that places it), their answers ignored. On one
    /// server, one pipeline in order; on a Cluster, one pipeline per hash tag, in order
    /// within it, all at once (commands on different keys need no order between them).
    pub async fn run(&mut self, cmds: Vec<(String, Cmd)>) -> RedisResult<()> {
        if cmds.is_empty() {
            return Ok(());
        }
        if let Conn::Single(_) = self {
            let mut pipe = redis::pipe();
            for (_, cmd) in cmds {
                pipe.add_command(cmd).ignore();
            }
            return pipe.query_async(self).await;
        }
        let mut groups: BTreeMap<String, Pipeline> = BTreeMap::new();
        for (key, cmd) in cmds {
            groups
                .entry(hash_tag(&key).to_string())
                .or_insert_with(redis::pipe)
                .add_command(cmd)
                .ignore();
        }
        let runs = groups.into_values().map(|pipe| {
            let mut conn = self.clone();
            async move { pipe.query_async::<()>(&mut conn).await }
        });
        for result in futures_util::future::join_all(runs).await {
            result?;
        }
        Ok(())
    }

    /// Every key matching `pattern`: SCAN on the server, or on every master of a Cluster;
    /// an error, not a part of the keys, while a slot has no master (during a failover).
    pub async fn scan(&mut self, pattern: &str) -> RedisResult<Vec<String>> {
        let nodes = match self {
            Conn::Single(_) => vec![None],
            Conn::Cluster(c) => {
                let text = c
                    .route_command(
                        redis::cmd("CLUSTER").arg("NODES"),
                        RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
                    )
                    .await?;
                let text: String = redis::from_redis_value(&text)?;
                let masters = masters(&text);
                // A slot without a master (its master failed and its replica is not
                // promoted yet, or that node's view lags) would be a part of the keys
                // silently left out: to a resync, views gone. Better no answer.
                if let Some(slot) = first_unserved(&masters) {
                    return Err(redis::RedisError::from((
                        redis::ErrorKind::ClusterDown,
                        "a slot has no master to scan (a failover in progress?)",
                        format!("slot {slot}"),
                    )));
                }
                masters.into_iter().map(|m| Some((m.host, m.port))).collect()
            }
        };
        let mut keys = Vec::new();
        for node in nodes {
            let mut cursor: u64 = 0;
            loop {
                let mut scan = redis::cmd("SCAN");
                scan.arg(cursor).arg("MATCH").arg(pattern).arg("COUNT").arg(500);
                let (next, batch): (u64, Vec<String>) = match (&mut *self, &node) {
                    (Conn::Cluster(c), Some((host, port))) => {
                        let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                            host: host.clone(),
                            port: *port,
                        });
                        redis::from_redis_value(&c.route_command(&scan, route).await?)?
                    }
                    (conn, _) => scan.query_async(conn).await?,
                };
                keys.extend(batch);
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    /// The Cluster's current epoch (it grows at each failover), or None on one server.
    pub async fn epoch(&mut self) -> RedisResult<Option<u64>> {
        let Conn::Cluster(c) = self else { return Ok(None) };
        let info = c
            .route_command(
                redis::cmd("CLUSTER").arg("INFO"),
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::RandomPrimary),
            )
            .await?;
        let info: String = redis::from_redis_value(&info)?;
        Ok(info
            .lines()
            .find_map(|l| l.trim().strip_prefix("cluster_current_epoch:"))
            .and_then(|v| v.trim().parse().ok()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_tags_are_what_the_cluster_hashes() {
        assert_eq!(hash_tag("rc:{/site/online}:m"), "/site/online");
        assert_eq!(hash_tag("rc:{l}:s"), "l");
        assert_eq!(hash_tag("rc:relays"), "rc:relays");
        assert_eq!(hash_tag("rc:{}:x"), "rc:{}:x");
    }

    #[test]
    fn masters_with_slots_are_read_from_cluster_nodes() {
        let text = "\
07c3 127.0.0.1:30004@40004 slave e7d1 0 1 4 connected
67ed 127.0.0.1:30002@40002,host2 master - 0 1 2 connected 5461-10922 [5000->-e7d1]
292f 127.0.0.1:30003@40003 myself,master - 0 0 3 connected 10923-16383
e7d1 127.0.0.1:30001@40001 master,fail - 1 1 1 disconnected 0-5460
aaaa 127.0.0.1:30005@40005 master - 0 1 5 connected 7 9-10
";
        assert_eq!(
            masters(text),
            vec![
                Master {
                    host: "127.0.0.1".into(),
                    port: 30002,
                    slots: vec![(5461, 10922)]
                },
                Master {
                    host: "127.0.0.1".into(),
                    port: 30003,
                    slots: vec![(10923, 16383)]
                },
                Master {
                    host: "127.0.0.1".into(),
                    port: 30005,
                    slots: vec![(7, 7), (9, 10)]
                },
            ]
        );
    }

    #[test]
    fn a_scan_is_refused_while_a_failed_masters_slots_have_no_master() {
        // Its replica not promoted yet: 0-5460 are served by nobody.
        let failing = "\
07c3 127.0.0.1:30004@40004 slave e7d1 0 1 4 connected
67ed 127.0.0.1:30002@40002 master - 0 1 2 connected 5461-10922
292f 127.0.0.1:30003@40003 myself,master - 0 0 3 connected 10923-16383
e7d1 127.0.0.1:30001@40001 master,fail - 1 1 1 disconnected 0-5460
";
        assert_eq!(first_unserved(&masters(failing)), Some(0));
        // Only suspected by this node (`fail?`): the same.
        assert_eq!(
            first_unserved(&masters(&failing.replace("master,fail", "master,fail?"))),
            Some(0)
        );
        // Promoted: every slot has a master again.
        let promoted = "\
07c3 127.0.0.1:30004@40004 master - 0 1 4 connected 0-5460
67ed 127.0.0.1:30002@40002 master - 0 1 2 connected 5461-10922
292f 127.0.0.1:30003@40003 myself,master - 0 0 3 connected 10923-16383
e7d1 127.0.0.1:30001@40001 master,fail - 1 1 1 disconnected
";
        assert_eq!(first_unserved(&masters(promoted)), None);
        // A slot in the middle, and the last one.
        assert_eq!(
            first_unserved(&masters(&promoted.replace("5461-10922", "5461-9999 10001-10922"))),
            Some(10_000)
        );
        assert_eq!(
            first_unserved(&masters(&promoted.replace("10923-16383", "10923-16382"))),
            Some(16_383)
        );
    }

    #[test]
    fn several_urls_without_cluster_are_refused_with_the_key_to_set() {
        let e = Target::open("redis://a:1/,redis://b:2/", false).err().unwrap();
        assert!(e.contains("redis_cluster = true"), "{e}");
        assert!(Target::open("redis://a:1/, redis://b:2/", true).unwrap().is_cluster());
        assert!(Target::open(" ", false).is_err());
    }

    #[test]
    fn an_answer_is_waited_for_a_sixth_of_the_lease_between_two_and_ten_seconds() {
        assert_eq!(answer_timeout(60_000), Duration::from_secs(10));
        assert_eq!(answer_timeout(30_000), Duration::from_secs(5));
        assert_eq!(answer_timeout(2_000), Duration::from_secs(2));
        assert_eq!(answer_timeout(600_000), Duration::from_secs(10));
    }
}
