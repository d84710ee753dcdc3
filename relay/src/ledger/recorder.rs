//! The recorder: the task that takes the roster's events from the hub into the book and
//! commits them, and its election: with a ledger in Redis, which relay records.

use super::book::Book;
use super::config::LedgerConfig;
use super::db::{Claim, Db};
use super::rows;
use super::state::{ledger_commit, Ledger, State};
use crate::clock::{now_ms, wall_ms, Ms};
use crate::hub::Hub;
use crate::ids::random_id;
use crate::webhooks::Webhooks;
use rollcall_core::roster::Event;
use rollcall_core::Instant;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Most events taken from the queue for one commit (written in transactions of at most
/// 5,000 writes). Each batch costs the recorder task a few turns on the runtime, which
/// a relay busy with a large fan-out grants seconds apart: at 1,000 a batch, the
/// recorder of a channel filling to 100,000 drained 1,000 events every 3 s, fell
/// 100,000 behind and dropped 75,000.
pub const MAX_EVENTS_PER_COMMIT: usize = 10_000;
/// How often old sessions are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3_600);
/// While the store is not linked (a relay just started, or Redis is away), how soon the
/// recorder asks for its role again rather than at the next heartbeat: a relay whose
/// Redis link came up a moment after its first claim would otherwise record nothing for
/// a whole heartbeat, then take over from the truth of every client that came meanwhile
/// (a reconnect storm after a deploy: all of them, at once).
const LINK_WAIT: Duration = Duration::from_millis(200);

/// Start recording at `now`: the sessions left open go back to the book, with `grace`
/// for their users to show up (in `truth`, the roster's present state, or in the events
/// that follow); the webhook events not yet delivered go back to their lanes.
pub(super) fn take_over(
    state: &mut State,
    webhooks: &Webhooks,
    now: Ms,
    grace: u64,
    truth: Vec<Event>,
) -> Result<(), rows::Error> {
    let mut book = Book::new(state.db.next_id()?);
    let open = state.db.open_sessions()?;
    if !open.is_empty() {
        let alive = state.db.alive()?.unwrap_or(now).min(now);
        tracing::info!(
            "ledger: {} sessions were open when the last recorder stopped; their users have {grace} ms to show up",
            open.len()
        );
        let users = open.iter().map(|s| s.user.clone()).collect();
        let identities = state.db.identities(&users)?;
        book.restore(open, &identities, alive, now + grace);
    }
    for event in &truth {
        book.handle(now, event);
    }
    let queued = state.db.queued()?.into_iter().map(|q| (q.endpoint, q.seq, q.at));
    let (lanes, orphans) = webhooks.restore(queued);
    if !orphans.is_empty() {
        state.db.dequeue(&orphans)?;
    }
    state.book = book;
    state.lanes = lanes;
    state.recording = true;
    webhooks.overflow(&mut state.lanes, &mut state.db);
    Ok(())
}

/// The recorder: the only place the ledger reads the clock.
pub(super) async fn record(
    ledger: Arc<Ledger>,
    hub: Arc<Hub>,
    mut events: mpsc::Receiver<(Instant, Event)>,
    config: LedgerConfig,
    grace: u64,
) {
    let heartbeat = Duration::from_millis(config.heartbeat_ms);
    let retention = Duration::from_secs(config.retention_days.saturating_mul(86_400));
    let relay = random_id();
    let mut next_beat = tokio::time::Instant::now();
    let mut next_prune = tokio::time::Instant::now();
    // On the blocking pool, as every wait for the state's lock in this task: a blocking
    // call may hold it through a Redis call (up to its timeout), and a runtime worker
    // waiting meanwhile is one fewer for the relay's connections. Each call also says
    // when the book next wants a tick: one turn of this task per batch, which a relay
    // busy with a large fan-out grants slowly.
    let mut book_due = ledger.blocking(|s| s.book_due()).await;
    loop {
        let mut wake = next_beat;
        if let Some(at) = book_due {
            wake = wake.min(tokio::time::Instant::now() + Duration::from_millis(at.saturating_sub(now_ms())));
        }
        tokio::select! {
            got = events.recv() => {
                let Some((at, event)) = got else { return };
                let mut batch = vec![(wall_ms(hub.wall_time(at)), event)];
                while batch.len() < MAX_EVENTS_PER_COMMIT {
                    match events.try_recv() {
                        Ok((at, event)) => batch.push((wall_ms(hub.wall_time(at)), event)),
                        Err(_) => break,
                    }
                }
                ledger.counts.backlog.store(events.len() as u64, Relaxed);
                let now = now_ms();
                let l = ledger.clone();
                book_due = tokio::task::spawn_blocking(move || l.record(now, batch)).await.ok().flatten();
            }
            _ = tokio::time::sleep_until(wake) => {
                if tokio::time::Instant::now() >= next_beat {
                    let asked = claim(&ledger, &hub, &mut events, &relay, &config, grace).await;
                    next_beat = tokio::time::Instant::now() + if asked { heartbeat } else { LINK_WAIT };
                }
                let now = now_ms();
                let prune = (config.retention_days > 0 && tokio::time::Instant::now() >= next_prune)
                    .then(|| now.saturating_sub(retention.as_millis() as Ms));
                if prune.is_some() {
                    next_prune = tokio::time::Instant::now() + PRUNE_EVERY;
                }
                let l = ledger.clone();
                book_due = tokio::task::spawn_blocking(move || l.tick(now, prune)).await.ok().flatten();
            }
        }
        ledger.webhooks.queued.notify_one();
    }
}

/// Take, keep or lose the recorder role (with a ledger in Redis; a relay's own SQLite
/// file is always its own). A relay not in touch with the shared store does not try:
/// its roster would not know the truth to take over from. `false`: the store was not
/// linked, so the store was not asked.
async fn claim(
    ledger: &Arc<Ledger>,
    hub: &Arc<Hub>,
    events: &mut mpsc::Receiver<(Instant, Event)>,
    relay: &str,
    config: &LedgerConfig,
    grace: u64,
) -> bool {
    if ledger.blocking(|s| matches!(s.db, Db::Sqlite(_))).await {
        return true;
    }
    let ttl = config.heartbeat_ms.saturating_mul(3);
    let store_up = hub.store_linked();
    let id = relay.to_string();
    let (held, was) = ledger
        .blocking(move |s| {
            let held = if store_up {
                s.db.claim(&id, ttl)
            } else {
                Ok(Claim::Refused)
            };
            (held, s.recording)
        })
        .await;
    match step(&held, was) {
        Step::Go | Step::Idle => {}
        Step::TakeOver => {
            if was {
                tracing::warn!("ledger: the recorder role lapsed; taking it over again from the truth");
            }
            // The truth now, and no event from before it: both under the roster's lock.
            let (at, truth) = hub.act(|r, now| {
                while events.try_recv().is_ok() {}
                hub.record_events(true);
                (now, r.truth())
            });
            let now = wall_ms(hub.wall_time(at));
            let webhooks = ledger.webhooks.clone();
            let keeper = ledger
                .blocking(|s| match &s.db {
                    Db::Redis(r) => r.keeper(),
                    Db::Sqlite(_) => None,
                })
                .await;
            let takeover = ledger.blocking(move |s| {
                let result = take_over(s, &webhooks, now, grace, truth);
                result.map(|()| ledger_commit(s, &webhooks, now))
            });
            // A takeover of many users (100,000: seconds of work, more on a busy core)
            // may outlast a term: the hold is renewed beside it, on its own connection,
            // as long as it is still this relay's.
            tokio::pin!(takeover);
            let renew_every = Duration::from_millis(config.heartbeat_ms);
            let result = loop {
                tokio::select! {
                    result = &mut takeover => break result,
                    _ = tokio::time::sleep(renew_every), if keeper.is_some() => {
                        let keeper = keeper.clone().expect("some");
                        let _ = tokio::task::spawn_blocking(move || keeper.renew()).await;
                    }
                }
            };
            match result {
                Ok(overflowed) => {
                    ledger.webhooks.counts.overflowed.fetch_add(overflowed, Relaxed);
                    tracing::info!("ledger: this relay records presence and sends the webhooks")
                }
                Err(e) => {
                    // Whatever it held before is not the truth any more.
                    hub.record_events(false);
                    ledger.blocking(State::stop_recording).await;
                    tracing::warn!("ledger: cannot take over recording: {e}")
                }
            }
        }
        Step::Stop => {
            hub.record_events(false);
            ledger.blocking(State::stop_recording).await;
            match held {
                Err(e) => tracing::warn!("ledger: lost the store, so this relay stops recording: {e}"),
                _ => tracing::warn!("ledger: another relay records now"),
            }
        }
    }
    store_up
}

/// What a relay does after claiming the recorder role.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// It records and still does.
    Go,
    /// It records from now on, from what the ledger holds and the roster's truth.
    TakeOver,
    /// It recorded and must stop.
    Stop,
    /// It did not record and still does not.
    Idle,
}

