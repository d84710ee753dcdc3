// @rollcall/react in real Chromium against a real relay: a small React app (app.jsx)
// bundled with esbuild from the registry's react and react-dom, driven through
// window.app. What other users see is recorded by a plain SDK page (the browser
// suite's page.html) that keeps every event and every state it is shown.
//
// Timings are the relay's short test graces (tests/browser/harness.mjs TIMING); every
// wait is bounded by one of them plus SLACK_MS, or by FIRST_STATE_MS.
//
// Needs `cargo build -p rollcall-relay`, `bash sdk/build.sh` and `npm ci` here.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import {
  checkBuilt, startRelay, restartableRelay, startDecidingRelay, startSite, startProxy, launchBrowser, openTab, token, hold,
  TIMING, SLACK_MS, LIST_CAP,
} from "../browser/harness.mjs";
import { HERE, bundle, scratch, serve } from "./site.mjs";

/** Load the page, the wasm, connect, get the welcome and the first snapshot (~150 ms on loopback). */
const FIRST_STATE_MS = 10_000;

let relay;
/** The test app built with React 19 and with React 18 (the oldest the package supports). */
const sites = {};
const builds = [];
let sdkSite;
let chrome;

before(async () => {
  checkBuilt();
  relay = await startRelay();
  for (const react of [19, 18]) {
    const work = scratch();
    builds.push(work);
    await bundle({ app: path.join(HERE, "app.jsx") }, work.dir, { react });
    sites[react] = await serve(work.dir);
  }
  sdkSite = await startSite();
  chrome = await launchBrowser();
});

after(async () => {
  await chrome?.close();
  for (const site of Object.values(sites)) await site.close();
  await sdkSite?.close();
  relay?.stop();
  for (const work of builds) work.remove();
});

/**
 * A user in their own browser profile with the test app mounted: `parts` are
 * `{ kind: "room" | "count", id, channel, enter?, meta? }` under one provider, in an
 * <Activity> if `hidden` is a boolean.
 */
async function user(sub, parts, { claims, strict = false, secret, context, hidden, react = 19, tokens, url = relay.url } = {}) {
  context ??= await chrome.browser.newContext();
  const page = await context.newPage();
  const errors = [];
  const sockets = [];
  /** What this browser told the relay: the first witness of a flicker. */
  const sent = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("websocket", (ws) => {
    sockets.push(ws);
    ws.on("framesent", ({ payload }) => sent.push(JSON.parse(String(payload))));
  });
  await page.goto(`${sites[react].url}/app.html`);
  await page.waitForFunction(() => window.app !== undefined, null, { timeout: 10_000 });
  // `tokens`: the token function's answers, in the page as `window.freshToken`.
  if (tokens) await page.exposeFunction("freshToken", tokens);
  const jwt = tokens ? "function" : await token(sub, claims, secret ? { secret } : undefined);
  await page.evaluate(([scene, s]) => window.app.mount(scene, { strict: s }), [{ url, token: jwt, parts, hidden }, strict]);
  return {
    context,
    page,
    errors,
    sockets,
    sent,
    last: (id) => page.evaluate((i) => window.app.last(i), id),
    renders: (id) => page.evaluate((i) => window.app.renders(i), id),
    set: (changes) => page.evaluate((c) => window.app.set(c), changes),
    app: (key) => page.evaluate((k) => window.app[k], key),
    /** Resolves with the part's last render once `predicate` holds for it. */
    async waitFor(id, predicate, ms, why) {
      try {
        const handle = await page.waitForFunction(
          ([i, src]) => {
            const render = window.app.last(i);
            return render && new Function("s", `return (${src})(s)`)(render) ? render : null;
          },
          [id, predicate.toString()],
          { timeout: ms, polling: 50 },
        );
        return await handle.jsonValue();
      } catch (e) {
        const last = await page.evaluate((i) => window.app.last(i), id).catch(() => null);
        throw new Error(`${sub}'s ${id} never matched ${predicate} within ${ms} ms (${why}); last: ${JSON.stringify(last)}: ${e.message}`);
      }
    },
  };
}

