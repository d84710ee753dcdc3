// Types of the npm package `rollcall`.

/** A user's activity as their browser reports it. */
export type Status = "active" | "idle" | "hidden";

/** Any value JSON can carry. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** A small object carried with a presence (at most the relay's max_meta_bytes as JSON). */
export type Meta = { [key: string]: Json };

/** One user as others see them; identity comes from the signed token only. */
export interface User {
  id: string;
  name: string | null;
  avatar: string | null;
  status: Status;
  meta: Meta;
}

/**
 * What `channel.subscribe()` callbacks receive. `users` is empty on count-only channels;
 * in a capped list it is the shared part plus this user and its friends, and `count`
 * still counts everyone.
 */
export interface ChannelState {
  channel: string;
  count: number;
  users: User[];
  /** The relay's `list_cap` for this channel, or null when the whole list is sent. */
  capped: number | null;
  /**
   * The relay's state: its snapshot and what followed. False for the `initial` state a
   * page gave, and for a list emptied because the relay stopped telling about the
   * channel (an "unavailable" error: the site that decides it did not answer) until
   * the channel's next snapshot. Always set on the states the SDK gives; optional so
   * that a state a page builds from the channel's getters still type-checks.
   */
  live?: boolean;
}

/** Options of `presence.channel()`. */
export interface ChannelOptions {
  /**
   * User ids to show wherever they are in a capped list (besides this user and the
   * token's `friends` claim; the first 100 of both count). No effect on other channels.
   */
  friends?: string[];
}

/** What `channel.members()` takes. */
export interface MembersOptions {
  /** Start after this user id (a page's `next`); from the start without it. */
  after?: string;
  /** Members in the page: 1 to 1000, 100 by default (the relay clamps it). */
  limit?: number;
}

/** One page of a channel's members, in id order: a listing at the time asked. */
export interface MembersPage {
  users: User[];
  /** The `after` of the next page, or null on the last one. */
  next: string | null;
  /** Everyone present in the channel. */
  count: number;
}

/** A channel's state known before the socket is up, e.g. rendered by the server. */
export interface InitialChannel {
  count: number;
  users?: User[];
}

export interface ConnectOptions {
  /** The relay's base URL, e.g. "https://presence.example.com". */
  url: string;
  /**
   * A token signed by your backend, or a function that fetches one (called again when
   * it expires or is refused; a fresh one refused too is told once to every channel's
   * `error` listeners, and the function keeps being asked, with backoff).
   */
  token: string | (() => string | Promise<string>);
  /** No input for this long on a visible page makes the status "idle". Default 60000. */
  idleAfterMs?: number;
  /** Channel states to show until the relay's snapshots arrive. */
  initial?: Record<string, InitialChannel>;
}

/**
 * The connection as a page may show it, the same in every tab of the browser:
 * - `"connecting"`: the first connection is being made;
 * - `"connected"`: the relay's welcome is in (also while another tab takes the
 *   connection over from a leader tab that closed: nobody sees a flicker);
 * - `"reconnecting"`: the connection was lost (or could not be made) and is being made
 *   again; `retryAt` says when the next attempt starts. A network that stalls without
 *   closing anything counts as lost once a check-in goes unanswered (with a relay of
 *   protocol 1.2; at most 40 s after it stalled with the default timings);
 * - `"offline"`: the browser says it has no network (`navigator.onLine`); the SDK tries
 *   again as soon as it is back;
 * - `"closed"`: the connection ended for good and will not come back by itself:
 *   `close()` was called, another connection of this browser replaced it, or the relay
 *   refused it (`ready` and the channels' `error` listeners say why).
 */
export type ConnectionStatus = "connecting" | "connected" | "reconnecting" | "offline" | "closed";

/** What `presence.on("status")` listeners receive. */
export interface StatusChange {
  status: ConnectionStatus;
  /** While reconnecting: when the next attempt starts (`Date.now()` milliseconds), or null while one is under way. Null otherwise. */
  retryAt: number | null;
}

/** The relay's error codes, and the SDK's own. */
export type ErrorCode =
  | "bad_frame"
  | "unknown_type"
  | "frame_too_large"
  | "hello_first"
  | "unsupported_version"
  | "bad_token"
  | "token_expired"
  | "token_mismatch"
  | "bad_client_id"
  | "bad_channel"
  | "forbidden_view"
  | "forbidden_enter"
  | "channel_full"
  | "too_many_channels"
  | "meta_too_large"
  | "not_entered"
  | "rate_limited"
  | "unavailable"
  | "relay_unreachable"
  | "replaced"
  | "closed"
  | "bad_option"
  | "bad_meta"
  | "bad_event"
  | "unsupported"
  | "wasm_unavailable";

