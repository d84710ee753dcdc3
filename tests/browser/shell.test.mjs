// The package's shell (sdk/js/rollcall.js) in real Chromium: its errors, the client id
// in localStorage, the lock named after the relay and the token's subject, the election
// with and without Web Locks, an initial state, the status while nothing answers. Most
// of it needs no relay: the URL is a port where nothing listens.
//
// Needs `cargo build -p rollcall-relay` and `bash sdk/build.sh` first.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { checkBuilt, startRelay, startSite, launchBrowser, openTab, token } from "./harness.mjs";

/** Nothing listens there: every connection attempt fails at once. */
const NOWHERE = "http://127.0.0.1:9";

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

/** A fresh browser profile with one tab of the test page; closed after `f`. */
async function inTab(f) {
  const context = await chrome.browser.newContext();
  try {
    const tab = await openTab(context, site);
    return await f(tab.page);
  } finally {
    await context.close();
  }
}

/** A token the shell can read `sub` from (the relay would refuse it: it is not signed). */
function unsigned(sub) {
  const payload = Buffer.from(JSON.stringify({ sub })).toString("base64url");
  return `eyJhbGciOiJIUzI1NiJ9.${payload}.x`;
}

test("connect() rejects bad options with a RollcallError and a code", async () => {
  const codes = await inTab((page) =>
    page.evaluate(async (url) => {
      const { connect } = await import("/sdk/rollcall.js");
      const cases = [
        null,
        { url: "ftp://nope", token: "t" },
        { url },
        { url, token: 5 },
        { url, token: "t", idleAfterMs: 0 },
        { url, token: "t", initial: { "/a/b": { users: [] } } },
        { url, token: () => 42 },
      ];
      const out = [];
      for (const options of cases) {
        try {
          await connect(options);
          out.push("connected");
        } catch (e) {
          out.push(`${e.name} ${e.code} ${e instanceof Error} ${e.message.length > 10}`);
        }
      }
      return out;
    }, NOWHERE),
  );
  const bad = "RollcallError bad_option true true";
  assert.deepEqual(codes, [bad, bad, bad, bad, bad, bad, "RollcallError bad_token true true"]);
});

test("the client id is kept in localStorage, shared by every connect of the profile, and a tampered one replaced", async () => {
  const ids = await inTab((page) =>
    page.evaluate(async (token) => {
      const { connect } = await import("/sdk/rollcall.js");
      localStorage.removeItem("rollcall.client");
      const a = await connect({ url: "http://127.0.0.1:9", token });
      const stored = localStorage.getItem("rollcall.client");
      const b = await connect({ url: "http://127.0.0.1:9", token });
      localStorage.setItem("rollcall.client", "not valid!");
      const c = await connect({ url: "http://127.0.0.1:9", token });
      const out = { a: a.clientId, stored, b: b.clientId, c: c.clientId, tabs: new Set([a.tabId, b.tabId, c.tabId]).size };
      for (const p of [a, b, c]) p.close();
      return out;
    }, unsigned("client")),
  );
  assert.match(ids.a, /^[A-Za-z0-9]{22}$/);
  assert.equal(ids.stored, ids.a, "kept in localStorage");
  assert.equal(ids.b, ids.a, "a refresh or another tab keeps the client");
  assert.notEqual(ids.c, "not valid!", "a tampered id is replaced");
  assert.match(ids.c, /^[A-Za-z0-9]{22}$/);
  assert.equal(ids.tabs, 3, "every connect is its own tab");
});

test("the Web Lock is named after the relay, without trailing slashes, and the token's subject", async () => {
  const cases = [
    // base64url's own characters ('-', '_'), no padding.
    [`${NOWHERE}/`, "h.eyJzdWIiOiI_Pz4-In0.s", `rollcall ${NOWHERE} ??>>`],
    ["http://127.0.0.1:10//", "h.eyJzdWIiOiJ-fn4ifQ.s", "rollcall http://127.0.0.1:10 ~~~"],
    // A numeric sub names the same user as its decimal text.
    ["http://127.0.0.1:11", "h.eyJzdWIiOjd9.s", "rollcall http://127.0.0.1:11 7"],
    ["http://127.0.0.1:12", unsigned("42"), "rollcall http://127.0.0.1:12 42"],
    // No claims to read: every tab of the relay shares one lock.
    ["http://127.0.0.1:13", "not a token", "rollcall http://127.0.0.1:13 "],
    ["http://127.0.0.1:14", "h.!!!.s", "rollcall http://127.0.0.1:14 "],
  ];
  const held = await inTab((page) =>
    page.evaluate(async (cases) => {
      const { connect } = await import("/sdk/rollcall.js");
      for (const [url, token] of cases) await connect({ url, token });
      return (await navigator.locks.query()).held.map((lock) => lock.name).sort();
    }, cases),
  );
  assert.deepEqual(held, cases.map(([, , name]) => name).sort());
});

