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

/** What `channel.subscribe()` callbacks receive. `users` is empty on count-only channels. */
export interface ChannelState {
  channel: string;
  count: number;
  users: User[];
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
  /** Appear in the channel. Rejects with a RollcallError (e.g. "forbidden_enter"). */
  enter(meta?: Meta): Promise<void>;
  /** Replace this presence's meta; others see an "update". */
  update(meta: Meta): Promise<void>;
  /** Stop appearing (once no other tab of this browser is in the channel). */
  leave(): Promise<void>;
  /** Called now (if the state is known) and on every change. Returns the function that stops it. */
  subscribe(callback: (state: ChannelState) => void): () => void;
  /** Returns the function that removes the listener. */
  on(event: "join" | "leave" | "update", callback: (user: User) => void): () => void;
  on(event: "error", callback: (error: RollcallError) => void): () => void;
  /** The users present, as last shown (empty on count-only channels). */
  readonly users: User[];
  readonly count: number;
}

export interface Presence {
  /** A channel by name ("/prefix/rest"). Throws a RollcallError "bad_channel" for a bad name. */
  channel(name: string): Channel;
  /** This tab leaves every channel and stops; other tabs keep their presence. */
  close(): void;
  /** Does this tab hold the browser's one connection? */
  readonly isLeader: boolean;
  /** Is the relay's welcome in (in this tab or the leader tab)? */
  readonly connected: boolean;
  /** Settles with the first welcome; rejects with why the relay refused. */
  readonly ready: Promise<void>;
  /** This browser profile's id, shared by its tabs and kept across refreshes. */
  readonly clientId: string;
  /** This tab's id. */
  readonly tabId: string;
}

/** Connect this tab. Loads the WebAssembly on first use. */
export function connect(options: ConnectOptions): Promise<Presence>;
