//! Truth under faults: relays (each a roster and its cluster machine), a shared store
//! with pub/sub, and clients, all on one seeded RNG and one simulated clock.
//!
//! The store and its bus delay, duplicate and reorder messages; a relay's link to the
//! store is cut (and what was in flight to it is lost), the store restarts empty or goes
//! away for a while, relays crash, stop politely and come back empty. Clients enter,
//! leave, update, watch, drop, come back through another relay, refresh and go silent.
//! After the faults heal and the graces pass, every relay must show the truth, every
//! watcher's diffs must replay to it with no join or leave told twice, every relay's
//! events must tell each online/offline and join/leave once, and no dead relay's member
//! may outlive [`ClusterConfig::ghost_bound_ms`] while the store is reachable.
//!
//! `cargo test -p rollcall-core --test cluster_sim` runs the CI count of seeds;
//! `ROLLCALL_SIM_SEEDS=1000000` runs that many (from `ROLLCALL_SIM_FROM`, default 0) and
//! `ROLLCALL_SIM_SEED=N` replays one. A failure prints its seed. docs/scaling.md says
//! more.

// Each fault arm keeps its own condition: the arms are a table of odds.
#![allow(clippy::collapsible_match)]

use rollcall_core::cluster::{Beaten, Cluster, ClusterConfig, Message, Op, Stored};
use rollcall_core::policy::Access;
use rollcall_core::protocol::{Identity, Member, Meta, ServerMsg, Status};
use rollcall_core::roster::{ConnId, Event, Output, Roster, RosterConfig};
use rollcall_core::Instant;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Seeds a plain `cargo test` runs.
const CI_SEEDS: u64 = 10_000;

/// Seeds that broke earlier versions of the rules, kept as regression tests:
/// - 1, 16: a user left while the relay was cut from the store; the resync asserted the
///   views still held but never removed that one, a ghost on every other relay;
/// - 2: the resync kept another relay's holders that the store no longer had;
/// - 1015, 1936: the store away longer than the lease timeout; the first relay back
///   reaped the others, which came back under the same name, and a late "dead" undid
///   their views (now: silence counts from one's own reconnection, and a relay found
///   missing takes a new name);
/// - 6372: a relay decided another was dead and forgot it at once, but its reap was lost
///   with its link; the other, never reaped, kept its name, and the first ignored it for
///   good (now: a relay is buried when the reap's own message comes back).
const REGRESSIONS: &[u64] = &[1, 2, 16, 1015, 1936, 6372];

const CHANNELS: [&str; 3] = ["/doc/1", "/doc/2", "/site/online"];
/// Longest a published message stays in flight.
const MAX_DELAY: u64 = 60;
/// Longest a store operation takes.
const MAX_LATENCY: u64 = 15;

fn presence() -> RosterConfig {
    RosterConfig {
        checkin_interval_ms: 600,
        lease_timeout_ms: 2_000,
        unload_grace_ms: 300,
        reconnect_grace_ms: 1_000,
        flush_interval_ms: 20,
        ..RosterConfig::default()
    }
}

/// splitmix64: small, fast, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// The shared store: views, the heartbeat table, and who is subscribed.
#[derive(Default)]
struct Store {
    up: bool,
    /// (channel, user, relay) -> (seq, view)
    views: BTreeMap<(String, String, String), (u64, Member)>,
    table: BTreeMap<String, i64>,
}

/// A store operation on its way, in the relay's FIFO.
struct Pending {
    at: u64,
    link: u64,
    op: Op,
}

struct Relay {
    alive: bool,
    roster: Roster,
    cluster: Cluster,
    /// Bumped on every link change: what was in flight on an older link is lost.
    link: u64,
    linked: bool,
    ops: Vec<Pending>,
    last_op_at: u64,
    /// When the cluster last became up (for the ghost bound).
    up_since: Option<u64>,
    events: Vec<(u64, Event)>,
    /// What each watching connection was told, per channel: (seq, members).
    watched: HashMap<(ConnId, String), (u64, BTreeMap<String, Member>)>,
}

#[derive(Clone, Debug)]
struct Client {
    user: String,
    id: String,
    /// (relay index, relay generation, connection)
    conn: Option<(usize, u64, ConnId)>,
    /// Stopped answering: no pong, no frame.
    silent: bool,
    wants: BTreeMap<String, (Status, u64)>,
    watches: BTreeSet<String>,
}

