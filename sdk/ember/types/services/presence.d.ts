import Service from "@ember/service";
import type { ConnectOptions, ConnectionStatus, Presence } from "rollcall";
import type { PresenceChannel } from "../channel";

export type { PresenceChannel, ChannelStatus } from "../channel";
export type { ConnectionStatus } from "rollcall";

/** `rollcall`'s connect options: `url`, `token` (a string or a function returning one), `idleAfterMs`, `initial`. */
export type PresenceOptions = ConnectOptions;

/** The `presence` service: one rollcall connection for the app, made on first use. */
export default class PresenceService extends Service {
  /** Where and as whom to connect; call it before the first channel is used. */
  configure(options: PresenceOptions): void;
  /**
   * The channel `name`, held by `owner` (usually the component, `this`): destroying the
   * owner leaves and stops watching. Without an owner the handle lives with the service.
   */
  getChannel(name: string, owner?: object): PresenceChannel;
  /** This tab's rollcall `Presence`, connected on the first call and shared. */
  connection(): Promise<Presence>;
  /**
   * Tracked: the connection's status, the same in every tab ("reconnecting…"):
   * "connecting" until the connection (made on first use) is welcomed, then
   * "connected", "reconnecting", "offline" or "closed". A leader tab that closes shows
   * no reconnect.
   */
  readonly status: ConnectionStatus;
  /** Tracked: while reconnecting, when the next attempt starts (Date.now() ms); otherwise null. */
  readonly retryAt: number | null;
}

declare module "@ember/service" {
  interface Registry {
    presence: PresenceService;
  }
}
