// Channels the site decides, through the SDK in real Chromium against a real relay and
// a small HTTP server playing the site: a user may enter /topic/1 but not /topic/2, and
// when the site changes its mind the user leaves for everyone once the answer expires.
// When the site is down at that moment, the page shows nobody rather than the people
// last seen (a state that is not `live`), and the channel comes back by itself once the
// site answers again.
//
// Needs `cargo build -p rollcall-relay` and `bash sdk/build.sh` first.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { checkBuilt, startDecidingRelay, startSite, launchBrowser, openTab, token } from "./harness.mjs";

const TTL_MS = 1_500;
// How long the relay refuses with `unavailable` after the site failed.
const RETRY_MS = 1_000;

let relay;
let site;
let chrome;
// The site's rules, changed by the tests: who may enter which topic.
let mayEnter = (user, topic) => topic === "1";

before(async () => {
  checkBuilt();
  relay = await startDecidingRelay({
    decide: (q) => ({ view: true, enter: mayEnter(q.user.id, q.channel.slice("/topic/".length)) }),
    ttlMs: TTL_MS,
    retryMs: RETRY_MS,
  });
  site = await startSite();
  chrome = await launchBrowser();
});

after(async () => {
  await chrome?.close();
  await site?.close();
  relay?.stop();
});

async function person(sub, ch) {
  const context = await chrome.browser.newContext();
  const tab = await openTab(context, site);
  await tab.connect({ url: relay.url, token: await token(sub) });
  await tab.watch(ch);
  return { context, tab };
}

test("the site lets a user enter /topic/1 but not /topic/2, and enter() says why", async () => {
  const ann = await person("ann", "/topic/1");
  assert.deepEqual(await ann.tab.enter("/topic/1", {}), { ok: true });
  await ann.tab.watch("/topic/2");
  const refused = await ann.tab.enter("/topic/2", {});
  assert.equal(refused.ok, false);
  assert.equal(refused.isError, true, "a real Error");
  assert.equal(refused.code, "forbidden_enter");
  assert.match(refused.message, /site/);
  const asked = relay.site.questions.filter((q) => q.user.id === "ann").map((q) => q.channel).sort();
  assert.deepEqual(asked, ["/topic/1", "/topic/2"], "one question per channel, cached after");
  await ann.context.close();
});

test("when the site changes its mind, the user leaves for everyone once the answer expires", async () => {
  const ch = "/topic/1";
  const bea = await person("bea", ch);
  assert.deepEqual(await bea.tab.enter(ch, {}), { ok: true });
  const cal = await person("cal", ch);
  await cal.tab.waitForState(ch, (s) => s.users.some((u) => u.id === "bea"), 5_000, "cal sees bea");
  mayEnter = (user, topic) => topic === "1" && user !== "bea";
  await cal.tab.waitFor("leave", ch, "bea", TTL_MS + 5_000, "cal sees bea leave after the TTL");
  const after = await cal.tab.waitForState(ch, (s) => !s.users.some((u) => u.id === "bea"), 1_000, "bea is gone");
  assert.deepEqual(after.users, [], "cal only watches: nobody is left");
  assert.ok(relay.site.questions.some((q) => q.user.id === "bea" && q.action === "recheck"));
  for (const p of [bea, cal]) await p.context.close();
});

test("when the site cannot be asked again, the channel shows nobody, then comes back by itself", async () => {
  const ch = "/topic/3";
  mayEnter = () => true;
  const dee = await person("dee", ch);
  assert.deepEqual(await dee.tab.enter(ch, {}), { ok: true });
  const seen = await dee.tab.waitForState(ch, (s) => s.users.some((u) => u.id === "dee"), 5_000, "dee sees herself");
  assert.equal(seen.live, true, "the relay's own state");
  relay.site.down = true;
  await dee.tab.waitFor("error", ch, "unavailable", TTL_MS + 5_000, "the recheck finds the site down");
  const shown = await dee.tab.waitForState(ch, (s) => s.count === 0, 1_000, "the list last seen is gone");
  assert.deepEqual(shown.users, [], "nobody shown while the relay says nothing about the channel");
  assert.equal(shown.live, false, "an emptied list, not an empty channel");
  relay.site.down = false;
  const back = await dee.tab.waitForState(
    ch,
    (s) => s.users.some((u) => u.id === "dee"),
    RETRY_MS + TTL_MS + 5_000,
    "entered and watching again, without a reconnect",
  );
  assert.equal(back.live, true, "the relay's state again");
  assert.equal(dee.tab.sockets.length, 1, "the same socket all along");
  await dee.context.close();
});
