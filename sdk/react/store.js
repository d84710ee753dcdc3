// The provider's store: one `connect()` for a React tree, and per channel one SDK
// subscription and at most one enter, shared by every hook of that channel.
//
// Hooks come and go more often than presence should: StrictMode mounts, unmounts and
// mounts again; a list re-keys; a route swaps one component for another of the same
// channel. So every hook only counts itself in or out, and giving something up (a
// leave, an unsubscribe, the connection) waits one task: if a hook takes it back in
// between, nobody outside this tab sees anything.
//
// Each channel keeps one snapshot object `{ users, count, capped, status, error }`, replaced
// only when one of them changes, so `useSyncExternalStore` re-renders the components of
// that channel and no others.

import { connect } from "rollcall";

/** Refusals the SDK retries when the token is a function (it asks for a new token). */
const TOKEN_REFUSALS = ["bad_token", "token_expired"];

const NO_USERS = Object.freeze([]);

/** Give something up one task later, unless it is taken back first. */
const later = (fn) => setTimeout(fn, 0);

/** The connection's status before the SDK says otherwise, and on the server. */
export const CONNECTING = Object.freeze({ status: "connecting", retryAt: null });

function freeze(users, count, status, error, capped = null) {
  return Object.freeze({ users, count, capped, status, error });
}

export class PresenceStore {
  /** @param {import("rollcall").ConnectOptions} options */
  constructor(options) {
    this.options = options;
    /** @type {import("rollcall").Presence | null} */
    this.presence = null;
    this.error = null;
    this.holders = 0;
    this.started = false;
    this.closed = false;
    this.closing = null;
    /** @type {Map<string, ChannelEntry>} */
    this.channels = new Map();
    /** Meta set for a channel before or while it is entered; it goes with the enter. */
    this.metas = new Map();
    /** Snapshots before any state is known: the `initial` option, or empty. */
    this.initials = new Map();
    /** `presence.status` as `{ status, retryAt }`, replaced only when it changes. */
    this.connection = CONNECTING;
    this.connectionListeners = new Set();
    this.stopStatus = null;
  }

  // ----- the provider's lifetime -----

  /**
   * The provider is mounted: connect, or keep the connection it was about to close.
   * Mounted again after a close (a hidden <Activity> shown again): connect anew.
   */
  retain() {
    this.holders += 1;
    clearTimeout(this.closing);
    this.closing = null;
    if (this.closed) {
      this.closed = false;
      this.started = false;
      this.presence = null;
      this.error = null;
      this.setConnection(CONNECTING);
      for (const entry of this.channels.values()) entry.detach();
    }
    if (!this.started) this.start();
  }

  /** The provider is unmounted: close, unless it mounts again within a task. */
  release() {
    this.holders -= 1;
    if (this.holders > 0) return;
    clearTimeout(this.closing);
    this.closing = later(() => {
      if (this.holders === 0) this.close();
    });
  }

  start() {
    this.started = true;
    this.connected = connect(this.options).then(
      (presence) => {
        if (this.closed) {
          presence.close();
          return null;
        }
        this.presence = presence;
        this.stopStatus = presence.on("status", (change) => this.setConnection(change));
        this.setConnection({ status: presence.status, retryAt: null });
        presence.ready.catch((error) => this.fail(error));
        for (const entry of this.channels.values()) entry.sync();
        return presence;
      },
      (error) => {
        this.fail(error);
        this.setConnection({ status: "closed", retryAt: null });
        return null;
      },
    );
  }

  /** One page of everyone in `name` (`{ users, next, count }`), once connected. */
  members(name, options) {
    return (this.connected ?? Promise.resolve(null)).then((presence) => {
      if (!presence) throw this.error ?? new Error("The presence provider is not connected.");
      return presence.channel(name).members(options);
    });
  }

  close() {
    this.closed = true;
    this.stopStatus?.();
    this.stopStatus = null;
    this.presence?.close();
  }

  /** A hook watches the connection's status; returns the undo. */
  watchConnection(onChange) {
    this.connectionListeners.add(onChange);
    return () => this.connectionListeners.delete(onChange);
  }

  setConnection({ status, retryAt }) {
    const old = this.connection;
    if (old.status === status && old.retryAt === retryAt) return;
    this.connection = Object.freeze({ status, retryAt });
    for (const listener of [...this.connectionListeners]) listener();
  }

