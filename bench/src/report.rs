//! BENCHMARKS.md from the suite's outcomes: one table per workload, rollcall and each
//! peer side by side, with the machine, the date and the versions.

use crate::servers::Kind;
use crate::shard::Workload;
use crate::suite::{Outcome, Phase};
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

fn ms(from: u64, to: u64) -> f64 {
    to.saturating_sub(from) as f64 / 1e6
}

fn cpu_ms(p: &Phase) -> f64 {
    p.after.cpu_ms - p.before.cpu_ms
}

fn pct(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    Some(sorted[i.min(sorted.len() - 1)])
}

fn f(v: Option<f64>, unit: &str) -> String {
    match v {
        Some(v) if v >= 100.0 => format!("{v:.0} {unit}"),
        Some(v) if v >= 10.0 => format!("{v:.1} {unit}"),
        Some(v) => format!("{v:.2} {unit}"),
        None => "—".into(),
    }
}

fn secs(v: Option<f64>) -> String {
    f(v.map(|ms| ms / 1000.0), "s")
}

/// "3.2×" when a peer is slower or bigger than rollcall (higher is better for rollcall).
fn ratio(peer: Option<f64>, rollcall: Option<f64>) -> String {
    match (peer, rollcall) {
        (Some(p), Some(r)) if r > 0.0 => format!("{:.1}×", p / r),
        _ => "—".into(),
    }
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v
}

/// Figures of one outcome, whatever its workload.
#[derive(Default, Clone)]
pub struct Figures {
    pub full_ms: Option<f64>,
    pub all_know_ms: Option<f64>,
    pub admitted: u64,
    pub failed: u64,
    pub cpu_ms: Option<f64>,
    pub per_event_us: Option<f64>,
    pub self_p50: Option<f64>,
    pub self_p99: Option<f64>,
    pub first_p50: Option<f64>,
    pub first_p99: Option<f64>,
    pub all_p50: Option<f64>,
    pub all_p99: Option<f64>,
    pub leave_p50: Option<f64>,
    pub leave_p99: Option<f64>,
    /// A probe's own first state (its first count), from its join.
    pub state_p50: Option<f64>,
    pub state_p99: Option<f64>,
    pub rounds: usize,
    pub complete: usize,
    pub rss_before_kb: u64,
    pub rss_after_kb: u64,
    pub kb_per_conn: Option<f64>,
    pub gen_cpu_ms: Option<f64>,
    /// Server CPU over the phase's wall time: below ~90 %, it waited for the generator
    /// or for its share of a busy core.
    pub busy_pct: Option<f64>,
    /// RSS of the Redis beside the relays, KiB.
    pub redis_rss_kb: u64,
    /// W7: from the stop until the new server accepted connections, and until every
    /// client was back in.
    pub down_ms: Option<f64>,
    pub back_ms: Option<f64>,
    pub rejoined: u64,
    /// W7: watchers that saw fewer members than before the restart.
    pub dipped: u64,
}

/// The probe rounds of phase `p`: a newcomer's own admission and first state, the first
/// and the last of `watchers` to see its join, and its leave.
fn probe_figures(g: &mut Figures, p: &crate::suite::Phase, watchers: u64) {
    let rounds: Vec<_> = p.report.rounds.iter().filter(|r| r.start > 0).collect();
    g.rounds = rounds.len();
    let mut selfs = Vec::new();
    let mut states = Vec::new();
    let mut firsts = Vec::new();
    let mut alls = Vec::new();
    let mut leaves = Vec::new();
    for x in &rounds {
        if x.admitted > 0 {
            selfs.push(ms(x.start, x.admitted));
        }
        if x.state > 0 {
            states.push(ms(x.start, x.state));
        }
        if x.join_seen > 0 {
            firsts.push(ms(x.start, x.join_first));
        }
        if x.join_seen >= watchers {
            alls.push(ms(x.start, x.join_last));
            g.complete += 1;
        }
        if x.leave_seen >= watchers && x.leave > 0 {
            leaves.push(ms(x.leave, x.leave_last));
        }
    }
    let (s, st, fi, a, l) = (
        sorted(selfs),
        sorted(states),
        sorted(firsts),
        sorted(alls),
        sorted(leaves),
    );
    g.self_p50 = pct(&s, 0.5);
    g.self_p99 = pct(&s, 0.99);
    g.state_p50 = pct(&st, 0.5);
    g.state_p99 = pct(&st, 0.99);
    g.first_p50 = pct(&fi, 0.5);
    g.first_p99 = pct(&fi, 0.99);
    g.all_p50 = pct(&a, 0.5);
    g.all_p99 = pct(&a, 0.99);
    g.leave_p50 = pct(&l, 0.5);
    g.leave_p99 = pct(&l, 0.99);
}

