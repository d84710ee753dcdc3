//! The whole benchmark: for each workload, size and server, start the server fresh on
//! its own core, run the generator's shards on the other, read the server's CPU and
//! memory between phases, and keep everything as JSON for the report.

use crate::clock::now_ns;
use crate::servers::{self, Kind, Paths, Server, Usage};
use crate::shard::{PhaseReport, Workload};
use crate::stats::Report;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[derive(clap::Args, Clone, Debug)]
pub struct SuiteArgs {
    /// Small sizes, a minute or less: proves the harness works. Figures come from a full run.
    #[arg(long)]
    pub quick: bool,
    /// The relay binary (built with `cargo build --release -p rollcall-relay`).
    #[arg(long, default_value = "target/release/rollcall-relay")]
    pub relay: PathBuf,
    /// The repository root.
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// Raw JSON goes here.
    #[arg(long, default_value = "bench/results")]
    pub out: PathBuf,
    /// Only these servers (rollcall, rollcall-redis, rollcall-pusher, sockudo, soketi, socketio, socketio-full, floor, fanout-floor).
    #[arg(long, value_delimiter = ',')]
    pub servers: Vec<String>,
    /// Only these workloads (w1..w7).
    #[arg(long, value_delimiter = ',')]
    pub workloads: Vec<String>,
    /// Only these sizes.
    #[arg(long, value_delimiter = ',')]
    pub sizes: Vec<usize>,
    /// Add a 100,000-member channel, capped (W8) and count_only (W6), across six relays
    /// sharing one Redis (six generator processes; several minutes each, gigabytes).
    #[arg(long)]
    pub huge: bool,
    /// Let the generator sleep in `epoll_wait` between frames instead of polling: every
    /// frame a server sends then also pays for waking the generator on the other core
    /// (the figures before 2026-12-05 were measured so).
    #[arg(long)]
    pub sleeping_generator: bool,
}

/// One measured case.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Outcome {
    pub workload: Workload,
    pub server: Kind,
    pub size: usize,
    pub params: Vec<String>,
    pub shards: usize,
    /// Relay processes sharing the channel through one Redis (`rollcall (Redis)`).
    #[serde(default = "one")]
    pub relays: usize,
    /// Why the case did not run or did not finish, if it did not.
    pub note: Option<String>,
    /// Servers and generators shared both cores, unpinned (the 100,000 cases); else the
    /// server had core 0 and the generator core 1.
    #[serde(default)]
    pub shared_cores: bool,
    /// The generator polled its sockets instead of sleeping between frames.
    #[serde(default)]
    pub generator_polls: bool,
    pub baseline: Usage,
    pub phases: Vec<Phase>,
}

