// rollcall: who is here right now. The entry of the npm package `rollcall`.
//
// An ES module that works straight in a browser (no bundler) and under bundlers: the
// wasm-bindgen glue finds the .wasm beside it with `new URL(..., import.meta.url)`.
//
// Two things live here rather than in the wasm, because they are about loading and
// promises, not presence rules: the module is fetched as soon as this file is imported
// in a browser (a framework that connects only after hydration does not wait for it),
// and `channel.enter()` resolves once the channel's state shows this user.
import init, { Channel, Presence, connect as connectTab } from "./rollcall_sdk.js";

let loading;

/**
 * Fetch and compile the WebAssembly once per page; a failed load is retried by the next
 * call. `connect()` calls it; calling it earlier only starts the download sooner.
 */
export function preload() {
  loading ??= init().catch((cause) => {
    loading = undefined;
    const error = new Error(
      "The rollcall WebAssembly module could not be loaded; check that rollcall_sdk_bg.wasm is served beside rollcall.js with the type application/wasm.",
      { cause },
    );
    error.name = "RollcallError";
    error.code = "wasm_unavailable";
    throw error;
  });
  return loading;
}

// In a browser page, start now; `connect()` will find it under way. Not on a server
// (server rendering imports this too) nor in a worker without a document.
if (typeof document !== "undefined") preload().catch(() => {});

/** How long `enter()` waits for the channel's state after the relay's ok, at most. */
const FIRST_STATE_MS = 10_000;

/** The token's subject, or null: only to recognise this user in a channel's list. */
function subjectOf(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(part), (c) => c.charCodeAt(0));
    const sub = JSON.parse(new TextDecoder().decode(bytes)).sub;
    return typeof sub === "string" ? sub : null;
  } catch {
    return null;
  }
}

/** What this file knows of each channel handle's presence: `{ id, watching }`. */
const tabs = new WeakMap();

const channel = Presence.prototype.channel;
Presence.prototype.channel = function (...args) {
  const handle = channel.apply(this, args);
  tabs.set(handle, tabs.get(this));
  return handle;
};

// Which channels the page watches in this tab (subscriptions by name), so that
// `enter()` knows whether a state is coming at all.
const subscribe = Channel.prototype.subscribe;
Channel.prototype.subscribe = function (...args) {
  const stop = subscribe.apply(this, args);
  const tab = tabs.get(this);
  if (!tab || typeof stop !== "function") return stop;
  const name = this.name;
  tab.watching.set(name, (tab.watching.get(name) ?? 0) + 1);
  let live = true;
  return (...rest) => {
    if (live) {
      live = false;
      const left = tab.watching.get(name) - 1;
      if (left > 0) tab.watching.set(name, left);
      else tab.watching.delete(name);
    }
    return stop(...rest);
  };
};

/**
 * Connect this tab to a relay. Resolves once this tab knows whether it holds the
 * browser's connection; `presence.ready` settles with the relay's welcome.
 * @param {import("./rollcall.js").ConnectOptions} options
 */
export async function connect(options) {
  await preload();
  // `id`: this user, from the token given or fetched; `watching`: subscriptions by
  // channel name.
  const tab = { id: null, watching: new Map() };
  const note = (token) => {
    if (typeof token === "string") tab.id = subjectOf(token) ?? tab.id;
  };
  let given = options;
  if (options !== null && typeof options === "object") {
    const { token } = options;
    if (typeof token === "function") {
      given = {
        ...options,
        token(...args) {
          const result = token(...args);
          Promise.resolve(result).then(note, () => {});
          return result;
        },
      };
    } else {
      note(token);
    }
  }
  const presence = await connectTab(given);
  tabs.set(presence, tab);
  return presence;
}

// A channel's state is in, with this user in it once entered: its count counts them,
// and its list (unless count-only) shows them. Every tab reads its token at connect()
// (the first one decides which tabs share a connection), so the id is known unless the
// token's payload cannot be read; then a count is enough.
function shows(state, id) {
  if (state.count < 1) return false;
  if (id === null || state.users.length === 0) return true;
  return state.users.some((user) => user.id === id);
}

// `enter()` resolves with the relay's ok; on a channel the page watches, the snapshot and
// the diff that shows this user come just after it. Resolve once they are in, so `count`
// and `users` read right after `await channel.enter()` are true. A channel the page does
// not watch gets no state (entering is not watching: a "who is online" channel that
// every page enters and few watch costs one frame per change, not one per member), so
// there `enter()` resolves with the ok.
const enter = Channel.prototype.enter;

Channel.prototype.enter = function (meta) {
  const handle = this;
  const tab = tabs.get(handle);
  const entered = enter.call(handle, meta);
  if (!tab?.watching.has(handle.name)) return entered;
  return entered.then(
    () =>
      new Promise((resolve) => {
        let stops = [];
        const done = () => {
          clearTimeout(timer);
          for (const stop of stops.splice(0)) stop();
          resolve();
        };
        // The enter stands: a channel the user may enter but not view, or a state
        // slower than FIRST_STATE_MS, resolves without it.
        const timer = setTimeout(done, FIRST_STATE_MS);
        stops.push(handle.on("error", done));
        // Called at once when the state is known already (another tab, an earlier watch).
        stops.push(
          subscribe.call(handle, (state) => {
            if (shows(state, tab.id)) queueMicrotask(done);
          }),
        );
      }),
  );
};
