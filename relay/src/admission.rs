//! Admission: who may open a connection, before any WebSocket code runs.
//!
//! - Per address: at most `limits.max_connections_per_ip` connections open at once,
//!   and `limits.upgrades_per_ip_per_second` WebSocket upgrades (bursts of
//!   [`UPGRADE_BURST_SECONDS`] worth), against connection floods and slowloris.
//! - Overall: at most `limits.max_connections` WebSockets open, counted from the
//!   upgrade, so sockets that never say hello count too.
//!
//! The address is the TCP peer's, or, when the peer is one of `limits.trusted_proxies`,
//! the client's from `X-Forwarded-For` (read from the right, skipping trusted proxies).
//! A loopback peer that is not a trusted proxy is not limited per address: it is this
//! machine (a proxy not listed, a test, the benchmark), and limiting it as one address
//! would refuse everyone behind the proxy at once. IPv6 addresses count per /64, the
//! block one host is usually given.
//!
//! How a socket's end is known: [`Listener`] wraps every accepted TCP stream with a
//! [`Slot`] that the request sees as `ConnectInfo<Peer>`; what a connection holds
//! (its address's count, an open WebSocket) is released when the stream is dropped,
//! which for an upgraded socket is when the WebSocket ends. A router nested in a site's
//! own server has no slot: per-address limits then do not apply.
//!
//! The address table is bounded: an address with nothing open and its upgrade bucket
//! full again is forgotten, and past `max_connections` plus [`IDLE_ADDRESSES`] entries
//! new addresses are refused until some are.

use crate::hub::Hub;
use crate::limits::{canonical, Limits};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rollcall_core::rate::RateLimit;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// An address may make this many seconds' worth of upgrades at once.
pub const UPGRADE_BURST_SECONDS: u32 = 10;
/// Addresses with nothing open kept beyond `limits.max_connections` (their upgrade
/// buckets still refilling).
pub const IDLE_ADDRESSES: usize = 65_536;
/// A table this full is swept of idle addresses after this many new ones.
const SWEEP_EVERY: usize = 4_096;

/// Why a connection was refused; the label of `rollcall_admission_refused_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The address has `limits.max_connections_per_ip` connections open.
    AddressConnections,
    /// The address upgrades faster than `limits.upgrades_per_ip_per_second`.
    AddressRate { retry_after_ms: u64 },
    /// `limits.max_connections` WebSockets are open.
    Capacity,
    /// The address table is full.
    Addresses,
}

impl Refusal {
    pub const REASONS: [&'static str; 4] = crate::metrics::REFUSAL_REASONS;

    pub fn index(self) -> usize {
        match self {
            Refusal::AddressConnections => 0,
            Refusal::AddressRate { .. } => 1,
            Refusal::Capacity => 2,
            Refusal::Addresses => 3,
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Refusal::AddressConnections | Refusal::AddressRate { .. } => StatusCode::TOO_MANY_REQUESTS,
            Refusal::Capacity | Refusal::Addresses => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn message(self, limits: &Limits) -> String {
        match self {
            Refusal::AddressConnections => format!(
                "too many connections from your address: at most {} at once (limits.max_connections_per_ip)\n",
                limits.max_connections_per_ip
            ),
            Refusal::AddressRate { retry_after_ms } => format!(
                "too many new connections from your address: at most {} per second (limits.upgrades_per_ip_per_second); retry in {} s\n",
                limits.upgrades_per_ip_per_second,
                retry_after_ms.div_ceil(1000).max(1)
            ),
            Refusal::Capacity => format!(
                "the relay is at its connection limit ({}, limits.max_connections); retry later\n",
                limits.max_connections
            ),
            Refusal::Addresses => "the relay is tracking too many client addresses; retry later\n".into(),
        }
    }

    fn response(self, limits: &Limits) -> Response {
        let mut res = (self.status(), self.message(limits)).into_response();
        let retry_s = match self {
            Refusal::AddressRate { retry_after_ms } => retry_after_ms.div_ceil(1000).max(1),
            _ => 1,
        };
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_s));
        res
    }
}

/// What an address is counted as: itself, or its /64.
fn key_of(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        v4 => v4,
    }
}