fn one() -> usize {
    1
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Phase {
    pub name: String,
    pub start_ns: u64,
    /// When the restarted server accepted connections again (W7's storm), else 0.
    #[serde(default)]
    pub ready_ns: u64,
    pub end_ns: u64,
    pub before: Usage,
    pub after: Usage,
    /// CPU the generator's processes used in this phase, ms: when it nears the wall time,
    /// the generator, not the server, set the pace.
    #[serde(default)]
    pub gen_cpu_ms: f64,
    pub report: Report,
}

struct Case {
    workload: Workload,
    size: usize,
    params: Vec<String>,
    shards: usize,
    phase_seconds: u64,
    relays: usize,
    /// Only these servers (else every one the workload has).
    only: Vec<Kind>,
    /// Servers and generators on both cores, as the kernel schedules them.
    shared_cores: bool,
}

impl Case {
    fn on(mut self, only: &[Kind]) -> Case {
        self.only = only.to_vec();
        self
    }

    fn relays(mut self, n: usize) -> Case {
        self.relays = n;
        self.only = vec![Kind::RollcallRedis];
        self
    }

    fn on_shared_cores(mut self) -> Case {
        self.shared_cores = true;
        self
    }
}

fn plan(quick: bool, huge: bool) -> Vec<Case> {
    let case = |workload, size, params: &[&str], shards, phase_seconds| Case {
        workload,
        size,
        params: params.iter().map(|s| s.to_string()).collect(),
        shards,
        phase_seconds,
        relays: 1,
        only: Vec::new(),
        shared_cores: false,
    };
    let relays = [Kind::Rollcall, Kind::RollcallRedis];
    if quick {
        return vec![
            case(Workload::W1, 200, &["--settle-ms", "300"], 1, 15),
            case(
                Workload::W2,
                200,
                &["--rounds", "8", "--period-ms", "150", "--settle-ms", "500"],
                1,
                15,
            ),
            case(Workload::W3, 400, &["--room", "100", "--settle-ms", "500"], 2, 15),
            case(
                Workload::W4,
                100,
                &[
                    "--rate",
                    "20",
                    "--churn-seconds",
                    "2",
                    "--hold-ms",
                    "300",
                    "--settle-ms",
                    "500",
                ],
                1,
                15,
            ),
            case(Workload::W5, 200, &["--watchers", "5"], 1, 15),
            case(Workload::W6, 200, &["--settle-ms", "300"], 1, 15).on(&[Kind::Rollcall]),
            case(Workload::W6, 200, &["--settle-ms", "300"], 2, 15).relays(2),
            case(Workload::W8, 200, &["--settle-ms", "300"], 1, 15).on(&[Kind::Rollcall]),
            case(Workload::W7, 100, &["--watch-ms", "300"], 1, 15).on(&[
                Kind::Rollcall,
                Kind::RollcallRedis,
                Kind::Socketio,
            ]),
        ];
    }
    let mut v = vec![
        case(Workload::W1, 1_000, &[], 1, 60),
        case(Workload::W1, 2_000, &[], 1, 60),
        case(Workload::W1, 5_000, &[], 1, 60),
        case(Workload::W1, 10_000, &[], 2, 60),
        // One relay's curve up to what one process can hold (20,000 open files), then two
        // relays sharing the channel through Redis.
        case(Workload::W1, 18_000, &[], 2, 90).on(&relays),
        case(Workload::W1, 20_000, &[], 2, 90).relays(2),
        case(Workload::W6, 10_000, &[], 2, 60).on(&relays),
        case(Workload::W6, 18_000, &[], 2, 90).on(&relays),
        case(Workload::W6, 20_000, &[], 2, 90).relays(2),
        case(Workload::W8, 10_000, &[], 2, 60).on(&relays),
        case(Workload::W8, 18_000, &[], 2, 90).on(&relays),
        case(Workload::W8, 20_000, &[], 2, 90).relays(2),
        case(Workload::W2, 1_000, &["--rounds", "40", "--period-ms", "400"], 1, 60),
        case(Workload::W2, 2_000, &["--rounds", "40", "--period-ms", "400"], 1, 60),
        case(Workload::W2, 5_000, &["--rounds", "40", "--period-ms", "400"], 1, 60),
        case(Workload::W3, 10_000, &["--room", "100", "--settle-ms", "3000"], 2, 60),
        case(
            Workload::W4,
            1_000,
            &["--rate", "100", "--churn-seconds", "10", "--hold-ms", "1000"],
            1,
            60,
        ),
        case(Workload::W5, 2_000, &["--watchers", "10"], 1, 60),
        case(Workload::W5, 5_000, &["--watchers", "10"], 1, 60),
        // The old relay's entries in Redis go after its reconnect grace (15 s): watch
        // that long for leaves.
        case(Workload::W7, 1_000, &["--watch-ms", "20000"], 1, 60),
        case(Workload::W7, 2_000, &["--watch-ms", "20000"], 1, 60),
        case(Workload::W7, 10_000, &["--watch-ms", "20000"], 2, 60).on(&relays),
    ];
    if huge {
        // Then ten newcomers, one at a time, each in for 2 s: is each seen by all
        // 100,000 within a second, and does each get its first state within a second?
        let probes = ["--count-probes", "10", "--period-ms", "4000", "--hold-ms", "2000"];
        // Six relays, their Redis and six generators over both cores as the kernel
        // schedules them: one core alone cannot send a join to 100,000 sockets within a
        // second (12 to 15 µs a frame at this size), and a site would not leave the
        // second core idle.
        v.push(case(Workload::W8, 100_000, &probes, 6, 300).relays(6).on_shared_cores());
        v.push(case(Workload::W6, 100_000, &probes, 6, 300).relays(6).on_shared_cores());
    }
    v
}

fn servers_for(workload: Workload, quick: bool) -> Vec<Kind> {
    let mut v = vec![
        Kind::Rollcall,
        Kind::RollcallRedis,
        Kind::RollcallPusher,
        Kind::Sockudo,
        Kind::Soketi,
        Kind::Socketio,
    ];
    // soketi takes seconds to start: a quick run drives it in two workloads only.
    if quick && !matches!(workload, Workload::W1 | Workload::W3) {
        v.retain(|k| *k != Kind::Soketi);
    }
    match workload {
        Workload::W1 => {
            if !quick {
                v.push(Kind::SocketioFull);
            }
            v.push(Kind::Floor);
        }
        Workload::W3 => v.push(Kind::Floor),
        // What a join's fan-out costs on this machine, with nothing else done.
        Workload::W2 => v.push(Kind::FanoutFloor),
        // No peer has a count-only or a capped presence channel.
        Workload::W6 | Workload::W8 => v.retain(|k| matches!(k, Kind::Rollcall | Kind::RollcallRedis)),
        Workload::W7 => v.retain(|k| *k != Kind::RollcallPusher),
        _ => {}
    }
    v
}

fn kind_key(k: Kind) -> &'static str {
    match k {
        Kind::Rollcall => "rollcall",
        Kind::RollcallPusher => "rollcall-pusher",
        Kind::RollcallRedis => "rollcall-redis",
        Kind::Sockudo => "sockudo",
        Kind::Soketi => "soketi",
        Kind::Socketio => "socketio",
        Kind::SocketioFull => "socketio-full",
        Kind::Floor => "floor",
        Kind::FanoutFloor => "fanout-floor",
    }
}