/// A message on the bus.
struct Delivery {
    at: u64,
    to: usize,
    link: u64,
    msg: Message,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    Client(usize),
    Ping(usize),
    Reconnect(usize),
    Fault,
    Relink(usize),
    Restart(usize),
    StoreBack,
    Quiet,
}

struct World {
    rng: Rng,
    now: u64,
    seed: u64,
    config: ClusterConfig,
    relays: Vec<Relay>,
    /// Generation of each relay slot (a restart is a new process with a new id).
    generation: Vec<u64>,
    store: Store,
    store_up_since: u64,
    bus: Vec<Delivery>,
    clients: Vec<Client>,
    agenda: BTreeSet<(u64, u64, Action)>,
    order: u64,
    next_conn: ConnId,
    quiet: bool,
    /// Dead relay names, with their last beat and the deadline by which no relay up
    /// since may hold them, until checked.
    deaths: Vec<(String, u64, u64)>,
    log: Vec<String>,
    verbose: bool,
}

/// Per channel, per user: each holding client's (status, meta).
type Truth = BTreeMap<String, BTreeMap<String, Vec<(Status, u64)>>>;

fn identity(user: &str) -> Identity {
    Identity {
        id: user.to_string(),
        name: Some(format!("user {user}")),
        avatar: None,
    }
}

fn meta_of(n: u64) -> Meta {
    let mut m = Meta::new();
    if n > 0 {
        m.insert("n".into(), n.into());
    }
    m
}

impl World {
    fn new(seed: u64) -> World {
        let mut rng = Rng(seed);
        let n_relays = rng.range(2, 4) as usize;
        let n_users = rng.range(2, 6);
        let n_clients = rng.range(n_users, n_users + 4) as usize;
        let config = ClusterConfig::from_presence(&presence());
        let mut w = World {
            rng,
            now: 1_000,
            seed,
            config,
            relays: Vec::new(),
            generation: vec![0; n_relays],
            store: Store {
                up: true,
                ..Store::default()
            },
            store_up_since: 0,
            bus: Vec::new(),
            clients: Vec::new(),
            agenda: BTreeSet::new(),
            order: 0,
            next_conn: 1,
            quiet: false,
            deaths: Vec::new(),
            log: Vec::new(),
            verbose: std::env::var_os("ROLLCALL_SIM_VERBOSE").is_some(),
        };
        for i in 0..n_relays {
            let relay = w.make_relay(i);
            w.relays.push(relay);
            w.link_up(i);
        }
        for c in 0..n_clients {
            let user = format!("u{}", c as u64 % n_users);
            w.clients.push(Client {
                user,
                id: format!("c{c}"),
                conn: None,
                silent: false,
                wants: BTreeMap::new(),
                watches: BTreeSet::new(),
            });
            let at = w.now + w.rng.below(500);
            w.schedule(at, Action::Reconnect(c));
        }
        let at = w.now + w.rng.range(500, 3_000);
        w.schedule(at, Action::Fault);
        let busy = w.rng.range(5_000, 15_000);
        w.schedule(w.now + busy, Action::Quiet);
        w
    }

    fn note(&mut self, what: impl FnOnce() -> String) {
        if self.verbose {
            let line = format!("{:>6} {}", self.now, what());
            eprintln!("{line}");
            self.log.push(line);
        }
    }

    fn make_relay(&mut self, i: usize) -> Relay {
        let mut roster = Roster::new(presence());
        roster.share(true);
        let id = format!("r{i}g{}", self.generation[i]);
        Relay {
            alive: true,
            roster,
            cluster: Cluster::new(&id, self.config.clone()),
            link: 0,
            linked: false,
            ops: Vec::new(),
            last_op_at: 0,
            up_since: None,
            events: Vec::new(),
            watched: HashMap::new(),
        }
    }

    fn schedule(&mut self, at: u64, action: Action) {
        self.order += 1;
        self.agenda.insert((at, self.order, action));
    }

    fn instant(&self) -> Instant {
        Instant(self.now)
    }

    // ---- the store and its bus ----

    fn link_up(&mut self, i: usize) {
        let now = self.instant();
        let r = &mut self.relays[i];
        if !r.alive || r.linked || !self.store.up {
            return;
        }
        r.link += 1;
        r.linked = true;
        r.cluster.link_up(now);
        self.note(|| format!("link up r{i}"));
        self.settle(i);
    }

    fn link_down(&mut self, i: usize) {
        let now = self.instant();
        let r = &mut self.relays[i];
        if !r.linked {
            return;
        }
        r.link += 1;
        r.linked = false;
        r.ops.clear();
        r.up_since = None;
        r.cluster.link_down(now);
        self.note(|| format!("link down r{i}"));
    }

