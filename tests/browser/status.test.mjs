// presence.status in real Chromium against a real relay: what a page can show about its
// connection through a relay restart, a cut connection, a stalled network, an offline
// browser and a leader tab that closes, the same in every tab.
//
// Needs `cargo build -p rollcall-relay` and `bash sdk/build.sh` first.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  checkBuilt, startRelay, restartableRelay, startSite, startProxy, launchBrowser, openTab, token, hold, TIMING, SLACK_MS,
  pageErrors,
} from "./harness.mjs";

let site;
let chrome;

before(async () => {
  checkBuilt();
  site = await startSite();
  chrome = await launchBrowser();
});

after(async () => {
  await chrome?.close();
  await site?.close();
});

/**
 * A tab connected to `url` that records `presence.status` right after connect() and
 * every `status` change after it, in `window.statuses` as `{ status, retryAt, at }`.
 */
async function statusTab(context, url, jwt) {
  const tab = await openTab(context, site);
  await tab.page.evaluate(async (options) => {
    await window.t.connect(options);
    // In the same task as connect() resolving: before any frame from the relay.
    const p = window.t.presence;
    window.statuses = [{ status: p.status, retryAt: null, at: Date.now() }];
    p.on("status", (change) => window.statuses.push({ ...change, at: Date.now() }));
  }, { url, token: jwt });
  return {
    ...tab,
    statuses: () => tab.page.evaluate(() => window.statuses),
    status: () => tab.page.evaluate(() => window.t.presence.status),
    async waitForStatus(status, ms, why) {
      try {
        await tab.page.waitForFunction((s) => window.t.presence.status === s, status, { timeout: ms, polling: 50 });
      } catch (e) {
        const seen = await tab.page.evaluate(() => window.statuses).catch(() => null);
        throw new Error(`status never became ${status} within ${ms} ms (${why}); seen: ${JSON.stringify(seen)}`);
      }
    },
  };
}

/** The statuses in order, each once per run of equal ones. */
const runs = (statuses) => statuses.map((s) => s.status).filter((s, i, all) => i === 0 || all[i - 1] !== s);

test("a relay restart shows connecting, connected, reconnecting with the next attempt's time, connected", async () => {
  const relay = await restartableRelay();
  const context = await chrome.browser.newContext();
  try {
    const tab = await statusTab(context, relay.url, await token("rita"));
    await tab.waitForStatus("connected", 5_000, "the first welcome");
    await relay.halt();
    await tab.waitForStatus("reconnecting", 5_000, "the relay is gone");
    // While it is down, attempts fail and each says when the next one starts.
    await tab.page.waitForFunction(
      () => window.statuses.some((s) => s.status === "reconnecting" && typeof s.retryAt === "number"),
      null,
      { timeout: 5_000, polling: 50 },
    );
    await relay.start();
    await tab.waitForStatus("connected", 20_000, "the relay is back on its port");
    const seen = await tab.statuses();
    assert.deepEqual(runs(seen), ["connecting", "connected", "reconnecting", "connected"], JSON.stringify(seen));
    const timed = seen.find((s) => typeof s.retryAt === "number");
    assert.ok(timed.retryAt >= timed.at && timed.retryAt <= timed.at + 31_000, `retryAt is the next attempt: ${JSON.stringify(timed)}`);
    assert.ok(seen.every((s) => s.status === "reconnecting" || s.retryAt === null), "retryAt only while reconnecting");
    await tab.page.evaluate(() => window.t.presence.close());
    assert.equal(await tab.status(), "closed", "a closed presence says so");
  } finally {
    await context.close();
    relay.stop();
  }
});