let observers = 0;

/** Someone watching `channels` with the plain SDK, keeping every event and every count. */
async function observer(...channels) {
  const context = await chrome.browser.newContext();
  const tab = await openTab(context, sdkSite);
  await tab.connect({ url: relay.url, token: await token(`observer-${++observers}`) });
  for (const ch of channels) {
    await tab.watch(ch);
    // Subscribed before anyone else comes, so their arrivals are joins, not the snapshot.
    await tab.waitForState(ch, () => true, FIRST_STATE_MS, "the observer's first snapshot");
    await tab.page.evaluate((c) => {
      window.counts ??= {};
      window.counts[c] = [];
      window.t.channel(c).subscribe((s) => window.counts[c].push(s.count));
    }, ch);
  }
  return {
    context,
    tab,
    /** Every count shown for `ch`, in order. */
    counts: (ch) => tab.page.evaluate((c) => window.counts[c], ch),
    /** "join ann", "leave ann", "update ann" for `ch`, in order. */
    events: async (ch) => (await tab.events()).filter((e) => e.channel === ch).map((e) => `${e.type} ${e.id}`),
  };
}

const room = (id, channel, more = {}) => ({ kind: "room", id, channel, ...more });
const count = (id, channel) => ({ kind: "count", id, channel });

test("a capped list through usePresence and useMembers: the cap, the exact count, a friend outside the list, every page", async () => {
  const ch = "/crowd/react";
  const crowd = [];
  for (const name of ["c1", "c2", "c3"]) {
    const context = await chrome.browser.newContext();
    const tab = await openTab(context, sdkSite);
    await tab.connect({ url: relay.url, token: await token(name) });
    await tab.watch(ch);
    assert.deepEqual(await tab.enter(ch, {}), { ok: true });
    await tab.waitForState(ch, (s) => s.users.length > 0, FIRST_STATE_MS, `${name} is in`);
    crowd.push(context);
  }
  const me = await user("me", [{ kind: "crowd", id: "c", channel: ch, friends: ["pal"], limit: 3 }]);
  const first = await me.waitFor("c", (s) => s.status === "connected" && s.count === 4, FIRST_STATE_MS, "the crowd and me are counted");
  assert.equal(first.capped, LIST_CAP);
  assert.deepEqual(first.users, ["c1", "c2", "me"], "the first two, and me outside the shared list");
  assert.equal(await me.page.textContent("#c"), "user c1, user c2, user me and 1 others");
  const pal = await user("pal", [room("r", ch)]);
  const seen = await me.waitFor("c", (s) => s.count === 5 && s.users.includes("pal"), FIRST_STATE_MS, "pal, a friend, entered outside the list");
  assert.deepEqual(seen.users, ["c1", "c2", "me", "pal"]);
  await me.page.evaluate(() => window.app.more("c"));
  const one = await me.waitFor("c", (s) => s.members.length === 3, FIRST_STATE_MS, "the first page");
  assert.deepEqual([one.members, one.membersCount, one.done], [["c1", "c2", "c3"], 5, false]);
  await me.page.evaluate(() => window.app.more("c"));
  const two = await me.waitFor("c", (s) => s.done, FIRST_STATE_MS, "the last page");
  assert.deepEqual(two.members, ["c1", "c2", "c3", "me", "pal"]);
  assert.deepEqual(me.errors, []);
  for (const context of [...crowd, me.context, pal.context]) await context.close();
});

async function twoUsers(react) {
  const ch = `/room/two-${react}`;
  const ann = await user("ann", [room("r", ch)], { react });
  const bob = await user("bob", [room("r", ch)], { react });
  for (const person of [ann, bob]) {
    const seen = await person.waitFor("r", (s) => s.status === "connected" && s.count === 2, FIRST_STATE_MS, "both entered");
    assert.deepEqual(seen.users.map((u) => u.id).sort(), ["ann", "bob"]);
    assert.equal(seen.users.find((u) => u.id === "bob").name, "user bob");
    assert.equal(seen.error, null);
    const [first] = await person.renders("r");
    assert.deepEqual(
      { status: first.status, count: first.count, users: first.users },
      { status: "connecting", count: 0, users: [] },
      "the first render comes before connect() resolves",
    );
  }
  assert.deepEqual([...ann.errors, ...bob.errors], []);
  await ann.context.close();
  await bob.context.close();
}

