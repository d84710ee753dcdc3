//! Counters for `/metrics`, rendered in the Prometheus text format.

use rollcall_core::protocol::ErrorCode;
use rollcall_core::roster::{EndCause, Stats};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// The `reason` labels of `rollcall_admission_refused_total`, by `admission::Refusal`
/// index.
pub const REFUSAL_REASONS: [&str; 4] = ["address_connections", "address_rate", "capacity", "addresses"];

#[derive(Default, Debug)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Default, Debug)]
pub struct Gauge(AtomicU64);

impl Gauge {
    pub fn set(&self, n: u64) {
        self.0.store(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Default, Debug)]
pub struct Metrics {
    pub connections_total: Counter,
    pub frames_in: Counter,
    pub frames_out: Counter,
    pub slow_consumers: Counter,
    /// Presence events dropped because the ledger's queue was full.
    pub events_dropped: Counter,
    pub beacons: Counter,
    /// Connections refused before any WebSocket code ran, by
    /// [`REFUSAL_REASONS`].
    pub admission_refused: [Counter; 4],
    /// Client addresses the admission table holds.
    pub admission_addresses: Gauge,
    /// WebSockets admitted and still open (including those yet to say hello).
    pub admission_sockets: Gauge,
    /// Frames refused, by error code. Rare, so a mutex is fine.
    rejected: Mutex<BTreeMap<&'static str, u64>>,
}

impl Metrics {
    pub fn reject(&self, code: ErrorCode) {
        *self
            .rejected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(code.as_str())
            .or_default() += 1;
    }

    pub fn rejected(&self, code: ErrorCode) -> u64 {
        self.rejected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(code.as_str())
            .copied()
            .unwrap_or(0)
    }

    pub fn render(&self, stats: &Stats, connections: usize, (store, up): (&str, bool)) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, rows: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in rows {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        metric(
            "rollcall_connections",
            "gauge",
            "Open WebSocket connections.",
            &[("", connections as u64)],
        );
        metric(
            "rollcall_clients",
            "gauge",
            "Clients (browser profiles) holding or awaiting a lease.",
            &[("", stats.clients as u64)],
        );
        metric(
            "rollcall_channels",
            "gauge",
            "Channels with at least one member.",
            &[("", stats.channels as u64)],
        );
        metric(
            "rollcall_members",
            "gauge",
            "Users present, summed over channels.",
            &[("", stats.members as u64)],
        );
        metric(
            "rollcall_connections_total",
            "counter",
            "Connections accepted (valid hello).",
            &[("", self.connections_total.get())],
        );
        metric(
            "rollcall_frames_in_total",
            "counter",
            "Text frames received from clients.",
            &[("", self.frames_in.get())],
        );
        metric(
            "rollcall_frames_out_total",
            "counter",
            "Frames queued to clients.",
            &[("", self.frames_out.get())],
        );
        metric(
            "rollcall_diffs_sent_total",
            "counter",
            "Diff frames delivered to subscribers.",
            &[("", stats.diffs_sent)],
        );
        metric(
            "rollcall_snapshots_sent_total",
            "counter",
            "Snapshots delivered to subscribers.",
            &[("", stats.snapshots_sent)],
        );
        metric(
            "rollcall_slow_consumers_total",
            "counter",
            "Connections dropped because their send queue filled.",
            &[("", self.slow_consumers.get())],
        );
        metric(
            "rollcall_events_dropped_total",
            "counter",
            "Presence events not recorded (ledger, webhooks) because 100,000 were already waiting for the recorder.",
            &[("", self.events_dropped.get())],
        );
        metric(
            "rollcall_beacons_total",
            "counter",
            "Unload beacons received for a live session.",
            &[("", self.beacons.get())],
        );
        metric(
            "rollcall_admission_sockets",
            "gauge",
            "WebSockets admitted and still open, hello or not (at most limits.max_connections).",
            &[("", self.admission_sockets.get())],
        );
        metric(
            "rollcall_admission_addresses",
            "gauge",
            "Client addresses tracked for the per-address limits (bounded by limits.max_connections plus 65536).",
            &[("", self.admission_addresses.get())],
        );
        let refused: Vec<(String, u64)> = REFUSAL_REASONS
            .iter()
            .zip(&self.admission_refused)
            .map(|(reason, n)| (format!("{{reason=\"{reason}\"}}"), n.get()))
            .collect();
        let rows: Vec<(&str, u64)> = refused.iter().map(|(l, n)| (l.as_str(), *n)).collect();
        metric(
            "rollcall_admission_refused_total",
            "counter",
            "Connections and WebSocket upgrades refused (429 or 503), by reason.",
            &rows,
        );
        let rejected: Vec<(String, u64)> = self
            .rejected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(code, n)| (format!("{{reason=\"{code}\"}}"), *n))
            .collect();
        let rows: Vec<(&str, u64)> = rejected.iter().map(|(l, n)| (l.as_str(), *n)).collect();
        metric(
            "rollcall_frames_rejected_total",
            "counter",
            "Client frames refused, by error code.",
            &rows,
        );
        let ended: Vec<(String, u64)> = EndCause::ALL
            .iter()
            .map(|c| (format!("{{cause=\"{}\"}}", c.as_str()), stats.ended[*c as usize]))
            .collect();
        let rows: Vec<(&str, u64)> = ended.iter().map(|(l, n)| (l.as_str(), *n)).collect();
        metric(
            "rollcall_leases_ended_total",
            "counter",
            "Client presences ended, by cause (the lease table).",
            &rows,
        );
        let store_row = format!("{{store=\"{store}\"}}");
        metric(
            "rollcall_store_up",
            "gauge",
            "1 when the state store is reachable.",
            &[(store_row.as_str(), up as u64)],
        );
        out
    }
}
