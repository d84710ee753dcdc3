// rollcall: who is here right now. The entry of the npm package `rollcall`.
//
// An ES module that works straight in a browser (no bundler) and under bundlers: it finds
// the .wasm beside it with `new URL(..., import.meta.url)`, which bundlers emit as an
// asset.
//
// The rules (leading, following, routing a tab's wants, handing over, check-ins,
// reconnects, the channels' views) are Rust, in the wasm: one tab's rules per
// `connect()`, named by the number `create` gives, fed by `signal`, `text`, `bus`, `ask`
// and `listen`, read by `poll`, `deadline`, `view` and `flags`. This file is the shell
// around them, what is about the page rather than presence: the WebSocket, the
// BroadcastChannel to the other tabs, the Web Lock, the one timer, the page's events,
// listeners and promises. Every input goes through `Shell.with`, which hands it to the
// rules with the time, does at once what they ask of the socket and the bus, then calls
// the page's callbacks (which may call back into the SDK), then arms the timer at the
// rules' next deadline.
import {
  imports,
  finish,
  ask,
  badChannel,
  bus as busMessage,
  create,
  deadline,
  flags,
  listen,
  poll,
  signal,
  text,
  view,
} from "./rollcall_sdk.js";

let loading;

/**
 * Fetch and compile the WebAssembly once per page; a failed load is retried by the next
 * call. `connect()` calls it; calling it earlier only starts the download sooner.
 *
 * Fetched, compiled and instantiated here rather than by the glue's `init` or
 * `initSync`, whose loader and checks with their fallbacks and warnings then stay out of
 * the package (build.sh exports the glue's `imports` and `finish` for this); the
 * compiled module is small enough to instantiate at once.
 */
export function preload() {
  loading ??= fetch(new URL("rollcall_sdk_bg.wasm", import.meta.url))
    .then((res) => {
      if (!res.ok) throw new Error(`HTTP ${res.status} for ${res.url}`);
      // Compiled as it downloads; a server that gives another type than
      // application/wasm gets it compiled once downloaded.
      return WebAssembly.compileStreaming(res.clone()).catch(() =>
        res.arrayBuffer().then((bytes) => WebAssembly.compile(bytes)),
      );
    })
    .then((module) => void finish(new WebAssembly.Instance(module, imports()), module))
    .catch((cause) => {
      loading = undefined;
      throw Object.assign(
        fail(
          "wasm_unavailable",
          "The rollcall WebAssembly module could not be loaded; check that rollcall_sdk_bg.wasm is served beside rollcall.js.",
        ),
        { cause },
      );
    });
  return loading;
}

// In a browser page, start now; `connect()` will find it under way. Not on a server
// (server rendering imports this too) nor in a worker without a document.
if (typeof document !== "undefined") preload().catch(() => {});

/** An Error the page can tell apart: `name` "RollcallError" and a `code`. */
function fail(code, message) {
  const error = new Error(message);
  error.name = "RollcallError";
  error.code = code;
  return error;
}

const badOption = (message) => fail("bad_option", message);

/** The page's monotonic clock, as the rules read time. */
const now = () => performance.now();

/** The rules' lots: when to retry, when to claim a lead without Web Locks. */
const jitter = Math.random;

/** Where a browser profile keeps its client id, shared by its tabs. */
const CLIENT_KEY = "rollcall.client";

/** How long `enter()` waits for the channel's state after the relay's ok, at most. */
const FIRST_STATE_MS = 10_000;

/** Input events that mean "someone is using this page". */
const INPUT_EVENTS = ["pointerdown", "pointermove", "keydown", "scroll", "focus"];

/** The longest delay `setTimeout` takes as it is. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** `presence.status`, by the number `flags` gives from bit 3 up. */
const STATUS = ["connecting", "connected", "reconnecting", "offline", "closed"];

/** A channel's changes, by the number the rules give them. */
const CHANGES = ["join", "leave", "update"];

/** `channel.on()`'s events. */
const EVENTS = ["join", "leave", "update", "error"];

/** A random id of `[A-Za-z0-9]`, 22 characters (about 130 bits). */
function randomId() {
  const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  let id = "";
  for (let i = 0; i < 22; i++) id += chars[Math.floor(Math.random() * 62)];
  return id;
}