pub fn main(args: SuiteArgs) -> Result<Vec<Outcome>, String> {
    crate::clock::raise_nofile();
    let repo = std::fs::canonicalize(&args.repo).map_err(|e| format!("{}: {e}", args.repo.display()))?;
    std::fs::create_dir_all(&args.out).map_err(|e| e.to_string())?;
    let results = std::fs::canonicalize(&args.out).map_err(|e| e.to_string())?;
    let relay = repo.join(&args.relay);
    if !relay.is_file() {
        return Err(format!(
            "{} not found: cargo build --release -p rollcall-relay",
            relay.display()
        ));
    }
    let paths = Paths {
        repo: repo.clone(),
        relay,
        results: results.clone(),
        sockudo: servers::find_sockudo(),
        me: std::env::current_exe().map_err(|e| e.to_string())?,
    };
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let pin = cpus >= 2 && servers::taskset_available();
    let cores = if pin { (Some(0), Some(1)) } else { (None, None) };
    let mut outcomes = Vec::new();
    // The smallest size at which a server did not finish filling a channel: larger fills
    // are not attempted for it.
    let mut gave_up: std::collections::HashMap<Kind, usize> = Default::default();
    let started = Instant::now();
    for case in plan(args.quick, args.huge) {
        let wkey = format!("{:?}", case.workload).to_lowercase();
        if !args.workloads.is_empty() && !args.workloads.contains(&wkey) {
            continue;
        }
        if !args.sizes.is_empty() && !args.sizes.contains(&case.size) {
            continue;
        }
        let mut kinds = servers_for(case.workload, args.quick);
        if !case.only.is_empty() {
            kinds.retain(|k| case.only.contains(k));
        }
        for kind in kinds {
            if !args.servers.is_empty() && !args.servers.iter().any(|s| s == kind_key(kind)) {
                continue;
            }
            let mut outcome = Outcome {
                workload: case.workload,
                server: kind,
                size: case.size,
                params: case.params.clone(),
                shards: case.shards,
                relays: case.relays,
                note: None,
                shared_cores: !pin || case.shared_cores,
                // A generator with a core of its own polls: waking it is not the server's
                // cost. One sharing a core with servers would take their time instead.
                generator_polls: pin && !case.shared_cores && !args.sleeping_generator,
                baseline: Usage::default(),
                phases: Vec::new(),
            };
            let fills = matches!(
                case.workload,
                Workload::W1 | Workload::W2 | Workload::W5 | Workload::W6 | Workload::W7 | Workload::W8
            );
            if kind == Kind::Sockudo && paths.sockudo.is_none() {
                outcome.note = Some("not installed".into());
            } else if let Some(&n) = gave_up.get(&kind).filter(|&&n| fills && case.size >= n) {
                outcome.note = Some(format!("skipped: a {n}-member channel did not fill in time"));
            } else {
                eprintln!(
                    "[{:>5.0}s] {wkey} {} size {} ...",
                    started.elapsed().as_secs_f64(),
                    kind.name(),
                    case.size
                );
                let (server_cpu, gen_cpu) = if case.shared_cores { (None, None) } else { cores };
                run_case(&paths, &case, kind, server_cpu, gen_cpu, &mut outcome);
                let filled = outcome
                    .phases
                    .first()
                    .is_some_and(|p| p.report.failed == 0 && p.report.admitted as usize >= case.size);
                if fills && (!filled || outcome.note.is_some()) {
                    gave_up.entry(kind).or_insert(case.size);
                }
            }
            if let Some(note) = &outcome.note {
                eprintln!("        {}: {note}", kind.name());
            }
            let file = results.join(format!("{wkey}-{}-{}.json", kind_key(kind), case.size));
            let _ = std::fs::write(&file, serde_json::to_string_pretty(&outcome).unwrap_or_default());
            outcomes.push(outcome);
        }
    }
    // The SDK side: connect() to first state in headless Chromium (bounded by the script).
    eprintln!(
        "[{:>5.0}s] sdk first state in Chromium ...",
        started.elapsed().as_secs_f64()
    );
    let sdk = std::process::Command::new("node")
        .arg(repo.join("bench/sdk/first-state.mjs"))
        .arg(&paths.relay)
        .arg(if args.quick { "2" } else { "7" })
        .current_dir(&repo)
        .stderr(Stdio::null())
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).lines().last().map(str::to_string))
        .unwrap_or_else(|| r#"{"error":"node could not run bench/sdk/first-state.mjs"}"#.into());
    let _ = std::fs::write(results.join("sdk.json"), sdk);
    let _ = std::fs::write(
        results.join("all.json"),
        serde_json::to_string_pretty(&outcomes).unwrap_or_default(),
    );
    eprintln!("suite done in {:.0} s", started.elapsed().as_secs_f64());
    if args.quick {
        check(&outcomes)?;
    }
    Ok(outcomes)
}