#[derive(Debug)]
struct Entry {
    open: usize,
    rate: Option<RateLimit>,
    /// The last upgrade, in the admission clock's milliseconds.
    last_upgrade: u64,
}

/// The shared state: the address table and the count of open WebSockets.
///
/// One `std::sync::Mutex` around the table: every section is a map lookup and a bucket
/// update, never an `.await`.
pub struct Admission {
    limits: Limits,
    hub: Arc<Hub>,
    table: Mutex<HashMap<IpAddr, Entry>>,
    /// Most entries in the table.
    cap: usize,
    /// New addresses since the last sweep.
    inserted: AtomicUsize,
    /// WebSockets admitted and not yet closed.
    sockets: AtomicUsize,
    start: tokio::time::Instant,
    told_about_proxy: AtomicBool,
}

impl Admission {
    pub fn new(limits: Limits, hub: Arc<Hub>) -> Admission {
        let cap = limits.max_connections.saturating_add(IDLE_ADDRESSES);
        Admission {
            limits,
            hub,
            table: Mutex::new(HashMap::new()),
            cap,
            inserted: AtomicUsize::new(0),
            sockets: AtomicUsize::new(0),
            start: tokio::time::Instant::now(),
            told_about_proxy: AtomicBool::new(false),
        }
    }

    /// Addresses in the table.
    pub fn addresses(&self) -> usize {
        self.lock().len()
    }

