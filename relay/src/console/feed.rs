//! The console's live stream of presence events, relays coming and going included.
//!
//! A `tokio::sync::broadcast` ring of `console.feed_capacity` events: the hub offers
//! each event it outputs, and the offer is one atomic load when no console listens (no
//! clone, no allocation, no JSON). Sending never waits: a console that reads too slowly
//! falls behind the ring, loses the oldest events and is told how many, while the relay
//! and every other console go on.

use crate::hub::{EventTap, Hub};
use rollcall_core::roster::Event;
use rollcall_core::Instant;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use tokio::sync::broadcast;

/// One entry of the stream.
#[derive(Clone, Debug)]
pub enum Item {
    /// A presence event at a roster instant.
    Presence(Instant, Event),
    /// A relay started beating in `rc:relays` (`up`) or stopped (at unix ms).
    Relay { id: String, up: bool, at_ms: u64 },
}

pub struct Feed {
    tx: broadcast::Sender<Arc<Item>>,
    /// Events put on the stream since start.
    pub sent: AtomicU64,
    /// Events listeners missed because they read too slowly.
    pub dropped: AtomicU64,
}

impl Feed {
    pub fn new(capacity: usize) -> Feed {
        Feed {
            tx: broadcast::channel(capacity.max(1)).0,
            sent: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// Consoles listening now.
    pub fn listeners(&self) -> usize {
        self.tx.receiver_count()
    }

    /// A presence event happened: put it on the stream if anyone listens. Called under
    /// the hub's lock, so it never waits.
    pub fn offer(&self, at: Instant, event: &Event) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        self.push(Item::Presence(at, event.clone()));
    }

    pub fn push(&self, item: Item) {
        if self.tx.send(Arc::new(item)).is_ok() {
            self.sent.fetch_add(1, Relaxed);
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Item>> {
        self.tx.subscribe()
    }
}

impl EventTap for Feed {
    fn offer(&self, at: Instant, event: &Event) {
        Feed::offer(self, at, event)
    }
}

/// An item as the page reads it: `type` (the webhook names, plus `channel.status`,
/// `relay.up` and `relay.down`), `at_ms`, and `channel`, `user`, `cause`, `status`,
/// `relay` where they apply.
pub fn item_json(hub: &Hub, item: &Item) -> Value {
    match item {
        Item::Relay { id, up, at_ms } => json!({
            "type": if *up { "relay.up" } else { "relay.down" },
            "at_ms": at_ms,
            "relay": id,
        }),
        Item::Presence(at, event) => {
            let at_ms = crate::clock::wall_ms(hub.wall_time(*at));
            let mut out = crate::webhooks::event::presence_json(event);
            out["at_ms"] = json!(at_ms);
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollcall_core::protocol::Identity;
    use tokio::sync::broadcast::error::RecvError;

    fn join(i: usize) -> Event {
        Event::Join {
            ch: "/site/online".into(),
            user: Identity {
                id: format!("u{i}"),
                name: None,
                avatar: None,
            },
        }
    }

    #[test]
    fn nothing_is_put_on_the_stream_while_nobody_listens() {
        let feed = Feed::new(4);
        for i in 0..100 {
            feed.offer(Instant(i), &join(i as usize));
        }
        assert_eq!(feed.sent.load(Relaxed), 0);
        let _rx = feed.subscribe();
        feed.offer(Instant(0), &join(0));
        assert_eq!(feed.sent.load(Relaxed), 1);
    }

    #[tokio::test]
    async fn a_listener_that_falls_behind_loses_the_oldest_and_is_told_how_many() {
        let feed = Feed::new(4);
        let mut slow = feed.subscribe();
        // The sender never waits for the slow listener.
        for i in 0..10 {
            feed.offer(Instant(i), &join(i as usize));
        }
        assert!(matches!(slow.recv().await, Err(RecvError::Lagged(6))));
        let next = slow.recv().await.unwrap();
        assert!(matches!(&*next, Item::Presence(Instant(6), _)));
    }
}
