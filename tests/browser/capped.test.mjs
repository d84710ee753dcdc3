// Capped lists through the SDK in real Chromium against a real relay: a "/crowd/*"
// channel sends each subscriber the first LIST_CAP to arrive, itself and its friends,
// with an exact count; focus frames bring friends outside the shared list; members()
// pages through everyone; a follower tab gets all of it over BroadcastChannel.
//
// Needs `cargo build -p rollcall-relay` and `bash sdk/build.sh` first.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { checkBuilt, startRelay, startSite, launchBrowser, openTab, token, hold, LIST_CAP, SLACK_MS, TIMING } from "./harness.mjs";

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

/** A browser profile with one tab, connected as `sub`, watching `ch` (and entering it). */
async function person(sub, ch, { claims, enter = true, friends } = {}) {
  const context = await chrome.browser.newContext();
  const tab = await openTab(context, site);
  await tab.connect({ url: relay.url, token: await token(sub, claims) });
  await tab.watch(ch, friends ? { friends } : undefined);
  if (enter) assert.deepEqual(await tab.enter(ch, {}), { ok: true }, `${sub} enters ${ch}`);
  return { context, tab };
}

/** `count` people enter `ch` one after another (so the first LIST_CAP fill the list). */
async function crowd(ch, names) {
  const people = [];
  for (const name of names) {
    const p = await person(name, ch, { enter: false });
    assert.deepEqual(await p.tab.enter(ch, {}), { ok: true });
    // In arrival order: the next one comes after this one is counted.
    await p.tab.waitForState(ch, (s) => s.users.length > 0, 5_000, `${name} sees the channel`);
    people.push(p);
  }
  return people;
}

const ids = (state) => state.users.map((u) => u.id).sort();

test("a capped list shows the first arrivals, oneself and one's friends, with the exact count", async () => {
  const ch = "/crowd/list";
  const others = await crowd(ch, ["u1", "u2", "u3", "u4"]);
  // A friend named by the page, and one named by the token.
  const me = await person("me", ch, { friends: ["u4"] });
  const her = await person("her", ch, { claims: { friends: ["u3"] } });
  const mine = await me.tab.waitForState(ch, (s) => s.count === 6, 5_000, "everyone is counted");
  assert.equal(mine.capped, LIST_CAP);
  assert.deepEqual(ids(mine), ["me", "u1", "u2", "u4"], "the first two, me and my friend");
  const hers = await her.tab.waitForState(ch, (s) => s.count === 6, 5_000, "everyone is counted");
  assert.deepEqual(ids(hers), ["her", "u1", "u2", "u3"], "the token's friend");
  assert.ok(hers.users.length <= LIST_CAP + 2);
  // The channel's own getters agree with what subscribe was given.
  const got = await me.tab.page.evaluate((c) => {
    const channel = window.t.channel(c);
    return { capped: channel.capped, count: channel.count, users: channel.users.map((u) => u.id).sort() };
  }, ch);
  assert.deepEqual(got, { capped: LIST_CAP, count: 6, users: ["me", "u1", "u2", "u4"] });
  // An uncapped channel says so.
  const plain = await me.tab.page.evaluate(() => window.t.presence.channel("/room/plain").capped);
  assert.equal(plain, null);
  for (const p of [...others, me, her]) await p.context.close();
});

