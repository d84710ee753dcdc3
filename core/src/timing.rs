//! Presence timings: DESIGN.md's defaults, written once for the relay and the SDK, and
//! the intervals derived from the lease.
//!
//! The relay takes its timings from `[presence]` (defaults below) and tells them in
//! `welcome`; the SDK uses the same defaults until that welcome arrives.

/// A check-in every this many ms carries the activity status and renews the lease.
pub const DEFAULT_CHECKIN_INTERVAL_MS: u64 = 30_000;
/// A connection silent (no frame, no pong) for this long has lost its lease.
pub const DEFAULT_LEASE_TIMEOUT_MS: u64 = 60_000;
/// A page closed or navigated away keeps its presences this long: a refresh shows nothing.
pub const DEFAULT_UNLOAD_GRACE_MS: u64 = 3_000;
/// A dropped network keeps its presences this long, for the client to reconnect.
pub const DEFAULT_RECONNECT_GRACE_MS: u64 = 15_000;
/// Input on a visible page more recent than this keeps the status `active` (the SDK's
/// `idleAfter` option).
pub const DEFAULT_IDLE_AFTER_MS: u64 = 60_000;

/// How often the relay pings a connection at the WebSocket level: a third of the lease,
/// so that two pings may go unanswered before it ends, between 1 s and 20 s.
pub fn ping_interval_ms(lease_timeout_ms: u64) -> u64 {
    (lease_timeout_ms / 3).clamp(1_000, 20_000)
}

/// The `activity_timeout` (seconds) told to a Pusher client: silence after which it
/// pings, a third of the lease (whole seconds), between 1 s and 120 s.
pub fn activity_timeout_secs(lease_timeout_ms: u64) -> u64 {
    (lease_timeout_ms / 1_000 / 3).clamp(1, 120)
}

/// How often a relay sharing a store records itself alive and looks for dead relays: a
/// quarter of the lease (between 100 ms and 5 s), so that a relay misses several beats
/// before it is declared dead.
pub fn relay_heartbeat_ms(lease_timeout_ms: u64) -> u64 {
    (lease_timeout_ms / 4).clamp(100, 5_000)
}

/// How long a removal or a dead relay's name is remembered against late messages: the
/// lease, and at least 10 s.
pub fn cluster_memory_ms(lease_timeout_ms: u64) -> u64 {
    lease_timeout_ms.max(10_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pings_come_at_a_third_of_the_lease_within_bounds() {
        assert_eq!(ping_interval_ms(DEFAULT_LEASE_TIMEOUT_MS), 20_000);
        assert_eq!(ping_interval_ms(30_000), 10_000);
        assert_eq!(ping_interval_ms(1_500), 1_000);
        assert_eq!(ping_interval_ms(600_000), 20_000);
    }

    #[test]
    fn pusher_clients_ping_after_a_third_of_the_lease_in_whole_seconds() {
        assert_eq!(activity_timeout_secs(DEFAULT_LEASE_TIMEOUT_MS), 20);
        assert_eq!(activity_timeout_secs(10_999), 3);
        assert_eq!(activity_timeout_secs(1_000), 1);
        assert_eq!(activity_timeout_secs(3_600_000), 120);
    }

    #[test]
    fn relays_beat_four_times_a_lease_within_bounds() {
        assert_eq!(relay_heartbeat_ms(DEFAULT_LEASE_TIMEOUT_MS), 5_000);
        assert_eq!(relay_heartbeat_ms(2_000), 500);
        assert_eq!(relay_heartbeat_ms(200), 100);
        assert_eq!(cluster_memory_ms(1_000), 10_000);
        assert_eq!(cluster_memory_ms(DEFAULT_LEASE_TIMEOUT_MS), 60_000);
    }
}
