// Types of the npm package `@rollcall/react`.

import type { ReactElement, ReactNode } from "react";
import type { ConnectOptions, InitialChannel, Meta, RollcallError, StatusChange, User } from "rollcall";

export type { ConnectionStatus, InitialChannel, MembersPage, Meta, RollcallError, StatusChange, User } from "rollcall";

export interface PresenceProviderProps {
  /** The relay's base URL, e.g. "https://presence.example.com". A new one connects again. */
  url: string;
  /**
   * A token signed by your backend, or a function that fetches one (called again when it
   * expires). A new string connects again (another user); a new function does not.
   */
  token: ConnectOptions["token"];
  /** No input for this long on a visible page makes the status "idle". Default 60000. */
  idleAfterMs?: number;
  /** Channel states to render (on the server too) until the relay's state arrives. */
  initial?: Record<string, InitialChannel>;
  children?: ReactNode;
}

/** One connection to the relay for everything below it. */
export function PresenceProvider(props: PresenceProviderProps): ReactElement;

/**
 * - `"connecting"`: no state from the relay yet (`users` and `count` are empty, or the
 *   provider's `initial`); always so on the server.
 * - `"connected"`: the relay's state is shown, and kept up to date (the SDK reconnects by
 *   itself and keeps showing the last state meanwhile).
 * - `"error"`: no state will come: the connection was refused or the channel may not be
 *   watched; `error` says why.
 */
export type PresenceStatus = "connecting" | "connected" | "error";

/** What usePresence returns: the same object until something in it changes. */
export interface ChannelPresence {
  /**
   * The users present, this one included once entered (empty on count-only channels).
   * In a capped list: the shared part, this user and its `friends`.
   */
  readonly users: readonly User[];
  /** Everyone present, exact also in a capped list. */
  readonly count: number;
  /** The relay's `list_cap` for this channel, or null when `users` is everyone. */
  readonly capped: number | null;
  readonly status: PresenceStatus;
  /**
   * Why something failed, or null: a refused enter ("forbidden_enter", status stays
   * "connected"), a channel that may not be watched ("forbidden_view"), a refused token.
   */
  readonly error: RollcallError | null;
}

export interface UsePresenceOptions {
  /** Appear in the channel while mounted (default true); false only watches. */
  enter?: boolean;
  /** This user's meta (e.g. `{ typing: true }`); a different one is sent as an update. */
  meta?: Meta;
  /** User ids shown wherever they are in a capped list (besides this user and the token's `friends`). */
  friends?: string[];
}

/** What useMembers returns. */
export interface ChannelMembers {
  /** The members of the pages loaded so far, in id order. */
  readonly users: readonly User[];
  /** Everyone present, as of the last page; null before the first. */
  readonly count: number | null;
  /** The last page is in. */
  readonly done: boolean;
  readonly loading: boolean;
  /** Why the last page failed (e.g. "forbidden_view" on count-only channels), or null. */
  readonly error: RollcallError | null;
  /** Load the next page (a stable function; nothing while one loads or when done). */
  more(): Promise<void>;
}

export interface UseMembersOptions {
  /** Members per page: 1 to 1000, 100 by default. */
  limit?: number;
}

/** Watch `channel`, and appear in it while mounted unless `enter: false`. */
export function usePresence(channel: string, options?: UsePresenceOptions): ChannelPresence;

/**
 * The connection's status, the same in every tab: `status` is "connecting",
 * "connected", "reconnecting" (with `retryAt`, the next attempt's Date.now() time, or
 * null while one is under way), "offline" or "closed". A leader tab that closes shows no
 * reconnect. "connecting" on the server. The same object until it changes.
 */
export function usePresenceStatus(): StatusChange;

/** How many users are in `channel`, without appearing in it. */
export function usePresenceCount(channel: string): number;

/**
 * A stable function that replaces this user's meta in `channel`, which a usePresence()
 * under the same provider enters. The promise never rejects; failures show as `error`.
 */
export function useUpdatePresence(channel: string): (meta: Meta) => Promise<void>;

/** Everyone in `channel`, page by page: `more()` adds the next page to `users`. */
export function useMembers(channel: string, options?: UseMembersOptions): ChannelMembers;
