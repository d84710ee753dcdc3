// A presence channel as components see it: one shared, reference-counted state per
// channel name (`SharedChannel`), and the handles (`PresenceChannel`) components hold.
//
// Each handle says what it wants (to be in the channel with some meta, to watch it);
// the shared state turns the union of those wants into at most one SDK enter and one
// SDK subscription. Giving up the last want is deferred a little (RELEASE_DELAY_MS): a
// component torn down and rendered again at once takes the channel back before anyone
// sees it go.
//
// Tracked state is written only from SDK callbacks and promise continuations, never
// while a template renders, so reading `users` and entering in one render is safe.

import { registerDestructor, isDestroying } from "@ember/destroyable";
import { later, cancel } from "@ember/runloop";
import { trackedFields } from "./tracked-fields.js";

/** Refusals the SDK retries when the token is a function (it asks for a new token). */
const TOKEN_REFUSALS = ["bad_token", "token_expired"];

/** An Error shaped like the SDK's, for the binding's own refusals. */
export function rollcallError(code, message) {
  const error = new Error(message);
  error.name = "RollcallError";
  error.code = code;
  return error;
}

/**
 * How long the last leave (or unsubscribe) of a channel waits for someone to take the
 * channel back. A tick is not enough: a component torn down in one frame and rendered
 * again in the next (a re-rendered route, an `{{#if}}` toggled twice) is a frame or
 * more apart. A few frames, and short beside anything a person notices.
 */
export const RELEASE_DELAY_MS = 100;

const sameMeta = (a, b) => a === b || JSON.stringify(a) === JSON.stringify(b);

export class SharedChannel {
  /** Handles still alive; the service forgets this channel once none is and nothing is held. */
  handles = new Set();
  /** handle -> its meta, the latest `enter` or `update` last: the browser shows that one. */
  #entered = new Map();
  #watching = new Set();
  #connect;
  #onIdle;
  #presence = null;
  /** Whom the handles follow in a capped list, and how many the subscription was made with. */
  #friends = new Set();
  #following = 0;
  /** Settles once the SDK channel exists: `#sdk` is set, or why it cannot be. */
  #ready = null;
  #sdk = null;
  /** An SDK enter is in force: sent and not left. */
  #inSdk = false;
  #sentMeta = null;
  /** The SDK refused to enter; only a new `enter()` tries again. */
  #refused = false;
  /** The last SDK enter or update, for `enter()` and `update()` to answer with. */
  #request = Promise.resolve();
  /** Ends the SDK subscription and its error listener. */
  #unwatch = null;
  #firstState = null;
  /** The relay's state of this channel has arrived at least once. */
  #hasState = false;
  #releaseTimer = null;
  #released = null;
  #syncQueued = false;
  #closed = false;

  /**
   * @param {string} name
   * @param {() => Promise<import("rollcall").Presence>} connect the service's one connection
   * @param {() => void} onIdle called when no handle and no SDK want is left
   */
  constructor(name, connect, onIdle) {
    this.name = name;
    this.#connect = connect;
    this.#onIdle = onIdle;
  }

  enter(handle, meta) {
    this.#entered.delete(handle);
    this.#entered.set(handle, meta ?? {});
    this.#refused = false;
    return this.#afterSync(() => this.#request);
  }

  update(handle, meta) {
    if (!this.#entered.has(handle)) {
      return Promise.reject(rollcallError("not_entered", `update() before enter() on ${this.name}: enter the channel first.`));
    }
    this.#entered.delete(handle);
    this.#entered.set(handle, meta ?? {});
    return this.#afterSync(() => this.#request);
  }

  leave(handle) {
    this.#entered.delete(handle);
    return this.#afterSync(() => this.#released, true);
  }

  subscribe(handle, friends) {
    for (const friend of friends ?? []) this.#friends.add(String(friend));
    this.#watching.add(handle);
    const known = this.#afterSync(() => this.#firstState?.promise);
    // Usually called without await (in a constructor): a refusal is on `error`.
    known.catch(() => {});
    return known;
  }

