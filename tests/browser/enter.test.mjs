// `await channel.enter()` in real Chromium against a real relay: on a watched channel,
// once it resolves, the channel's count and users are true (this user is in them), in
// the tab that holds the connection and in a follower tab; entering a channel the page
// does not watch subscribes to nothing; a refused enter still rejects.
//
// Needs `cargo build -p rollcall-relay` and `bash sdk/build.sh` first.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { checkBuilt, startRelay, startSite, launchBrowser, openTab, token, hold, pageErrors } from "./harness.mjs";

let relay;
let site;
let chrome;

before(async () => {
  checkBuilt();
  relay = await startRelay();
  site = await startSite();
  chrome = await launchBrowser();
});

after(async () => {
  await chrome?.close();
  await site?.close();
  relay?.stop();
});

/**
 * Enters `name` in the tab and reads the channel in the same task as `enter()`
 * resolving, as a page that renders right after it would. `watch`: subscribe first.
 */
function enterAndRead(tab, name, { watch = false } = {}) {
  return tab.page.evaluate(
    async ([n, w]) => {
      const channel = window.t.presence.channel(n);
      if (w) channel.subscribe(() => {});
      try {
        await channel.enter({ here: true });
      } catch (e) {
        return { code: e.code, isError: e instanceof Error };
      }
      return { count: channel.count, users: channel.users.map((u) => u.id), isLeader: window.t.presence.isLeader };
    },
    [name, watch],
  );
}

test("right after await enter(), count and users include this user, in the leader tab and in a follower tab", async () => {
  const context = await chrome.browser.newContext();
  try {
    const jwt = await token("erin");
    const leader = await openTab(context, site);
    await leader.connect({ url: relay.url, token: jwt });
    const follower = await openTab(context, site);
    await follower.connect({ url: relay.url, token: jwt });
    // Five channels each, as the first report measured five runs.
    for (let i = 0; i < 5; i++) {
      const first = await enterAndRead(leader, `/enter/leader-${i}`, { watch: true });
      assert.equal(first.isLeader, true);
      assert.ok(first.count >= 1, `count right after enter: ${JSON.stringify(first)}`);
      assert.ok(first.users.includes("erin"), `users right after enter: ${JSON.stringify(first)}`);
      const second = await enterAndRead(follower, `/enter/follower-${i}`, { watch: true });
      assert.equal(second.isLeader, false);
      assert.ok(second.count >= 1, `count right after enter in a follower: ${JSON.stringify(second)}`);
      assert.ok(second.users.includes("erin"), `users right after enter in a follower: ${JSON.stringify(second)}`);
    }
    assert.equal(follower.sockets.length, 0, "the follower's enter went through the leader");
  } finally {
    await context.close();
  }
});

test("a channel watched before enter, with someone in it already, shows this user too once enter resolves, in a follower tab with a token function", async () => {
  const other = await chrome.browser.newContext();
  const context = await chrome.browser.newContext();
  try {
    const name = "/enter/busy";
    const gus = await openTab(other, site);
    await gus.connect({ url: relay.url, token: await token("gus") });
    assert.deepEqual(await gus.enter(name), { ok: true });
    const jwt = await token("hedy");
    const leader = await openTab(context, site);
    await leader.connect({ url: relay.url, token: jwt });
    // A follower tab with a token function: this user is learnt from the token it returns.
    const tab = await openTab(context, site);
    await tab.page.evaluate(async ([url, t]) => { await window.t.connect({ url, token: async () => t }); }, [relay.url, jwt]);
    await tab.watch(name);
    await tab.waitForState(name, (s) => s.count === 1, 5_000, "gus is there before hedy enters");
    const read = await enterAndRead(tab, name, { watch: true });
    assert.equal(read.isLeader, false);
    assert.equal(read.count, 2, JSON.stringify(read));
    assert.deepEqual(read.users.sort(), ["gus", "hedy"]);
  } finally {
    await context.close();
    await other.close();
  }
});

test("entering is not watching: an enter alone subscribes to nothing and resolves with the relay's ok", async () => {
  const context = await chrome.browser.newContext();
  try {
    const tab = await openTab(context, site);
    const sent = [];
    tab.page.on("websocket", (ws) => ws.on("framesent", ({ payload }) => sent.push(JSON.parse(String(payload)))));
    await tab.connect({ url: relay.url, token: await token("jo") });
    const frames = (ch) => sent.filter((f) => f.ch === ch).map((f) => f.type);
    const read = await enterAndRead(tab, "/enter/only");
    assert.equal(read.count, 0, "no state for a channel nobody in the tab watches");
    await tab.page.evaluate(() => window.t.presence.channel("/enter/only").leave());
    for (let i = 0; i < 50 && !frames("/enter/only").includes("leave"); i++) await hold(20, "the frame event comes after the send");
    assert.deepEqual(frames("/enter/only").filter((t) => t !== "update"), ["enter", "leave"]);
    // Watched after all: the page's subscription is untouched by the leave.
    await enterAndRead(tab, "/enter/watched", { watch: true });
    await tab.page.evaluate(() => window.t.presence.channel("/enter/watched").leave());
    // Frames go out in order: once a later subscribe is sent, an unsubscribe would be too.
    await tab.page.evaluate(() => window.t.presence.channel("/enter/marker").subscribe(() => {}));
    for (let i = 0; i < 50 && !frames("/enter/marker").includes("subscribe"); i++) await hold(20, "the frame event comes after the send");
    assert.deepEqual(frames("/enter/marker"), ["subscribe"]);
    assert.ok(!frames("/enter/watched").includes("unsubscribe"), JSON.stringify(frames("/enter/watched")));
  } finally {
    await context.close();
  }
});

test("a refused enter still rejects with the relay's reason, in the leader tab and in a follower tab", async () => {
  const context = await chrome.browser.newContext();
  try {
    const jwt = await token("ivo");
    const leader = await openTab(context, site);
    await leader.connect({ url: relay.url, token: jwt });
    const follower = await openTab(context, site);
    await follower.connect({ url: relay.url, token: jwt });
    for (const tab of [leader, follower]) {
      // "/staff/*" is open to watch, and only staff may appear.
      assert.deepEqual(await enterAndRead(tab, "/staff/room"), { code: "forbidden_enter", isError: true });
    }
    const bad = await leader.page.evaluate(async () => {
      try {
        await window.t.presence.channel("/enter/meta").enter("not an object");
        return null;
      } catch (e) {
        return e.code;
      }
    });
    assert.equal(bad, "bad_meta");
  } finally {
    await context.close();
  }
});

test("no test page raised an uncaught error", () => {
  assert.deepEqual(pageErrors, []);
});