pub fn figures(o: &Outcome) -> Figures {
    let mut g = Figures::default();
    let Some(first) = o.phases.first() else { return g };
    let n = o.size as u64;
    let r = &first.report;
    g.admitted = o.phases.iter().map(|p| p.report.admitted).max().unwrap_or(0);
    g.failed = o.phases.last().map(|p| p.report.failed).unwrap_or(0);
    let filled = r.admitted >= n && r.failed == 0;
    g.gen_cpu_ms = Some(first.gen_cpu_ms).filter(|v| *v > 0.0);
    let wall = ms(first.start_ns, first.end_ns);
    if wall > 0.0 {
        g.busy_pct = Some(100.0 * cpu_ms(first) / wall);
    }
    match o.workload {
        Workload::W1 | Workload::W6 | Workload::W8 => {
            if filled {
                g.full_ms = Some(ms(first.start_ns, r.last_admit));
            }
            if r.reached >= n && o.server != Kind::Floor {
                g.all_know_ms = Some(ms(first.start_ns, r.last_reach));
            }
            g.cpu_ms = Some(cpu_ms(first));
            if n > 1 && o.server != Kind::Floor && o.workload == Workload::W1 {
                g.per_event_us = Some(cpu_ms(first) * 1000.0 / (n * (n - 1)) as f64);
            }
            // RSS once the fill has settled (the second phase), the whole server.
            // (A fill that did not finish has no second phase: its RSS where it stopped.)
            if let Some(hold) = o.phases.get(1).or(o.phases.first()) {
                g.rss_before_kb = o.baseline.rss_kb;
                g.rss_after_kb = hold.after.rss_kb;
                g.redis_rss_kb = hold.after.redis_rss_kb;
                if filled {
                    g.kb_per_conn = Some(hold.after.rss_kb.saturating_sub(o.baseline.rss_kb) as f64 / n as f64);
                }
            }
            // Newcomers after the fill (W6, W8 with --count-probes).
            if let Some(p) = o.phases.get(2) {
                probe_figures(&mut g, p, n);
            }
        }
        Workload::W7 => {
            if filled {
                g.full_ms = Some(ms(first.start_ns, r.last_admit));
            }
            if let Some(p) = o.phases.get(1) {
                g.rejoined = p.report.rejoined;
                g.dipped = p.report.dipped;
                if p.ready_ns > 0 {
                    g.down_ms = Some(ms(p.start_ns, p.ready_ns));
                }
                if p.report.rejoined >= n {
                    g.back_ms = Some(ms(p.start_ns, p.report.last_rejoin));
                }
                if p.report.reached >= n {
                    g.all_know_ms = Some(ms(p.start_ns, p.report.last_reach));
                }
                // The new server's CPU from its start to the end of the watch.
                g.cpu_ms = Some(cpu_ms(p));
                g.rss_after_kb = p.after.rss_kb;
            }
        }
        Workload::W2 | Workload::W4 => {
            let Some(p) = o.phases.get(1) else { return g };
            let watchers = n;
            probe_figures(&mut g, p, watchers);
            g.cpu_ms = Some(cpu_ms(p));
            if g.rounds > 0 {
                g.per_event_us = Some(cpu_ms(p) * 1000.0 / (g.rounds as u64 * 2 * watchers) as f64);
            }
        }
        Workload::W3 => {
            g.rss_before_kb = o.baseline.rss_kb;
            g.rss_after_kb = first.after.rss_kb;
            g.cpu_ms = Some(cpu_ms(first));
            if filled {
                g.kb_per_conn = Some(first.after.rss_kb.saturating_sub(o.baseline.rss_kb) as f64 / n as f64);
                g.full_ms = Some(ms(first.start_ns, r.last_admit));
            }
        }
        Workload::W5 => {
            if filled {
                g.full_ms = Some(ms(first.start_ns, r.last_admit));
            }
            if let Some(p) = o.phases.get(1) {
                let watchers = o
                    .params
                    .iter()
                    .position(|a| a == "--watchers")
                    .and_then(|i| o.params.get(i + 1))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(10u64);
                if p.report.reached >= watchers {
                    g.all_know_ms = Some(ms(p.start_ns, p.report.last_reach));
                }
                g.cpu_ms = Some(cpu_ms(p));
                g.per_event_us = Some(cpu_ms(p) * 1000.0 / (n * watchers).max(1) as f64);
            }
        }
    }
    g
}

fn status(o: &Outcome, g: &Figures) -> String {
    if let Some(note) = &o.note {
        return note.clone();
    }
    if g.failed > 0 {
        return format!("{} failed", g.failed);
    }
    String::new()
}