test("bad channel names throw, bad meta and bad friends are refused, with their codes", async () => {
  const got = await inTab((page) =>
    page.evaluate(async (token) => {
      const { connect } = await import("/sdk/rollcall.js");
      const presence = await connect({ url: "http://127.0.0.1:9", token });
      const code = (f) => {
        try {
          f();
          return "none";
        } catch (e) {
          return `${e.code} ${e instanceof Error}`;
        }
      };
      const ch = presence.channel("/a/b");
      const out = {
        noSlash: code(() => presence.channel("no-slash")),
        empty: code(() => presence.channel("/a//b")),
        friends: code(() => presence.channel("/a/b", { friends: "7" })),
        event: code(() => ch.on("nope", () => {})),
        status: code(() => presence.on("nope", () => {})),
        name: ch.name,
      };
      for (const meta of [5, "x", [1]]) {
        out[`meta ${JSON.stringify(meta)}`] = await ch.enter(meta).then(() => "entered", (e) => e.code);
      }
      presence.close();
      return out;
    }, unsigned("bad-input")),
  );
  assert.deepEqual(got, {
    noSlash: "bad_channel true",
    empty: "bad_channel true",
    friends: "bad_option true",
    event: "bad_event true",
    status: "bad_event true",
    name: "/a/b",
    "meta 5": "bad_meta",
    'meta "x"': "bad_meta",
    "meta [1]": "bad_meta",
  });
});

test("the Web Lock makes one leader of two tabs and passes on close; requests after close reject as closed", async () => {
  const got = await inTab((page) =>
    page.evaluate(async (token) => {
      // Two connects in one page behave as two tabs of one browser: same lock, same bus.
      const { connect } = await import("/sdk/rollcall.js");
      const first = await connect({ url: "http://127.0.0.1:9", token });
      const second = await connect({ url: "http://127.0.0.1:9", token });
      const before = [first.isLeader, second.isLeader];
      const ch = first.channel("/a/b");
      first.close();
      const closed = await ch.enter().then(() => "entered", (e) => e.code);
      const start = performance.now();
      while (!second.isLeader && performance.now() - start < 2_000) await new Promise((r) => setTimeout(r, 10));
      const after = second.isLeader;
      second.close();
      return { before, closed, after, status: first.status };
    }, unsigned("lock")),
  );
  assert.deepEqual(got.before, [true, false]);
  assert.equal(got.closed, "closed");
  assert.equal(got.after, true, "the waiting tab took the lock within 2 s");
  assert.equal(got.status, "closed");
});

test("without Web Locks, tabs elect one leader over the bus and hand over when it closes", async () => {
  const got = await inTab((page) =>
    page.evaluate(async (token) => {
      // Hide navigator.locks, as in browsers without Web Locks.
      Object.defineProperty(navigator, "locks", { value: undefined, configurable: true });
      const { connect } = await import("/sdk/rollcall.js");
      const tabs = [await connect({ url: "http://127.0.0.1:9", token }), await connect({ url: "http://127.0.0.1:9", token })];
      const leaders = () => tabs.filter((p) => p.isLeader).length;
      const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
      // Claims wait up to 600 ms; a conflict settles with the next announcement.
      const start = performance.now();
      while (leaders() !== 1 && performance.now() - start < 3_000) await sleep(10);
      await sleep(1_200); // and it stays settled past an announce interval
      const settled = tabs.map((p) => p.isLeader);
      const leader = tabs.find((p) => p.isLeader);
      const follower = tabs.find((p) => !p.isLeader);
      leader?.close();
      const handover = performance.now();
      while (follower && !follower.isLeader && performance.now() - handover < 1_500) await sleep(10);
      const took = follower?.isLeader ?? false;
      follower?.close();
      return { settled, took };
    }, unsigned("elect")),
  );
  assert.equal(got.settled.filter(Boolean).length, 1, JSON.stringify(got.settled));
  assert.equal(got.took, true, "the other tab took over after the leader resigned");
});

