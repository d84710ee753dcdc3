//! `[limits]`: what one connection and one address may do, and the proxies trusted to
//! name the client's address.

use std::net::IpAddr;

/// Per-connection limits enforced by the WebSocket shell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest text frame accepted; larger ones get `frame_too_large`.
    pub max_frame_bytes: usize,
    pub frames_per_second: u32,
    pub frame_burst: u32,
    /// Frames queued to one client before it counts as a slow consumer and is dropped.
    pub send_queue: usize,
    /// Connections this relay accepts at once; further upgrades get 503.
    pub max_connections: usize,
    /// Connections one client address may have open at once; more get 429.
    pub max_connections_per_ip: usize,
    /// WebSocket upgrades per second from one client address, in bursts of
    /// `admission::UPGRADE_BURST_SECONDS` worth; faster ones get 429.
    pub upgrades_per_ip_per_second: u32,
    /// Proxies whose `X-Forwarded-For` names the client address.
    pub trusted_proxies: Vec<Net>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_bytes: 16 * 1024,
            frames_per_second: 20,
            frame_burst: 60,
            send_queue: 1024,
            max_connections: 100_000,
            max_connections_per_ip: 1_000,
            upgrades_per_ip_per_second: 20,
            trusted_proxies: Vec::new(),
        }
    }
}

/// `limits.trusted_proxies`: one address, or a block like `10.0.0.0/8`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Net {
    addr: IpAddr,
    prefix: u8,
}

impl Net {
    pub fn parse(text: &str) -> Option<Net> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (
                addr.trim().parse::<IpAddr>().ok()?,
                Some(prefix.trim().parse::<u8>().ok()?),
            ),
            None => (text.trim().parse::<IpAddr>().ok()?, None),
        };
        let addr = canonical(addr);
        let bits = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(bits);
        (prefix <= bits).then_some(Net { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u32::from(net) as u128, 32, self.prefix) == masked(u32::from(ip) as u128, 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(u128::from(net), 128, self.prefix) == masked(u128::from(ip), 128, self.prefix)
            }
            _ => false,
        }
    }
}

fn masked(bits: u128, width: u8, prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        bits >> (width - prefix)
    }
}

/// IPv4-mapped IPv6 addresses as IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}