fn cmd_out(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn package_version(repo: &Path, package: &str) -> String {
    std::fs::read_to_string(repo.join("bench/node_modules").join(package).join("package.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["version"].as_str().map(str::to_string))
        .unwrap_or_else(|| "not installed".into())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0))
        .unwrap_or_default();
    let nproc = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let kernel = cmd_out("uname", &["-r"]).unwrap_or_default();
    format!("{nproc} cores ({cpu}), {mem} RAM, Linux {kernel}")
}

fn outcome(all: &[Outcome], w: Workload, k: Kind, size: usize) -> Option<&Outcome> {
    all.iter().find(|o| o.workload == w && o.server == k && o.size == size)
}

fn sizes(all: &[Outcome], w: Workload) -> Vec<usize> {
    let mut v: Vec<usize> = all.iter().filter(|o| o.workload == w).map(|o| o.size).collect();
    v.sort();
    v.dedup();
    v
}

fn kinds(all: &[Outcome], w: Workload) -> Vec<Kind> {
    let mut v: Vec<Kind> = Vec::new();
    for o in all.iter().filter(|o| o.workload == w) {
        if !v.contains(&o.server) {
            v.push(o.server);
        }
    }
    v
}

pub fn write(
    all: &[Outcome],
    md: &Path,
    repo: &Path,
    quick: bool,
    load_note: &str,
    date: Option<&str>,
    rev: Option<&str>,
    sdk_timing: &Option<serde_json::Value>,
) -> Result<(), String> {
    let text = render(all, repo, quick, load_note, date, rev, sdk_timing);
    std::fs::write(md, text).map_err(|e| format!("{}: {e}", md.display()))
}

pub fn render(
    all: &[Outcome],
    repo: &Path,
    quick: bool,
    load_note: &str,
    date: Option<&str>,
    rev: Option<&str>,
    sdk_timing: &Option<serde_json::Value>,
) -> String {
    let mut s = String::new();
    let date = date
        .map(str::to_string)
        .unwrap_or_else(|| cmd_out("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_default());
    let rev = rev.map(str::to_string).unwrap_or_else(|| {
        cmd_out("git", &["-C", &repo.to_string_lossy(), "rev-parse", "--short", "HEAD"]).unwrap_or_default()
    });
    let node = cmd_out("node", &["--version"]).unwrap_or_else(|| "not installed".into());
    let rustc = cmd_out("rustc", &["--version"]).unwrap_or_default();
    let sockudo = crate::servers::find_sockudo()
        .and_then(|p| cmd_out(&p.to_string_lossy(), &["--version"]))
        .unwrap_or_else(|| "not installed".into());
    let _ = writeln!(s, "# Benchmarks: rollcall and its peers, side by side\n");
    if quick {
        let _ = writeln!(
            s,
            "> **Quick run** (`bench/run.sh --quick`): small sizes that only prove the harness works. \
             These are not the figures; run `bench/run.sh` for them.\n"
        );
    }
    let _ = writeln!(
        s,
        "Written by `bench/run.sh{}` on {date}. One load generator (`bench/`, Rust, tokio + \
         tokio-tungstenite with 4 KiB read buffers) drives every server at the same client cost, \
         over loopback only. Each server is started fresh for each case, pinned to core 0 \
         (`taskset`); the generator runs on core 1 and polls its sockets rather than sleeping \
         between frames (`shard --poll`), so that a frame sent does not also pay for waking \
         the generator's core, which a server sending to remote browsers never pays. The \
         100,000-member cases put their relays, Redis and generators on both cores, as the \
         kernel schedules them, with generators that sleep. Server CPU is utime+stime from \
         `/proc/PID/stat`, memory is VmRSS from `/proc/PID/status`. Raw JSON: `bench/results/`.\n",
        if quick { " --quick" } else { "" }
    );
    let _ = writeln!(s, "- Machine: {}", machine());
    if !load_note.is_empty() {
        let _ = writeln!(s, "- Load: {load_note}");
    }
    let _ = writeln!(s, "- rollcall: release build of the relay at commit `{rev}`, config: defaults (`flush_interval_ms = 20`, `fanout_per_second = 50000`) with `[limits] max_connections = 200000`, a `count_only` rule for `/bench/count/**` (W6) and `list_cap = 20` for `/bench/capped/**` (W8, which needs a relay with `list_cap`: from `2e7ca95` in this run); {rustc}");
    let _ = writeln!(
        s,
        "- soketi {} (uWebSockets.js from `@trufflesuite/uws-js-unofficial`), Node {node}",
        package_version(repo, "@soketi/soketi")
    );
    let _ = writeln!(
        s,
        "- Socket.IO {} on Node {node}: the online-users server in `bench/peers/socketio-server.mjs`",
        package_version(repo, "socket.io")
    );
    let _ = writeln!(
        s,
        "- sockudo: {sockudo}{}",
        if sockudo != "not installed" {
            String::new()
        } else if let Some(why) = std::fs::read_to_string(repo.join("bench/results/sockudo-install.log"))
            .ok()
            .and_then(|log| log.lines().rev().find(|l| l.contains("error")).map(str::to_string))
        {
            format!(
                ". Skipped in this run: its build failed (`bench/results/sockudo-install.log`: {})",
                why.trim()
            )
        } else {
            ". Skipped in this run; `bench/run.sh` builds it once (`apt-get install -y protobuf-compiler && cargo install sockudo --locked --no-default-features --features local`, about 20 minutes on 2 cores) and finds it on PATH or in ~/.cargo/bin.".to_string()
        }
    );
    let _ = writeln!(
        s,
        "- floor: `rollcall-bench floor`, a tokio-tungstenite server with no presence (answers `join` with `ok`).\n"
    );

    targets(&mut s, all);
    w1(&mut s, all);
    w2(&mut s, all);
    w3(&mut s, all);
    w4(&mut s, all);
    w5(&mut s, all);
    w6(&mut s, all);
    w8(&mut s, all);
    w7(&mut s, all);
    sdk(&mut s, repo, sdk_timing);
    notes(&mut s);
    // What the numbers mean for the relay (profiles, causes, changes) is written by hand
    // after a full run and kept beside the generator.
    if !quick {
        if let Ok(findings) = std::fs::read_to_string(repo.join("bench/findings.md")) {
            let _ = writeln!(s, "{}", findings.trim_end());
        }
    }
    s
}

/// 18000 as "18,000".
fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One row of the targets table: what, the limit, the measured value, met or not.
struct Target {
    name: String,
    limit: &'static str,
    shown: String,
    met: Option<bool>,
}

fn target(
    name: impl Into<String>,
    limit: &'static str,
    v: Option<f64>,
    show: impl Fn(f64) -> String,
    ok: impl Fn(f64) -> bool,
) -> Target {
    Target {
        name: name.into(),
        limit,
        shown: v.map_or_else(|| "not measured".into(), &show),
        met: v.map(ok),
    }
}

fn targets(s: &mut String, all: &[Outcome]) {
    let get = |w, size| outcome(all, w, Kind::Rollcall, size).map(figures);
    let secs2 = |v: f64| format!("{:.2} s", v / 1000.0);
    let mut rows = vec![
        target(
            "10,000 members, everyone watching: relay RSS",
            "≤ 150 MB",
            get(Workload::W1, 10_000)
                .map(|g| g.rss_after_kb as f64)
                .filter(|v| *v > 0.0),
            |kb| mb(kb as u64),
            |kb| kb <= 150.0 * 1024.0,
        ),
        target(
            "10,000 members, everyone watching: relay CPU to fill",
            "≤ 10 s",
            get(Workload::W1, 10_000).and_then(|g| g.full_ms.and(g.cpu_ms)),
            secs2,
            |v| v <= 10_000.0,
        ),
        target(
            "10,000 members, count_only: relay CPU to fill",
            "≤ 3 s",
            get(Workload::W6, 10_000).and_then(|g| g.full_ms.and(g.cpu_ms)),
            secs2,
            |v| v <= 3_000.0,
        ),
        target(
            "relay RSS per idle present connection (W3, 10,000 in rooms of 100)",
            "≤ 8 KB",
            get(Workload::W3, 10_000).and_then(|g| g.kb_per_conn),
            |v| f(Some(v), "KB"),
            |v| v <= 8.0,
        ),
    ];
    // One channel of every size, listed (W1) and count_only (W6): the range.
    for k in [Kind::Rollcall, Kind::RollcallRedis] {
        let per: Vec<(usize, f64)> = all
            .iter()
            .filter(|o| matches!(o.workload, Workload::W1 | Workload::W6 | Workload::W8) && o.server == k)
            .filter_map(|o| figures(o).kb_per_conn.map(|v| (o.size, v)))
            .collect();
        let (Some(lo), Some(hi)) = (
            per.iter().map(|p| p.1).min_by(f64::total_cmp),
            per.iter().map(|p| p.1).max_by(f64::total_cmp),
        ) else {
            continue;
        };
        let smallest = per.iter().map(|p| p.0).min().unwrap_or(0);
        let largest = per.iter().map(|p| p.0).max().unwrap_or(0);
        rows.push(Target {
            name: format!(
                "relay RSS per member, one channel of {} to {} members, listed, capped and count_only ({})",
                thousands(smallest),
                thousands(largest),
                k.name()
            ),
            limit: "≤ 8 KB",
            shown: format!("{lo:.1} to {hi:.1} KB"),
            met: Some(hi <= 8.0),
        });
    }
    for (size, limit, text) in [(1_000, 15.0, "≤ 15 ms"), (2_000, 25.0, "≤ 25 ms")] {
        rows.push(target(
            format!("p99 join seen by every member, {} members", thousands(size)),
            text,
            get(Workload::W2, size).and_then(|g| g.all_p99),
            |v| f(Some(v), "ms"),
            move |v| v <= limit,
        ));
    }
    // A fill's server CPU against the best peer's (a peer that did not fill in time is
    // counted with the CPU it had used: a lower bound).
    for size in sizes(all, Workload::W1) {
        let Some(rc) = get(Workload::W1, size).and_then(|g| g.full_ms.and(g.cpu_ms)) else {
            continue;
        };
        let peers: Vec<(Kind, f64, bool)> = kinds(all, Workload::W1)
            .into_iter()
            .filter(|k| {
                !matches!(
                    k,
                    Kind::Rollcall | Kind::RollcallRedis | Kind::RollcallPusher | Kind::Floor | Kind::FanoutFloor
                )
            })
            .filter_map(|k| outcome(all, Workload::W1, k, size))
            .filter_map(|o| {
                let g = figures(o);
                g.cpu_ms
                    .filter(|_| !o.phases.is_empty())
                    .map(|c| (o.server, c, g.full_ms.is_some()))
            })
            .collect();
        // The best peer that filled; only when none did, the least CPU of those that
        // did not (a lower bound).
        let filled = peers.iter().filter(|p| p.2).min_by(|a, b| a.1.total_cmp(&b.1));
        let Some(&(k, p, full)) = filled.or_else(|| peers.iter().min_by(|a, b| a.1.total_cmp(&b.1))) else {
            continue;
        };
        let x = p / rc;
        rows.push(Target {
            name: format!(
                "W1 fill {}: relay CPU ≥ 10× below the best peer's ({})",
                thousands(size),
                k.name()
            ),
            limit: "≥ 10×",
            shown: if full {
                format!("{x:.1}×")
            } else {
                format!("> {x:.1}× (the peer did not fill in 60 s: its CPU so far)")
            },
            // A peer that did not fill gives a lower bound: below 10× it decides nothing.
            met: if full || x >= 10.0 { Some(x >= 10.0) } else { None },
        });
    }
    for o in all
        .iter()
        .filter(|o| o.workload == Workload::W7 && matches!(o.server, Kind::Rollcall | Kind::RollcallRedis))
    {
        let g = figures(o);
        rows.push(Target {
            name: format!(
                "reconnect storm, {} members ({}): nobody saw a leave",
                thousands(o.size),
                server_name(o)
            ),
            limit: "0 watchers",
            shown: if o.phases.len() > 1 {
                format!(
                    "{} of {} watchers saw one; all back after {}",
                    g.dipped,
                    o.size,
                    secs(g.back_ms)
                )
            } else {
                "not measured".into()
            },
            met: (o.phases.len() > 1).then_some(g.dipped == 0 && g.back_ms.is_some()),
        });
    }
    for o in all
        .iter()
        .filter(|o| matches!(o.workload, Workload::W6 | Workload::W8) && o.size >= 100_000)
    {
        let g = figures(o);
        let what = if o.workload == Workload::W8 {
            "capped list"
        } else {
            "count_only"
        };
        let case = format!("{} members across {} relays, {what}", thousands(o.size), o.relays);
        let mut t = target(
            format!("{case}: total relay RSS"),
            "≤ 1.5 GB",
            Some(g.rss_after_kb as f64).filter(|v| *v > 0.0),
            |kb| mb(kb as u64),
            |kb| kb <= 1.5 * 1024.0 * 1024.0,
        );
        if g.full_ms.is_none() && g.rss_after_kb > 0 {
            t.shown = format!(
                "{} with {} of {} in (not full)",
                t.shown,
                thousands(g.admitted as usize),
                thousands(o.size)
            );
            t.met = None;
        }
        rows.push(t);
        if g.rounds == 0 {
            continue;
        }
        let within_a_second = |name: &str, v: Option<f64>| {
            target(
                format!("{case}: {name}, p99"),
                "≤ 1 s",
                v,
                |v| format!("{v:.0} ms"),
                |v| v <= 1_000.0,
            )
        };
        let mut t = within_a_second("a join seen by every member", g.all_p99);
        if g.complete < g.rounds {
            t.shown = format!("{} ({} of {} rounds seen by all)", t.shown, g.complete, g.rounds);
            t.met = Some(false);
        }
        rows.push(t);
        rows.push(within_a_second("a newcomer's first state", g.state_p99));
    }
    let _ = writeln!(s, "## rollcall's targets on this machine\n");
    let _ = writeln!(s, "| target | limit | measured | met |\n|---|---|---|---|");
    for t in rows {
        let met = match t.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "—",
        };
        let _ = writeln!(s, "| {} | {} | {} | {met} |", t.name, t.limit, t.shown);
    }
    let _ = writeln!(s);
}

/// "rollcall (Redis), 2 relays" for a run over several relays.
fn server_name(o: &Outcome) -> String {
    if o.relays > 1 {
        format!("{}, {} relays", o.server.name(), o.relays)
    } else {
        o.server.name().to_string()
    }
}

fn mb(kb: u64) -> String {
    if kb == 0 {
        "—".to_string()
    } else if kb >= 10 * 1024 {
        format!("{:.0} MB", kb as f64 / 1024.0)
    } else {
        format!("{:.1} MB", kb as f64 / 1024.0)
    }
}

/// The server's RSS, with its Redis's when it has one.
fn rss_cell(g: &Figures) -> String {
    if g.redis_rss_kb > 0 {
        format!("{} (+ Redis {})", mb(g.rss_after_kb), mb(g.redis_rss_kb))
    } else {
        mb(g.rss_after_kb)
    }
}

fn w1(s: &mut String, all: &[Outcome]) {
    let _ = writeln!(
        s,
        "## W1: fill one channel\n\nN clients connect (256 joins in flight), each enters one presence channel and \
         watches it. *Full*: the last client admitted (rollcall `ok` to `enter`, Pusher \
         `subscription_succeeded`, Socket.IO member list). *Everyone knows*: every member counts N. \
         CPU per member learned: server CPU / N·(N−1), the member sightings a fill delivers. \
         *RSS*: the server's, 6 s after everyone knows, once the allocator has given back \
         what the fill's bursts freed (summed over the relays when there are \
         several; Redis apart); per member: (RSS − RSS of the idle server) / N. \
         Generator CPU: what the load generator itself used; near the wall time, it set the pace. \
         Ratio: the peer's server CPU to fill over rollcall's. A fill that does not finish in 60 s stops \
         there, and larger sizes are skipped for that server. From 10,000 members the generator \
         runs as two processes; 18,000 is about what one relay process holds (20,000 open \
         files); 20,000 is two relays sharing the channel through Redis.\n"
    );
    let _ = writeln!(s, "| N | server | full | everyone knows | server CPU (share of its core) | CPU per member learned | RSS | RSS per member | generator CPU | vs rollcall (CPU) | notes |\n|---|---|---|---|---|---|---|---|---|---|---|");
    for size in sizes(all, Workload::W1) {
        let r = outcome(all, Workload::W1, Kind::Rollcall, size).map(figures);
        for k in kinds(all, Workload::W1) {
            let Some(o) = outcome(all, Workload::W1, k, size) else {
                continue;
            };
            let g = figures(o);
            let notes = if o.note.is_none() && g.full_ms.is_none() && !o.phases.is_empty() {
                format!("not full after 60 s: {} of {size} admitted", g.admitted)
            } else {
                status(o, &g)
            };
            let _ = writeln!(
                s,
                "| {size} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {notes} |",
                server_name(o),
                secs(g.full_ms),
                secs(g.all_know_ms),
                match g.busy_pct {
                    Some(b) => format!("{} ({b:.0} %)", secs(g.cpu_ms)),
                    None => secs(g.cpu_ms),
                },
                f(g.per_event_us, "µs"),
                rss_cell(&g),
                f(g.kb_per_conn, "KB"),
                secs(g.gen_cpu_ms),
                if k == Kind::Rollcall {
                    "1×".into()
                } else if g.full_ms.is_none() && g.cpu_ms.is_some() {
                    // Not full: its CPU so far is a lower bound.
                    format!("> {}", ratio(g.cpu_ms, r.as_ref().and_then(|r| r.cpu_ms)))
                } else {
                    ratio(g.cpu_ms, r.as_ref().and_then(|r| r.cpu_ms))
                },
            );
        }
    }
    let _ = writeln!(s);
}

fn w6(s: &mut String, all: &[Outcome]) {
    let _ = writeln!(
        s,
        "## W6: fill one count_only channel\n\nW1 on a channel under a `count_only` rule: \
         subscribers get the count, never the members, so every frame is tiny and the cost is the \
         number of frames. No peer has such a channel (Pusher presence channels and the Socket.IO \
         server always send members). RSS and per member as in W1.\n"
    );
    fill_rows(s, all, Workload::W6);
}

fn w8(s: &mut String, all: &[Outcome]) {
    let _ = writeln!(
        s,
        "## W8: fill one channel with a capped list\n\nW1 on a channel under a `list_cap = 20` \
         rule: the count is exact, and each subscriber is sent at most 20 members besides itself \
         (\"Ann, Bob and 9,998 others\"), so a snapshot stays small at any size. No peer caps a \
         presence list. RSS and per member as in W1.\n"
    );
    fill_rows(s, all, Workload::W8);
}

/// The rows of a one-channel fill that only rollcall runs (W6, W8).
fn fill_rows(s: &mut String, all: &[Outcome], w: Workload) {
    let _ = writeln!(s, "| N | server | full | everyone knows | server CPU (share of its core) | RSS | RSS per member | generator CPU | notes |\n|---|---|---|---|---|---|---|---|---|");
    for size in sizes(all, w) {
        for o in all.iter().filter(|o| o.workload == w && o.size == size) {
            let g = figures(o);
            let _ = writeln!(
                s,
                "| {size} | {} | {} | {} | {} | {} | {} | {} | {} |",
                server_name(o),
                secs(g.full_ms),
                secs(g.all_know_ms),
                match g.busy_pct {
                    Some(b) => format!("{} ({b:.0} %)", secs(g.cpu_ms)),
                    None => secs(g.cpu_ms),
                },
                rss_cell(&g),
                f(g.kb_per_conn, "KB"),
                secs(g.gen_cpu_ms),
                status(o, &g),
            );
        }
    }
    let _ = writeln!(s);
}

fn w7(s: &mut String, all: &[Outcome]) {
    let _ = writeln!(
        s,
        "## W7: reconnect storm after a restart\n\nN members fill one channel, everyone watching. \
         Then the server is stopped (SIGTERM: rollcall closes every socket with 1012 \"relay \
         restarting\") and started again on the same port; `rollcall (Redis)` keeps its Redis. \
         Every client reconnects at once as the same user (and, for rollcall, the same client id), \
         retrying every 100 to 300 ms while the port is closed, then enters and watches again. \
         Times are from the stop. *Up*: the new server accepts connections. *All back*: the last \
         client is admitted again. *Everyone knows*: every member counts N again. *Saw a leave*: \
         watchers that, after the stop, were told of fewer members than before it (a member list \
         that shrinks is what the SDK shows as leaves); the watch goes on {} after everyone is back \
         (in a full run, past the old relay's reconnect grace of 15 s, after which Redis drops \
         its entries). Server CPU: the new server's, from its start to the \
         end of the watch (with Redis's for `rollcall (Redis)`).\n",
        all.iter()
            .find(|o| o.workload == Workload::W7)
            .and_then(|o| o
                .params
                .iter()
                .position(|a| a == "--watch-ms")
                .and_then(|i| o.params.get(i + 1)))
            .and_then(|v| v.parse::<f64>().ok())
            .map_or("2 s".to_string(), |v| format!("{} s", v / 1000.0))
    );
    let _ = writeln!(s, "| N | server | up | all back | everyone knows | server CPU | RSS | saw a leave | notes |\n|---|---|---|---|---|---|---|---|---|");
    for size in sizes(all, Workload::W7) {
        for k in kinds(all, Workload::W7) {
            let Some(o) = outcome(all, Workload::W7, k, size) else {
                continue;
            };
            let g = figures(o);
            let back = if o.phases.len() > 1 && g.back_ms.is_none() {
                format!("{} of {size}", g.rejoined)
            } else {
                secs(g.back_ms)
            };
            let _ = writeln!(
                s,
                "| {size} | {} | {} | {back} | {} | {} | {} | {} | {} |",
                server_name(o),
                secs(g.down_ms),
                secs(g.all_know_ms),
                secs(g.cpu_ms),
                mb(g.rss_after_kb),
                if o.phases.len() > 1 {
                    format!("{} of {size}", g.dipped)
                } else {
                    "—".into()
                },
                status(o, &g),
            );
        }
    }
    let _ = writeln!(s);
}

fn w2(s: &mut String, all: &[Outcome]) {
    let _ = writeln!(
        s,
        "## W2: steady state, one member joins and leaves\n\nThe channel is filled with N members first. Then, every 400 ms, a new \
         client connects, joins (timed from the join frame), and leaves (rollcall `leave`, Pusher \
         `pusher:unsubscribe`, Socket.IO `unregister`) 200 ms later. *Newcomer admitted*: until it is \
         in. *First member* / *every member*: until the first / the last of the N members sees the \
         join. *Leave*: until every member sees the leave. CPU per event: server CPU during the \
         probes / (rounds × 2 × N). Ratio: the peer's p99 to every member over rollcall's.\n"
    );
    let _ = writeln!(s, "| N | server | newcomer admitted p50 / p99 | first member p50 / p99 | every member p50 / p99 | leave, every member p50 / p99 | complete rounds | CPU per event | vs rollcall | notes |\n|---|---|---|---|---|---|---|---|---|---|");
    for size in sizes(all, Workload::W2) {
        let r = outcome(all, Workload::W2, Kind::Rollcall, size).map(figures);
        for k in kinds(all, Workload::W2) {
            let Some(o) = outcome(all, Workload::W2, k, size) else {
                continue;
            };
            let g = figures(o);
            let _ = writeln!(
                s,
                "| {size} | {} | {} / {} | {} / {} | {} / {} | {} / {} | {}/{} | {} | {} | {} |",
                k.name(),
                f(g.self_p50, "ms"),
                f(g.self_p99, "ms"),
                f(g.first_p50, "ms"),
                f(g.first_p99, "ms"),
                f(g.all_p50, "ms"),
                f(g.all_p99, "ms"),
                f(g.leave_p50, "ms"),
                f(g.leave_p99, "ms"),
                g.complete,
                g.rounds,
                f(g.per_event_us, "µs"),
                if k == Kind::Rollcall {
                    "1×".into()
                } else {
                    ratio(g.all_p99, r.as_ref().and_then(|r| r.all_p99))
                },
                status(o, &g),
            );
        }
    }
    let _ = writeln!(s);
}

fn w3(s: &mut String, all: &[Outcome]) {
    let _ = writeln!(
        s,
        "## W3: hold idle present connections\n\nN clients, each present in (and watching) one channel of 100 \
         members, then idle; two generator processes (`--shard 0/2`, `1/2`). Server RSS is read 3 s \
         after the last join; per connection: (RSS − RSS of the idle server) / N. Ratio: the peer's \
         KB per connection over rollcall's.\n"
    );
    let _ = writeln!(s, "| N | server | RSS idle | RSS holding N | per connection | time to join all | vs rollcall | notes |\n|---|---|---|---|---|---|---|---|");
    for size in sizes(all, Workload::W3) {
        let r = outcome(all, Workload::W3, Kind::Rollcall, size).map(figures);
        for k in kinds(all, Workload::W3) {
            let Some(o) = outcome(all, Workload::W3, k, size) else {
                continue;
            };
            let g = figures(o);
            let mb = |kb: u64| {
                if kb == 0 {
                    "—".to_string()
                } else {
                    format!("{:.1} MB", kb as f64 / 1024.0)
                }
            };
            let _ = writeln!(
                s,
                "| {size} | {} | {} | {} | {} | {} | {} | {} |",
                k.name(),
                mb(g.rss_before_kb),
                mb(g.rss_after_kb),
                f(g.kb_per_conn, "KB"),
                secs(g.full_ms),
                if k == Kind::Rollcall {
                    "1×".into()
                } else {
                    ratio(g.kb_per_conn, r.as_ref().and_then(|r| r.kb_per_conn))
                },
                status(o, &g),
            );
        }
    }
    let _ = writeln!(s);
}

fn w4(s: &mut String, all: &[Outcome]) {
    let _ = writeln!(
        s,
        "## W4: churn with watchers\n\nN members watch one channel. Then new clients arrive at a fixed rate \
         (parameters below); each connects, joins, stays 1 s (300 ms in a quick run) and leaves (explicit leave, then close). \
         *Join*: from the start of the connection until every watcher sees it; *leave*: from the leave \
         until every watcher sees it. CPU per event: server CPU during the churn / (churners × 2 × N).\n"
    );
    let _ = writeln!(s, "| N | server | churn | join, every watcher p50 / p99 | leave, every watcher p50 / p99 | complete | server CPU | CPU per event | vs rollcall (join p99) | notes |\n|---|---|---|---|---|---|---|---|---|---|");
    for size in sizes(all, Workload::W4) {
        let r = outcome(all, Workload::W4, Kind::Rollcall, size).map(figures);
        for k in kinds(all, Workload::W4) {
            let Some(o) = outcome(all, Workload::W4, k, size) else {
                continue;
            };
            let g = figures(o);
            let param = |name: &str| {
                o.params
                    .iter()
                    .position(|a| a == name)
                    .and_then(|i| o.params.get(i + 1))
                    .cloned()
                    .unwrap_or_default()
            };
            let _ = writeln!(
                s,
                "| {size} | {} | {}/s for {} s | {} / {} | {} / {} | {}/{} | {} | {} | {} | {} |",
                k.name(),
                param("--rate"),
                param("--churn-seconds"),
                f(g.all_p50, "ms"),
                f(g.all_p99, "ms"),
                f(g.leave_p50, "ms"),
                f(g.leave_p99, "ms"),
                g.complete,
                g.rounds,
                secs(g.cpu_ms),
                f(g.per_event_us, "µs"),
                if k == Kind::Rollcall {
                    "1×".into()
                } else {
                    ratio(g.all_p99, r.as_ref().and_then(|r| r.all_p99))
                },
                status(o, &g),
            );
        }
    }
    let _ = writeln!(s);
}

fn w5(s: &mut String, all: &[Outcome]) {
    let _ = writeln!(
        s,
        "## W5: everyone leaves at once\n\nN members and a few watchers are in one channel; at once all N leave \
         and disconnect (rollcall: `leave` then close, as `presence.close()` after `channel.leave()`; \
         Pusher and Socket.IO: unsubscribe/unregister then close). Time and server CPU until every \
         watcher counts only the watchers. Ratio: the peer's time over rollcall's.\n"
    );
    let _ = writeln!(
        s,
        "| N | server | every watcher knows | server CPU | vs rollcall | notes |\n|---|---|---|---|---|---|"
    );
    for size in sizes(all, Workload::W5) {
        let r = outcome(all, Workload::W5, Kind::Rollcall, size).map(figures);
        for k in kinds(all, Workload::W5) {
            let Some(o) = outcome(all, Workload::W5, k, size) else {
                continue;
            };
            let g = figures(o);
            let notes = if o.note.is_none() && g.all_know_ms.is_none() && o.phases.len() > 1 {
                "watchers did not see the channel empty within 60 s".into()
            } else {
                status(o, &g)
            };
            let _ = writeln!(
                s,
                "| {size} | {} | {} | {} | {} | {notes} |",
                k.name(),
                secs(g.all_know_ms),
                secs(g.cpu_ms),
                if k == Kind::Rollcall {
                    "1×".into()
                } else {
                    ratio(g.all_know_ms, r.as_ref().and_then(|r| r.all_know_ms))
                },
            );
        }
    }
    let _ = writeln!(s);
}

fn sdk(s: &mut String, repo: &Path, timing: &Option<serde_json::Value>) {
    let _ = writeln!(s, "## The SDK\n");
    let dist = repo.join("sdk/dist");
    let Ok(entries) = std::fs::read_dir(&dist) else {
        let _ = writeln!(
            s,
            "`sdk/dist` was not built when this ran (`bash sdk/build.sh` builds it).\n"
        );
        return;
    };
    match timing {
        Some(t) if t.get("error").is_none() => {
            let ms = |k: &str| {
                t[k].as_f64()
                    .map(|v| format!("{v:.0} ms"))
                    .unwrap_or_else(|| "—".into())
            };
            let _ = writeln!(
                s,
                "In headless Chromium, against the relay on loopback (`bench/sdk/first-state.mjs`, a fresh \
                 browser context each time, median of {}): `connect()` resolved after **{}** (wasm loaded, \
                 socket open, welcome), and the first state listing the user, after `enter()` and \
                 `subscribe()`, came **{}** after the start.\n",
                t["runs"],
                ms("connect_ms"),
                ms("first_state_ms"),
            );
        }
        Some(t) => {
            let why = t["error"].as_str().unwrap_or("?");
            let _ = writeln!(s, "Time to first state in Chromium: not measured ({why}).\n");
        }
        None => {}
    }
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("wasm") | Some("js")))
        .collect();
    files.sort();
    let _ = writeln!(s, "| file | bytes | gzipped (`gzip -9`) |\n|---|---|---|");
    let (mut raw_total, mut gz_total) = (0u64, 0u64);
    for p in files {
        let raw = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        let gz = Command::new("gzip")
            .arg("-9c")
            .arg(&p)
            .output()
            .map(|o| o.stdout.len() as u64)
            .unwrap_or(0);
        raw_total += raw;
        gz_total += gz;
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let _ = writeln!(s, "| `sdk/dist/{name}` | {raw} | {gz} |");
    }
    let _ = writeln!(s, "| total | {raw_total} | **{:.1} KB** |\n", gz_total as f64 / 1024.0);
}

fn notes(s: &mut String) {
    let _ = writeln!(
        s,
        "## How to read this\n\n\
         - rollcall coalesces: a lone change goes out at once, and changes that follow within a \
           channel's flush interval reach each subscriber as one diff. The interval adapts to the \
           channel: at most `fanout_per_second` frames a second (50,000 by default), so 20 ms \
           (`flush_interval_ms`) up to 1,000 subscribers, 200 ms at 10,000, at most 1 s. A burst of \
           1,000 joins costs a subscriber a few frames instead of 1,000; the peers send every \
           event at once.\n\
         - A rollcall client that disconnects *without* leaving keeps its presence for \
           `reconnect_grace_ms` (15 s), and a page that closes (close 4001 / beacon) for \
           `unload_grace_ms` (3 s): a refresh or a flaky network shows no leave and join. The \
           workloads leave explicitly, as the SDK does on `channel.leave()`, so these graces do not \
           appear in the figures.\n\
         - The generator is the same for every server; it parses only what it needs (counts and \
           member ids), never the member lists. It runs on its own core, so the latencies include \
           its own queueing, equally for all.\n\
         - The machine has 2 cores shared with other work; figures move by some tens of percent \
           between runs. Ratios are more stable than absolute values.\n"
    );
}
