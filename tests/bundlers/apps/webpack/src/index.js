// A React app as a webpack user would write it (no JSX, so no loader): the provider
// and the hooks of @rollcall/react, the SDK under them found by its package name.
import { createElement as h } from "react";
import { createRoot } from "react-dom/client";
import { PresenceProvider, usePresence, usePresenceStatus } from "@rollcall/react";

const params = new URLSearchParams(location.search);

function Who() {
  const { users, count, status, error } = usePresence("/bundlers/webpack", { meta: { via: "webpack" } });
  const connection = usePresenceStatus();
  return h(
    "p",
    {
      id: "who",
      "data-status": error ? "error" : status,
      "data-connection": connection.status,
      "data-count": count,
      "data-ids": users.map((user) => user.id).sort().join(","),
    },
    error ? `${error.code}: ${error.message}` : `${count} here: ${users.map((user) => user.name).join(", ")}`,
  );
}

createRoot(document.getElementById("root")).render(
  h(PresenceProvider, { url: params.get("relay"), token: params.get("token") }, h(Who)),
);
