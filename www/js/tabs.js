//! Counts the tabs of this browser profile that have the demo open, and how many of
//! them hold a relay connection, over a BroadcastChannel of the demo's own (separate
//! from whatever the SDK uses internally).
//!
//! Tabs say `hello` when they open, answer `here`, repeat `here` as a heartbeat and say
//! `bye` on pagehide. A `bye` posted as a page closes can be lost, so each tab also holds
//! a Web Lock of its own while it lives: the browser lets go of it when the tab goes,
//! and a peer whose lock is gone is dropped at the next heartbeat. Without Web Locks, a
//! tab that vanished without a word is dropped after `STALE_MS`: long, because Chrome
//! runs a hidden tab's timers only once a minute.

const CHANNEL = "rollcall-demo/tabs";
const HEARTBEAT_MS = 5_000;
const STALE_MS = 90_000;
const LEADER_POLL_MS = 500;
const LOCK_PREFIX = "rollcall-demo/tab/";
/** A peer heard this recently may not hold its lock yet. */
const LOCK_GRACE_MS = 2_000;

export function trackTabs({ isLeader, onChange }) {
  const id = Math.random().toString(36).slice(2);
  const peers = new Map(); // tab id -> { leader, seen }
  let leader = Boolean(isLeader());

  const snapshot = () => {
    let connections = leader ? 1 : 0;
    for (const peer of peers.values()) if (peer.leader) connections += 1;
    return { tabs: peers.size + 1, connections, isLeader: leader };
  };
  const changed = () => onChange(snapshot());

  if (typeof BroadcastChannel !== "function") {
    const timer = setInterval(() => {
      const now = Boolean(isLeader());
      if (now !== leader) { leader = now; changed(); }
    }, LEADER_POLL_MS);
    changed();
    return { snapshot, stop: () => clearInterval(timer) };
  }

  const bus = new BroadcastChannel(CHANNEL);
  const say = (type) => bus.postMessage({ type, id, leader });
  bus.onmessage = ({ data }) => {
    if (!data || typeof data.id !== "string" || data.id === id) return;
    if (data.type === "bye") {
      if (peers.delete(data.id)) changed();
      return;
    }
    const before = peers.get(data.id);
    peers.set(data.id, { leader: Boolean(data.leader), seen: Date.now() });
    if (data.type === "hello") say("here");
    if (!before || before.leader !== Boolean(data.leader)) changed();
  };

  const locks = navigator.locks;
  let releaseLock = () => {};
  /** Hold this tab's lock until `releaseLock()` (the browser lets go of it when the tab goes). */
  const holdLock = (options) =>
    locks
      ?.request(LOCK_PREFIX + id, options, (lock) => lock && new Promise((resolve) => (releaseLock = resolve)))
      .catch(() => {});
  holdLock({});

  const heartbeat = setInterval(async () => {
    say("here");
    const now = Date.now();
    let held = null;
    try {
      held = locks?.query ? new Set((await locks.query()).held.map((lock) => lock.name)) : null;
    } catch {
      held = null;
    }
    let dropped = false;
    for (const [peer, info] of peers) {
      const gone = held !== null && info.seen < now - LOCK_GRACE_MS && !held.has(LOCK_PREFIX + peer);
      if (gone || info.seen < now - STALE_MS) { peers.delete(peer); dropped = true; }
    }
    if (dropped) changed();
  }, HEARTBEAT_MS);

  const leaderPoll = setInterval(() => {
    const now = Boolean(isLeader());
    if (now !== leader) {
      leader = now;
      say("here");
      changed();
    }
  }, LEADER_POLL_MS);

  window.addEventListener("pagehide", () => say("bye"));
  window.addEventListener("pageshow", (event) => {
    if (!event.persisted) return;
    // Back from the back/forward cache: hold the tab's lock again if it was let go.
    holdLock({ ifAvailable: true });
    say("hello");
  });
  say("hello");
  changed();

  return {
    snapshot,
    stop() {
      clearInterval(heartbeat);
      clearInterval(leaderPoll);
      say("bye");
      bus.close();
      releaseLock();
    },
  };
}
