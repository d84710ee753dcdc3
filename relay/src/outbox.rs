//! A connection's outbox: the frames the hub queued for its socket, at most a bounded
//! number of them, and the hub's order to close it.
//!
//! Every connection has one, so what an idle one holds is memory per connection. A
//! tokio `mpsc` channel allocates its first block of 32 slots with the channel and keeps
//! it, and a `oneshot` for the close order is one more allocation: 1.6 KB per connection
//! in all. Here both live in one small shared struct, and the queue is a `VecDeque`
//! that the send task takes whole when it drains it, so an empty outbox holds no
//! buffer, whatever it held during a fill.
//!
//! One writer at a time (the hub, under its own lock) and one reader (the connection's
//! send task): a `std::sync::Mutex` held for a push or a take, never across an
//! `.await`, and an `AtomicWaker` for the one task that waits.

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

/// Why and how the hub closes a connection: the close code and its reason.
pub type Order = (u16, &'static str);

/// The hub's end: queues frames, gives the order to close. Dropping it without an order
/// tells the reader that the hub forgot the connection (its socket is gone).
pub struct Sender {
    shared: Arc<Shared>,
}

/// The connection's end, read by its send task.
pub struct Outbox {
    shared: Arc<Shared>,
}

/// What a push did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pushed {
    Queued,
    /// `capacity` frames are already waiting: the reader is too slow.
    Full,
    /// The reader is gone (the connection is ending): the frame is dropped.
    Gone,
}

/// What the reader waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Frames are queued: [`Outbox::take`] them.
    Frames,
    /// The hub ordered the connection closed (`Some`), or forgot it (`None`).
    Close(Option<Order>),
}

struct Shared {
    state: Mutex<State>,
    /// The reader's task, while it waits.
    reader: AtomicWaker,
    capacity: usize,
}

#[derive(Default)]
struct State {
    frames: VecDeque<Bytes>,
    order: Option<Order>,
    /// The hub dropped its end.
    forgotten: bool,
    /// The reader dropped its end.
    gone: bool,
}

/// A new outbox holding at most `capacity` frames (at least one).
pub fn outbox(capacity: usize) -> (Sender, Outbox) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State::default()),
        reader: AtomicWaker::new(),
        capacity: capacity.max(1),
    });
    (Sender { shared: shared.clone() }, Outbox { shared })
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing between lock and unlock can panic but an allocation failure; a
        // poisoned lock still holds a consistent queue.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Sender {
    /// Queue one frame, unless `capacity` frames already wait or the reader is gone.
    pub fn push(&self, frame: Bytes) -> Pushed {
        {
            let mut state = self.shared.lock();
            if state.gone || state.order.is_some() {
                return Pushed::Gone;
            }
            if state.frames.len() >= self.shared.capacity {
                return Pushed::Full;
            }
            state.frames.push_back(frame);
        }
        self.shared.reader.wake();
        Pushed::Queued
    }

    /// Order the connection closed with `code` and `reason`: the reader sees it before
    /// any frame still queued. Only the first order counts.
    pub fn close(&self, code: u16, reason: &'static str) {
        {
            let mut state = self.shared.lock();
            if state.order.is_some() {
                return;
            }
            state.order = Some((code, reason));
        }
        self.shared.reader.wake();
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.shared.lock().forgotten = true;
        self.shared.reader.wake();
    }
}