    fn publish(&mut self, msg: Message) {
        for to in 0..self.relays.len() {
            let r = &self.relays[to];
            if !r.alive || !r.linked {
                continue;
            }
            let copies = if self.rng.chance(3) { 2 } else { 1 };
            for _ in 0..copies {
                let at = self.now + self.rng.below(MAX_DELAY + 1);
                let link = self.relays[to].link;
                self.bus.push(Delivery {
                    at,
                    to,
                    link,
                    msg: msg.clone(),
                });
            }
        }
    }

    /// Run one store operation of relay `i` against the store.
    fn execute(&mut self, i: usize, op: Op) {
        let now = self.instant();
        match op {
            Op::Set(change) => {
                let key = (change.ch.clone(), change.user.clone(), change.relay.clone());
                match &change.view {
                    Some(v) => {
                        self.store.views.insert(key, (change.seq, v.clone()));
                    }
                    None => {
                        self.store.views.remove(&key);
                    }
                }
                self.publish(Message::Change(change));
            }
            Op::Beat { relay, shift_ms } => {
                let known = self.store.table.contains_key(&relay);
                self.note(|| format!("r{i} beats as {relay} (known {known}, shift {shift_ms})"));
                self.store.table.insert(relay, self.now as i64 + shift_ms);
                let beaten = Beaten {
                    store_ms: self.now,
                    known,
                    table: self
                        .store
                        .table
                        .iter()
                        .map(|(r, s)| (r.clone(), (*s).max(0) as u64))
                        .collect(),
                };
                let table = beaten.table.clone();
                self.note(|| format!("  table {table:?}"));
                let r = &mut self.relays[i];
                r.cluster.beaten(now, &mut r.roster, beaten);
            }
            Op::Reap { relay, successor } => {
                self.store.table.remove(&relay);
                self.store.views.retain(|(_, _, r), _| *r != relay);
                self.note(|| format!("r{i} reaps {relay}"));
                self.publish(Message::Dead { relay, successor });
            }
            Op::Load => {
                let stored = self
                    .store
                    .views
                    .iter()
                    .map(|((ch, user, relay), (seq, view))| Stored {
                        relay: relay.clone(),
                        ch: ch.clone(),
                        user: user.clone(),
                        seq: *seq,
                        view: view.clone(),
                    })
                    .collect();
                let r = &mut self.relays[i];
                r.cluster.loaded(now, &mut r.roster, stored);
            }
        }
        let r = &mut self.relays[i];
        if r.cluster.is_up() && r.up_since.is_none() {
            r.up_since = Some(self.now);
        }
        self.settle(i);
    }

    /// Drain relay `i`'s outputs until it has nothing more to say.
    fn settle(&mut self, i: usize) {
        loop {
            let mut any = false;
            while let Some(out) = self.relays[i].roster.poll_output() {
                any = true;
                self.output(i, out);
            }
            while let Some(op) = self.relays[i].cluster.poll_op() {
                any = true;
                let r = &mut self.relays[i];
                if !r.linked {
                    continue;
                }
                let at = (self.now + self.rng.range(1, MAX_LATENCY)).max(r.last_op_at);
                r.last_op_at = at;
                let link = r.link;
                r.ops.push(Pending { at, link, op });
            }
            if !any {
                break;
            }
        }
    }

    fn output(&mut self, i: usize, out: Output) {
        let now = self.instant();
        match out {
            Output::Share { ch, user, view, cause } => {
                self.relays[i].cluster.share(now, &ch, &user, view, cause);
            }
            Output::Event { event, .. } => {
                self.note(|| format!("r{i} event {event:?}"));
                self.relays[i].events.push((self.now, event));
            }
            Output::Deliver { to, frame } => {
                let msg = ServerMsg::decode(&frame).expect("the relay's frames decode");
                for conn in to {
                    self.tell(i, conn, &msg);
                }
            }
            Output::Send { conn, msg } => self.tell(i, conn, &msg),
            Output::Close { conn, .. } => {
                let gen = self.generation[i];
                if let Some(c) = self.clients.iter().position(|c| c.conn == Some((i, gen, conn))) {
                    self.note(|| format!("r{i} closes c{c}"));
                    self.clients[c].conn = None;
                    self.relays[i].watched.retain(|(k, _), _| *k != conn);
                    if !self.quiet {
                        let at = self.now + self.rng.range(10, 1_500);
                        self.schedule(at, Action::Reconnect(c));
                    }
                }
            }
        }
    }