/** Every error the SDK throws or rejects with. `message` says what to do next. */
export interface RollcallError extends Error {
  name: "RollcallError";
  code: ErrorCode;
}

export interface Channel {
  readonly name: string;
  /**
   * Appear in the channel. Resolves once the relay accepted it; on a channel this tab
   * watches (`subscribe`), once its state is in and shows this user, so `count` and
   * `users` read right after `await channel.enter()` are true, this user included, in
   * every tab. Entering is not watching: an entered channel nobody in the tab watches
   * gets no state. Rejects with a RollcallError (e.g. "forbidden_enter"); when the state
   * takes longer than 10 s, resolves with the relay's acceptance.
   */
  enter(meta?: Meta): Promise<void>;
  /** Replace this presence's meta; others see an "update". */
  update(meta: Meta): Promise<void>;
  /** Stop appearing (once no other tab of this browser is in the channel). */
  leave(): Promise<void>;
  /**
   * Called now (if the state is known) and on every change. Returns the function that
   * stops it. When the relay stops feeding the channel (an "error" of "forbidden_view",
   * or "unavailable" until the SDK has watched again), it is called with count 0 and no
   * users.
   */
  subscribe(callback: (state: ChannelState) => void): () => void;
  /** Returns the function that removes the listener. */
  on(event: "join" | "leave" | "update", callback: (user: User) => void): () => void;
  /**
   * "error": what the relay says about this channel unasked, e.g. a right taken back on a
   * channel the site decides ("forbidden_enter", "forbidden_view", "unavailable").
   */
  on(event: "error", callback: (error: RollcallError) => void): () => void;
  /**
   * The users present, as last shown (empty on count-only channels). In a capped list:
   * the shared part, plus this user and its friends wherever they are in the list.
   */
  readonly users: User[];
  /** Everyone present, exact also in a capped list. */
  readonly count: number;
  /** The relay's `list_cap` for this channel, or null when `users` is everyone. */
  readonly capped: number | null;
  /**
   * One page of everyone present, in id order ("and 1,234 others": show more). Rejects
   * with "forbidden_view" on count-only channels.
   */
  members(options?: MembersOptions): Promise<MembersPage>;
}

export interface Presence {
  /**
   * A channel by name ("/prefix/rest"). Throws a RollcallError "bad_channel" for a bad
   * name, "bad_option" for `friends` that is not an array.
   */
  channel(name: string, options?: ChannelOptions): Channel;
  /**
   * This tab leaves every channel and stops; other tabs keep their presence. After it, the
   * tab's channels show nobody (`count` 0, `users` empty), their requests reject with
   * "closed", and `status` is "closed". To come back, call `connect()` again.
   */
  close(): void;
  /** Does this tab hold the browser's one connection? */
  readonly isLeader: boolean;
  /** Is the relay's welcome in (in this tab or the leader tab)? */
  readonly connected: boolean;
  /** The connection as a page may show it ("reconnecting…"), the same in every tab. */
  readonly status: ConnectionStatus;
  /**
   * Called on every change of `status` (not at once: read `status` for the current one).
   * Returns the function that removes the listener. Throws "bad_event" for another event.
   */
  on(event: "status", callback: (change: StatusChange) => void): () => void;
  /** Settles with the first welcome; rejects with why the relay refused. */
  readonly ready: Promise<void>;
  /** This browser profile's id, shared by its tabs and kept across refreshes. */
  readonly clientId: string;
  /** This tab's id. */
  readonly tabId: string;
}

/**
 * Connect this tab. Loads the WebAssembly if `preload()` (or importing this module in
 * a page) has not already.
 */
export function connect(options: ConnectOptions): Promise<Presence>;

/**
 * Fetch and compile the WebAssembly now, once per page. Importing `rollcall` in a
 * browser page already starts it, so a framework that connects only after hydration
 * does not wait for the download; call it yourself to start earlier still (e.g. from a
 * route's loader). Rejects with a RollcallError "wasm_unavailable" when the module
 * cannot be loaded; the next call (or `connect()`) tries again.
 */
export function preload(): Promise<void>;