  unsubscribe(handle) {
    this.#watching.delete(handle);
    this.#queueSync();
  }

  /** One page of everyone present: `{ users, next, count }`. */
  async members(options) {
    await this.#connection();
    return this.#sdk.members(options);
  }

  /** A handle is gone (left explicitly or destroyed with its owner). */
  release(handle) {
    this.#entered.delete(handle);
    this.#watching.delete(handle);
    this.handles.delete(handle);
    this.#queueSync();
  }

  /** The service is going away and closes the connection, which leaves everything. */
  close() {
    this.#closed = true;
    if (this.#releaseTimer) cancel(this.#releaseTimer);
    this.#unwatch?.();
    this.#released?.resolve();
  }

  /** Waits for the SDK channel, applies the wants, answers with `pick()`. */
  async #afterSync(pick, quiet = false) {
    this.#queueSync();
    try {
      await this.#connection();
    } catch (error) {
      if (quiet) return undefined;
      throw error;
    }
    this.#sync();
    return pick();
  }

  #connection() {
    this.#ready ??= this.#connect().then(
      (presence) => {
        this.#presence = presence;
        this.#sdk = presence.channel(this.name);
        presence.ready.then(
          () => {
            if (this.#watching.size === 0 && this.status === "connecting") this.status = "connected";
          },
          (error) => this.#fail(error, true),
        );
      },
    ).catch((error) => {
      // Forgotten, so a later want tries again (e.g. once the service is configured).
      this.#ready = null;
      this.#fail(error, true);
      throw error;
    });
    return this.#ready;
  }

  #queueSync() {
    if (this.#syncQueued) return;
    this.#syncQueued = true;
    queueMicrotask(() => this.#sync());
  }

  /** Brings the SDK in line with the handles' wants. Idempotent. */
  #sync() {
    this.#syncQueued = false;
    if (this.#closed) return;
    const wantIn = this.#entered.size > 0;
    // When the holder whose meta was shown goes, the latest of the others is shown.
    const meta = [...this.#entered.values()].at(-1);
    const wantWatch = this.#watching.size > 0;
    if ((wantIn || wantWatch) && !this.#sdk) {
      this.#connection().catch(() => {});
      return;
    }
    const sdk = this.#sdk;
    if (wantIn && !this.#inSdk && !this.#refused) {
      this.#inSdk = true;
      this.#send(sdk.enter(meta), meta, true);
    } else if (wantIn && this.#inSdk && !sameMeta(this.#sentMeta, meta)) {
      this.#send(sdk.update(meta), meta, false);
    }
    if (wantWatch && (!this.#unwatch || this.#friends.size > this.#following)) this.#watch();

    const toRelease = (!wantIn && this.#inSdk) || (!wantWatch && this.#unwatch !== null);
    if (toRelease && !this.#releaseTimer) {
      // Later: a component rendered again right away takes the channel back.
      this.#released ??= deferred();
      this.#releaseTimer = later(() => {
        this.#releaseTimer = null;
        this.#release();
      }, RELEASE_DELAY_MS);
    } else if (!toRelease && this.#releaseTimer) {
      cancel(this.#releaseTimer);
      this.#releaseTimer = null;
      this.#released?.resolve();
      this.#released = null;
    }
    if (!toRelease && !wantIn && !wantWatch && this.handles.size === 0) this.#onIdle();
  }

  #release() {
    const released = this.#released;
    this.#released = null;
    let leaving = Promise.resolve();
    if (this.#entered.size === 0 && this.#inSdk) {
      this.#inSdk = false;
      this.#sentMeta = null;
      leaving = this.#sdk.leave().catch((error) => this.#fail(error));
    }
    if (this.#watching.size === 0 && this.#unwatch) {
      this.#unwatch();
      this.#unwatch = null;
      this.#firstState = null;
      this.#following = 0;
    }
    leaving.then(() => released?.resolve());
    this.#sync();
  }

  #send(request, meta, entering) {
    this.#sentMeta = meta;
    this.#request = request.then(
      () => {
        if (this.error) this.error = null;
        if (this.status !== "connected" && (this.#hasState || this.#watching.size === 0)) this.status = "connected";
      },
      (error) => {
        if (entering && this.#sentMeta === meta && this.#inSdk) {
          // Refused (e.g. forbidden_enter): not in, and not asked again until enter().
          // A refused update (e.g. meta_too_large) leaves the browser in, as it was.
          this.#inSdk = false;
          this.#sentMeta = null;
          this.#refused = true;
        }
        this.#fail(error);
        throw error;
      },
    );
  }

  /**
   * Subscribes with every friend the handles named. With more friends than the running
   * subscription has, the new one starts before the old one stops: the SDK adds them to
   * its one subscription of the channel, which never ends in between.
   */
  #watch() {
    this.#firstState ??= deferred();
    const sdk = this.#presence.channel(this.name, { friends: [...this.#friends] });
    this.#following = this.#friends.size;
    const previous = this.#unwatch;
    const offState = sdk.subscribe((state) => {
      this.users = state.users;
      this.count = state.count;
      this.capped = state.capped ?? null;
      this.#hasState = true;
      // A refused token from a token function is told while the SDK goes on trying:
      // a state after it means the next token was accepted.
      if (TOKEN_REFUSALS.includes(this.error?.code)) this.error = null;
      // The site that decides the channel did not answer: the SDK emptied the list and
      // asks again; the relay's next snapshot (a live state) means it was answered.
      if (state.live && this.error?.code === "unavailable") this.error = null;
      if (this.status !== "error" || this.error === null) this.status = "connected";
      this.#firstState?.resolve();
    });
    const offError = sdk.on("error", (error) => this.#fail(error, true));
    this.#unwatch = () => {
      offState();
      offError();
    };
    previous?.();
  }

  /** `watching`: the error also ends a wait for the first state (not so an enter's refusal). */
  #fail(error, watching = false) {
    this.error = error;
    this.status = "error";
    if (watching) this.#firstState?.reject(error);
  }
}

