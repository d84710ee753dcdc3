//! rollcall-core: the rules of presence, with no I/O and no clock.
//!
//! - [`protocol`]: the versioned wire messages and their decoding.
//! - [`channel`], [`policy`]: channel names, patterns, and who may see or enter.
//! - [`decision`]: channels the site decides: its answers and their cache.
//! - [`roster`]: the relay's authoritative state: users, clients, leases, graces, diffs.
//! - [`cluster`]: how relays sharing a store agree: order, resync, reaping.
//! - [`client`], [`view`], [`tabs`]: the SDK's rules: one connection, a channel as a
//!   subscriber sees it, and the tabs of one browser sharing the connection (the tab
//!   protocol is [`tabs::Tab`], what tabs tell each other [`tabs::BusMsg`]).
//! - [`smallmap`]: the SDK side's small map. [`pairmap`]: the relay's maps keyed by two
//!   names.
//! - [`rate`]: per-connection frame budgets.
//! - [`time`]: the `Instant` every input carries. [`timing`]: presence defaults and the
//!   intervals derived from the lease.
//!
//! Every state machine here takes `now` as an argument and reports its next deadline,
//! so the shells (the relay, the browser SDK) own the only clocks and tests run a
//! minute of protocol in microseconds.

pub mod channel;
pub mod client;
pub mod cluster;
pub mod decision;
pub mod pairmap;
pub mod policy;
pub mod protocol;
pub mod rate;
pub mod roster;
pub mod smallmap;
pub mod tabs;
pub mod time;
pub mod timing;
pub mod vecmap;
pub mod view;

pub use time::Instant;
