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

/// Bounds of [`checkin_answer_ms`].
const CHECKIN_ANSWER_MIN_MS: u64 = 3_000;
const CHECKIN_ANSWER_MAX_MS: u64 = 10_000;

/// How long a client waits for the relay's answer to a check-in before it takes its link
/// for dead, closes it and reconnects (protocol 1.2; the relay tells it in
/// `terms.checkin_answer_ms`). A stalled network (a dropped Wi-Fi, a NAT that forgot the
/// connection) closes nothing, and a browser cannot see the relay's pings, so this
/// answer is the only frame the client can await.
///
/// Half of what the lease leaves after a check-in interval: the relay's last proof of
/// life from the client is at most a check-in interval before the check-in that goes
/// unanswered, so a client that gives up this soon is connected again before the lease
/// ends, and nobody sees it leave (given a lease long enough for the 3 s below; the
/// browser tests' 4 s lease is not). At most 10 s: a stalled link then shows
/// `reconnecting` at most a check-in interval plus 10 s after it stalled (40 s with the
/// defaults, 10 s after the check-in). At least 3 s: a working link answers in a round
/// trip, but on a slow mobile network a snapshot may be queued before the answer, and
/// frames behind a channel the site decides wait for its answer (2 s by default); an
/// answer later than that is a link too slow to keep anyway.
pub fn checkin_answer_ms(checkin_interval_ms: u64, lease_timeout_ms: u64) -> u64 {
    (lease_timeout_ms.saturating_sub(checkin_interval_ms) / 2).clamp(CHECKIN_ANSWER_MIN_MS, CHECKIN_ANSWER_MAX_MS)
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
    fn a_checkin_is_answered_in_half_what_the_lease_leaves_within_bounds() {
        assert_eq!(
            checkin_answer_ms(DEFAULT_CHECKIN_INTERVAL_MS, DEFAULT_LEASE_TIMEOUT_MS),
            10_000
        );
        assert_eq!(checkin_answer_ms(10_000, 24_000), 7_000);
        // The browser tests' short lease, and a check-in interval past the lease.
        assert_eq!(checkin_answer_ms(1_000, 4_000), 3_000);
        assert_eq!(checkin_answer_ms(90_000, 60_000), 3_000);
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