impl Outbox {
    /// Wait until frames are queued or the hub closes the connection; an order to close
    /// comes first, whatever is queued.
    pub fn ready(&self) -> impl Future<Output = Next> + '_ {
        std::future::poll_fn(move |cx| self.poll_ready(cx))
    }

    /// Wait for the order to close only (or for the hub to forget the connection).
    pub fn closed(&self) -> impl Future<Output = Option<Order>> + '_ {
        std::future::poll_fn(move |cx| match self.poll_ready(cx) {
            Poll::Ready(Next::Close(order)) => Poll::Ready(order),
            _ => Poll::Pending,
        })
    }

    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<Next> {
        // Registered before looking, so a push between the look and the wait wakes us.
        self.shared.reader.register(cx.waker());
        let state = self.shared.lock();
        if state.order.is_some() || state.forgotten {
            Poll::Ready(Next::Close(state.order))
        } else if !state.frames.is_empty() {
            Poll::Ready(Next::Frames)
        } else {
            Poll::Pending
        }
    }

    /// The oldest queued frames, at most `max`. When that is all of them the queue's
    /// buffer goes with them, so an outbox that was drained holds nothing.
    pub fn take(&self, max: usize) -> VecDeque<Bytes> {
        let mut state = self.shared.lock();
        if state.frames.len() <= max {
            std::mem::take(&mut state.frames)
        } else {
            state.frames.drain(..max).collect()
        }
    }

    /// Frames waiting.
    pub fn len(&self) -> usize {
        self.shared.lock().frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The order to close, if the hub gave one.
    pub fn order(&self) -> Option<Order> {
        self.shared.lock().order
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        // Frames for a reader that is gone would only wait for the hub to forget it.
        let mut state = self.shared.lock();
        state.gone = true;
        state.frames = VecDeque::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn frame(text: &'static str) -> Bytes {
        Bytes::from_static(text.as_bytes())
    }

    #[test]
    fn an_outbox_refuses_frames_beyond_its_capacity_and_keeps_their_order() {
        let (tx, rx) = outbox(2);
        assert_eq!(tx.push(frame("a")), Pushed::Queued);
        assert_eq!(tx.push(frame("b")), Pushed::Queued);
        assert_eq!(tx.push(frame("c")), Pushed::Full);
        assert_eq!(rx.take(1), [frame("a")]);
        assert_eq!(tx.push(frame("c")), Pushed::Queued);
        assert_eq!(rx.take(10), [frame("b"), frame("c")]);
        assert!(rx.is_empty());
    }

    #[test]
    fn a_drained_outbox_keeps_no_buffer() {
        let (tx, rx) = outbox(1024);
        for _ in 0..500 {
            tx.push(frame("x"));
        }
        assert_eq!(rx.take(64).len(), 64);
        assert_eq!(rx.take(usize::MAX).len(), 436);
        assert_eq!(rx.shared.lock().frames.capacity(), 0);
    }

    #[tokio::test]
    async fn the_order_to_close_comes_before_queued_frames_and_only_the_first_counts() {
        let (tx, rx) = outbox(8);
        tx.push(frame("told"));
        tx.close(4011, "too slow to read");
        tx.close(4000, "relay restarting");
        assert_eq!(rx.ready().await, Next::Close(Some((4011, "too slow to read"))));
        assert_eq!(rx.take(8), [frame("told")], "what was queued can still be written");
        assert_eq!(tx.push(frame("late")), Pushed::Gone);
    }

    #[tokio::test]
    async fn a_waiting_reader_is_woken_by_a_push_and_by_the_hub_forgetting_it() {
        let (tx, rx) = outbox(8);
        let reader = tokio::spawn(async move {
            let first = rx.ready().await;
            let frames = rx.take(8);
            let second = rx.ready().await;
            (first, frames, second)
        });
        tokio::task::yield_now().await;
        tx.push(frame("a"));
        tokio::task::yield_now().await;
        drop(tx);
        let (first, frames, second) = tokio::time::timeout(Duration::from_secs(5), reader)
            .await
            .expect("woken")
            .unwrap();
        assert_eq!(first, Next::Frames);
        assert_eq!(frames, [frame("a")]);
        assert_eq!(second, Next::Close(None));
    }

    #[tokio::test]
    async fn closed_waits_through_pushes_for_the_order() {
        let (tx, rx) = outbox(8);
        let waiting = tokio::spawn(async move { rx.closed().await });
        tokio::task::yield_now().await;
        tx.push(frame("a"));
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        tx.close(4000, "relay restarting");
        let order = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("woken")
            .unwrap();
        assert_eq!(order, Some((4000, "relay restarting")));
    }
}
