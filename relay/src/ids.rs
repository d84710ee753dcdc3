//! Random ids: sessions, relays, webhook events, Pusher sockets. The one place the
//! relay asks the OS for randomness.

/// `N` random bytes from the OS.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the OS provides randomness");
    bytes
}

/// 128 random bits, hex: unguessable, so a session id can authorise a beacon.
pub fn random_id() -> String {
    random_bytes::<16>().iter().map(|b| format!("{b:02x}")).collect()
}