  /** The connection failed for good (refused token, wasm not loaded, bad option). */
  fail(error) {
    if (this.error) return;
    this.error = error;
    for (const entry of this.channels.values()) entry.refresh();
  }

  // ----- what hooks ask -----

  /** The current snapshot of `name`: stable until something in it changes. */
  snapshot(name) {
    return this.channels.get(name)?.snapshot ?? this.initial(name);
  }

  /** What the server renders, and the client until the relay's state arrives. */
  initial(name) {
    let snap = this.initials.get(name);
    if (!snap) {
      const known = this.options.initial?.[name];
      snap = known
        ? freeze(Object.freeze([...(known.users ?? [])]), known.count, "connecting", null)
        : freeze(NO_USERS, 0, "connecting", null);
      this.initials.set(name, snap);
    }
    return snap;
  }

  /** A hook watches `name`; `onChange` is called on every change. Returns the undo. */
  watch(name, onChange) {
    const entry = this.entry(name);
    entry.listeners.add(onChange);
    entry.sync();
    return () => {
      entry.listeners.delete(onChange);
      entry.later();
    };
  }

  /**
   * A hook follows `friends` in `name`: a capped list shows them wherever they are.
   * Returns the undo (the subscription keeps them until it ends: following a few
   * more people costs nothing).
   */
  follow(name, friends) {
    const entry = this.entry(name);
    entry.friends.push(friends);
    entry.sync();
    return () => {
      entry.friends.splice(entry.friends.indexOf(friends), 1);
    };
  }

  /** A hook appears in `name` with `meta`. Returns the undo. */
  enter(name, meta) {
    const entry = this.entry(name);
    if (meta !== undefined) this.metas.set(name, meta);
    entry.enters += 1;
    entry.sync();
    return () => {
      entry.enters -= 1;
      entry.later();
    };
  }

  /**
   * Replace this user's meta in `name`. Sent now if the channel is entered, otherwise
   * kept for its enter. Never rejects: a refusal shows as the channel's `error`.
   */
  update(name, meta) {
    const json = JSON.stringify(meta ?? {});
    this.metas.set(name, meta ?? {});
    const entry = this.channels.get(name);
    if (!entry || !entry.entered || entry.sent === json) return Promise.resolve();
    entry.sent = json;
    return entry.channel.update(meta ?? {}).then(
      () => {
        // The refusal of an earlier update is not news any more.
        if (entry.error !== null && entry.error === entry.refusedUpdate) entry.setError(null);
        entry.refusedUpdate = null;
      },
      (error) => {
        entry.sent = null;
        entry.refusedUpdate = error;
        entry.setError(error);
      },
    );
  }

  entry(name) {
    let entry = this.channels.get(name);
    if (!entry) {
      entry = new ChannelEntry(this, name);
      this.channels.set(name, entry);
    }
    return entry;
  }
}

/** One channel as the hooks of one provider share it. */
class ChannelEntry {
  constructor(store, name) {
    this.store = store;
    this.name = name;
    this.listeners = new Set();
    this.enters = 0;
    /** The friend lists of the hooks that follow people here. */
    this.friends = [];
    /** The friends the SDK subscription was made with. */
    this.following = [];
    this.stopState = null;
    this.snapshot = store.initial(name);
    /** @type {import("rollcall").Channel | null} */
    this.channel = null;
    this.stops = [];
    this.state = null;
    /** A state came from the relay, not only from `initial`. */
    this.live = false;
    this.entered = false;
    this.attempts = 0;
    /** The meta last sent, as JSON, so an equal one is not sent again. */
    this.sent = null;
    /** The relay refused the enter; not asked again until every enterer is gone. */
    this.refused = false;
    this.error = null;
    this.refusedUpdate = null;
    /** No state will come: the relay refused to show the channel, or its name is bad. */
    this.blind = false;
    /** The timer of a deferred `sync`. */
    this.pending = null;
    // A channel first asked for after the connection failed shows that at once.
    this.refresh();
  }

  /** Give up what no hook wants any more, one task from now. */
  later() {
    clearTimeout(this.pending);
    this.pending = later(() => this.sync({ release: true }));
  }