test("two users see each other through usePresence, with the names from their tokens", () => twoUsers(19));
test("React 18: two users see each other through usePresence", () => twoUsers(18));

test("two tabs of one user share one WebSocket, count once, and both show the channel", async () => {
  const ch = "/room/tabs";
  const watcher = await observer(ch);
  const first = await user("ann", [room("r", ch)]);
  await first.waitFor("r", (s) => s.status === "connected" && s.count === 1, FIRST_STATE_MS, "the first tab connects");
  const second = await user("ann", [room("r", ch)], { context: first.context });
  const seen = await second.waitFor("r", (s) => s.status === "connected" && s.count === 1, FIRST_STATE_MS, "the second tab gets the state through the first");
  assert.deepEqual(seen.users.map((u) => u.id), ["ann"]);
  assert.equal(first.sockets.length + second.sockets.length, 1, "one connection for the browser");

  // The second tab's unmount leaves nothing: the first tab still wants the channel.
  await second.set({ parts: [] });
  await hold(SLACK_MS, "a leave, if one were sent, arrives within this");
  assert.deepEqual(await watcher.events(ch), ["join ann"]);
  await first.context.close();
  await watcher.context.close();
});

test("unmounting a component or the provider leaves at once; closing the page leaves after the unload grace", async () => {
  const ch = "/room/unmount";
  const watcher = await observer(ch);
  const ann = await user("ann", [room("r", ch)]);
  const bob = await user("bob", [room("r", ch)]);
  const cat = await user("cat", [room("r", ch)]);
  await watcher.tab.waitFor("join", ch, "cat", FIRST_STATE_MS, "cat mounted her room");
  await ann.waitFor("r", (s) => s.count === 3, FIRST_STATE_MS, "ann sees bob and cat");

  // The provider stays mounted: the hook's cleanup leaves, it does not wait for a grace.
  await bob.set({ parts: [] });
  await watcher.tab.waitFor("leave", ch, "bob", SLACK_MS, "an unmount sends a leave at once");
  const seen = await ann.waitFor("r", (s) => s.count === 2, SLACK_MS, "ann's component re-renders without bob");
  assert.deepEqual(seen.users.map((u) => u.id).sort(), ["ann", "cat"]);

  // The whole tree goes (a sign-out): the provider closes the connection with leaves.
  const closed = cat.sockets[0].waitForEvent("close", { timeout: SLACK_MS });
  await cat.page.evaluate(() => window.app.unmount());
  await watcher.tab.waitFor("leave", ch, "cat", SLACK_MS, "closing the connection leaves first");
  await closed;

  await ann.context.close();
  await watcher.tab.waitFor("leave", ch, "ann", TIMING.unload_grace_ms + SLACK_MS, "a closed page is gone after the unload grace");
  assert.deepEqual(await watcher.events(ch), ["join ann", "join bob", "join cat", "leave bob", "leave cat", "leave ann"]);
  await bob.context.close();
  await cat.context.close();
  await watcher.context.close();
});

test("a provider hidden by <Activity> leaves, and connects again when shown", async () => {
  const ch = "/room/activity";
  const watcher = await observer(ch);
  const ann = await user("ann", [room("r", ch)], { hidden: false });
  await watcher.tab.waitFor("join", ch, "ann", FIRST_STATE_MS, "ann mounted her room");

  // Hidden: effects are cleaned up, so the provider closes (its state is kept).
  await ann.set({ hidden: true });
  await watcher.tab.waitFor("leave", ch, "ann", SLACK_MS, "closing the connection leaves at once");
  await ann.set({ hidden: false });
  const seen = await ann.waitFor("r", (s) => s.status === "connected" && s.count === 1, FIRST_STATE_MS, "shown again, the same store connects anew");
  assert.deepEqual(seen.users.map((u) => u.id), ["ann"]);
  assert.deepEqual(await watcher.events(ch), ["join ann", "leave ann", "join ann"]);
  assert.equal(ann.sockets.length, 2, "a second connection after the first was closed");
  await ann.context.close();
  await watcher.context.close();
});