/**
 * This browser profile's client id: kept in localStorage so tabs share it and a refresh
 * keeps it. Without storage (private modes, blocked), one per tab. The relay's rule for
 * client ids: 1 to 64 of `[A-Za-z0-9_-]`.
 */
function clientId() {
  try {
    let id = localStorage.getItem(CLIENT_KEY);
    if (!/^[\w-]{1,64}$/.test(id ?? "")) localStorage.setItem(CLIENT_KEY, (id = randomId()));
    return id;
  } catch {
    return randomId();
  }
}

/**
 * The token's claims, read without verifying (the relay verifies), or null. Used to name
 * the lock and bus that tabs of one user share, and to recognise this user in a list.
 */
function claims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(part), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
}

/** The token's `sub` as text: a numeric sub names the same user as its decimal text. */
function subjectOf(token) {
  const sub = claims(token)?.sub;
  if (typeof sub === "number") return String(Math.trunc(sub));
  return typeof sub === "string" ? sub : "";
}

/** The token's `sub` if it is text, or null: this user's id in a channel's list. */
function userOf(token) {
  const sub = claims(token)?.sub;
  return typeof sub === "string" ? sub : null;
}

/** The page's token function, called now: a promise of the token string. */
async function fetchToken(tokenFn) {
  const token = await tokenFn();
  if (typeof token !== "string") throw fail("bad_token", "The token function must return (a promise of) a string.");
  return token;
}

const isHidden = () => document.visibilityState === "hidden";

/** `navigator.onLine`; a browser without it is taken as online. */
const isOnline = () => navigator.onLine !== false;

/** Close a socket and forget it: its handlers go first, so its close is not reported. */
function shut(ws, code, reason) {
  ws.onopen = ws.onmessage = ws.onclose = null;
  try {
    ws.close(code, reason);
  } catch {
    // A code the browser refuses: it is being dropped all the same.
  }
}

/** One tab's driver: its rules (number `h`), and everything they ask of the page. */
class Shell {
  constructor({ url, tokenFn, idleAfterMs, initial }, token, name, bus) {
    this.url = url;
    this.tokenFn = tokenFn;
    this.token = token;
    /** The Web Lock's and the bus's name: the relay and the user. */
    this.name = name;
    this.bus = bus;
    this.tabId = randomId();
    this.clientId = clientId();
    this.h = create(now(), this.tabId, this.clientId, !!tokenFn, idleAfterMs, initial, isHidden(), isOnline());
    /** The leader's socket, and the number of the last one opened. */
    this.socket = null;
    this.gen = 0;
    /** Channel name to its listeners: `{ state, join, leave, update, error }`, each a Set. */
    this.listeners = new Map();
    /** Request number to its promise's `[resolve, reject]`. */
    this.promises = new Map();
    this.statusListeners = new Set();
    /** The page's callbacks, queued while the rules' outputs are done. */
    this.effects = [];
    /** Resolving it releases the Web Lock (and so the leadership). */
    this.release = null;
    this.timer = undefined;
    this.due = -1;
    this.ready = new Promise((resolve, reject) => (this.settle = [resolve, reject]));
    // Nobody may be listening to `ready`; a refusal is also reported elsewhere.
    this.ready.catch(() => {});
  }

  /** Feed one input to the rules with the time, do what they ask, then call the page, then arm the timer. */
  with(input) {
    const t = now();
    const h = this.h;
    const result = input(h, t);
    signal(h, t, 0);
    for (let out; (out = poll(h, t)); ) this.output(out);
    for (let effects; (effects = this.effects.splice(0)).length; ) {
      for (const [f, arg] of effects) {
        try {
          f(arg);
        } catch (e) {
          // A listener's exception must not stop the others.
          console.error("rollcall: a listener threw", e);
        }
      }
    }
    const due = deadline(h);
    if (due !== this.due) {
      clearTimeout(this.timer);
      this.due = due;
      if (due >= 0) {
        // Past 2^31 - 1 ms a browser fires at once: a far deadline (a token valid for a
        // month) is met by waking early and arming again.
        this.timer = setTimeout(() => {
          this.due = -1;
          this.with((h, t) => signal(h, t, 1, 0, jitter()));
        }, Math.min(due - now(), MAX_TIMEOUT_MS));
      }
    }
    return result;
  }

