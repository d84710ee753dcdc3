// A TypeScript consumer of @rollcall/react, type-checked by types.test.mjs: what must
// compile does, and each @ts-expect-error is a mistake the types must catch.

import { StrictMode } from "react";
import {
  PresenceProvider,
  usePresence,
  usePresenceCount,
  usePresenceStatus,
  useUpdatePresence,
  useMembers,
  type ChannelMembers,
  type ChannelPresence,
  type ConnectionStatus,
  type PresenceStatus,
  type RollcallError,
  type User,
} from "@rollcall/react";

function Readers({ channel }: { channel: string }) {
  const presence: ChannelPresence = usePresence(channel, { meta: { typing: false, draft: [1, "a", null] } });
  const { users, count, status, error } = presence;
  const names: (string | null)[] = users.map((user: User) => user.name);
  const typing: boolean = users.some((user) => user.meta.typing === true);
  const code: RollcallError["code"] | undefined = error?.code;
  const state: PresenceStatus = status;
  // @ts-expect-error the users are read-only
  users.push(users[0]);
  // @ts-expect-error not a status
  const wrong: PresenceStatus = "closed";
  return (
    <p title={code ?? state}>
      {count} {names.join(", ")} {typing ? "typing" : ""} {String(wrong)}
    </p>
  );
}

function Watcher() {
  const { count } = usePresence("/topic/1", { enter: false });
  const total: number = usePresenceCount("/topic/1");
  // @ts-expect-error a channel name is a string
  usePresence(42);
  // @ts-expect-error no such option
  usePresence("/topic/1", { entered: true });
  return <span>{count + total}</span>;
}

function ConnectionBadge() {
  const { status, retryAt } = usePresenceStatus();
  const shown: ConnectionStatus = status;
  const seconds: number | null = retryAt === null ? null : Math.ceil((retryAt - Date.now()) / 1000);
  // @ts-expect-error not a connection status
  const wrong: ConnectionStatus = "error";
  // @ts-expect-error retryAt may be null
  const always: number = retryAt;
  return <span title={`${shown} ${String(wrong)} ${always}`}>{status === "reconnecting" ? `reconnecting… ${seconds ?? ""}` : null}</span>;
}

function Reply() {
  const updatePresence = useUpdatePresence("/topic/1");
  const sent: Promise<void> = updatePresence({ typing: true });
  // @ts-expect-error meta is JSON: no functions
  updatePresence({ typing: () => true });
  return <textarea onChange={() => void sent} />;
}

function Crowd() {
  const { users, count, capped } = usePresence("/site/online", { enter: false, friends: ["12", "40"] });
  const cap: number | null = capped;
  // @ts-expect-error friends are user ids
  usePresence("/site/online", { friends: [12] });
  const everyone: ChannelMembers = useMembers("/site/online", { limit: 50 });
  const more: Promise<void> = everyone.more();
  const total: number | null = everyone.count;
  // @ts-expect-error limit is a number
  useMembers("/site/online", { limit: "50" });
  return <p onClick={() => void more}>{users.length} of {count} ({cap}, {total}, {String(everyone.done)})</p>;
}

export function App({ token }: { token: string }) {
  return (
    <StrictMode>
      <PresenceProvider url="https://presence.example.com" token={token}>
        <Readers channel="/topic/1" />
        <Watcher />
        <Reply />
        <Crowd />
        <ConnectionBadge />
      </PresenceProvider>
      <PresenceProvider
        url="https://presence.example.com"
        token={async () => "a token"}
        idleAfterMs={30_000}
        initial={{ "/topic/1": { count: 1, users: [{ id: "7", name: "ann", avatar: null, status: "active", meta: {} }] } }}
      >
        <Watcher />
      </PresenceProvider>
      {/* @ts-expect-error the token is required */}
      <PresenceProvider url="https://presence.example.com">
        <Watcher />
      </PresenceProvider>
    </StrictMode>
  );
}