async function strictMode(react) {
  const ch = `/room/strict-${react}`;
  const watcher = await observer(ch);
  const ann = await user("ann", [room("r", ch), count("c", ch)], { strict: true, react });
  await watcher.tab.waitFor("join", ch, "ann", FIRST_STATE_MS, "ann mounted under StrictMode");
  await ann.waitFor("r", (s) => s.status === "connected" && s.count === 1, FIRST_STATE_MS, "ann sees herself");
  assert.deepEqual(await ann.app("mounts"), { r: 2, c: 2 }, "StrictMode did mount, unmount and mount again");

  // Unmount and mount in one commit, as a new key or a route change does.
  await ann.set({ parts: [room("r2", ch), count("c", ch)] });
  await ann.waitFor("r2", (s) => s.status === "connected" && s.count === 1, FIRST_STATE_MS, "the new component shows the channel");

  // A leave from either would be sent at once (a component's leave has no grace).
  await hold(SLACK_MS, "a leave and a second join, if any were sent, arrive within this");
  assert.deepEqual(await watcher.events(ch), ["join ann"], "others saw ann join once and never leave");
  // A state may repeat a count (a re-snapshot); what matters is every change shown.
  const counts = (await watcher.counts(ch)).filter((n, i, all) => i === 0 || n !== all[i - 1]);
  assert.deepEqual(counts, [0, 1], "others' count went 0 -> 1 and never dipped");
  assert.equal(ann.sockets.length, 1, "one WebSocket: the provider's double mount did not reconnect");
  const told = ann.sent.filter((m) => m.ch === ch && (m.type === "enter" || m.type === "leave")).map((m) => m.type);
  assert.deepEqual(told, ["enter"], "ann's browser entered once and never left");
  assert.deepEqual(await ann.app("thrown"), []);
  assert.deepEqual(ann.errors, []);
  await ann.context.close();
  await watcher.context.close();
}

test("StrictMode's double mount and a re-keyed component show others no leave, no second join, no dip", () => strictMode(19));
test("React 18: StrictMode's double mount and a re-keyed component show others nothing", () => strictMode(18));

test("a new meta option is an update, not a re-enter, and re-renders only that channel's components", async () => {
  const a = "/room/meta-a";
  const b = "/room/meta-b";
  const watcher = await observer(a);
  const ann = await user("ann", [room("a", a), room("b", b), count("b-count", b)]);
  const bob = await user("bob", [room("r", a, { meta: { typing: false } })]);
  await ann.waitFor("a", (s) => s.users.some((u) => u.id === "bob" && u.meta.typing === false), FIRST_STATE_MS, "bob entered with his meta");
  await ann.waitFor("b", (s) => s.status === "connected" && s.count === 1, FIRST_STATE_MS, "ann is alone in b");
  await ann.waitFor("b-count", (s) => s.count === 1, FIRST_STATE_MS, "ann counts herself in b");
  const rendersOfB = (await ann.renders("b")).length;
  const rendersOfCount = (await ann.renders("b-count")).length;

  await bob.set({ parts: [room("r", a, { meta: { typing: true } })] });
  await watcher.tab.waitFor("update", a, "bob", SLACK_MS, "bob's new meta is sent at once");
  await ann.waitFor("a", (s) => s.users.some((u) => u.id === "bob" && u.meta.typing === true), SLACK_MS, "ann sees bob typing");

  assert.deepEqual(await watcher.events(a), ["join ann", "join bob", "update bob"], "an update, no leave and no second join");
  assert.equal((await ann.renders("b")).length, rendersOfB, "a change in a does not re-render b's room");
  assert.equal((await ann.renders("b-count")).length, rendersOfCount, "nor b's counter");
  await ann.context.close();
  await bob.context.close();
  await watcher.context.close();
});

