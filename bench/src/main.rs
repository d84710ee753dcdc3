//! rollcall-bench: the load generator and the side-by-side benchmark of rollcall and
//! its peers. `bench/run.sh` drives it; see BENCHMARKS.md for what it measures.
//!
//! - `shard`: one generator process (its slice of a workload's clients).
//! - `floor`: the bare WebSocket server used as the floor.
//! - `fanout-floor`: the least a presence server does per join (W2's floor).
//! - `suite`: every workload against every server, raw JSON out.
//! - `report`: BENCHMARKS.md from the raw JSON.

mod auth;
mod client;
mod clock;
mod floor;
mod proto;
mod report;
mod servers;
mod shard;
mod stats;
mod suite;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    version,
    about = "Load generator and benchmark suite for rollcall and its peers (loopback only)."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// One load-generator process.
    Shard(shard::ShardArgs),
    /// The floor: a WebSocket server without presence.
    Floor {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
    },
    /// The fan-out floor: a count and a fan-out per channel, rollcall's wire, nothing else.
    FanoutFloor {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
    },
    /// Run every workload against every server and write the raw JSON, then the report.
    Suite {
        #[command(flatten)]
        args: suite::SuiteArgs,
        /// Where the report goes.
        #[arg(long, default_value = "BENCHMARKS.md")]
        md: PathBuf,
        /// Free text about the machine's load during the run, for the report.
        #[arg(long, default_value = "")]
        load_note: String,
    },
    /// Write the report from the raw JSON of an earlier suite.
    Report {
        #[arg(long, default_value = "bench/results/all.json")]
        input: PathBuf,
        #[arg(long, default_value = "BENCHMARKS.md")]
        md: PathBuf,
        #[arg(long)]
        quick: bool,
        #[arg(long, default_value = "")]
        load_note: String,
        /// When the suite ran (default: now).
        #[arg(long)]
        date: Option<String>,
        /// The commit the relay was built from (default: the repository's HEAD).
        #[arg(long)]
        rev: Option<String>,
    },
}

fn read_json(path: &std::path::Path) -> Option<serde_json::Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Shard(args) => shard::main(args),
        Cmd::Floor { listen } => floor::main(&listen),
        Cmd::FanoutFloor { listen } => floor::fanout_main(&listen),
        Cmd::Suite { args, md, load_note } => {
            let quick = args.quick;
            let repo = args.repo.clone();
            let sdk_json = args.out.join("sdk.json");
            let load_before = loadavg();
            suite::main(args).and_then(|outcomes| {
                let load = format!(
                    "load average (1, 5, 15 min) {load_before} at the start, {} at the end{}{load_note}",
                    loadavg(),
                    if load_note.is_empty() { "" } else { "; " }
                );
                report::write(&outcomes, &md, &repo, quick, &load, None, None, &read_json(&sdk_json))
            })
        }
        Cmd::Report {
            input,
            md,
            quick,
            load_note,
            date,
            rev,
        } => std::fs::read_to_string(&input)
            .map_err(|e| format!("{}: {e}", input.display()))
            .and_then(|text| serde_json::from_str(&text).map_err(|e| e.to_string()))
            .and_then(|outcomes: Vec<suite::Outcome>| {
                let sdk = read_json(&input.with_file_name("sdk.json"));
                report::write(
                    &outcomes,
                    &md,
                    std::path::Path::new("."),
                    quick,
                    &load_note,
                    date.as_deref(),
                    rev.as_deref(),
                    &sdk,
                )
            }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rollcall-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