test("a friend arriving outside the shared list comes as a join, and goes as a leave", async () => {
  const ch = "/crowd/focus";
  const others = await crowd(ch, ["a1", "a2", "a3"]);
  const me = await person("me", ch, { enter: false, friends: ["pal"] });
  const stranger = await person("zed", ch, { enter: false });
  await me.tab.waitForState(ch, (s) => s.count === 3, 5_000, "three are in");
  const pal = await person("pal", ch);
  const joined = await me.tab.waitFor("join", ch, "pal", 5_000, "pal entered, outside the shared list");
  assert.equal(joined.user.name, "user pal");
  const mine = await me.tab.waitForState(ch, (s) => s.count === 4, 5_000, "pal is counted");
  assert.deepEqual(ids(mine), ["a1", "a2", "pal"]);
  // Someone who does not follow pal counts pal without seeing pal.
  const theirs = await stranger.tab.waitForState(ch, (s) => s.count === 4, 5_000, "pal is counted");
  assert.deepEqual(ids(theirs), ["a1", "a2"]);
  assert.equal((await stranger.tab.events()).some((e) => e.id === "pal"), false);
  await pal.context.close();
  await me.tab.waitFor("leave", ch, "pal", TIMING.unload_grace_ms + SLACK_MS, "pal's page closed");
  await me.tab.waitForState(ch, (s) => s.count === 3 && !s.users.some((u) => u.id === "pal"), 5_000, "pal is gone");
  for (const p of [...others, me, stranger]) await p.context.close();
});

test("members() pages through everyone in id order, with the exact count", async () => {
  const ch = "/crowd/pages";
  const names = ["p1", "p2", "p3", "p4", "p5"];
  const others = await crowd(ch, names);
  const me = others[0];
  await me.tab.waitForState(ch, (s) => s.count === 5, 5_000, "all five are in");
  const seen = [];
  let after;
  let pages = 0;
  for (;;) {
    const page = await me.tab.members(ch, after === undefined ? { limit: 2 } : { after, limit: 2 });
    assert.equal(page.error, undefined, page.message);
    assert.equal(page.count, names.length);
    assert.ok(page.users.length <= 2);
    seen.push(...page.users.map((u) => u.id));
    pages += 1;
    if (page.next === null) break;
    after = page.next;
    assert.ok(pages < 10, "the pages end");
  }
  assert.deepEqual(seen, names, "everyone once, in id order");
  assert.equal(pages, 3);
  // Past the end: an empty last page.
  const past = await me.tab.members(ch, { after: "zzz" });
  assert.deepEqual({ users: past.users, next: past.next }, { users: [], next: null });
  // A count-only channel reveals no one.
  const hidden = await me.tab.members("/count/pages", {});
  assert.equal(hidden.error, "forbidden_view");
  for (const p of others) await p.context.close();
});

test("a follower tab gets the cap, the count, its friends as focus, and pages through the leader", async () => {
  const ch = "/crowd/tabs";
  const others = await crowd(ch, ["b1", "b2", "b3"]);
  const context = await chrome.browser.newContext();
  const jwt = await token("me");
  const leader = await openTab(context, site);
  await leader.connect({ url: relay.url, token: jwt });
  const follower = await openTab(context, site);
  await follower.connect({ url: relay.url, token: jwt });
  assert.equal(await leader.isLeader(), true);
  assert.equal(await follower.isLeader(), false);
  await follower.watch(ch, { friends: ["pal"] });
  assert.deepEqual(await follower.enter(ch, {}), { ok: true });
  const first = await follower.waitForState(ch, (s) => s.count === 4, 5_000, "the follower is in");
  assert.equal(first.capped, LIST_CAP);
  assert.deepEqual(ids(first), ["b1", "b2", "me"]);
  const pal = await person("pal", ch);
  await follower.waitFor("join", ch, "pal", 5_000, "pal entered outside the shared list");
  const now = await follower.waitForState(ch, (s) => s.count === 5, 5_000, "pal is counted");
  assert.deepEqual(ids(now), ["b1", "b2", "me", "pal"]);
  const page = await follower.members(ch, { limit: 10 });
  assert.deepEqual(page.users.map((u) => u.id), ["b1", "b2", "b3", "me", "pal"]);
  assert.equal(page.next, null);
  assert.equal(page.count, 5);
  assert.equal(follower.sockets.length, 0, "the follower has no socket of its own");
  await hold(300, "no page errors come late from the frames passed between tabs");
  assert.deepEqual([...leader.errors, ...follower.errors], []);
  for (const p of [...others, pal]) await p.context.close();
  await context.close();
});