  /**
   * Make the SDK's subscription and enter match what the hooks want now. Only a
   * deferred call (`release`) gives anything up: a hook that comes in may be the first
   * half of an unmount and mount in one commit, whose other half is not counted yet.
   */
  sync({ release = false } = {}) {
    const { presence } = this.store;
    const watching = this.listeners.size > 0 || this.enters > 0;
    if (!watching) {
      if (release) this.drop();
      return;
    }
    if (!presence || this.blind) return;
    const friends = [...new Set([...this.following, ...this.friends.flat()])];
    if (!this.channel || friends.length > this.following.length) {
      // More friends: a new SDK handle subscribes with all of them, then the old one
      // stops (the SDK keeps one subscription per channel and adds the friends to it).
      let channel;
      try {
        channel = presence.channel(this.name, { friends });
      } catch (error) {
        this.blind = true;
        this.setError(error);
        return;
      }
      const first = !this.channel;
      this.channel = channel;
      this.following = friends;
      if (first) {
        this.stops.push(
          channel.on("error", (error) => {
            if (error.code === "forbidden_view") this.blind = true;
            this.setError(error);
          }),
        );
      }
      const stopOld = this.stopState;
      let subscribing = true;
      // Called at once with the `initial` state, if any; later calls come from the relay.
      this.stopState = channel.subscribe((state) => {
        this.state = state;
        if (!subscribing) this.live = true;
        // A refused token from a token function is told while the SDK goes on
        // trying: a state after it means the next token was accepted.
        if (!subscribing && TOKEN_REFUSALS.includes(this.error?.code)) this.error = null;
        // The site that decides the channel did not answer: the SDK emptied the list and
        // asks again; the relay's next snapshot (a live state) means it was answered.
        if (state.live && this.error?.code === "unavailable") this.error = null;
        this.refresh();
      });
      subscribing = false;
      stopOld?.();
    }
    if (this.enters > 0 && !this.entered && !this.refused) {
      const meta = this.store.metas.get(this.name) ?? {};
      const attempt = ++this.attempts;
      this.entered = true;
      this.sent = JSON.stringify(meta);
      this.channel.enter(meta).catch((error) => {
        // A leave (and maybe another enter) since: this answer is not news.
        if (attempt !== this.attempts || !this.entered || this.store.closed) return;
        this.entered = false;
        this.refused = true;
        this.setError(error);
      });
    } else if (release && this.enters === 0 && (this.entered || this.refused)) {
      if (this.entered) this.channel.leave().catch(() => {});
      this.attempts += 1;
      this.entered = false;
      this.refused = false;
      this.sent = null;
      if (this.error?.code === "forbidden_enter") this.setError(null);
    }
  }

  /** The connection was closed: forget what it knew, keep what the hooks want. */
  detach() {
    this.unsubscribe();
    this.channel = null;
    this.attempts += 1;
    this.entered = false;
    this.refused = false;
    this.sent = null;
    this.state = null;
    this.live = false;
    this.blind = false;
    this.error = null;
    this.refusedUpdate = null;
    this.refresh();
  }

  /** No hook of this provider wants the channel: leave, unsubscribe, forget. */
  drop() {
    if (this.entered) this.channel.leave().catch(() => {});
    this.attempts += 1;
    this.unsubscribe();
    this.channel = null;
    this.entered = false;
    if (this.store.channels.get(this.name) === this) {
      this.store.channels.delete(this.name);
      this.store.metas.delete(this.name);
    }
  }

  unsubscribe() {
    for (const stop of this.stops.splice(0)) stop();
    this.stopState?.();
    this.stopState = null;
    this.following = [];
  }

  setError(error) {
    this.error = error;
    this.refresh();
  }

  /** A new snapshot if anything in it changed, and then tell the hooks. */
  refresh() {
    const error = this.error ?? this.store.error;
    const failed = this.store.error !== null || this.blind;
    const status = failed ? "error" : this.live ? "connected" : "connecting";
    const initial = this.store.initial(this.name);
    const users = this.state?.users ?? initial.users;
    const count = this.state?.count ?? initial.count;
    const capped = this.state?.capped ?? null;
    const old = this.snapshot;
    const same = old.users === users && old.count === count && old.capped === capped;
    if (same && old.status === status && old.error === error) return;
    this.snapshot = freeze(users, count, status, error, capped);
    for (const listener of [...this.listeners]) listener();
  }
}
