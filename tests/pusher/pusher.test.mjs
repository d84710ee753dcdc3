// The real pusher-js (its Node build) and the real Pusher server library against
// rollcall-relay's Pusher endpoint: presence subscriptions signed by a site's auth
// endpoint, member events with rollcall's semantics, the HTTP API, sign-in, refusals,
// and a pusher-js user and a native rollcall client in one roster.

import { test } from "node:test";
import assert from "node:assert/strict";
import PusherServer from "pusher";
import {
  APP,
  CHANNEL,
  ROLLCALL_CHANNEL,
  SLACK_MS,
  TIMING,
  join,
  nativeClient,
  once,
  pusherClient,
  record,
  sleep,
  startRelay,
  startSite,
  waitFor,
} from "./harness.mjs";

/** A relay, a site and the clients a test makes, all ended afterwards. */
async function setup(t, extra = "") {
  const site = await startSite();
  const relay = await startRelay(typeof extra === "function" ? extra(site) : extra);
  const clients = [];
  t.after(async () => {
    for (const c of clients) c.disconnect();
    await relay.stop();
    await site.close();
  });
  const client = (user, options) => {
    const c = pusherClient(relay, site, user, options);
    clients.push(c);
    return c;
  };
  return { relay, site, client };
}

function ids(members) {
  const out = [];
  members.each((m) => out.push(m.id));
  return out.sort();
}

test("a presence subscription signed by the site's auth endpoint succeeds with the members hash", async (t) => {
  const { client } = await setup(t);
  const ann = client("ann");
  const { members } = await join(ann);
  assert.equal(members.count, 1);
  assert.deepEqual(members.me, { id: "ann", info: { name: "User ann" } });
  assert.deepEqual(ids(members), ["ann"]);
  assert.match(ann.connection.socket_id, /^\d+\.\d+$/);
});

test("a wrong signature is refused with pusher:error 4009 and shows nobody", async (t) => {
  const { client } = await setup(t);
  const ann = client("ann");
  const annCh = (await join(ann)).ch;
  const seen = record(annCh);

  const eve = client("eve", { secret: "not-the-app-secret" });
  const ch = eve.subscribe(CHANNEL);
  const error = await once(ch, "pusher:error");
  assert.equal(error.code, 4009);
  assert.match(error.message, /Invalid signature/);
  assert.equal(ch.subscribed, false);
  await sleep(200);
  assert.deepEqual(seen, []);
  assert.equal(annCh.members.count, 1);
});

test("members are added and removed for everyone else, never for the socket itself", async (t) => {
  const { client } = await setup(t);
  const ann = client("ann");
  const annCh = (await join(ann)).ch;
  const annSees = record(annCh);

  const bob = client("bob");
  const { ch: bobCh, members } = await join(bob);
  const bobSees = record(bobCh);
  assert.deepEqual(ids(members), ["ann", "bob"]);
  await waitFor(() => annSees.length === 1, 5_000, "member_added");
  assert.deepEqual(annSees, ["+bob"]);
  assert.deepEqual(annCh.members.get("bob").info, { name: "User bob" });

  bob.unsubscribe(CHANNEL);
  await waitFor(() => annSees.length === 2, 5_000, "member_removed");
  assert.deepEqual(annSees, ["+bob", "-bob"]);
  assert.equal(annCh.members.count, 1);
  assert.deepEqual(bobSees, []);
});

test("a second connection of the same user adds no member, and closing one removes none", async (t) => {
  const { client } = await setup(t);
  const watcher = client("w");
  const seen = record((await join(watcher)).ch);

  const tab1 = client("ann");
  await join(tab1);
  await waitFor(() => seen.length === 1, 5_000, "member_added");
  const tab2 = client("ann");
  const { members } = await join(tab2);
  assert.deepEqual(ids(members), ["ann", "w"]);

  tab1.disconnect();
  await sleep(TIMING.reconnect_grace_ms + 300);
  assert.deepEqual(seen, ["+ann"]);
  assert.equal(watcher.channel(CHANNEL).members.count, 2);
});

test("a refresh within the grace emits no member_removed; leaving for good emits it after the grace", async (t) => {
  const { client } = await setup(t);
  const watcher = client("w");
  const seen = record((await join(watcher)).ch);
  const page = client("ann");
  await join(page);
  await waitFor(() => seen.length === 1, 5_000, "member_added");

  // The refresh: the old page's connection closes, the new page's subscribes again.
  page.disconnect();
  const reloaded = client("ann");
  await join(reloaded);
  await sleep(TIMING.reconnect_grace_ms + 300);
  assert.deepEqual(seen, ["+ann"]);

  const left = Date.now();
  reloaded.disconnect();
  await waitFor(() => seen.length === 2, TIMING.reconnect_grace_ms + SLACK_MS, "member_removed");
  assert.deepEqual(seen, ["+ann", "-ann"]);
  assert.ok(Date.now() - left >= TIMING.unload_grace_ms - 20, `removed after ${Date.now() - left} ms`);
});

