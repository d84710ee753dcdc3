//! Counts the tabs of this browser profile that have the demo open, and how many of
//! them hold a relay connection, over a BroadcastChannel of the demo's own (separate
//! from whatever the SDK uses internally).
//!
//! Tabs say `hello` when they open, answer `here`, repeat `here` as a heartbeat and say
//! `bye` on pagehide. A tab that vanished without a word is dropped after `STALE_MS`:
//! long, because Chrome runs a hidden tab's timers only once a minute.

const CHANNEL = "rollcall-demo/tabs";
const HEARTBEAT_MS = 5_000;
const STALE_MS = 90_000;
const LEADER_POLL_MS = 500;

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

  const heartbeat = setInterval(() => {
    say("here");
    const cutoff = Date.now() - STALE_MS;
    let dropped = false;
    for (const [peer, info] of peers) {
      if (info.seen < cutoff) { peers.delete(peer); dropped = true; }
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
    if (event.persisted) say("hello");
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
    },
  };
}
