//! Pusher protocol 7 for presence channels, so that pusher-js (and Laravel Echo on top
//! of it) can point at rollcall unchanged and get rollcall's semantics.
//!
//! - [`protocol`]: versions, prefixes, error codes, the channel mapping, event frames.
//! - [`app`]: one `[[pusher_app]]` and its checks.
//! - [`socket`]: `GET /app/{key}`, one Pusher WebSocket connection.
//! - [`api`]: Pusher's HTTP API for presence (`/apps/{id}/channels/...`), signed as
//!   Pusher signs it.
//! - [`members`]: rollcall snapshots and diffs as Pusher member events.
//! - [`signature`]: the HMAC-SHA256 signatures of channel auth, sign-in and the API.
//! - [`webhooks`]: Pusher-format webhooks (`member_added`, `channel_occupied`, ...).
//!
//! A Pusher socket is a rollcall connection like any other: it registers with the hub
//! when it first subscribes to a presence channel, with the user of the signed
//! `channel_data` as its identity and its socket id as its client id, and enters and
//! subscribes the mapped rollcall channel. Socket ids contain a `.`, which SDK client ids
//! never do, so the two can never collide.
//!
//! Channel mapping: `presence-NAME` <-> `/pusher/NAME`, e.g. `presence-site-online` and
//! `/pusher/site-online` are one roster. Public and private channels, and client events,
//! are refused with `pusher:error` code [`protocol::code::UNSUPPORTED`].

pub mod api;
pub mod app;
pub mod members;
pub mod protocol;
pub mod signature;
pub mod socket;
pub mod webhooks;

pub use socket::upgrade;