test("the HTTP API answers the Pusher server library and refuses unsigned or wrongly signed requests", async (t) => {
  const { relay, client } = await setup(t);
  await join(client("ann"));
  await join(client("bob"));
  const options = { appId: APP.id, key: APP.key, host: relay.host, port: String(relay.port), useTLS: false };
  const server = new PusherServer({ ...options, secret: APP.secret });

  const users = await server.get({ path: `/channels/${CHANNEL}/users` });
  assert.equal(users.status, 200);
  const body = await users.json();
  assert.deepEqual(body.users.map((u) => u.id).sort(), ["ann", "bob"]);

  const info = await server.get({ path: `/channels/${CHANNEL}`, params: { info: "user_count" } });
  assert.deepEqual(await info.json(), { occupied: true, user_count: 2 });
  const empty = await server.get({ path: "/channels/presence-nobody", params: { info: "user_count" } });
  assert.deepEqual(await empty.json(), { occupied: false, user_count: 0 });

  const unsigned = await fetch(`${relay.url}/apps/${APP.id}/channels/${CHANNEL}/users`);
  assert.equal(unsigned.status, 401);
  const forger = new PusherServer({ ...options, secret: "not-the-app-secret" });
  await assert.rejects(forger.get({ path: `/channels/${CHANNEL}/users` }), (e) => e.status === 401);
});

test("a pusher-js user and a rollcall client in the mapped channel see each other", async (t) => {
  const { relay, client } = await setup(t);
  const native = await nativeClient(relay, "sdk-user");
  t.after(() => native.close());
  await native.subscribe(ROLLCALL_CHANNEL);
  await native.enter(ROLLCALL_CHANNEL, { typing: false });

  const p = client("pusher-user");
  const { ch, members } = await join(p);
  const seen = record(ch);
  assert.deepEqual(ids(members), ["pusher-user", "sdk-user"]);
  assert.deepEqual(members.get("sdk-user").info, { name: "User sdk-user", typing: false });
  const other = await waitFor(() => native.members.get("pusher-user"), 5_000, "the pusher-js user");
  assert.equal(other.name, "User pusher-user");

  await native.leave(ROLLCALL_CHANNEL);
  await waitFor(() => seen.length === 1, 5_000, "member_removed");
  assert.deepEqual(seen, ["-sdk-user"]);

  p.unsubscribe(CHANNEL);
  await waitFor(() => !native.members.has("pusher-user"), 5_000, "the pusher-js user leaving");
});

test("public and private channels are refused with pusher:error 4300 and a reason", async (t) => {
  const { client } = await setup(t);
  const p = client("ann");
  for (const name of ["news", "private-chat"]) {
    const error = await once(p.subscribe(name), "pusher:error");
    assert.equal(error.code, 4300, name);
    assert.match(error.message, /presence channels only/);
  }
  // The connection goes on serving presence channels.
  assert.equal((await join(p)).members.count, 1);
});

test("pusher.signin() with the site's user authentication succeeds; a forged one is refused with 4009", async (t) => {
  const { client } = await setup(t);
  const ann = client("ann");
  ann.signin();
  await waitFor(() => ann.user.user_data, 5_000, "sign-in");
  assert.deepEqual(ann.user.user_data, { id: "ann", user_info: { name: "User ann" } });
  const { members } = await join(ann);
  assert.equal(members.me.id, "ann");

  const eve = client("eve", { secret: "not-the-app-secret" });
  const errors = [];
  eve.connection.bind("error", (e) => errors.push(e));
  eve.signin();
  await waitFor(() => errors.some((e) => e.data?.code === 4009), 5_000, "error 4009");
  assert.equal(eve.user.user_data, null);
});

test("a relay shutdown tells pusher-js to reconnect at once (4200)", async (t) => {
  const { relay, client } = await setup(t);
  const p = client("ann");
  await join(p);
  const errors = [];
  p.connection.bind("error", (e) => errors.push(e));
  const states = [];
  p.connection.bind("state_change", (s) => states.push(s.current));
  await relay.stop();
  await waitFor(() => errors.some((e) => e.data?.code === 4200), 5_000, "error 4200");
  // pusher-js treats 4200-4299 as "reconnect now", not as a refusal.
  await waitFor(() => states.includes("connecting"), 5_000, "a reconnection attempt");
  assert.ok(!states.includes("failed"), states.join(","));
});

test("Pusher-format webhooks reach the site, pass the Pusher library's check, and a refresh sends none", async (t) => {
  const { site, client } = await setup(t, (site) => `webhook_url = "${site.url}/pusher/webhooks"\n[webhooks]\nbatch_ms = 20\n`);
  const names = () =>
    site.webhooks.flatMap((w) => JSON.parse(w.rawBody).events.map((e) => `${e.name} ${e.channel}${e.user_id ? ` ${e.user_id}` : ""}`));
  const page = client("ann");
  await join(page);
  await waitFor(() => names().length === 2, 5_000, "two webhook events");
  assert.deepEqual(names(), [`channel_occupied ${CHANNEL}`, `member_added ${CHANNEL} ann`]);

  const server = new PusherServer({ appId: APP.id, key: APP.key, secret: APP.secret, host: "127.0.0.1" });
  for (const request of site.webhooks) {
    const webhook = server.webhook(request);
    assert.ok(webhook.isValid(), "signed with the app's key and secret");
    assert.ok(webhook.getTime() instanceof Date);
  }
  const forged = { ...site.webhooks[0], rawBody: site.webhooks[0].rawBody.replace("ann", "eve") };
  assert.equal(server.webhook(forged).isValid(), false);

  // A refresh within the grace sends nothing; leaving for good sends member_removed and vacated.
  page.disconnect();
  const reloaded = client("ann");
  await join(reloaded);
  await sleep(TIMING.reconnect_grace_ms + 300);
  assert.equal(names().length, 2);
  reloaded.disconnect();
  await waitFor(() => names().length === 4, TIMING.reconnect_grace_ms + SLACK_MS + 1_000, "member_removed");
  assert.deepEqual(names().slice(2), [`member_removed ${CHANNEL} ann`, `channel_vacated ${CHANNEL}`]);
});
