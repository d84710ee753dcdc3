"use client";

import { usePresence, usePresenceStatus } from "@rollcall/react";

export default function Readers({ channel }) {
  const { users, count, status, error } = usePresence(channel, { meta: { via: "next" } });
  const connection = usePresenceStatus();
  return (
    <p
      id="who"
      data-status={error ? "error" : status}
      data-connection={connection.status}
      data-count={count}
      data-ids={users.map((user) => user.id).sort().join(",")}
    >
      {error ? `${error.code}: ${error.message}` : `${count} reading: ${users.map((user) => user.name).join(", ")}`}
    </p>
  );
}