test("useUpdatePresence sets meta others see; a refused update shows as error until one is accepted, and never rejects", async () => {
  const ch = "/room/update";
  const ann = await user("ann", [room("r", ch)]);
  const bob = await user("bob", [room("r", ch)]);
  await ann.waitFor("r", (s) => s.count === 2, FIRST_STATE_MS, "both entered");

  await bob.page.evaluate(() => window.app.update("r", { typing: true }));
  await ann.waitFor("r", (s) => s.users.some((u) => u.id === "bob" && u.meta.typing === true), SLACK_MS, "bob's update reached ann");

  // Over the relay's 1 KB meta limit.
  const outcome = await bob.page.evaluate(() =>
    window.app.update("r", { note: "x".repeat(2_000) }).then(() => "resolved", (e) => `rejected: ${e}`),
  );
  assert.equal(outcome, "resolved");
  const seen = await bob.waitFor("r", (s) => s.error !== null, SLACK_MS, "the relay refuses the update");
  assert.deepEqual([seen.error.name, seen.error.code], ["RollcallError", "meta_too_large"]);
  assert.equal(seen.status, "connected", "the channel is still shown");
  await bob.page.evaluate(() => window.app.update("r", { typing: false }));
  await bob.waitFor("r", (s) => s.error === null, SLACK_MS, "an accepted update clears the refusal");
  await ann.waitFor("r", (s) => s.users.some((u) => u.id === "bob" && u.meta.typing === false), SLACK_MS, "and reaches ann");
  assert.deepEqual(bob.errors, []);
  await ann.context.close();
  await bob.context.close();
});

test("usePresenceCount counts without entering and re-renders only when the count changes", async () => {
  const ch = "/room/count";
  const only = "/count/readers"; // a count_only channel: counts, never identities
  const ann = await user("ann", [count("c", ch), room("w", ch, { enter: false }), count("only", only), room("only-w", only, { enter: false })]);
  const bob = await user("bob", [room("r", ch), room("only", only)]);
  await ann.waitFor("c", (s) => s.count === 1, FIRST_STATE_MS, "bob entered; ann only counts");
  await ann.waitFor("w", (s) => s.users.length === 1 && s.users[0].id === "bob", FIRST_STATE_MS, "ann watches without appearing");
  await ann.waitFor("only", (s) => s.count === 1, FIRST_STATE_MS, "bob entered the count-only channel");
  const hidden = await ann.waitFor("only-w", (s) => s.count === 1, FIRST_STATE_MS, "the watcher sees the count");
  assert.deepEqual(hidden.users, [], "a count-only channel shows no identities");

  const rendersOfCount = (await ann.renders("c")).length;
  await bob.page.evaluate(() => window.app.update("r", { typing: true }));
  await ann.waitFor("w", (s) => s.users[0].meta.typing === true, SLACK_MS, "bob's update reached ann's watcher");
  assert.equal((await ann.renders("c")).length, rendersOfCount, "a meta update does not re-render a counter");

  const cat = await user("cat", [room("r", ch)]);
  await ann.waitFor("c", (s) => s.count === 2, FIRST_STATE_MS, "cat entered");
  assert.equal((await ann.renders("c")).length, rendersOfCount + 1, "one render for one new count");
  for (const p of [ann, bob, cat]) await p.context.close();
});

test("a refused enter and a bad channel name show in error, without throwing", async () => {
  const ch = "/staff/desk"; // everyone may watch, only staff may appear
  const bob = await user("bob", [room("r", ch)], { claims: { groups: ["staff"] } });
  await bob.waitFor("r", (s) => s.count === 1, FIRST_STATE_MS, "staff may enter");
  const ann = await user("ann", [room("r", ch), room("bad", "no-slash")]);

  const refused = await ann.waitFor("r", (s) => s.error !== null, FIRST_STATE_MS, "the relay refuses ann's enter");
  assert.deepEqual([refused.error.name, refused.error.code], ["RollcallError", "forbidden_enter"]);
  assert.match(refused.error.message, /\w/);
  const shown = await ann.waitFor("r", (s) => s.status === "connected" && s.count === 1, FIRST_STATE_MS, "ann may still watch");
  assert.deepEqual(shown.users.map((u) => u.id), ["bob"]);

  const bad = await ann.waitFor("bad", (s) => s.error !== null, FIRST_STATE_MS, "the name is checked once connected");
  assert.deepEqual([bad.status, bad.error.code], ["error", "bad_channel"]);
  assert.deepEqual(await ann.app("thrown"), [], "nothing reached the error boundary");
  assert.deepEqual(ann.errors, []);
  await ann.context.close();
  await bob.context.close();
});

