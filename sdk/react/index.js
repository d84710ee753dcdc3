"use client";

// @rollcall/react: who is here right now, as React hooks.
//
// <PresenceProvider> holds one rollcall connection for its tree (and the SDK shares it
// with the browser's other tabs); usePresence, usePresenceCount and useUpdatePresence
// read and write channels through the provider's store (store.js), which counts hooks
// per channel so that StrictMode and re-mounts show nothing to other users.
//
// Plain ES module, no JSX: it ships as written. Types are in index.d.ts. The directive
// above marks it as client code for React Server Components: a Server Component (a
// Next.js App Router page) may render <PresenceProvider> and pass it props; its hooks
// run in the browser.

import {
  createContext,
  createElement,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
  useSyncExternalStore,
} from "react";
import { CONNECTING, PresenceStore } from "./store.js";

const PresenceContext = createContext(null);

/**
 * One connection to the relay at `url` for everything below it. A new `url` or a new
 * string `token` (another user signed in) connects again; a token function is called
 * when the SDK needs a token, and may change between renders without reconnecting.
 */
export function PresenceProvider({ url, token, idleAfterMs, initial, children }) {
  const latestToken = useRef(token);
  useEffect(() => {
    latestToken.current = token;
  });
  const fetches = typeof token === "function";
  const store = useMemo(
    () =>
      new PresenceStore({
        url,
        token: fetches ? () => latestToken.current() : token,
        ...(idleAfterMs === undefined ? {} : { idleAfterMs }),
        ...(initial === undefined ? {} : { initial }),
      }),
    // `initial` only matters before the first state, so a new object is no reason to
    // reconnect; neither is a new token function.
    [url, fetches ? null : token, idleAfterMs],
  );
  useEffect(() => {
    store.retain();
    return () => store.release();
  }, [store]);
  return createElement(PresenceContext.Provider, { value: store }, children);
}

function useStore(hook) {
  const store = useContext(PresenceContext);
  if (!store) {
    throw new Error(`${hook}() needs a <PresenceProvider url token> above it in the tree.`);
  }
  return store;
}

function useWatch(store, channel, select) {
  const subscribe = useCallback((onChange) => store.watch(channel, onChange), [store, channel]);
  return useSyncExternalStore(
    subscribe,
    () => select(store.snapshot(channel)),
    () => select(store.initial(channel)),
  );
}

const whole = (snapshot) => snapshot;
const countOf = (snapshot) => snapshot.count;

/**
 * The users of `channel`, their count, the cap of a capped list, the connection's
 * status and the last error. Appears in the channel while mounted (unless `enter:
 * false`); a new `meta` is sent as an update, a new `channel` leaves the old one and
 * enters the new one. `friends` (user ids) are shown wherever they are in a capped list.
 */
export function usePresence(channel, { enter = true, meta, friends } = {}) {
  const store = useStore("usePresence");
  // Compared as JSON, like meta: an inline array is a new one on every render. Before
  // the watch, so the first subscription already carries them.
  const friendsJson = friends?.length ? JSON.stringify(friends) : undefined;
  useEffect(() => {
    if (friendsJson === undefined) return undefined;
    return store.follow(channel, JSON.parse(friendsJson));
  }, [store, channel, friendsJson]);
  const snapshot = useWatch(store, channel, whole);
  // Compared as JSON: an inline `{ typing }` is a new object on every render.
  const metaJson = meta === undefined ? undefined : JSON.stringify(meta);
  useEffect(() => {
    if (!enter) return undefined;
    return store.enter(channel, metaJson === undefined ? undefined : JSON.parse(metaJson));
    // The meta of this render goes with the enter; later changes are updates (below).
  }, [store, channel, enter]);
  useEffect(() => {
    if (enter && metaJson !== undefined) store.update(channel, JSON.parse(metaJson));
  }, [store, channel, enter, metaJson]);
  return snapshot;
}

/**
 * The connection's status, the same in every tab of the browser: `{ status, retryAt }`
 * with `status` one of "connecting", "connected", "reconnecting" (`retryAt`: when the
 * next attempt starts, in Date.now() milliseconds, or null while one is under way),
 * "offline" (the browser has no network) or "closed". A leader tab that closes shows
 * no reconnect. "connecting" on the server. The same object until it changes.
 */
export function usePresenceStatus() {
  const store = useStore("usePresenceStatus");
  const subscribe = useCallback((onChange) => store.watchConnection(onChange), [store]);
  return useSyncExternalStore(subscribe, () => store.connection, () => CONNECTING);
}

/** How many users are in `channel`, without appearing in it; re-renders only when it changes. */
export function usePresenceCount(channel) {
  const store = useStore("usePresenceCount");
  return useWatch(store, channel, countOf);
}

/**
 * A stable function that replaces this user's meta in `channel` (e.g. `{ typing: true }`),
 * for a channel that a usePresence() of the same provider enters. Its promise never
 * rejects; a refusal shows as that channel's `error`.
 */
export function useUpdatePresence(channel) {
  const store = useStore("useUpdatePresence");
  return useCallback((meta) => store.update(channel, meta), [store, channel]);
}

const NO_PAGES = Object.freeze({ users: Object.freeze([]), count: null, next: null, done: false, loading: false, error: null });

/**
 * Everyone in `channel`, page by page ("and 1,234 others": show more): `more()` loads
 * the next `limit` members (in id order) and adds them to `users`; `done` once the last
 * page is in. A listing at the time of each page, not kept up to date: the live list is
 * usePresence's. Starts empty; a new `channel` or `limit` starts again.
 */
export function useMembers(channel, { limit } = {}) {
  const store = useStore("useMembers");
  const key = `${limit ?? ""} ${channel}`;
  const [state, setState] = useState({ key, ...NO_PAGES });
  const loading = useRef(null);
  const current = state.key === key ? state : { key, ...NO_PAGES };
  // Read by `more` at call time: a stable function that always asks for the next page.
  const next = useRef(current.next);
  next.current = current.next;
  const finished = useRef(current.done);
  finished.current = current.done;
  const more = useCallback(() => {
    if (finished.current || loading.current === key) return Promise.resolve();
    loading.current = key;
    setState((s) => ({ ...(s.key === key ? s : { key, ...NO_PAGES }), loading: true }));
    const options = { ...(next.current === null ? {} : { after: next.current }), ...(limit === undefined ? {} : { limit }) };
    return store.members(channel, options).then(
      (page) => {
        if (loading.current === key) loading.current = null;
        setState((s) =>
          s.key !== key
            ? s
            : { key, users: [...s.users, ...page.users], count: page.count, next: page.next, done: page.next === null, loading: false, error: null },
        );
      },
      (error) => {
        if (loading.current === key) loading.current = null;
        setState((s) => (s.key !== key ? s : { ...s, loading: false, error }));
      },
    );
  }, [store, channel, limit, key]);
  const { users, count, done, error } = current;
  return { users, count, done, loading: current.loading, error, more };
}