  later(f, arg) {
    this.effects.push([f, arg]);
  }

  /**
   * One of the rules' outputs, `[t, a, b]` (`poll` in sdk/src/lib.rs has the numbers):
   * the socket and the bus at once, the page's callbacks later.
   */
  output([t, a, b]) {
    // A refusal comes as `{code, message}`: the page gets an Error of it.
    if (t === 8 || t === 10 || t === 12 || t === 13) b = fail(b.code, b.message);
    switch (t) {
      case 0: // post on the bus
        try {
          this.bus.postMessage(a);
        } catch {
          // Closed with this presence.
        }
        break;
      case 1: // send on the socket
        try {
          this.socket?.send(a);
        } catch {
          // Not open (yet, or any more): its close event is the rules' to hear.
        }
        break;
      case 2: // open a socket (a: with a fresh token)
        this.later(() => this.connect(a));
        break;
      case 3: // close it with code a, reason b
        if (this.socket) shut(this.socket, a, b);
        this.socket = null;
        break;
      case 4: // a fresh token
        this.later(() => this.refresh());
        break;
      case 5: // the beacon for session a
        // A string body goes as text/plain: no CORS preflight, so it leaves even as the page dies.
        try {
          navigator.sendBeacon(`${this.url}/v1/beacon`, JSON.stringify({ session: a }));
        } catch {
          // No beacon: the relay's grace covers the page.
        }
        break;
      case 6: // let go of the Web Lock
        if (this.release) this.later(this.release);
        this.release = null;
        break;
      case 7: // ready resolves
      case 8: // ready rejects with b
        if (this.settle) this.later(this.settle[t - 7], b);
        this.settle = null;
        break;
      case 9: // request a resolves with b
      case 10: {
        // request a rejects with b
        const settle = this.promises.get(a);
        this.promises.delete(a);
        if (settle) this.later(settle[t - 9], b);
        break;
      }
      case 11: {
        // channel a changed: b lists [kind, user]
        const l = this.listeners.get(a);
        if (!l) break;
        for (const [kind, user] of b) for (const f of l[CHANGES[kind]]) this.later(f, user);
        if (l.state.size) {
          const state = view(this.h, a, 0);
          for (const f of l.state) this.later(f, state);
        }
        break;
      }
      case 12: // the error b for channel a's listeners (null: every channel's)
        console.warn("rollcall:", b);
      // falls through
      case 13: // the connection ended for good with the error b (a null)
        for (const [ch, l] of this.listeners) {
          if (a == null || a === ch) for (const f of l.error) this.later(f, b);
        }
        break;
      case 14: {
        // the status shown is now a; while reconnecting, the next attempt in b ms
        const change = { status: a, retryAt: b === null ? null : Date.now() + b };
        for (const f of this.statusListeners) this.later(f, change);
        break;
      }
    }
  }

  /** One of the tab's flags (`flags`: 1 leads, 2 connected, 4 done). */
  is(flag) {
    return !!(flags(this.h) & flag);
  }

  /** Does this tab lead with socket number `gen` (undefined: whichever is current)? */
  current(gen) {
    return this.is(1) && (gen === undefined || gen === this.gen);
  }

  /** The leader's socket closed, or could not open. */
  closed(gen, code) {
    this.with((h, t) => {
      if (!this.current(gen)) return;
      this.socket = null;
      signal(h, t, 10, code, jitter());
    });
  }

  /** Open the socket, with a fresh token first when the rules ask or none is known. */
  connect(fresh) {
    if (this.tokenFn && (fresh || !this.token)) {
      fetchToken(this.tokenFn).then(
        (token) => {
          this.token = token;
          this.open();
        },
        (e) => {
          console.error("rollcall: the token function failed", e);
          this.closed(undefined, 1006);
        },
      );
    } else {
      this.open();
    }
  }