test("a follower tab shows the leader's status: reconnecting while the relay is down, then connected", async () => {
  const relay = await restartableRelay();
  const context = await chrome.browser.newContext();
  try {
    const jwt = await token("fern");
    const leader = await statusTab(context, relay.url, jwt);
    await leader.waitForStatus("connected", 5_000, "the leader's welcome");
    const follower = await statusTab(context, relay.url, jwt);
    assert.equal(await leader.isLeader(), true);
    assert.equal(await follower.isLeader(), false);
    await follower.waitForStatus("connected", 5_000, "the leader tells a new tab its status");
    await relay.halt();
    await follower.waitForStatus("reconnecting", 5_000, "the leader lost the relay");
    await follower.page.waitForFunction(
      () => window.statuses.some((s) => s.status === "reconnecting" && typeof s.retryAt === "number"),
      null,
      { timeout: 5_000, polling: 50 },
    );
    await relay.start();
    await follower.waitForStatus("connected", 20_000, "the leader is back");
    // Told before its connect() resolved, or just after: "connecting" at most until then.
    const seen = runs(await follower.statuses());
    assert.deepEqual(seen.slice(seen.indexOf("connected")), ["connected", "reconnecting", "connected"], JSON.stringify(seen));
    assert.equal(follower.sockets.length, 0, "the follower never held a socket");
  } finally {
    await context.close();
    relay.stop();
  }
});

test("a connection cut under the page shows reconnecting, then connected once it is made again", async () => {
  const relay = await startRelay();
  const proxy = await startProxy(relay.url);
  const context = await chrome.browser.newContext();
  try {
    const tab = await statusTab(context, proxy.url, await token("cora"));
    await tab.waitForStatus("connected", 5_000, "the welcome through the proxy");
    proxy.drop();
    await tab.waitForStatus("reconnecting", 5_000, "the socket was cut");
    await tab.waitForStatus("connected", 10_000, "the next attempt goes through");
    const seen = runs(await tab.statuses());
    assert.deepEqual(seen, ["connecting", "connected", "reconnecting", "connected"], JSON.stringify(seen));
  } finally {
    await context.close();
    proxy.close();
    relay.stop();
  }
});

// A network that stalls without closing anything (the proxy stops forwarding, as a
// dropped Wi-Fi or a sleeping NAT does) reaches the page as nothing at all: the relay's
// pings are answered by the browser, unseen by the SDK. What the SDK awaits is the
// relay's answer to its check-in (protocol 1.2): a check-in interval plus the answer's
// wait (3 s with these timings) after the stall, the link is closed and made again.
test("a stalled network shows reconnecting in every tab within the lease timeout, then connected with the presence right once it flows again", async () => {
  const relay = await startRelay();
  const proxy = await startProxy(relay.url);
  const context = await chrome.browser.newContext();
  const elsewhere = await chrome.browser.newContext();
  const ch = "/room/stall";
  try {
    const jwt = await token("sten");
    const tab = await statusTab(context, proxy.url, jwt);
    await tab.waitForStatus("connected", 5_000, "the welcome through the proxy");
    const follower = await statusTab(context, proxy.url, jwt);
    await follower.waitForStatus("connected", 5_000, "the follower is told");
    assert.equal(await tab.isLeader(), true);
    await tab.watch(ch);
    assert.deepEqual(await tab.enter(ch), { ok: true });
    // Someone on a network that works, watching the same channel.
    const other = await openTab(elsewhere, site);
    await other.connect({ url: relay.url, token: await token("otto") });
    await other.watch(ch);
    assert.deepEqual(await other.enter(ch), { ok: true });
    const both = (s) => s.users.map((u) => u.id).sort().join() === "otto,sten";
    await tab.waitForState(ch, both, 5_000, "sten sees otto come");
    await other.waitForState(ch, both, 5_000, "otto sees sten");

    const frozenAt = Date.now();
    proxy.freeze();
    const bound = TIMING.lease_timeout_ms + SLACK_MS;
    await tab.waitForStatus("reconnecting", bound, "a check-in went unanswered");
    await follower.waitForStatus("reconnecting", SLACK_MS, "the follower is told");
    const seenAfter = Date.now() - frozenAt;
    assert.ok(seenAfter >= TIMING.checkin_interval_ms, `not before a check-in could go unanswered: ${seenAfter} ms`);
    // While the network is dead, every attempt fails, and each says when the next one is.
    await tab.page.waitForFunction(
      () => window.statuses.some((s) => s.status === "reconnecting" && typeof s.retryAt === "number"),
      null,
      { timeout: 5_000, polling: 50 },
    );

    proxy.release();
    await tab.waitForStatus("connected", 15_000, "the network flows again");
    await follower.waitForStatus("connected", SLACK_MS, "the follower is told");
    // The presence is asserted again on the new link: both see both.
    await tab.waitForState(ch, both, 5_000, "sten's page shows the channel again");
    await other.waitForState(ch, both, TIMING.reconnect_grace_ms + SLACK_MS, "otto sees sten back");
    for (const t of [tab, follower]) {
      const seen = runs(await t.statuses());
      assert.deepEqual(seen.slice(seen.indexOf("connected")), ["connected", "reconnecting", "connected"], JSON.stringify(seen));
    }
    assert.equal(follower.sockets.length, 0, "the follower never held a socket");
  } finally {
    await context.close();
    await elsewhere.close();
    proxy.close();
    relay.stop();
  }
});