test("a refused token shows as error on every hook, also on one mounted later", async () => {
  const ann = await user("ann", [room("r", "/room/refused"), count("c", "/room/refused")], { secret: "not-the-relay-secret-0123456789abcdef" });
  const seen = await ann.waitFor("r", (s) => s.status === "error", FIRST_STATE_MS, "the relay refuses the token at the hello");
  assert.deepEqual([seen.error.name, seen.error.code, seen.count], ["RollcallError", "bad_token", 0]);
  await ann.set({ parts: [room("r", "/room/refused"), room("later", "/room/later", { enter: false })] });
  const later = await ann.waitFor("later", (s) => s.status === "error", SLACK_MS, "a hook mounted after the refusal");
  assert.equal(later.error.code, "bad_token");
  assert.deepEqual(await ann.app("thrown"), []);
  assert.deepEqual(ann.errors, []);
  await ann.context.close();
});

test("a token function whose fresh token is refused shows bad_token while connecting, and clears once one is accepted", async () => {
  const ch = "/room/token-function";
  let signsRight = false;
  let asked = 0;
  const tokens = () => {
    asked += 1;
    return token("ann", {}, signsRight ? undefined : { secret: "a-secret-the-relay-does-not-know-0123" });
  };
  const ann = await user("ann", [room("r", ch)], { tokens });
  // The first token is refused, then a fresh one (after a backoff of 0.5 to 1 s): told.
  const refused = await ann.waitFor("r", (s) => s.error?.code === "bad_token", FIRST_STATE_MS, "a fresh token refused");
  assert.equal(refused.status, "connecting", "the SDK goes on asking the function: not a final error");
  signsRight = true;
  const back = await ann.waitFor("r", (s) => s.status === "connected" && s.count === 1, 15_000, "the next token is accepted");
  assert.equal(back.error, null, "the refusal is cleared once a token is accepted");
  assert.ok(asked >= 3, `the function was asked at each try (${asked})`);
  assert.deepEqual(await ann.app("thrown"), []);
  assert.deepEqual(ann.errors, []);
  await ann.context.close();
});

test("a channel the site decides shows unavailable and nobody while the site does not answer, then the channel and no error", async () => {
  // The relay asks again once an answer is 1.5 s old, and after a failure waits 1 s.
  const deciding = await startDecidingRelay({ ttlMs: 1_500, retryMs: 1_000 });
  try {
    const ch = "/topic/7";
    const ann = await user("ann", [room("r", ch)], { url: deciding.url });
    await ann.waitFor("r", (s) => s.count === 1 && s.error === null, FIRST_STATE_MS, "the site lets ann in");
    deciding.site.down = true;
    const down = await ann.waitFor("r", (s) => s.error?.code === "unavailable" && s.count === 0, 1_500 + SLACK_MS + 5_000, "the recheck finds the site down");
    assert.deepEqual(down.users, [], "nobody shown while the relay says nothing about the channel");
    deciding.site.down = false;
    const back = await ann.waitFor("r", (s) => s.count === 1, 1_000 + 1_500 + SLACK_MS + 5_000, "ann is in again");
    assert.equal(back.error, null, "the error goes with the relay's state");
    assert.deepEqual(back.users.map((u) => u.id), ["ann"]);
    assert.deepEqual(await ann.app("thrown"), []);
    assert.deepEqual(ann.errors, []);
    await ann.context.close();
  } finally {
    deciding.stop();
  }
});

