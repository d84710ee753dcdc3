//! Random ids: sessions, relays, webhook events.

/// 128 random bits, hex: unguessable, so a session id can authorise a beacon.
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS provides randomness");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