  open() {
    if (!this.is(1)) return;
    const gen = ++this.gen;
    let ws;
    try {
      ws = new WebSocket(`${this.url.replace(/^http/, "ws")}/v1/ws`);
    } catch (e) {
      console.error("rollcall: cannot open a WebSocket", e);
      this.closed(gen, 1006);
      return;
    }
    ws.onopen = () => this.with((h, t) => this.current(gen) && text(h, t, 1, this.token ?? ""));
    ws.onmessage = (e) => {
      if (typeof e.data === "string") this.with((h, t) => this.current(gen) && text(h, t, 0, e.data));
    };
    ws.onclose = (e) => this.closed(gen, e.code ?? 1006);
    const old = this.socket;
    this.socket = ws;
    // 4001: the relay keeps the old session's presence, as for a page going away.
    if (old) shut(old, 4001, "replaced");
  }

  refresh() {
    if (!this.tokenFn) return;
    fetchToken(this.tokenFn).then(
      (token) => this.with((h, t) => text(h, t, 2, (this.token = token))),
      (e) => console.error("rollcall: the token function failed", e),
    );
  }

  /** A request to the rules (`ask`'s `op` and `arg`): the promise settles with the leader's answer. */
  ask(op, ch, arg) {
    return new Promise((resolve, reject) => {
      this.with((h, t) => {
        try {
          this.promises.set(ask(h, t, op, ch, arg ?? {}), [resolve, reject]);
        } catch (e) {
          // Refused at once, as `{code, message}` (anything else as it was thrown).
          reject(e instanceof Error ? e : fail(e.code, e.message));
        }
      });
    });
  }

  /** Become the leader; the returned promise holds the Web Lock until `release`. */
  hold() {
    return new Promise((release) => {
      this.release = release;
      this.with((h, t) => signal(h, t, 2));
    });
  }

  /**
   * Decide this tab's role: leader if the Web Lock named after the relay and the user is
   * free, else follower, queued to take over when the lock passes (the leader tab
   * closes, navigates or dies). Without Web Locks, an election over the bus. Resolves
   * once the role is known.
   */
  elect() {
    const locks = navigator.locks;
    return new Promise((decided) => {
      let answered = false;
      const overTheBus = () => {
        if (answered) return;
        answered = true;
        this.with((h, t) => signal(h, t, 3, 0, jitter()));
        decided();
      };
      try {
        locks
          .request(this.name, { ifAvailable: true }, (lock) => {
            answered = true;
            decided();
            if (lock) return this.hold();
            // Queued for the lock. The browser refuses a queued request only when the
            // page is going away (a page back from the cache runs for it again).
            locks.request(this.name, () => (this.is(4) ? undefined : this.hold())).catch(() => {});
          })
          .catch(overTheBus);
      } catch {
        // No Web Locks in this browser (or not for this page).
        overTheBus();
      }
    });
  }

  /** The page's events, for the page's life. */
  listen() {
    const on = (target, names, f) => {
      for (const name of names) target.addEventListener(name, f);
    };
    this.bus.onmessage = (e) => this.with((h, t) => busMessage(h, t, e.data, jitter()));
    on(window, ["pagehide"], () => this.with((h, t) => signal(h, t, 8)));
    on(window, ["pageshow"], (e) => {
      if (e.persisted && this.with((h, t) => signal(h, t, 7))) this.elect();
    });
    on(document, ["visibilitychange"], () => this.with((h, t) => signal(h, t, 6, +isHidden())));
    // The status shows `offline` at once, and a connection waiting to retry tries again
    // as soon as the network is back.
    on(window, ["online", "offline"], (e) => this.with((h, t) => signal(h, t, 4, +(e.type === "online"))));
    on(window, INPUT_EVENTS, () => this.with((h, t) => signal(h, t, 5)));
  }
}

/** One channel as this tab uses it. */
class Channel {
  #shell;
  #tab;
  #friends;

  constructor(shell, tab, name, friends) {
    this.#shell = shell;
    this.#tab = tab;
    this.#friends = friends;
    Object.defineProperty(this, "name", { value: name, enumerable: true });
  }

  /**
   * Appear in the channel with `meta`. Rejects with an Error that says why. On a channel
   * the page watches, resolves once its state shows this user (below).
   */
  enter(meta) {
    const entered = this.#want(0, meta);
    return this.#tab.watching.has(this.name) ? entered.then(() => this.#shown()) : entered;
  }