    /// WebSockets admitted and still open.
    pub fn sockets(&self) -> usize {
        self.sockets.load(Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, Entry>> {
        self.table.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn refused(&self, why: Refusal) -> Refusal {
        self.hub.metrics.admission_refused[why.index()].inc();
        why
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        self.limits.trusted_proxies.iter().any(|net| net.contains(ip))
    }

    /// The address a connection from `peer` is counted as, before any header is read:
    /// `None` for a trusted proxy (its clients are told apart by their request) and for
    /// loopback.
    pub fn peer_key(&self, peer: IpAddr) -> Option<IpAddr> {
        let peer = canonical(peer);
        (!self.trusted(peer) && !peer.is_loopback()).then(|| key_of(peer))
    }

    /// The client behind a trusted proxy, from `X-Forwarded-For`: the rightmost address
    /// that is not itself a trusted proxy (anything left of it may be forged).
    pub fn forwarded_key(&self, peer: IpAddr, headers: &HeaderMap) -> Option<IpAddr> {
        let mut chain: Vec<&str> = Vec::new();
        for value in headers.get_all("x-forwarded-for") {
            chain.extend(value.to_str().unwrap_or("").split(','));
        }
        let client = chain
            .iter()
            .rev()
            .map(|hop| hop.trim().parse::<IpAddr>().ok())
            .find(|hop| hop.is_none_or(|ip| !self.trusted(ip)))
            .flatten()
            .unwrap_or(peer);
        let client = canonical(client);
        (!client.is_loopback()).then(|| key_of(client))
    }

    /// Count one more connection of `key`, if it has room.
    fn open(&self, key: IpAddr) -> Result<(), Refusal> {
        let now = self.now_ms();
        let mut table = self.lock();
        if !table.contains_key(&key) {
            self.make_room(&mut table, now)?;
        }
        let entry = table.entry(key).or_insert(Entry {
            open: 0,
            rate: None,
            last_upgrade: 0,
        });
        if entry.open >= self.limits.max_connections_per_ip {
            return Err(self.refused(Refusal::AddressConnections));
        }
        entry.open += 1;
        Ok(())
    }

    /// One connection of `key` is gone.
    fn close(&self, key: IpAddr) {
        let now = self.now_ms();
        let mut table = self.lock();
        if let Some(entry) = table.get_mut(&key) {
            entry.open = entry.open.saturating_sub(1);
            if self.idle(entry, now) {
                table.remove(&key);
                self.gauge(&table);
            }
        }
    }

    /// Take one upgrade from `key`'s bucket.
    fn upgrade(&self, key: IpAddr) -> Result<(), Refusal> {
        let now = self.now_ms();
        let mut table = self.lock();
        if !table.contains_key(&key) {
            self.make_room(&mut table, now)?;
        }
        let per_second = self.limits.upgrades_per_ip_per_second;
        let entry = table.entry(key).or_insert(Entry {
            open: 0,
            rate: None,
            last_upgrade: 0,
        });
        let rate = entry.rate.get_or_insert_with(|| {
            RateLimit::new(
                rollcall_core::Instant(now),
                per_second,
                per_second.saturating_mul(UPGRADE_BURST_SECONDS),
            )
        });
        let taken = rate.take(rollcall_core::Instant(now));
        entry.last_upgrade = now;
        taken.map_err(|retry_after_ms| self.refused(Refusal::AddressRate { retry_after_ms }))
    }

    /// Nothing open, and the bucket full again: the entry says nothing a fresh one
    /// would not.
    fn idle(&self, entry: &Entry, now: u64) -> bool {
        entry.open == 0
            && (entry.rate.is_none() || now.saturating_sub(entry.last_upgrade) >= UPGRADE_BURST_SECONDS as u64 * 1000)
    }

    /// Before a new address goes in: sweep now and then, and refuse when full.
    fn make_room(&self, table: &mut HashMap<IpAddr, Entry>, now: u64) -> Result<(), Refusal> {
        let inserted = self.inserted.fetch_add(1, Relaxed) + 1;
        if table.len() >= self.cap || inserted >= SWEEP_EVERY {
            self.inserted.store(0, Relaxed);
            table.retain(|_, entry| !self.idle(entry, now));
        }
        if table.len() >= self.cap {
            return Err(self.refused(Refusal::Addresses));
        }
        self.hub.metrics.admission_addresses.set(table.len() as u64 + 1);
        Ok(())
    }

    fn gauge(&self, table: &HashMap<IpAddr, Entry>) {
        self.hub.metrics.admission_addresses.set(table.len() as u64);
    }

    fn open_socket(&self) -> Result<(), Refusal> {
        let max = self.limits.max_connections;
        let before = self
            .sockets
            .fetch_update(Relaxed, Relaxed, |n| (n < max).then_some(n + 1))
            .map_err(|_| self.refused(Refusal::Capacity))?;
        self.hub.metrics.admission_sockets.set(before as u64 + 1);
        Ok(())
    }

    fn close_socket(&self) {
        let before = self.sockets.fetch_sub(1, Relaxed);
        self.hub.metrics.admission_sockets.set(before.saturating_sub(1) as u64);
    }

    /// Say once that a proxy on this machine forwards clients we cannot tell apart.
    fn tell_about_proxy(&self, peer: IpAddr) {
        if !self.told_about_proxy.swap(true, Relaxed) {
            tracing::warn!(
                "a proxy at {peer} sends X-Forwarded-For, which is ignored: add it to limits.trusted_proxies so that per-address limits apply to its clients"
            );
        }
    }
}

/// What one TCP connection holds; released when the connection ends.
pub struct Slot {
    admission: Arc<Admission>,
    peer: IpAddr,
    held: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    /// The address this connection is counted under.
    key: Option<IpAddr>,
    /// An admitted WebSocket.
    socket: bool,
}

impl Slot {
    fn held(&self) -> MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Give back everything this connection holds (once).
    fn release(&self) {
        let held = std::mem::take(&mut *self.held());
        if let Some(key) = held.key {
            self.admission.close(key);
        }
        if held.socket {
            self.admission.close_socket();
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.release();
    }
}

/// The connection a request came on, as `ConnectInfo<Peer>`.
#[derive(Clone)]
pub struct Peer(Arc<Slot>);

impl Peer {
    pub fn addr(&self) -> IpAddr {
        self.0.peer
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, Listener>> for Peer {
    fn connect_info(stream: axum::serve::IncomingStream<'_, Listener>) -> Peer {
        Peer(stream.io().slot.clone())
    }
}

/// A TCP listener that counts each connection under its address, refusing those over
/// `limits.max_connections_per_ip` at once (with a plain HTTP 429: nothing was read).
pub struct Listener {
    listener: TcpListener,
    admission: Arc<Admission>,
}

impl Listener {
    pub fn new(listener: TcpListener, admission: Arc<Admission>) -> Listener {
        Listener { listener, admission }
    }
}

impl axum::serve::Listener for Listener {
    type Io = Admitted;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Admitted, SocketAddr) {
        loop {
            let (stream, addr) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, mostly: wait instead of spinning.
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            // Presence frames are small and wanted now: no Nagle delay behind an earlier one.
            let _ = stream.set_nodelay(true);
            let slot = Slot {
                admission: self.admission.clone(),
                peer: canonical(addr.ip()),
                held: Mutex::new(Held::default()),
            };
            if let Some(key) = self.admission.peer_key(addr.ip()) {
                if let Err(why) = self.admission.open(key) {
                    let body = why.message(&self.admission.limits);
                    let res = format!(
                        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.try_write(res.as_bytes());
                    continue;
                }
                slot.held().key = Some(key);
            }
            return (
                Admitted {
                    stream,
                    slot: Arc::new(slot),
                },
                addr,
            );
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// An accepted TCP stream and what it holds.
pub struct Admitted {
    stream: TcpStream,
    slot: Arc<Slot>,
}

impl Admitted {
    /// The connection, as requests see it.
    pub fn peer(&self) -> Peer {
        Peer(self.slot.clone())
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        // Before the stream closes: once the peer sees the connection end, its address
        // has room again.
        self.slot.release();
    }
}

impl AsyncRead for Admitted {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Admitted {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// What one upgrade request took, given back unless the upgrade succeeds (then the
/// connection's slot holds it until the socket ends).
struct Ticket<'a> {
    admission: &'a Admission,
    /// A proxied client's address, counted for this request.
    key: Option<IpAddr>,
    socket: bool,
}

impl Ticket<'_> {
    fn keep(mut self, slot: &Slot) {
        let mut held = slot.held();
        if held.key.is_none() {
            held.key = self.key.take();
        }
        if !held.socket {
            held.socket = std::mem::take(&mut self.socket);
        }
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.admission.close(key);
        }
        if self.socket {
            self.admission.close_socket();
        }
    }
}

impl Admission {
    /// Decide on one upgrade request that came on `slot`.
    fn admit(&self, slot: &Slot, headers: &HeaderMap) -> Result<Ticket<'_>, Refusal> {
        let mut ticket = Ticket {
            admission: self,
            key: None,
            socket: false,
        };
        let counted = slot.held().key;
        let key = match counted {
            Some(key) => Some(key),
            None if self.trusted(slot.peer) => {
                let key = self.forwarded_key(slot.peer, headers);
                if let Some(key) = key {
                    self.open(key)?;
                    ticket.key = Some(key);
                }
                key
            }
            None => {
                if headers.contains_key("x-forwarded-for") {
                    self.tell_about_proxy(slot.peer);
                }
                None
            }
        };
        if let Some(key) = key {
            self.upgrade(key)?;
        }
        self.open_socket()?;
        ticket.socket = true;
        Ok(ticket)
    }
}

/// The middleware on `/v1/ws`.
pub async fn admit(State(admission): State<Arc<Admission>>, req: Request, next: Next) -> Response {
    gate(&admission, req, next, false).await
}

/// The middleware on Pusher's `/app/{key}`. A relay full of connections that said hello
/// is told in Pusher's own protocol, by the socket (4100, on which pusher-js backs off):
/// only a relay full of sockets that did not is refused with 503 here.
pub async fn admit_pusher(State(admission): State<Arc<Admission>>, req: Request, next: Next) -> Response {
    gate(&admission, req, next, true).await
}

async fn gate(admission: &Admission, req: Request, next: Next, pusher: bool) -> Response {
    let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<Peer>>().cloned() else {
        return next.run(req).await;
    };
    let ticket = match admission.admit(&peer.0, req.headers()) {
        Ok(ticket) => ticket,
        Err(Refusal::Capacity) if pusher && admission.hub.connections() >= admission.limits.max_connections => {
            return next.run(req).await;
        }
        Err(why) => return why.response(&admission.limits),
    };
    let res = next.run(req).await;
    if res.status() == StatusCode::SWITCHING_PROTOCOLS {
        ticket.keep(&peer.0);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Net;
    use rollcall_core::roster::RosterConfig;

    fn admission(toml_limits: &str) -> Arc<Admission> {
        let config = crate::config::Config::from_toml(&format!("[limits]\n{toml_limits}")).unwrap();
        let hub = Arc::new(Hub::new(RosterConfig::default(), 16));
        Arc::new(Admission::new(config.limits, hub))
    }

    fn slot(admission: &Arc<Admission>, peer: &str) -> Slot {
        let peer: IpAddr = peer.parse().unwrap();
        let slot = Slot {
            admission: admission.clone(),
            peer,
            held: Mutex::new(Held::default()),
        };
        if let Some(key) = admission.peer_key(peer) {
            admission.open(key).expect("room for the connection");
            slot.held().key = Some(key);
        }
        slot
    }

    fn forwarded(chain: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", chain.parse().unwrap());
        headers
    }

    fn refused(admission: &Arc<Admission>, why: Refusal) -> u64 {
        admission.hub.metrics.admission_refused[why.index()].get()
    }

    #[tokio::test(start_paused = true)]
    async fn an_address_gets_its_burst_of_upgrades_then_one_more_per_refill() {
        let a = admission("upgrades_per_ip_per_second = 2");
        let conn = slot(&a, "203.0.113.7");
        for _ in 0..20 {
            a.admit(&conn, &HeaderMap::new()).expect("within the burst").keep(&conn);
        }
        let Err(Refusal::AddressRate { retry_after_ms }) = a.admit(&conn, &HeaderMap::new()).map(|_| ()) else {
            panic!("the 21st upgrade at once is refused");
        };
        assert_eq!(retry_after_ms, 500);
        assert_eq!(refused(&a, Refusal::AddressRate { retry_after_ms: 0 }), 1);
        // Another address is not affected.
        let other = slot(&a, "203.0.113.8");
        assert!(a.admit(&other, &HeaderMap::new()).is_ok());
        tokio::time::advance(Duration::from_millis(500)).await;
        assert!(a.admit(&conn, &HeaderMap::new()).is_ok(), "one token back after 500 ms");
        assert!(a.admit(&conn, &HeaderMap::new()).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn an_address_has_at_most_its_connections_open_and_a_closed_one_makes_room() {
        let a = admission("max_connections_per_ip = 2");
        let first = slot(&a, "198.51.100.1");
        let second = slot(&a, "198.51.100.1");
        assert_eq!(
            a.open(key_of("198.51.100.1".parse().unwrap())),
            Err(Refusal::AddressConnections)
        );
        assert_eq!(refused(&a, Refusal::AddressConnections), 1);
        drop(first);
        let third = slot(&a, "198.51.100.1");
        drop((second, third));
        assert_eq!(
            a.addresses(),
            0,
            "an address with nothing open and no upgrade is forgotten"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn behind_a_trusted_proxy_each_forwarded_client_is_counted_apart() {
        let a = admission("max_connections_per_ip = 1\ntrusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\"]");
        let proxy = slot(&a, "127.0.0.1");
        let ticket = a.admit(&proxy, &forwarded("192.0.2.1")).expect("first client");
        let next = slot(&a, "127.0.0.1");
        ticket.keep(&proxy);
        assert_eq!(
            a.admit(&next, &forwarded("192.0.2.1")).map(|_| ()),
            Err(Refusal::AddressConnections),
            "the same client again, through another proxy connection"
        );
        // A forged left part is ignored; the address the proxies saw counts.
        assert!(a.admit(&next, &forwarded("192.0.2.1, 192.0.2.2, 10.1.2.3")).is_ok());
        // Closing the proxy's connection releases its client.
        drop(proxy);
        assert!(a.admit(&slot(&a, "127.0.0.1"), &forwarded("192.0.2.1")).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
        let a = admission("max_connections_per_ip = 1");
        let direct = slot(&a, "198.51.100.9");
        // A client cannot pose as many: it is counted as its own address.
        assert_eq!(
            a.forwarded_key("198.51.100.9".parse().unwrap(), &HeaderMap::new()),
            Some("198.51.100.9".parse().unwrap())
        );
        assert!(a.admit(&direct, &forwarded("192.0.2.50")).is_ok());
        assert_eq!(direct.held().key, Some("198.51.100.9".parse().unwrap()));
        // A loopback peer not listed is not limited at all: it may be a proxy.
        let local = slot(&a, "127.0.0.1");
        let local_too = slot(&a, "127.0.0.1");
        assert!(a.admit(&local, &forwarded("192.0.2.50")).is_ok());
        assert!(a.admit(&local_too, &forwarded("192.0.2.50")).is_ok());
        assert_eq!(a.addresses(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn ipv6_clients_count_per_64_block() {
        let a = admission("max_connections_per_ip = 1");
        let _one = slot(&a, "2001:db8:1:2::1");
        assert_eq!(
            a.open(key_of("2001:db8:1:2:ffff::9".parse().unwrap())),
            Err(Refusal::AddressConnections)
        );
        assert!(a.open(key_of("2001:db8:1:3::1".parse().unwrap())).is_ok());
        assert_eq!(
            a.peer_key("::ffff:198.51.100.1".parse().unwrap()),
            Some("198.51.100.1".parse().unwrap())
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_address_table_is_bounded_and_forgets_idle_addresses() {
        let a = admission("max_connections = 10\nmax_connections_per_ip = 1");
        let held: Vec<Slot> = (0..10).map(|i| slot(&a, &format!("192.0.2.{i}"))).collect();
        // Upgrades from many other addresses fill the rest of the table...
        for i in 0..IDLE_ADDRESSES {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i as u32));
            a.upgrade(key_of(ip)).unwrap();
        }
        assert_eq!(a.addresses(), 10 + IDLE_ADDRESSES);
        let newcomer: IpAddr = "203.0.113.200".parse().unwrap();
        assert_eq!(
            a.upgrade(newcomer),
            Err(Refusal::Addresses),
            "full while their buckets refill"
        );
        assert_eq!(refused(&a, Refusal::Addresses), 1);
        // ...until their buckets are full again: then they are swept away.
        tokio::time::advance(Duration::from_secs(UPGRADE_BURST_SECONDS as u64)).await;
        assert!(a.upgrade(newcomer).is_ok());
        assert_eq!(a.addresses(), 11, "the open ones and the newcomer");
        drop(held);
        assert_eq!(a.addresses(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn websockets_past_max_connections_are_refused_until_one_ends() {
        let a = admission("max_connections = 2");
        let conns: Vec<Slot> = (0..3).map(|i| slot(&a, &format!("192.0.2.{i}"))).collect();
        a.admit(&conns[0], &HeaderMap::new()).unwrap().keep(&conns[0]);
        a.admit(&conns[1], &HeaderMap::new()).unwrap().keep(&conns[1]);
        assert_eq!(
            a.admit(&conns[2], &HeaderMap::new()).map(|_| ()),
            Err(Refusal::Capacity)
        );
        // A refused or failed upgrade gives back what it took.
        drop(a.admit(&slot(&a, "127.0.0.1"), &HeaderMap::new()));
        assert_eq!(a.sockets(), 2);
        let mut conns = conns.into_iter();
        drop(conns.next());
        assert_eq!(a.sockets(), 1);
        let last = conns.nth(1).unwrap();
        assert!(a.admit(&last, &HeaderMap::new()).is_ok());
    }

    #[test]
    fn trusted_proxies_parse_as_addresses_or_blocks() {
        let net = Net::parse("10.0.0.0/8").unwrap();
        assert!(net.contains("10.200.1.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.0.0.1".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        assert!(Net::parse("::1").unwrap().contains("::1".parse().unwrap()));
        assert!(Net::parse("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
        assert_eq!(Net::parse("10.0.0.0/33"), None);
        assert_eq!(Net::parse("localhost"), None);
    }
}