test("a new token string (another user signed in) connects again as that user", async () => {
  const ch = "/room/sign-in";
  const watcher = await observer(ch);
  const ann = await user("ann", [room("r", ch)]);
  await watcher.tab.waitFor("join", ch, "ann", FIRST_STATE_MS, "ann mounted her room");

  await ann.set({ token: await token("bob") });
  await watcher.tab.waitFor("join", ch, "bob", FIRST_STATE_MS, "the new provider store connects as bob");
  await watcher.tab.waitFor("leave", ch, "ann", SLACK_MS, "the old connection closes with a leave");
  const seen = await ann.waitFor("r", (s) => s.status === "connected" && s.count === 1, SLACK_MS, "the page shows bob alone");
  assert.deepEqual(seen.users.map((u) => u.id), ["bob"]);
  assert.deepEqual(ann.errors, []);
  await ann.context.close();
  await watcher.context.close();
});

test("a new channel prop leaves the old channel and enters the new one", async () => {
  const x = "/room/x";
  const y = "/room/y";
  const watcher = await observer(x, y);
  const bob = await user("bob", [room("r", x)]);
  await watcher.tab.waitFor("join", x, "bob", FIRST_STATE_MS, "bob mounted in x");

  await bob.set({ parts: [room("r", y)] });
  await watcher.tab.waitFor("join", y, "bob", SLACK_MS, "bob enters y at once");
  await watcher.tab.waitFor("leave", x, "bob", SLACK_MS, "and leaves x a task later");
  const seen = await bob.waitFor("r", (s) => s.channel === "/room/y" && s.status === "connected" && s.count === 1, SLACK_MS, "bob's component shows y");
  assert.deepEqual(seen.users.map((u) => u.id), ["bob"]);
  assert.deepEqual(await watcher.events(x), ["join bob", "leave bob"]);
  assert.deepEqual(await watcher.events(y), ["join bob"]);
  await bob.context.close();
  await watcher.context.close();
});

test("usePresenceStatus shows connecting, connected, offline while the browser is offline, and connected again", async () => {
  const ch = "/room/status";
  const ola = await user("ola", [{ kind: "status", id: "s" }, room("r", ch)]);
  await ola.waitFor("s", (s) => s.status === "connected", FIRST_STATE_MS, "the welcome");
  await ola.context.setOffline(true);
  await ola.waitFor("s", (s) => s.status === "offline", SLACK_MS, "the browser went offline");
  await ola.context.setOffline(false);
  await ola.waitFor("s", (s) => s.status === "connected", FIRST_STATE_MS, "back online");
  const statuses = (await ola.renders("s")).map((r) => r.status).filter((s, i, all) => i === 0 || all[i - 1] !== s);
  assert.equal(statuses[0], "connecting", JSON.stringify(statuses));
  assert.equal(statuses[1], "connected", JSON.stringify(statuses));
  assert.equal(statuses[2], "offline", JSON.stringify(statuses));
  assert.equal(statuses.at(-1), "connected", JSON.stringify(statuses));
  assert.ok(statuses.slice(3).every((s) => s === "reconnecting" || s === "connected"), JSON.stringify(statuses));
  assert.equal(await ola.page.textContent("#s"), "connected");
  assert.deepEqual(ola.errors, []);
  await ola.context.close();
});

/** The statuses a part rendered, each once per run of equal ones. */
async function statusRuns(person, id) {
  return (await person.renders(id)).map((r) => r.status).filter((s, i, all) => i === 0 || all[i - 1] !== s);
}

