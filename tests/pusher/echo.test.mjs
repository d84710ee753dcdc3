// Laravel Echo (on pusher-js) configured as a Laravel app configures it, pointed at
// rollcall-relay: `Echo.join()` presence channels with here / joining / leaving, and
// whispers (client events) refused with a reason.

import { test } from "node:test";
import assert from "node:assert/strict";
import Echo from "laravel-echo";
import Pusher from "pusher-js";
import { APP, once, sleep, startRelay, startSite, waitFor } from "./harness.mjs";

function echo(relay, site, user) {
  return new Echo({
    broadcaster: "pusher",
    Pusher,
    key: APP.key,
    cluster: "mt1",
    wsHost: relay.host,
    wsPort: relay.port,
    forceTLS: false,
    enabledTransports: ["ws"],
    disableStats: true,
    // A Laravel app's /broadcasting/auth answers {auth, channel_data} the same way.
    authEndpoint: `${site.url}/pusher/auth?user=${user}`,
  });
}

test("Echo.join() sees here, joining and leaving; a whisper is refused", async (t) => {
  const site = await startSite();
  const relay = await startRelay();
  const clients = [];
  t.after(async () => {
    for (const c of clients) c.disconnect();
    await relay.stop();
    await site.close();
  });

  const ann = echo(relay, site, "ann");
  clients.push(ann);
  const joining = [];
  const leaving = [];
  const here = await new Promise((resolve) => {
    ann
      .join("site-online")
      .here(resolve)
      .joining((user) => joining.push(user))
      .leaving((user) => leaving.push(user));
  });
  assert.deepEqual(here, [{ name: "User ann" }]);

  const bob = echo(relay, site, "bob");
  clients.push(bob);
  const bobHere = await new Promise((resolve) => bob.join("site-online").here(resolve));
  assert.deepEqual(bobHere.map((u) => u.name).sort(), ["User ann", "User bob"]);
  await waitFor(() => joining.length === 1, 5_000, "joining");
  assert.deepEqual(joining, [{ name: "User bob" }]);

  // Whispers are client events: rollcall answers with a pusher:error saying so.
  const error = once(bob.connector.pusher.channel("presence-site-online"), "pusher:error");
  bob.join("site-online").whisper("typing", { typing: true });
  assert.equal((await error).code, 4300);

  bob.leave("site-online");
  await waitFor(() => leaving.length === 1, 5_000, "leaving");
  assert.deepEqual(leaving, [{ name: "User bob" }]);
  await sleep(100);
  assert.equal(joining.length, 1);
});