    /// A frame reaches a watcher: replay it, and fail on anything told twice.
    fn tell(&mut self, i: usize, conn: ConnId, msg: &ServerMsg) {
        let seed = self.seed;
        let r = &mut self.relays[i];
        match msg {
            ServerMsg::Snapshot {
                ch, seq, count, users, ..
            } => {
                let users: BTreeMap<String, Member> = users
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|m| (m.id.clone(), m))
                    .collect();
                assert_eq!(*count, users.len(), "seed {seed}: snapshot count of {ch}");
                r.watched.insert((conn, ch.clone()), (*seq, users));
            }
            ServerMsg::Diff {
                ch,
                seq,
                count,
                join,
                leave,
                update,
            } => {
                let Some((at, users)) = r.watched.get_mut(&(conn, ch.clone())) else {
                    return;
                };
                assert_eq!(*seq, *at + 1, "seed {seed}: a gap in {ch}'s diffs on r{i} conn {conn}");
                *at = *seq;
                for user in leave {
                    assert!(
                        users.remove(user).is_some(),
                        "seed {seed}: r{i} told conn {conn} that {user} left {ch}, who was not there"
                    );
                }
                for m in join {
                    assert!(
                        users.insert(m.id.clone(), m.clone()).is_none(),
                        "seed {seed}: r{i} told conn {conn} that {} joined {ch} twice",
                        m.id
                    );
                }
                for m in update {
                    assert!(
                        users.insert(m.id.clone(), m.clone()).is_some(),
                        "seed {seed}: r{i} updated {} in {ch} for conn {conn}, who was not there",
                        m.id
                    );
                }
                assert_eq!(*count, users.len(), "seed {seed}: diff count of {ch}");
            }
            _ => {}
        }
    }

    // ---- clients ----

    fn live_relays(&self) -> Vec<usize> {
        (0..self.relays.len()).filter(|&i| self.relays[i].alive).collect()
    }

    fn conn_of(&self, c: usize) -> Option<(usize, ConnId)> {
        let (i, gen, conn) = self.clients[c].conn?;
        (self.generation[i] == gen && self.relays[i].alive).then_some((i, conn))
    }

    fn connect(&mut self, c: usize) {
        if self.conn_of(c).is_some() {
            return;
        }
        let live = self.live_relays();
        if live.is_empty() {
            return;
        }
        let i = *self.rng.pick(&live);
        let conn = self.next_conn;
        self.next_conn += 1;
        let now = self.instant();
        let client = self.clients[c].clone();
        self.note(|| format!("c{c} ({}) connects to r{i} as conn {conn}", client.user));
        let r = &mut self.relays[i];
        r.roster.connect(now, conn, identity(&client.user), &client.id, None);
        for (ch, (status, meta)) in &client.wants {
            r.roster
                .enter(now, conn, ch, Access::OPEN, Some(*status), Some(meta_of(*meta)))
                .expect("a re-enter");
        }
        for ch in &client.watches {
            r.roster.subscribe(now, conn, ch, Access::OPEN).expect("a subscribe");
        }
        self.clients[c].conn = Some((i, self.generation[i], conn));
        self.clients[c].silent = false;
        let at = self.now + self.rng.range(100, 600);
        self.schedule(at, Action::Ping(c));
        self.settle(i);
    }

    /// One thing a client does.
    fn act(&mut self, c: usize) {
        let Some((i, conn)) = self.conn_of(c) else {
            return;
        };
        if self.clients[c].silent {
            return;
        }
        let now = self.instant();
        let ch = self.rng.pick(&CHANNELS).to_string();
        let roll = self.rng.below(100);
        let status = *self
            .rng
            .pick(&[Status::Active, Status::Active, Status::Idle, Status::Hidden]);
        let meta = self.rng.below(4);
        let r = &mut self.relays[i];
        let client = &mut self.clients[c];
        match roll {
            0..=29 => {
                r.roster
                    .enter(now, conn, &ch, Access::OPEN, Some(status), Some(meta_of(meta)))
                    .expect("enter");
                client.wants.insert(ch, (status, meta));
            }
            30..=44 => {
                r.roster.leave(now, conn, &ch).expect("leave");
                client.wants.remove(&ch);
            }
            45..=59 => {
                if let Some(want) = client.wants.get_mut(&ch) {
                    r.roster
                        .update(now, conn, &ch, Some(status), Some(meta_of(meta)))
                        .expect("update");
                    *want = (status, meta);
                }
            }
            60..=69 => {
                if client.watches.insert(ch.clone()) {
                    r.roster.subscribe(now, conn, &ch, Access::OPEN).expect("subscribe");
                } else {
                    client.watches.remove(&ch);
                    r.watched.remove(&(conn, ch.clone()));
                    r.roster.unsubscribe(now, conn, &ch).expect("unsubscribe");
                }
            }
            70..=79 => {
                // The network drops, or the page refreshes (unloading), and the client
                // comes back, maybe through another relay.
                let unloading = self.rng.chance(50);
                r.watched.retain(|(k, _), _| *k != conn);
                r.roster.disconnect(now, conn, unloading);
                client.conn = None;
                let back = if self.rng.chance(70) {
                    self.rng.range(10, 400)
                } else {
                    self.rng.range(400, 2_500)
                };
                self.schedule(self.now + back, Action::Reconnect(c));
            }
            80..=83 => {
                // Gone without a word: the lease ends it.
                client.silent = true;
            }
            84..=86 => {
                // Closes for good.
                r.watched.retain(|(k, _), _| *k != conn);
                r.roster.disconnect(now, conn, true);
                client.conn = None;
                client.wants.clear();
                client.watches.clear();
                let back = self.rng.range(1_000, 4_000);
                self.schedule(self.now + back, Action::Reconnect(c));
            }
            _ => {
                r.roster.checkin(now, conn, status);
                for want in client.wants.values_mut() {
                    want.0 = status;
                }
            }
        }
        self.settle(i);
    }

    // ---- faults ----

    fn fault(&mut self) {
        let n = self.relays.len();
        let i = self.rng.below(n as u64) as usize;
        let now = self.instant();
        match self.rng.below(100) {
            0..=24 => {
                // Cut one relay from the store, maybe longer than the lease timeout.
                if self.relays[i].linked {
                    let long = self.rng.chance(40);
                    let d = if long {
                        self.rng.range(2_500, 4_000)
                    } else {
                        self.rng.range(50, 1_500)
                    };
                    self.note(|| format!("fault: cut r{i} for {d} ms"));
                    self.link_down(i);
                    self.schedule(self.now + d, Action::Relink(i));
                }
            }
            25..=34 => {
                // Its subscription overflows: messages lost, then the link is reset.
                if self.relays[i].linked {
                    self.note(|| format!("fault: r{i} loses messages"));
                    self.bus.retain(|d| d.to != i || d.at > now.0 + 30);
                    let d = self.rng.range(1, 100);
                    self.link_down(i);
                    self.schedule(self.now + d, Action::Relink(i));
                }
            }
            35..=49 => {
                // A crash: no word to anyone.
                if self.relays[i].alive && self.live_relays().len() > 1 {
                    self.note(|| format!("fault: r{i} crashes"));
                    self.kill(i, false);
                    let back = self.rng.range(100, 5_000);
                    self.schedule(self.now + back, Action::Restart(i));
                }
            }
            50..=59 => {
                // A polite stop (a deploy).
                if self.relays[i].alive && self.live_relays().len() > 1 {
                    self.note(|| format!("fault: r{i} stops"));
                    self.kill(i, true);
                    let back = self.rng.range(100, 3_000);
                    self.schedule(self.now + back, Action::Restart(i));
                }
            }
            60..=69 => {
                // The store restarts empty.
                if self.store.up {
                    self.note(|| "fault: the store restarts empty".into());
                    self.store_down();
                    self.store.views.clear();
                    self.store.table.clear();
                    let back = self.rng.range(10, 500);
                    self.schedule(self.now + back, Action::StoreBack);
                }
            }
            70..=74 => {
                // The store is away, its data kept.
                if self.store.up {
                    self.note(|| "fault: the store is away".into());
                    self.store_down();
                    let back = self.rng.range(100, 3_500);
                    self.schedule(self.now + back, Action::StoreBack);
                }
            }
            75..=79 => {
                // The store loses its data under the relays' feet (FLUSHALL).
                // The heartbeat table is lost with the rest: the bound starts again.
                self.note(|| "fault: the store is flushed".into());
                self.store.views.clear();
                self.store.table.clear();
                self.store_up_since = self.now;
            }
            _ => {}
        }
        if !self.quiet {
            let at = self.now + self.rng.range(200, 3_000);
            self.schedule(at, Action::Fault);
        }
    }

    fn store_down(&mut self) {
        self.store.up = false;
        for i in 0..self.relays.len() {
            self.link_down(i);
        }
        self.bus.clear();
    }

    fn kill(&mut self, i: usize, polite: bool) {
        let now = self.instant();
        if polite && self.relays[i].linked {
            // The drain's beat reaches the store before the relay goes.
            self.relays[i].cluster.drain(now);
            while let Some(op) = self.relays[i].cluster.poll_op() {
                self.execute(i, op);
            }
        }
        let name = self.relays[i].cluster.name().to_string();
        let beat = self.store.table.get(&name).copied().unwrap_or(0).max(0) as u64;
        let deadline = beat + self.config.ghost_bound_ms() + 2 * MAX_LATENCY + MAX_DELAY;
        self.deaths.push((name, beat, deadline));
        let r = &mut self.relays[i];
        r.alive = false;
        r.linked = false;
        r.ops.clear();
        self.bus.retain(|d| d.to != i);
        let gen = self.generation[i];
        for c in 0..self.clients.len() {
            if matches!(self.clients[c].conn, Some((ri, g, _)) if ri == i && g == gen) {
                self.clients[c].conn = None;
                if !self.quiet {
                    let back = if polite {
                        self.rng.range(10, 300)
                    } else {
                        self.rng.range(50, 2_500)
                    };
                    self.schedule(self.now + back, Action::Reconnect(c));
                }
            }
        }
    }

    fn restart(&mut self, i: usize) {
        if self.relays[i].alive {
            return;
        }
        self.generation[i] += 1;
        self.relays[i] = self.make_relay(i);
        let name = self.relays[i].cluster.name().to_string();
        self.note(|| format!("r{i} restarts as {name}"));
        self.link_up(i);
    }

    fn heal(&mut self) {
        self.quiet = true;
        if !self.store.up {
            self.store.up = true;
            self.store_up_since = self.now;
        }
        for i in 0..self.relays.len() {
            if !self.relays[i].alive {
                self.restart(i);
            }
            self.link_up(i);
        }
    }

    // ---- the clock ----

    fn next_time(&self) -> Option<u64> {
        let mut next = self.agenda.first().map(|(at, _, _)| *at);
        let mut consider = |t: Option<u64>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n: u64| n.min(t)));
            }
        };
        for r in self.relays.iter().filter(|r| r.alive) {
            consider(r.roster.poll_timeout().map(|i| i.0));
            if r.linked {
                consider(r.cluster.poll_timeout().map(|i| i.0));
            }
            consider(r.ops.first().map(|p| p.at));
        }
        consider(self.bus.iter().map(|d| d.at).min());
        next
    }

    fn step(&mut self, until: u64) -> bool {
        let Some(next) = self.next_time() else {
            return false;
        };
        if next > until {
            self.now = until;
            return false;
        }
        self.now = self.now.max(next);
        let now = self.instant();
        while let Some(&(at, order, action)) = self.agenda.first() {
            if at > self.now {
                break;
            }
            self.agenda.remove(&(at, order, action));
            self.run(action);
        }
        // Messages due, in the order they arrive.
        let mut due: Vec<Delivery> = Vec::new();
        let mut i = 0;
        while i < self.bus.len() {
            if self.bus[i].at <= self.now {
                due.push(self.bus.swap_remove(i));
            } else {
                i += 1;
            }
        }
        due.sort_by_key(|d| d.at);
        for d in due {
            let r = &mut self.relays[d.to];
            if r.alive && r.linked && r.link == d.link {
                r.cluster.message(now, &mut r.roster, d.msg);
                self.settle(d.to);
            }
        }
        for i in 0..self.relays.len() {
            while self.relays[i].alive && self.relays[i].ops.first().is_some_and(|p| p.at <= self.now) {
                let p = self.relays[i].ops.remove(0);
                if p.link == self.relays[i].link && self.relays[i].linked && self.store.up {
                    self.execute(i, p.op);
                }
            }
            let r = &mut self.relays[i];
            if !r.alive {
                continue;
            }
            if r.roster.poll_timeout().is_some_and(|t| t <= now) {
                r.roster.handle_timeout(now);
            }
            if r.linked && r.cluster.poll_timeout().is_some_and(|t| t <= now) {
                r.cluster.handle_timeout(now, &mut r.roster);
            }
            self.settle(i);
        }
        self.check_ghosts();
        true
    }

    fn run(&mut self, action: Action) {
        match action {
            Action::Client(c) => {
                if !self.quiet {
                    self.act(c);
                    let at = self.now + self.rng.range(50, 1_200);
                    self.schedule(at, Action::Client(c));
                }
            }
            Action::Ping(c) => {
                if let Some((i, conn)) = self.conn_of(c) {
                    if !self.clients[c].silent {
                        let now = self.instant();
                        self.relays[i].roster.touch(now, conn, false);
                        let at = self.now + self.rng.range(300, 600);
                        self.schedule(at, Action::Ping(c));
                    }
                }
            }
            Action::Reconnect(c) => {
                if !self.quiet {
                    let first = self.clients[c].conn.is_none() && self.clients[c].wants.is_empty();
                    self.connect(c);
                    if first {
                        let at = self.now + self.rng.range(10, 300);
                        self.schedule(at, Action::Client(c));
                    }
                }
            }
            Action::Fault => {
                if !self.quiet {
                    self.fault();
                }
            }
            Action::Relink(i) => {
                if !self.quiet {
                    self.link_up(i);
                }
            }
            Action::Restart(i) => {
                if !self.quiet {
                    self.restart(i);
                }
            }
            Action::StoreBack => {
                if !self.quiet && !self.store.up {
                    self.store.up = true;
                    self.store_up_since = self.now;
                    for i in 0..self.relays.len() {
                        let at = self.now + self.rng.range(1, 200);
                        self.schedule(at, Action::Relink(i));
                    }
                }
            }
            Action::Quiet => self.heal(),
        }
    }

    /// No relay that has been up since a dead relay's last beat may hold that relay's
    /// members past the bound.
    fn check_ghosts(&mut self) {
        if self.deaths.iter().all(|(_, _, deadline)| self.now <= *deadline) {
            return;
        }
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.deaths)
            .into_iter()
            .partition(|(_, _, deadline)| self.now > *deadline);
        self.deaths = later;
        for (name, beat, deadline) in &due {
            if self.store_up_since > *beat {
                continue;
            }
            for (i, r) in self.relays.iter().enumerate() {
                if !r.alive || r.up_since.is_none_or(|since| since > *beat) {
                    continue;
                }
                if let Some(entry) = r
                    .roster
                    .remote_entries()
                    .into_iter()
                    .find(|(_, relay, _)| relay == name)
                {
                    panic!(
                        "seed {}: at {} r{i} still holds {entry:?} of {name}, dead since its beat at {beat} (bound {deadline})",
                        self.seed, self.now
                    );
                }
            }
        }
    }

    // ---- the end ----

    fn check_truth(&self) {
        let seed = self.seed;
        // What every client holds, where it is connected and answering.
        let mut online: BTreeSet<String> = BTreeSet::new();
        let mut members: Truth = BTreeMap::new();
        for (c, client) in self.clients.iter().enumerate() {
            if self.conn_of(c).is_none() || client.silent {
                continue;
            }
            online.insert(client.user.clone());
            for (ch, want) in &client.wants {
                members
                    .entry(ch.clone())
                    .or_default()
                    .entry(client.user.clone())
                    .or_default()
                    .push(*want);
            }
        }
        let names: BTreeSet<String> = self
            .relays
            .iter()
            .filter(|r| r.alive)
            .map(|r| r.cluster.name().to_string())
            .collect();
        for (i, r) in self.relays.iter().enumerate() {
            assert!(
                r.alive && r.cluster.is_up(),
                "seed {seed}: r{i} is not up after healing"
            );
            for (ch, relay, user) in r.roster.remote_entries() {
                assert!(
                    names.contains(&relay),
                    "seed {seed}: r{i} holds {user} in {ch} for {relay}, which is gone"
                );
            }
            for ch in CHANNELS {
                let want = members.get(ch).cloned().unwrap_or_default();
                let have: BTreeMap<String, Member> = r
                    .roster
                    .presence(ch)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|m| (m.id.clone(), m))
                    .collect();
                let want_ids: BTreeSet<&String> = want.keys().collect();
                let have_ids: BTreeSet<&String> = have.keys().collect();
                assert_eq!(have_ids, want_ids, "seed {seed}: r{i}'s members of {ch}");
                for (user, holds) in &want {
                    let m = &have[user];
                    let status = holds.iter().map(|h| h.0).max().unwrap();
                    assert_eq!(m.status, status, "seed {seed}: r{i}'s status of {user} in {ch}");
                    if holds.len() == 1 {
                        assert_eq!(
                            m.meta,
                            meta_of(holds[0].1),
                            "seed {seed}: r{i}'s meta of {user} in {ch}"
                        );
                    }
                }
                for ((conn, wch), (_, told)) in &r.watched {
                    if wch == ch {
                        assert_eq!(told, &have, "seed {seed}: what r{i} told conn {conn} of {ch}");
                    }
                }
            }
            self.check_events(i, &online, &members);
        }
    }

    /// The relay's events, replayed: each online/offline, occupied/vacated and
    /// join/leave alternates, and what is left open is the truth.
    fn check_events(&self, i: usize, online: &BTreeSet<String>, members: &Truth) {
        let seed = self.seed;
        let mut on: BTreeSet<String> = BTreeSet::new();
        let mut joined: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut occupied: BTreeSet<String> = BTreeSet::new();
        for (at, event) in &self.relays[i].events {
            match event {
                Event::UserOnline { user } => {
                    assert!(
                        on.insert(user.id.clone()),
                        "seed {seed}: r{i} told {} online twice at {at}",
                        user.id
                    )
                }
                Event::UserOffline { user } => {
                    assert!(
                        on.remove(&user.id),
                        "seed {seed}: r{i} told {} offline twice at {at}",
                        user.id
                    )
                }
                Event::ChannelOccupied { ch } => {
                    assert!(
                        occupied.insert(ch.clone()),
                        "seed {seed}: r{i} told {ch} occupied twice at {at}"
                    );
                    assert!(joined.get(ch).is_none_or(|j| j.is_empty()));
                }
                Event::ChannelVacated { ch } => {
                    assert!(occupied.remove(ch), "seed {seed}: r{i} told {ch} vacated twice at {at}");
                    assert!(
                        joined.get(ch).is_none_or(|j| j.is_empty()),
                        "seed {seed}: {ch} vacated with members at {at}"
                    );
                }
                Event::Join { ch, user } => {
                    assert!(
                        occupied.contains(ch),
                        "seed {seed}: r{i} told a join in {ch} before occupied at {at}"
                    );
                    assert!(
                        joined.entry(ch.clone()).or_default().insert(user.id.clone()),
                        "seed {seed}: r{i} told {} joined {ch} twice at {at}",
                        user.id
                    );
                }
                Event::Leave { ch, user, .. } => assert!(
                    joined.entry(ch.clone()).or_default().remove(&user.id),
                    "seed {seed}: r{i} told {} left {ch} twice at {at}",
                    user.id
                ),
                // The transitions above are the ones told exactly once; others are not
                // counted here.
                _ => {}
            }
        }
        assert_eq!(&on, online, "seed {seed}: r{i}'s events leave these users online");
        for ch in CHANNELS {
            let want: BTreeSet<String> = members.get(ch).map(|m| m.keys().cloned().collect()).unwrap_or_default();
            let have = joined.get(ch).cloned().unwrap_or_default();
            assert_eq!(have, want, "seed {seed}: r{i}'s events leave these members in {ch}");
            assert_eq!(
                occupied.contains(ch),
                !want.is_empty(),
                "seed {seed}: r{i}'s events on {ch} occupied"
            );
        }
    }
}