test("usePresenceStatus through a relay restart: connected, reconnecting with the next attempt's time, connected", async () => {
  const restarting = await restartableRelay();
  try {
    const rex = await user("rex", [{ kind: "status", id: "s" }, room("r", "/room/restart")], { url: restarting.url });
    await rex.waitFor("s", (s) => s.status === "connected", FIRST_STATE_MS, "the welcome");
    await restarting.halt();
    await rex.waitFor("s", (s) => s.status === "reconnecting" && typeof s.retryAt === "number", SLACK_MS, "the relay is gone: the next attempt's time");
    await restarting.start();
    await rex.waitFor("s", (s) => s.status === "connected", 20_000, "the relay is back on its port");
    await rex.waitFor("r", (r) => r.status === "connected" && r.users.some((u) => u.id === "rex"), FIRST_STATE_MS, "the channel is shown again");
    assert.deepEqual(await statusRuns(rex, "s"), ["connecting", "connected", "reconnecting", "connected"]);
    assert.equal(await rex.page.textContent("#s"), "connected");
    assert.deepEqual(rex.errors, []);
    await rex.context.close();
  } finally {
    restarting.stop();
  }
});

test("usePresenceStatus through a connection cut under the page: reconnecting, then connected", async () => {
  const proxy = await startProxy(relay.url);
  try {
    const cid = await user("cid", [{ kind: "status", id: "s" }, room("r", "/room/cut")], { url: proxy.url });
    await cid.waitFor("s", (s) => s.status === "connected", FIRST_STATE_MS, "the welcome through the proxy");
    proxy.drop();
    await cid.waitFor("s", (s) => s.status === "reconnecting", SLACK_MS, "the socket was cut");
    await cid.waitFor("s", (s) => s.status === "connected", FIRST_STATE_MS, "the next attempt goes through");
    assert.deepEqual(await statusRuns(cid, "s"), ["connecting", "connected", "reconnecting", "connected"]);
    assert.deepEqual(cid.errors, []);
    await cid.context.close();
  } finally {
    proxy.close();
  }
});

test("usePresenceStatus through a stalled network: reconnecting within the lease timeout, then connected with the channel right", async () => {
  const proxy = await startProxy(relay.url);
  try {
    const ch = "/room/stall";
    const sia = await user("sia", [{ kind: "status", id: "s" }, room("r", ch)], { url: proxy.url });
    await sia.waitFor("s", (s) => s.status === "connected", FIRST_STATE_MS, "the welcome through the proxy");
    await sia.waitFor("r", (r) => r.status === "connected" && r.users.some((u) => u.id === "sia"), FIRST_STATE_MS, "sia entered");
    proxy.freeze();
    await sia.waitFor("s", (s) => s.status === "reconnecting", TIMING.lease_timeout_ms + SLACK_MS, "a check-in went unanswered");
    proxy.release();
    await sia.waitFor("s", (s) => s.status === "connected", FIRST_STATE_MS, "the network flows again");
    await sia.waitFor("r", (r) => r.status === "connected" && r.users.some((u) => u.id === "sia"), FIRST_STATE_MS, "the channel is shown again");
    assert.deepEqual(await statusRuns(sia, "s"), ["connecting", "connected", "reconnecting", "connected"]);
    assert.equal(await sia.page.textContent("#s"), "connected");
    assert.deepEqual(sia.errors, []);
    await sia.context.close();
  } finally {
    proxy.close();
  }
});

test("usePresenceStatus in the tabs that stay when the leader tab closes: connected throughout, never reconnecting", async () => {
  const context = await chrome.browser.newContext();
  const tabs = [];
  for (let i = 0; i < 3; i++) {
    tabs.push(await user("lea", [{ kind: "status", id: "s" }, room("r", "/room/handover")], { context }));
    await tabs[i].waitFor("s", (s) => s.status === "connected", FIRST_STATE_MS, `tab ${i} is told the leader's status`);
  }
  const [first, ...rest] = tabs;
  assert.equal(first.sockets.length, 1, "the first tab holds the connection");
  await first.page.close();
  await hold(SLACK_MS, "a reconnecting status would show while the new leader connects");
  assert.equal(rest.filter((tab) => tab.sockets.length === 1).length, 1, "one of the others took the connection over");
  for (const tab of rest) {
    const runs = await statusRuns(tab, "s");
    assert.deepEqual(runs.slice(runs.indexOf("connected")), ["connected"], `no reconnecting: ${JSON.stringify(runs)}`);
    assert.equal(await tab.page.textContent("#s"), "connected");
    assert.deepEqual(tab.errors, []);
  }
  await context.close();
});