test("an offline browser shows offline in every tab, and connected once the network is back", async () => {
  const relay = await startRelay();
  const context = await chrome.browser.newContext();
  try {
    const jwt = await token("olga");
    const leader = await statusTab(context, relay.url, jwt);
    await leader.waitForStatus("connected", 5_000, "the leader's welcome");
    const follower = await statusTab(context, relay.url, jwt);
    await follower.waitForStatus("connected", 5_000, "the follower is told");
    await context.setOffline(true);
    await leader.waitForStatus("offline", 5_000, "navigator.onLine is false");
    await follower.waitForStatus("offline", 5_000, "every tab hears the browser go offline");
    await hold(1_000, "offline stays offline: no attempt while the network is away");
    assert.equal(await leader.status(), "offline");
    await context.setOffline(false);
    await leader.waitForStatus("connected", 10_000, "back online: an attempt at once");
    await follower.waitForStatus("connected", 5_000, "the follower is told");
    for (const tab of [leader, follower]) {
      const seen = runs(await tab.statuses());
      // After the first welcome: offline, maybe reconnecting (if the socket died with the
      // network), then connected again.
      const since = seen.slice(seen.indexOf("connected") + 1);
      assert.equal(since[0], "offline", JSON.stringify(seen));
      assert.equal(since.at(-1), "connected", JSON.stringify(seen));
      assert.ok(since.every((s) => ["offline", "reconnecting", "connected"].includes(s)), JSON.stringify(seen));
    }
  } finally {
    await context.close();
    relay.stop();
  }
});

test("closing the leader tab shows no reconnect in the tabs that stay", async () => {
  const relay = await startRelay();
  const context = await chrome.browser.newContext();
  try {
    const jwt = await token("hana");
    const first = await statusTab(context, relay.url, jwt);
    await first.waitForStatus("connected", 5_000, "the leader's welcome");
    const second = await statusTab(context, relay.url, jwt);
    const third = await statusTab(context, relay.url, jwt);
    for (const tab of [second, third]) await tab.waitForStatus("connected", 5_000, "followers are told");
    assert.equal(await first.isLeader(), true);
    await first.page.close();
    const followers = [second, third];
    await Promise.any(
      followers.map((tab) => tab.page.waitForFunction(() => window.t.presence.isLeader, null, { timeout: 2_000 })),
    );
    const leader = (await second.isLeader()) ? second : third;
    await leader.page.waitForFunction(() => window.t.presence.connected, null, { timeout: 5_000 });
    await hold(SLACK_MS, "a reconnecting status would show while the new leader connects");
    for (const tab of followers) {
      const seen = await tab.statuses();
      // A follower may have shown "connecting" until the leader's first word; after
      // that, only "connected", through the handover too.
      const since = runs(seen).slice(runs(seen).indexOf("connected"));
      assert.deepEqual(since, ["connected"], `no reconnecting: ${JSON.stringify(seen)}`);
      assert.equal(await tab.status(), "connected");
    }
    assert.equal(leader.sockets.length, 1, "the new leader holds the one connection");
  } finally {
    await context.close();
    relay.stop();
  }
});

test("no test page raised an uncaught error", () => {
  assert.deepEqual(pageErrors, []);
});
