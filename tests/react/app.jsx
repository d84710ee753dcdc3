// The app the React tests drive: a scene of rooms (usePresence) and counters
// (usePresenceCount) under one PresenceProvider, changed by the test through
// window.app. Every render of every part lands in window.app.log, so a test can say
// what the user saw and how many times each component rendered.

import { Activity, Component, StrictMode, useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import { PresenceProvider, useMembers, usePresence, usePresenceCount, usePresenceStatus, useUpdatePresence } from "@rollcall/react";

const log = [];
/** Mount effects per part: 2 under StrictMode's double mount, 1 otherwise. */
const mounts = {};
const updaters = {};
/** Each crowd part's `more()`. */
const mores = {};
/** Errors that reached an error boundary: none should. */
const thrown = [];
let setScene = null;
let root = null;

const errorOf = (e) => e && { name: e.name, code: e.code, message: e.message };

function useMountCount(id) {
  useEffect(() => {
    mounts[id] = (mounts[id] ?? 0) + 1;
  }, [id]);
}

function Room({ id, channel, enter, meta }) {
  const presence = usePresence(channel, { enter, meta });
  updaters[id] = useUpdatePresence(channel);
  useMountCount(id);
  log.push({
    id,
    channel,
    count: presence.count,
    status: presence.status,
    users: presence.users.map((u) => ({ id: u.id, name: u.name, meta: u.meta })),
    error: errorOf(presence.error),
    at: Date.now(),
  });
  return (
    <ul id={id} data-status={presence.status}>
      {presence.users.map((u) => (
        <li key={u.id}>{u.name}</li>
      ))}
    </ul>
  );
}

function Count({ id, channel }) {
  const count = usePresenceCount(channel);
  useMountCount(id);
  log.push({ id, channel, count, at: Date.now() });
  return <p id={id}>{count}</p>;
}

/** A capped "who is online": some names, "and N others", and everyone page by page. */
function Crowd({ id, channel, friends, limit }) {
  const presence = usePresence(channel, { friends });
  const members = useMembers(channel, { limit });
  mores[id] = members.more;
  useMountCount(id);
  log.push({
    id,
    channel,
    count: presence.count,
    capped: presence.capped,
    status: presence.status,
    users: presence.users.map((u) => u.id),
    members: members.users.map((u) => u.id),
    membersCount: members.count,
    done: members.done,
    at: Date.now(),
  });
  const others = presence.count - presence.users.length;
  return (
    <p id={id}>
      {presence.users.map((u) => u.name).join(", ")}
      {others > 0 ? ` and ${others} others` : ""}
    </p>
  );
}

/** The connection's status, as a page shows "reconnecting…". */
function Status({ id }) {
  const { status, retryAt } = usePresenceStatus();
  useMountCount(id);
  log.push({ id, status, retryAt, at: Date.now() });
  return <p id={id} data-status={status}>{status === "reconnecting" ? "reconnecting…" : status}</p>;
}

const parts = { room: Room, count: Count, crowd: Crowd, status: Status };

class Boundary extends Component {
  state = { failed: false };
  static getDerivedStateFromError() {
    return { failed: true };
  }
  componentDidCatch(error) {
    thrown.push(errorOf(error));
  }
  render() {
    return this.state.failed ? <p>failed</p> : this.props.children;
  }
}

/** A token function, as a site writes one: the test gives the tokens (freshToken). */
const tokenFunction = async () => window.freshToken();

/**
 * scene: { url, token, parts: [{ kind: "room" | "count" | "crowd" | "status", id, channel, enter?, meta?,
 * friends?, limit? }],
 * hidden? } where `hidden` (true or false) puts the provider in an <Activity>, and
 * `token: "function"` uses `tokenFunction`.
 */
function Scene({ initial }) {
  const [scene, set] = useState(initial);
  setScene = set;
  const tree = (
    <PresenceProvider url={scene.url} token={scene.token === "function" ? tokenFunction : scene.token}>
      {scene.parts.map((part) => {
        const Part = parts[part.kind];
        return <Part key={part.id} {...part} />;
      })}
    </PresenceProvider>
  );
  if (scene.hidden === undefined) return tree;
  return <Activity mode={scene.hidden ? "hidden" : "visible"}>{tree}</Activity>;
}

window.app = {
  log,
  mounts,
  thrown,
  mount(scene, { strict = false } = {}) {
    root = createRoot(document.getElementById("root"));
    const tree = (
      <Boundary>
        <Scene initial={scene} />
      </Boundary>
    );
    root.render(strict ? <StrictMode>{tree}</StrictMode> : tree);
  },
  /** Change the scene as a parent's new props would. */
  set(changes) {
    setScene((scene) => ({ ...scene, ...changes }));
  },
  update(id, meta) {
    return updaters[id](meta);
  },
  more(id) {
    return mores[id]();
  },
  unmount() {
    root.unmount();
  },
  renders(id) {
    return log.filter((e) => e.id === id);
  },
  last(id) {
    return log.findLast((e) => e.id === id) ?? null;
  },
};