test("an initial state renders before the socket is up: at once, in id order", async () => {
  const got = await inTab((page) =>
    page.evaluate(async (token) => {
      const { connect } = await import("/sdk/rollcall.js");
      const initial = {
        "/room/lobby": {
          count: 2,
          users: [
            { id: "7", name: "ann", avatar: null, status: "idle", meta: { typing: true } },
            { id: "3", name: "bob", avatar: null, status: "active", meta: {} },
          ],
        },
      };
      const presence = await connect({ url: "http://127.0.0.1:9", token, initial });
      const ch = presence.channel("/room/lobby");
      const states = [];
      const stop = ch.subscribe((state) => states.push(state));
      const out = { count: ch.count, capped: ch.capped, users: ch.users.map((u) => u.id), states: states.slice() };
      stop();
      presence.close();
      // Closed, the tab is let go: its channels show nobody.
      out.closed = { count: ch.count, users: ch.users.length, status: presence.status };
      return out;
    }, unsigned("initial")),
  );
  assert.deepEqual(got.closed, { count: 0, users: 0, status: "closed" }, "a closed presence shows nobody");
  assert.equal(got.count, 2);
  assert.equal(got.capped, null);
  assert.deepEqual(got.users, ["3", "7"]);
  assert.equal(got.states.length, 1, "called at once with what is known");
  const [state] = got.states;
  assert.equal(state.channel, "/room/lobby");
  assert.equal(state.count, 2);
  assert.equal(state.live, false, "not the relay's yet");
  assert.deepEqual(state.users.map((u) => [u.id, u.status, u.meta]), [
    ["3", "active", {}],
    ["7", "idle", { typing: true }],
  ]);
});

test("the status says reconnecting, with the next attempt's time, in every tab, and on() tells each change", async () => {
  const got = await inTab((page) =>
    page.evaluate(async (token) => {
      // Nothing listens there: every attempt fails, so the status says when the next is.
      const { connect } = await import("/sdk/rollcall.js");
      const leader = await connect({ url: "http://127.0.0.1:9", token });
      const heard = [];
      const off = leader.on("status", (change) => heard.push(change));
      const follower = await connect({ url: "http://127.0.0.1:9", token });
      const start = performance.now();
      while (!(leader.status === "reconnecting" && follower.status === "reconnecting") && performance.now() - start < 3_000) {
        await new Promise((r) => setTimeout(r, 10));
      }
      const out = { leader: leader.status, follower: follower.status, heard: heard.slice(), now: Date.now() };
      off();
      follower.close();
      out.followerClosed = follower.status;
      leader.close();
      out.leaderClosed = leader.status;
      out.heardAfterOff = heard.length - out.heard.length;
      return out;
    }, unsigned("status")),
  );
  assert.equal(got.leader, "reconnecting");
  assert.equal(got.follower, "reconnecting", "a follower shows the leader's status");
  const told = got.heard.find((c) => c.status === "reconnecting" && c.retryAt !== null);
  assert.ok(told, `reconnecting, with the next attempt's time: ${JSON.stringify(got.heard)}`);
  assert.ok(told.retryAt >= got.now - 1_000, String(told.retryAt));
  assert.equal(got.followerClosed, "closed");
  assert.equal(got.leaderClosed, "closed");
  assert.equal(got.heardAfterOff, 0, "a removed listener is not called");
});

test("a relay URL with a trailing slash reaches the relay: the welcome, an enter, the state", async () => {
  const relay = await startRelay();
  try {
    const jwt = await token("slash");
    const got = await inTab((page) =>
      page.evaluate(async ([url, token]) => {
        const { connect } = await import("/sdk/rollcall.js");
        const presence = await connect({ url: `${url}/`, token });
        await presence.ready;
        const ch = presence.channel("/room/slash");
        const states = [];
        ch.subscribe((s) => states.push(s));
        await ch.enter({});
        const out = { connected: presence.connected, count: ch.count, users: ch.users.map((u) => u.id) };
        presence.close();
        return out;
      }, [relay.url, jwt]),
    );
    assert.deepEqual(got, { connected: true, count: 1, users: ["slash"] });
  } finally {
    relay.stop();
  }
});
