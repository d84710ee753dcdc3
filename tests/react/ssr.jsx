// A page that a server renders and the browser hydrates: the hooks must render the
// provider's `initial` state on both sides (getServerSnapshot), then the relay's.

import { PresenceProvider, usePresence, usePresenceCount } from "@rollcall/react";

function Readers({ channel }) {
  const { users, count, status, error } = usePresence(channel);
  return (
    <p id="readers" data-status={status}>
      {count} reading: {users.map((u) => u.name).join(", ")}
      {error && ` (${error.code})`}
    </p>
  );
}

function Count({ channel }) {
  return <span id="count">{usePresenceCount(channel)}</span>;
}

export function Page({ url, token, initial }) {
  return (
    <PresenceProvider url={url} token={token} initial={initial}>
      <Readers channel="/topic/ssr" />
      <Count channel="/topic/ssr-other" />
    </PresenceProvider>
  );
}
