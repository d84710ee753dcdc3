// pusher-js's browser build in headless Chromium against rollcall-relay's Pusher
// endpoint: a page subscribes through the site's auth endpoint, sees others come and go,
// a reload shows nothing to others, a wrong signature is refused; and a page running the
// rollcall SDK and a page running pusher-js see each other in the mapped channel.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { CHANNEL, ROLLCALL_CHANNEL, ROOT, TIMING, APP, pusherJsWebBuild, startRelay, startSite, token } from "./harness.mjs";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];
const DIST = path.join(ROOT, "sdk/dist");
const SDK_BUILT = existsSync(path.join(DIST, "rollcall.js"));

// The pusher-js page: the test creates the client through window.t with the relay's
// address; member events land in t.events.
const PUSHER_PAGE = `<!doctype html>
<meta charset="utf-8">
<title>pusher-js page</title>
<script src="/pusher.min.js"></script>
<script>
  window.t = {
    events: [],
    errors: [],
    members: null,
    start({ key, host, port, user, secret }) {
      const extra = secret ? "&secret=" + encodeURIComponent(secret) : "";
      const pusher = new Pusher(key, {
        cluster: "mt1", wsHost: host, wsPort: port, forceTLS: false, enabledTransports: ["ws"],
        disableStats: true,
        channelAuthorization: { endpoint: "/pusher/auth?user=" + user + extra, transport: "ajax" },
      });
      const ch = pusher.subscribe(${JSON.stringify(CHANNEL)});
      ch.bind("pusher:subscription_succeeded", (members) => {
        const ids = [];
        members.each((m) => ids.push(m.id));
        t.members = { ids: ids.sort(), me: members.me, count: members.count };
      });
      ch.bind("pusher:member_added", (m) => t.events.push("+" + m.id));
      ch.bind("pusher:member_removed", (m) => t.events.push("-" + m.id));
      ch.bind("pusher:error", (e) => t.errors.push(e));
      t.channel = ch;
    },
    info(id) { return t.channel.members.get(id)?.info ?? null; },
  };
  document.title = "ready";
</script>`;

// The rollcall SDK page.
const SDK_PAGE = `<!doctype html>
<meta charset="utf-8">
<title>rollcall SDK page</title>
<script type="module">
  import { connect } from "/sdk/rollcall.js";
  window.t = {
    users: [],
    async start(options, ch) {
      const presence = await connect(options);
      const channel = presence.channel(ch);
      channel.subscribe((state) => { t.users = state.users.map((u) => ({ id: u.id, name: u.name })); });
      await channel.enter({ typing: false });
      t.channel = channel;
    },
    leave() { return t.channel.leave(); },
  };
  document.title = "ready";
</script>`;

const file = (name, type) => ({ type, body: () => readFileSync(path.join(DIST, name)) });

let relay;
let site;
let browser;

before(async () => {
  relay = await startRelay();
  site = await startSite({
    "/": { type: "text/html", body: () => PUSHER_PAGE },
    "/pusher.min.js": { type: "text/javascript", body: pusherJsWebBuild },
    "/sdk.html": { type: "text/html", body: () => SDK_PAGE },
    "/sdk/rollcall.js": file("rollcall.js", "text/javascript"),
    "/sdk/rollcall_sdk_bg.wasm": file("rollcall_sdk_bg.wasm", "application/wasm"),
  });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
});

after(async () => {
  await browser?.close().catch(() => {});
  await relay?.stop();
  await site?.close();
});

/** A page of its own browser context (its own cookies and storage: another person). */
async function pusherPage(user, options = {}) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(`${site.url}/`);
  await page.waitForFunction(() => document.title === "ready");
  const start = () =>
    page.evaluate((o) => window.t.start(o), { key: APP.key, host: relay.host, port: relay.port, user, ...options });
  await start();
  return {
    page,
    context,
    errors,
    start,
    members: async () => (await page.waitForFunction(() => window.t.members, null, { timeout: 10_000 })).jsonValue(),
    events: () => page.evaluate(() => window.t.events),
    info: (id) => page.evaluate((i) => window.t.info(i), id),
    waitEvents: (n) => page.waitForFunction((k) => window.t.events.length >= k, n, { timeout: 10_000 }),
  };
}

test("pusher-js in Chromium sees members come and go, and a reload shows nothing to others", async () => {
  const ann = await pusherPage("ann");
  assert.deepEqual(await ann.members(), { ids: ["ann"], me: { id: "ann", info: { name: "User ann" } }, count: 1 });

  const bob = await pusherPage("bob");
  assert.deepEqual((await bob.members()).ids, ["ann", "bob"]);
  await ann.waitEvents(1);
  assert.deepEqual(await ann.events(), ["+bob"]);

  // A reload: the old page's socket goes away and the new page subscribes again.
  await bob.page.reload();
  await bob.page.waitForFunction(() => document.title === "ready");
  await bob.start();
  assert.deepEqual((await bob.members()).ids, ["ann", "bob"]);
  await ann.page.waitForTimeout(TIMING.reconnect_grace_ms + 400);
  assert.deepEqual(await ann.events(), ["+bob"]);

  await bob.context.close();
  await ann.waitEvents(2);
  assert.deepEqual(await ann.events(), ["+bob", "-bob"]);
  assert.deepEqual(ann.errors, []);
  await ann.context.close();
});

test("pusher-js in Chromium with a wrong signature gets pusher:error 4009", async () => {
  const eve = await pusherPage("eve", { secret: "not-the-app-secret" });
  const error = await (await eve.page.waitForFunction(() => window.t.errors[0], null, { timeout: 10_000 })).jsonValue();
  assert.equal(error.code, 4009);
  assert.equal(await eve.page.evaluate(() => window.t.members), null);
  await eve.context.close();
});

test("the rollcall SDK in one page and pusher-js in another see each other", { skip: !SDK_BUILT && "sdk/dist is not built (bash sdk/build.sh)" }, async () => {
  const context = await browser.newContext();
  const sdk = await context.newPage();
  await sdk.goto(`${site.url}/sdk.html`);
  await sdk.waitForFunction(() => document.title === "ready");
  await sdk.evaluate(([o, ch]) => window.t.start(o, ch), [{ url: relay.url, token: token("sdk-user") }, ROLLCALL_CHANNEL]);

  const p = await pusherPage("pusher-user");
  const members = await p.members();
  assert.deepEqual(members.ids, ["pusher-user", "sdk-user"]);
  assert.deepEqual(await p.info("sdk-user"), { name: "User sdk-user", typing: false });
  const seen = await sdk.waitForFunction(
    () => window.t.users.find((u) => u.id === "pusher-user"),
    null,
    { timeout: 10_000 },
  );
  assert.deepEqual(await seen.jsonValue(), { id: "pusher-user", name: "User pusher-user" });

  await sdk.evaluate(() => window.t.leave());
  await p.waitEvents(1);
  assert.deepEqual(await p.events(), ["-sdk-user"]);
  await p.context.close();
  await sdk.waitForFunction(() => !window.t.users.some((u) => u.id === "pusher-user"), null, { timeout: 10_000 });
  await context.close();
});
