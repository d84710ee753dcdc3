import type { MembersOptions, MembersPage, Meta, RollcallError, User } from "rollcall";

/** `"connecting"` until the relay's state (or, when only entered, its welcome) is in; `"error"` while `error` is set. */
export type ChannelStatus = "connecting" | "connected" | "error";

/**
 * One owner's hold on a presence channel, from `presence.getChannel(name, owner)`.
 * The state is tracked and shared by every handle of the same name; the wants (entered,
 * subscribed) are this handle's and end when its owner is destroyed.
 */
export interface PresenceChannel {
  readonly name: string;
  /** The users present (empty until subscribed, and on count-only channels). Tracked. */
  readonly users: User[];
  /** How many users are present (exact, also in a capped list). Tracked. */
  readonly count: number;
  /** The relay's `list_cap` for this channel (then `users` is the shared part, this user and its friends), or null. Tracked. */
  readonly capped: number | null;
  /** Tracked. */
  readonly status: ChannelStatus;
  /** Why the relay or the SDK refused (e.g. code "forbidden_enter"), until a later request succeeds. Tracked. */
  readonly error: RollcallError | null;
  /** Appear in the channel (while this or another handle of it is entered). Rejects with a RollcallError. */
  enter(meta?: Meta): Promise<void>;
  /** Replace the channel's meta for this browser; rejects with code "not_entered" before `enter()`. */
  update(meta: Meta): Promise<void>;
  /** Stop appearing once no other handle is entered; resolves when the relay was told (or others still hold it). */
  leave(): Promise<void>;
  /**
   * Watch the channel: `users` and `count` follow it. Resolves once its state is in.
   * `friends`: user ids shown wherever they are in a capped list.
   */
  subscribe(options?: { friends?: string[] }): Promise<void>;
  /** One page of everyone present, in id order ("show more"). Rejects with a RollcallError. */
  members(options?: MembersOptions): Promise<MembersPage>;
  /** Stop watching once no other handle watches. */
  unsubscribe(): void;
}