/// The phases of a case with these parameters.
fn phase_names(w: Workload, params: &[String]) -> &'static [&'static str] {
    match w {
        Workload::W6 | Workload::W8 if params.iter().any(|p| p == "--count-probes") => &["fill", "hold", "probes"],
        Workload::W1 | Workload::W6 | Workload::W8 => &["fill", "hold"],
        Workload::W2 => &["fill", "probes"],
        Workload::W3 => &["hold"],
        Workload::W4 => &["fill", "churn"],
        Workload::W5 => &["fill", "empty"],
        Workload::W7 => &["fill", "storm"],
    }
}

struct ShardProc {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl ShardProc {
    fn go(&mut self) {
        if let Some(stdin) = self.child.stdin.as_mut() {
            let _ = writeln!(stdin, "go");
            let _ = stdin.flush();
        }
    }

    /// The next line starting with `prefix`, within `patience`.
    fn expect(&self, prefix: &str, patience: Duration) -> Option<String> {
        let end = Instant::now() + patience;
        loop {
            let left = end.checked_duration_since(Instant::now())?;
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return Some(line),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }
}

fn run_case(
    paths: &Paths,
    case: &Case,
    kind: Kind,
    server_cpu: Option<usize>,
    gen_cpu: Option<usize>,
    out: &mut Outcome,
) {
    let wkey = format!("{:?}", case.workload).to_lowercase();
    let log = paths
        .results
        .join(format!("{wkey}-{}-{}.server.log", kind_key(kind), case.size));
    let mut server = match Server::start(kind, paths, server_cpu, &log, case.relays) {
        Ok(s) => s,
        Err(e) => {
            out.note = Some(e);
            return;
        }
    };
    std::thread::sleep(Duration::from_millis(300));
    out.baseline = server.usage();
    let max_seconds = case.phase_seconds * 3 + 60;
    let mut shards = Vec::new();
    for i in 0..case.shards {
        let mut cmd = servers::pinned(gen_cpu, &paths.me);
        cmd.arg("shard")
            .arg("--proto")
            .arg(format!("{:?}", kind.proto()).to_lowercase())
            .arg("--addr")
            .arg(server.addrs.join(","))
            // Each shard from its own loopback address: ephemeral ports are per address.
            .arg("--source")
            .arg(format!("127.0.0.{}", 10 + i))
            .arg("--workload")
            .arg(&wkey)
            .arg("--size")
            .arg(case.size.to_string())
            .arg("--shard")
            .arg(format!("{i}/{}", case.shards))
            .arg("--phase-seconds")
            .arg(case.phase_seconds.to_string())
            .arg("--max-seconds")
            .arg(max_seconds.to_string())
            .args(&case.params)
            .args(out.generator_polls.then_some("--poll"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                out.note = Some(format!("cannot start a shard: {e}"));
                break;
            }
        };
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        shards.push(ShardProc { child, lines: rx });
    }
    if out.note.is_none()
        && shards
            .iter()
            .all(|s| s.expect("READY", Duration::from_secs(20)).is_some())
    {
        let gen_cpu = |shards: &Vec<ShardProc>| shards.iter().map(|s| Usage::of(s.child.id()).cpu_ms).sum::<f64>();
        for name in phase_names(case.workload, &case.params) {
            let gen_before = gen_cpu(&shards);
            let mut before = server.usage();
            let mut start_ns = now_ns();
            for s in shards.iter_mut() {
                s.go();
            }
            let mut ready_ns = 0;
            if *name == "storm" {
                // Every client now comes back when its server goes: restart it. The phase
                // runs from the stop to the last client back; its CPU is the new server's.
                if !shards
                    .iter()
                    .all(|s| s.expect("ARMED", Duration::from_secs(10)).is_some())
                {
                    out.note = Some("shards did not arm for the restart".into());
                    break;
                }
                start_ns = now_ns();
                if let Err(e) = server.restart(paths) {
                    out.note = Some(format!("restart: {e}"));
                    break;
                }
                ready_ns = now_ns();
                before = server.usage();
            }
            let patience = Duration::from_secs(case.phase_seconds + 30);
            let mut reports = Vec::new();
            for s in &shards {
                match s.expect("REPORT ", patience) {
                    Some(line) => match serde_json::from_str::<PhaseReport>(&line["REPORT ".len()..]) {
                        Ok(r) => reports.push(r.report),
                        Err(e) => out.note = Some(format!("bad report: {e}")),
                    },
                    None => out.note = Some(format!("a shard did not report phase {name} in time")),
                }
            }
            let end_ns = now_ns();
            let after = server.usage();
            let gen_cpu_ms = gen_cpu(&shards) - gen_before;
            out.phases.push(Phase {
                name: name.to_string(),
                start_ns,
                ready_ns,
                end_ns,
                before,
                after,
                gen_cpu_ms,
                report: Report::merge(&reports),
            });
            if out.note.is_some() {
                break;
            }
            // Probing a channel that never filled would measure something else.
            let admitted = out.phases.last().map_or(0, |p| p.report.admitted) as usize;
            if *name == "fill" && admitted < case.size {
                out.note = Some(format!(
                    "fill did not finish in {} s: {admitted} of {} admitted",
                    case.phase_seconds, case.size
                ));
                break;
            }
        }
    } else if out.note.is_none() {
        out.note = Some("shards did not start".into());
    }
    // Let the shards finish (they close every socket on the way out), then stop.
    for s in shards.iter_mut() {
        s.go();
    }
    let end = Instant::now() + Duration::from_secs(10);
    for mut s in shards {
        drop(s.child.stdin.take());
        loop {
            match s.child.try_wait() {
                Ok(Some(_)) => break,
                _ if Instant::now() > end => {
                    let _ = s.child.kill();
                    let _ = s.child.wait();
                    break;
                }
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
    server.stop();
}

/// A quick run proves the harness: every server that is installed must have let every
/// client in and run every phase.
fn check(outcomes: &[Outcome]) -> Result<(), String> {
    let mut passed = 0;
    let mut failed = Vec::new();
    for o in outcomes {
        if o.note.as_deref() == Some("not installed") {
            continue;
        }
        let phases = phase_names(o.workload, &o.params).len();
        let ok = o.note.is_none()
            && o.phases.len() == phases
            && o.phases.iter().all(|p| p.report.failed == 0)
            && o.phases.first().is_some_and(|p| p.report.admitted as usize >= o.size);
        if ok {
            passed += 1;
        } else {
            failed.push(format!(
                "{:?} {} {}: {}",
                o.workload,
                o.server.name(),
                o.size,
                o.note.clone().unwrap_or_else(|| {
                    o.phases
                        .iter()
                        .flat_map(|p| p.report.errors.iter().cloned())
                        .next()
                        .unwrap_or_else(|| "incomplete".into())
                })
            ));
        }
    }
    for f in &failed {
        eprintln!("failed: {f}");
    }
    println!("bench quick: {passed} passed, {} failed", failed.len());
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("{} quick cases failed", failed.len()))
    }
}