/// The rule of the election for one claim's outcome, `was` recording before it.
///
/// A relay that records and finds the role free again has had its hold lapse (a slow
/// claim, a lock held through a stalled Redis call): another relay may have taken the
/// role, recorded and gone meanwhile, telling events this relay's book never saw.
/// Going on from that book would tell them again (a second `user.online` for a user
/// the other relay already told). So it takes over afresh, as any relay would: the
/// sessions the other left open and the roster's truth.
fn step(held: &super::rows::Result<Claim>, was: bool) -> Step {
    match (held, was) {
        (Ok(Claim::Kept), true) => Step::Go,
        (Ok(Claim::Kept | Claim::Took), _) => Step::TakeOver,
        (Ok(Claim::Refused) | Err(_), true) => Step::Stop,
        (Ok(Claim::Refused) | Err(_), false) => Step::Idle,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorder_whose_role_lapsed_takes_over_afresh_rather_than_going_on() {
        assert_eq!(step(&Ok(Claim::Kept), true), Step::Go);
        assert_eq!(step(&Ok(Claim::Took), true), Step::TakeOver);
        assert_eq!(step(&Ok(Claim::Took), false), Step::TakeOver);
        // Its own hold, kept after it stopped on a failed batch: from the truth again.
        assert_eq!(step(&Ok(Claim::Kept), false), Step::TakeOver);
        assert_eq!(step(&Ok(Claim::Refused), true), Step::Stop);
        assert_eq!(step(&Err(super::super::rows::Error::NotRecorder), true), Step::Stop);
        assert_eq!(step(&Ok(Claim::Refused), false), Step::Idle);
    }
}