trackedFields(SharedChannel, {
  users: () => [],
  count: () => 0,
  capped: () => null,
  status: () => "connecting",
  error: () => null,
});

/**
 * What `presence.getChannel(name, owner)` hands out: one component's hold on a
 * channel. Its state (`users`, `count`, `capped`, `status`, `error`) is the channel's, shared
 * with every other handle of the same name; its wants are its own, and end when it is
 * destroyed with its owner.
 */
export class PresenceChannel {
  #shared;

  constructor(shared) {
    this.#shared = shared;
    shared.handles.add(this);
    registerDestructor(this, () => shared.release(this));
  }

  get name() {
    return this.#shared.name;
  }

  get users() {
    return this.#shared.users;
  }

  get count() {
    return this.#shared.count;
  }

  /** The relay's `list_cap` for this channel (then `users` is part of `count`), or null. */
  get capped() {
    return this.#shared.capped;
  }

  get status() {
    return this.#shared.status;
  }

  get error() {
    return this.#shared.error;
  }

  enter(meta) {
    return this.#alive("enter") ?? this.#shared.enter(this, meta);
  }

  update(meta) {
    return this.#alive("update") ?? this.#shared.update(this, meta);
  }

  leave() {
    return this.#shared.leave(this);
  }

  /** `friends`: user ids a capped list shows wherever they are in it. */
  subscribe({ friends } = {}) {
    return this.#alive("subscribe") ?? this.#shared.subscribe(this, friends);
  }

  /** One page of everyone present, in id order: `{ users, next, count }`. */
  members(options) {
    return this.#alive("members") ?? this.#shared.members(options);
  }

  unsubscribe() {
    this.#shared.unsubscribe(this);
  }

  #alive(what) {
    if (!isDestroying(this)) return undefined;
    return Promise.reject(
      rollcallError("closed", `${what}() on ${this.name} after its owner was destroyed: get the channel again from the presence service.`),
    );
  }
}

function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}
