// How an app's TypeScript sees @rollcall/ember: every line must type-check, and every
// `@ts-expect-error` must be an error (tsc reports one that is not).
import "ember-source/types";
import Component from "@glimmer/component";
import Route from "@ember/routing/route";
import { service } from "@ember/service";
import type Owner from "@ember/owner";
import type { ConnectionStatus, Presence, RollcallError, User } from "rollcall";
import { PresenceService as Service, present as presentFromIndex, type ChannelStatus, type PresenceChannel } from "@rollcall/ember";
import type PresenceService from "@rollcall/ember/services/presence";
import present, { type PresentSignature } from "@rollcall/ember/modifiers/present";
import type RollcallRegistry from "@rollcall/ember/template-registry";

export class ApplicationRoute extends Route {
  @service declare presence: PresenceService;

  beforeModel() {
    this.presence.configure({ url: "https://presence.example.com", token: async () => "token" });
    this.presence.configure({ url: "https://presence.example.com", token: "token", idleAfterMs: 30_000 });
    // @ts-expect-error the token is required
    this.presence.configure({ url: "https://presence.example.com" });
  }
}

interface Signature {
  Args: { topicId: number };
}

export class TopicReaders extends Component<Signature> {
  // The service registry names it: `@service presence` without a type argument.
  @service("presence") declare presence: Service;

  channel: PresenceChannel;

  constructor(owner: Owner, args: Signature["Args"]) {
    super(owner, args);
    this.channel = this.presence.getChannel(`/topic/${args.topicId}`, this);
    void this.channel.subscribe();
    void this.channel.enter({ typing: false, draft: { chars: 3 }, tags: ["a", null] });
    // @ts-expect-error meta is an object of JSON values
    void this.channel.enter({ when: new Date() });
    // @ts-expect-error update needs the meta
    void this.channel.update();
    // @ts-expect-error a channel name is a string
    this.presence.getChannel(42);
  }

  get names(): string[] {
    const users: User[] = this.channel.users;
    return users.map((user) => user.name ?? user.id);
  }

  get connection(): string {
    const status: ConnectionStatus = this.presence.status;
    const retryAt: number | null = this.presence.retryAt;
    // @ts-expect-error the service's status is read-only
    this.presence.status = "connected";
    // @ts-expect-error not a connection status
    const wrong: ConnectionStatus = "error";
    return `${status} ${retryAt ?? ""} ${wrong}`;
  }

  get summary(): string {
    const status: ChannelStatus = this.channel.status;
    const error: RollcallError | null = this.channel.error;
    // @ts-expect-error status is one of three strings
    const wrong: ChannelStatus = "open";
    return `${this.channel.count} ${status} ${error?.code ?? ""} ${wrong}`;
  }

  async everyone(): Promise<string[]> {
    void this.channel.subscribe({ friends: ["12", "40"] });
    // @ts-expect-error friends are user ids
    void this.channel.subscribe({ friends: [12] });
    const capped: number | null = this.channel.capped;
    const page = await this.channel.members({ after: "7", limit: 50 });
    const next: string | null = page.next;
    return [...page.users.map((user) => user.id), String(capped), String(next), String(page.count)];
  }

  async leaveAll(): Promise<Presence> {
    await this.channel.leave();
    this.channel.unsubscribe();
    return this.presence.connection();
  }
}

// The modifier's signature, as Glint reads it.
type Positional = PresentSignature["Args"]["Positional"];
const positional: Positional = ["/topic/42"];
// @ts-expect-error one channel name
const twoNames: Positional = ["/topic/42", "/topic/43"];
const named: PresentSignature["Args"]["Named"] = { meta: { typing: true } };
const same: typeof present = presentFromIndex;
const registered: RollcallRegistry["present"] = present;

// `service:presence` is in the service registry, so `@service presence` needs no type.
type Registered = import("@ember/service").Registry["presence"];
const inRegistry: Registered extends PresenceService ? true : false = true;

export const used = [positional, twoNames, named, same, registered, inRegistry];
