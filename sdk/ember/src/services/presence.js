// The `presence` service: the app's one rollcall connection, made on first use, and
// the shared state of every channel the app's components hold, and the connection's
// tracked `status`.

import Service from "@ember/service";
import { associateDestroyableChild, isDestroying } from "@ember/destroyable";
import { connect } from "rollcall";
import { PresenceChannel, SharedChannel, rollcallError } from "../channel.js";
import { trackedFields } from "../tracked-fields.js";

export default class PresenceService extends Service {
  #options = null;
  #presence = null;
  /** name -> SharedChannel, while any handle holds it or the SDK still does. */
  #channels = new Map();
  /** Removes the SDK's status listener. */
  #stopStatus = null;

  /**
   * Where and as whom to connect: `rollcall`'s connect options (`url`, `token` as a
   * string or a function returning one, optionally `idleAfterMs`, `initial`). Call it
   * before the first channel is used, e.g. in the application route's `beforeModel`.
   */
  configure(options) {
    if (this.#presence) {
      throw rollcallError("bad_option", "presence.configure() after the connection was made: configure once, before any channel is entered or subscribed.");
    }
    if (typeof options?.url !== "string" || options.token == null) {
      throw rollcallError("bad_option", "presence.configure() needs { url, token }: the relay's base URL and a token (or a function returning one).");
    }
    this.#options = { ...options };
  }

  /**
   * The channel `name`, held by `owner` (usually the component: `this`): when the
   * owner is destroyed, the handle leaves and stops watching. Without an owner it lives
   * as long as the service. Handles of one name share one state and one SDK channel.
   */
  getChannel(name, owner = this) {
    if (isDestroying(this)) {
      throw rollcallError("closed", "presence.getChannel() on a destroyed presence service.");
    }
    let shared = this.#channels.get(name);
    if (!shared) {
      shared = new SharedChannel(name, () => this.connection(), () => {
        if (this.#channels.get(name) === shared) this.#channels.delete(name);
      });
      this.#channels.set(name, shared);
    }
    const channel = new PresenceChannel(shared);
    associateDestroyableChild(owner, channel);
    return channel;
  }

  /**
   * This tab's rollcall `Presence`, connected on the first call and shared by every
   * channel (and, through the SDK, by every tab of this browser).
   */
  connection() {
    if (!this.#presence) {
      const attempt = this.#connect();
      this.#presence = attempt;
      // A failed attempt is forgotten: the next use tries again (e.g. once configured,
      // or after the network came back).
      attempt.catch(() => {
        if (this.#presence === attempt) this.#presence = null;
      });
    }
    return this.#presence;
  }

  async #connect() {
    if (!this.#options) {
      throw rollcallError("bad_option", "The presence service has no relay yet: call presence.configure({ url, token }) before using a channel, e.g. in the application route's beforeModel.");
    }
    let presence;
    try {
      presence = await connect(this.#options);
    } catch (error) {
      this.status = "closed";
      throw error;
    }
    if (isDestroying(this)) {
      presence.close();
      return presence;
    }
    this.status = presence.status;
    this.retryAt = null;
    this.#stopStatus = presence.on("status", ({ status, retryAt }) => {
      this.status = status;
      this.retryAt = retryAt;
    });
    return presence;
  }

  willDestroy() {
    super.willDestroy();
    this.#stopStatus?.();
    for (const shared of this.#channels.values()) shared.close();
    this.#channels.clear();
    this.#presence?.then((presence) => presence.close(), () => {});
  }
}

// The connection's status, the same in every tab of the browser: "connecting" until the
// connection is made (on first use) and welcomed, then "connected", "reconnecting" (with
// `retryAt`, the next attempt's Date.now() time, or null while one is under way),
// "offline" or "closed". A leader tab that closes shows no reconnect.
trackedFields(PresenceService, { status: () => "connecting", retryAt: () => null });