/// One schedule: busy with faults, then healed and quiet for long enough that every
/// grace, lease and reaping is over.
fn run(seed: u64) {
    let mut w = World::new(seed);
    while !w.quiet {
        w.step(u64::MAX);
    }
    let settle = w.now
        + presence().lease_timeout_ms
        + presence().reconnect_grace_ms
        + w.config.ghost_bound_ms()
        + w.config.keep_ms.min(1_000);
    while w.step(settle) {}
    w.check_truth();
}

fn run_reporting(seed: u64) {
    if let Err(panic) = std::panic::catch_unwind(|| run(seed)) {
        eprintln!(
            "cluster simulation failed: replay with ROLLCALL_SIM_SEED={seed} (ROLLCALL_SIM_VERBOSE=1 for a trace)"
        );
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn relays_agree_with_the_truth_after_faults_heal() {
    if let Some(seed) = std::env::var("ROLLCALL_SIM_SEED").ok().and_then(|s| s.parse().ok()) {
        run_reporting(seed);
        return;
    }
    let count: u64 = std::env::var("ROLLCALL_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(CI_SEEDS);
    let from: u64 = std::env::var("ROLLCALL_SIM_FROM")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let started = std::time::Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads {
            scope.spawn(move || {
                let mut seed = from + t;
                while seed < from + count {
                    run_reporting(seed);
                    seed += threads;
                }
            });
        }
    });
    eprintln!("{count} schedules in {:.1} s", started.elapsed().as_secs_f64());
}

#[test]
fn seeds_that_once_broke_the_rules_stay_fixed() {
    for &seed in REGRESSIONS {
        run_reporting(seed);
    }
}