  /** Replace this presence's meta. */
  update(meta) {
    return this.#want(1, meta);
  }

  /** Stop appearing (once no other tab of this browser is in the channel). */
  leave() {
    return this.#want(2);
  }

  #want(op, meta) {
    return this.#shell.ask(op, this.name, meta);
  }

  // `enter()` resolves with the relay's ok; on a channel the page watches, the snapshot
  // and the diff that shows this user come just after it. Wait for them, so that `count`
  // and `users` read right after `await channel.enter()` are true. A channel the page
  // does not watch gets no state (entering is not watching: a "who is online" channel
  // that every page enters and few watch costs one frame per change, not one per
  // member), so there `enter()` resolves with the ok. The enter stands either way: a
  // channel the user may enter but not view, or a state slower than FIRST_STATE_MS,
  // resolves without it.
  #shown() {
    const id = this.#tab.id;
    return new Promise((resolve) => {
      const stops = [];
      const done = () => {
        clearTimeout(timer);
        for (const stop of stops.splice(0)) stop();
        resolve();
      };
      const timer = setTimeout(done, FIRST_STATE_MS);
      stops.push(this.#listen("error", done));
      // Called at once when the state is known already (another tab, an earlier watch).
      stops.push(
        this.#listen("state", (state) => {
          if (shows(state, id)) queueMicrotask(done);
        }),
      );
    });
  }

  /** Call `callback({channel, count, users, capped, live})` now (if known) and on every change. */
  subscribe(callback) {
    const watching = this.#tab.watching;
    const name = this.name;
    const stop = this.#listen("state", callback);
    watching.set(name, (watching.get(name) ?? 0) + 1);
    let live = true;
    return () => {
      if (live) {
        live = false;
        const left = watching.get(name) - 1;
        if (left > 0) watching.set(name, left);
        else watching.delete(name);
      }
      stop();
    };
  }

  /** `"join" | "leave" | "update"` (with the user) or `"error"` (with the Error). */
  on(event, callback) {
    if (!EVENTS.includes(event)) throw fail("bad_event", 'channel.on() takes "join", "leave", "update" or "error".');
    return this.#listen(event, callback);
  }

  #listen(kind, callback) {
    const shell = this.#shell;
    const name = this.name;
    const f = (arg) => callback(arg);
    let l;
    shell.with((h, t) => {
      l = shell.listeners.get(name);
      const first = !l;
      if (first) {
        l = { state: new Set(), join: new Set(), leave: new Set(), update: new Set(), error: new Set() };
        shell.listeners.set(name, l);
      }
      l[kind].add(f);
      // Render what is known (a snapshot, or the initial state) at once; before that,
      // there is nothing to show (not an empty channel).
      if (kind === "state" && view(h, name, 1)) shell.later(f, view(h, name, 0));
      listen(h, t, name, this.#friends, +first);
    });
    return () => {
      if (!l[kind].delete(f)) return;
      if (Object.values(l).some((set) => set.size)) return;
      shell.listeners.delete(name);
      shell.with((h, t) => listen(h, t, name, undefined, 2));
    };
  }

  /** The users present, as last shown (empty on count-only channels). */
  get users() {
    return view(this.#shell.h, this.name, 2);
  }

  /** Everyone present, also in a capped list. */
  get count() {
    return view(this.#shell.h, this.name, 3);
  }

  /** A capped list's cap (then `users` is part of `count`), or null. */
  get capped() {
    return view(this.#shell.h, this.name, 4);
  }

  /** One page of everyone present, in id order: `{ after, limit }` in, `{ users, next, count }` out. */
  members(options) {
    return this.#shell.ask(3, this.name, options);
  }
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

/** One tab's handle on presence. */
class Presence {
  #shell;
  /** `id`: this user, from the token given or fetched; `watching`: subscriptions by channel. */
  #tab;

  constructor(shell, tab) {
    this.#shell = shell;
    this.#tab = tab;
  }

  /**
   * A channel by name (`/prefix/rest`). Throws a `bad_channel` error for a bad name.
   * `options.friends`: user ids to show wherever they are in a capped list.
   */
  channel(name, options) {
    const code = badChannel(String(name));
    if (code) throw fail(code, "Channel names look like /prefix/rest: at most 200 bytes of printable ASCII, no empty segments.");
    const friends = options?.friends;
    if (friends !== undefined && !Array.isArray(friends)) throw badOption("`friends` must be an array of user ids.");
    return new Channel(this.#shell, this.#tab, String(name), friends);
  }

  /** Leave every channel of this tab and stop. Other tabs keep their presence. */
  close() {
    const shell = this.#shell;
    if (shell.is(4)) return;
    // What the tab says goes out before the bus closes; a lone leader's socket is gone
    // with its role.
    shell.with((h, t) => signal(h, t, 9));
    shell.socket = null;
    shell.bus.close();
  }

  /** Does this tab hold the browser's connection? */
  get isLeader() {
    return this.#shell.is(1);
  }

  /** Is the relay's welcome in (here or in the leader tab)? */
  get connected() {
    return this.#shell.is(2);
  }

  /** `"connecting" | "connected" | "reconnecting" | "offline" | "closed"`, the same in every tab. */
  get status() {
    return STATUS[flags(this.#shell.h) >> 3];
  }

  /** `"status"`: `callback({ status, retryAt })` on every change of `status`. */
  on(event, callback) {
    if (event !== "status") throw fail("bad_event", 'presence.on() takes "status".');
    const listeners = this.#shell.statusListeners;
    const f = (change) => callback(change);
    listeners.add(f);
    return () => listeners.delete(f);
  }

  /** Settles with the first welcome, or rejects with why the relay refused. */
  get ready() {
    return this.#shell.ready;
  }

  /** This browser profile's id, shared by its tabs. */
  get clientId() {
    return this.#shell.clientId;
  }

  /** This tab's id. */
  get tabId() {
    return this.#shell.tabId;
  }
}

/**
 * Connect this tab to a relay. Resolves once this tab knows whether it holds the
 * browser's connection; `presence.ready` settles with the relay's welcome.
 * @param {import("./rollcall.js").ConnectOptions} options
 */
export async function connect(options) {
  if (options === null || typeof options !== "object") throw badOption("connect() takes an object: { url, token }.");
  const { url, token, idleAfterMs, initial } = options;
  if (typeof url !== "string" || !/^https?:\/\//.test(url)) {
    throw badOption('`url` must be the relay\'s http(s) URL, e.g. "https://presence.example.com".');
  }
  if (typeof token !== "string" && typeof token !== "function") {
    throw badOption("`token` must be a string or a function returning (a promise of) one.");
  }
  if (typeof idleAfterMs === "number" && !(idleAfterMs >= 1)) {
    throw badOption("`idleAfterMs` must be a positive number of milliseconds.");
  }
  if (initial !== null && typeof initial === "object") {
    for (const state of Object.values(initial)) {
      if (!(typeof state?.count === "number" && state.count >= 0)) {
        throw badOption("`initial` maps channel names to { count, users }; count must be a number.");
      }
    }
  }
  const tokenFn = typeof token === "function" ? token : null;
  const [first] = await Promise.all([tokenFn ? fetchToken(tokenFn) : token, preload()]);
  if (typeof BroadcastChannel !== "function") {
    throw fail("unsupported", "This browser has no BroadcastChannel; rollcall needs it.");
  }
  // Tabs share a connection only for the same relay and the same user.
  const base = url.replace(/\/+$/, "");
  const name = `rollcall ${base} ${subjectOf(first)}`;
  const idle = typeof idleAfterMs === "number" ? idleAfterMs : undefined;
  const shell = new Shell({ url: base, tokenFn, idleAfterMs: idle, initial }, first, name, new BroadcastChannel(name));
  // Fresh tokens name the same user; their subject recognises this user in a list.
  const tab = { id: userOf(first), watching: new Map() };
  if (tokenFn) {
    shell.tokenFn = () => {
      const fresh = tokenFn();
      Promise.resolve(fresh).then((t) => (tab.id = userOf(t) ?? tab.id), () => {});
      return fresh;
    };
  }
  shell.listen();
  await shell.elect();
  shell.with(() => {});
  return new Presence(shell, tab);
}
