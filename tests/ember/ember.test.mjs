// @rollcall/ember in a real Ember app (tests/ember/app/, built with Vite at the start),
// in real Chromium, against a real relay. The app is made of the README's examples as
// written: the application route that configures the service, the component that shows
// who is here and enters with {{present}}, and the .hbs template. Each user is a browser
// profile of their own (a `user` cookie that the app's token endpoint signs for).
//
// Leaves sent by the SDK reach others at once (no grace): a wait for one is bounded by
// SLACK_MS, the harness's allowance for the relay's flush tick and delivery; proofs of
// absence hold that long too.
//
// Needs `cargo build -p rollcall-relay` and `bash sdk/build.sh` first.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  checkBuilt, startRelay, restartableRelay, startDecidingRelay, startProxy, launchBrowser, hold, TIMING, SLACK_MS, LIST_CAP,
} from "../browser/harness.mjs";
import { buildApp, startAppSite } from "./app.mjs";

/** First state of a page: the app boots, loads the wasm and connects. */
const BOOT_MS = 10_000;
/** An arrival or a change others see, once both are connected. */
const SEEN_MS = 5_000;

let relay;
let site;
let chrome;
const people = [];

before(async () => {
  checkBuilt();
  const ms = await buildApp();
  console.log(`test app built in ${ms} ms`);
  relay = await startRelay();
  site = await startAppSite(relay.url);
  chrome = await launchBrowser();
});

after(async () => {
  for (const person of people) await person.context.close().catch(() => {});
  await chrome?.close();
  await site?.close();
  relay?.stop();
});

/** A page's wait, bounded, that says what it waited for when it fails. */
async function until(page, fn, arg, ms, why) {
  try {
    const handle = await page.waitForFunction(fn, arg, { timeout: ms, polling: 50 });
    return await handle.jsonValue();
  } catch (e) {
    throw new Error(`${why}: not within ${ms} ms (${e.message.split("\n")[0]})`);
  }
}

/**
 * A user with the app open in a browser profile of their own, or in another tab of
 * `context`; `at`: the app served for another relay (startAppSite).
 */
async function open(sub, { secret = "right", at = site, context } = {}) {
  context ??= await chrome.browser.newContext();
  await context.addCookies([
    { name: "user", value: sub, url: at.url },
    { name: "secret", value: secret, url: at.url },
  ]);
  const page = await context.newPage();
  const sockets = [];
  const errors = [];
  page.on("websocket", (ws) => sockets.push(ws));
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(at.url);
  await until(page, () => Boolean(window.t?.owner), null, BOOT_MS, `${sub}'s app boots`);
  const person = {
    sub,
    context,
    page,
    sockets,
    errors,
    add: (key, kind, channel) => page.evaluate((a) => window.t.scene.add(...a), [key, kind, channel]),
    remove: (key) => page.evaluate((k) => window.t.scene.remove(k), key),
    rekey: (key, newKey) => page.evaluate((a) => window.t.scene.rekey(...a), [key, newKey]),
    type: (key, typing) => page.evaluate((a) => window.t.scene.type(...a), [key, typing]),
    move: (key, channel) => page.evaluate((a) => window.t.scene.move(...a), [key, channel]),
    /**
     * Starts recording every event and state of `channel` on this page; resolves with
     * the relay's first state. Call it before the page's components hold the channel,
     * so that first state is the relay's snapshot.
     */
    record: (channel) => page.evaluate((c) => window.t.record(c), channel),
    log: (channel) => page.evaluate((c) => window.t.log.filter((e) => e.ch === c), channel),
    shown: (key) => page.evaluate((k) => window.t.shown(k), key),
    /** Waits until part `key` shows exactly these users, in any order. */
    sees: (key, users, ms, why) =>
      until(
        page,
        ([k, want]) => {
          const shown = window.t.shown(k);
          return shown && shown.users.length === want.length && want.every((u) => shown.users.includes(u)) ? shown : null;
        },
        [key, users],
        ms,
        `${sub} sees ${JSON.stringify(users)} in part ${key} (${why})`,
      ),
  };
  people.push(person);
  return person;
}

async function close(...persons) {
  for (const person of persons) {
    assert.deepEqual(person.errors, [], `${person.sub}'s page had no uncaught errors`);
    await person.context.close();
  }
}

const events = (log, id) => log.filter((e) => e.id === id && e.type !== "state").map((e) => e.type);

test("two users see each other through the service: tracked users and count render, over one connection each", async () => {
  const ch = "/topic/see";
  const ann = await open("ann");
  const bob = await open("bob");
  await ann.add("p", "who", ch);
  await bob.add("p", "who", ch);
  for (const person of [ann, bob]) {
    const shown = await person.sees("p", ["user ann", "user bob"], SEEN_MS, "both entered with {{present}}");
    assert.match(shown.text, /^2 here /, `${person.sub}'s count renders`);
  }
  // A second channel on the same page shares the one connection.
  await ann.add("q", "who", "/topic/see-too");
  await ann.sees("q", ["user ann"], SEEN_MS, "ann alone in the second channel");
  assert.deepEqual(ann.sockets.map((ws) => new URL(ws.url()).pathname), ["/v1/ws"], "one WebSocket for the app");
  await close(ann, bob);
});

test("a capped list: tracked capped and count, a friend outside the list, members() page by page", async () => {
  const ch = "/crowd/ember";
  const crowd = [];
  for (const sub of ["c1", "c2", "c3"]) {
    const person = await open(sub);
    await person.add("p", "who", ch);
    await person.sees("p", [...crowd.map((p) => `user ${p.sub}`).slice(0, LIST_CAP), `user ${sub}`].slice(-LIST_CAP - 1), SEEN_MS, `${sub} is in`);
    crowd.push(person);
  }
  const me = await open("me");
  await me.add("c", "crowd", ch);
  const state = () => me.page.evaluate(() => {
    const el = document.querySelector('[data-part="c"] .crowd');
    return {
      capped: el.dataset.capped,
      count: el.dataset.count,
      shown: [...el.querySelectorAll(".shown li")].map((li) => li.textContent.trim()),
      others: el.querySelector(".others")?.textContent.trim() ?? null,
      pages: [...el.querySelectorAll(".pages span")].map((s) => s.textContent.trim()),
      done: el.dataset.done,
    };
  });
  await until(me.page, () => document.querySelector('[data-part="c"] .crowd')?.dataset.count === "3", null, BOOT_MS, "me counts the crowd");
  assert.deepEqual(await state(), {
    capped: String(LIST_CAP), count: "3", shown: ["user c1", "user c2"], others: "and 1 others", pages: [], done: "false",
  });
  // pal, a friend, arrives outside the shared list.
  const pal = await open("pal");
  await pal.add("p", "who", ch);
  await until(me.page, () => [...document.querySelectorAll('[data-part="c"] .shown li')].some((li) => li.textContent.includes("pal")), null, SEEN_MS, "me sees pal");
  assert.equal((await state()).count, "4");
  await me.page.click('[data-part="c"] button');
  await until(me.page, () => document.querySelectorAll('[data-part="c"] .pages span').length === 2, null, SEEN_MS, "the first page");
  await me.page.click('[data-part="c"] button');
  await until(me.page, () => document.querySelector('[data-part="c"] .crowd').dataset.done === "true", null, SEEN_MS, "the last page");
  assert.deepEqual((await state()).pages, ["c1", "c2", "c3", "pal"]);
  await close(me, pal, ...crowd);
});

test("the channel's tracked state is valid before the connection is made, and the connection waits for first use", async () => {
  const ann = await open("ann");
  const before = await ann.page.evaluate(() => {
    const channel = window.t.presence().getChannel("/topic/early");
    return { users: channel.users, count: channel.count, status: channel.status, error: channel.error };
  });
  assert.deepEqual(before, { users: [], count: 0, status: "connecting", error: null });
  assert.deepEqual(ann.sockets, [], "no connection before a channel is entered or watched");

  const after = await ann.page.evaluate(async () => {
    const channel = window.t.presence().getChannel("/topic/early");
    await channel.subscribe();
    return { users: channel.users.map((u) => u.id), count: channel.count, status: channel.status };
  });
  assert.deepEqual(after, { users: [], count: 0, status: "connected" }, "subscribe() resolves with the state in");
  assert.equal(ann.sockets.length, 1);
  await close(ann);
});

test("a meta update re-renders the other user's list", async () => {
  const ch = "/topic/typing";
  const ann = await open("ann");
  const bob = await open("bob");
  await bob.add("p", "who", ch);
  await ann.add("p", "who", ch);
  await bob.sees("p", ["user ann", "user bob"], SEEN_MS, "ann entered");
  await ann.type("p", true);
  await bob.sees("p", ["user ann (typing)", "user bob"], SEEN_MS, "ann's meta={typing: true} from (hash typing=@typing)");
  await ann.type("p", false);
  await bob.sees("p", ["user ann", "user bob"], SEEN_MS, "ann stopped typing");
  await close(ann, bob);
});

test("destroying a component leaves: the other user sees the leave", async () => {
  const ch = "/topic/gone";
  const ann = await open("ann");
  const bob = await open("bob");
  await bob.record(ch);
  await bob.add("p", "who", ch);
  await ann.add("p", "who", ch);
  await bob.sees("p", ["user ann", "user bob"], SEEN_MS, "ann entered");
  await ann.remove("p");
  await bob.sees("p", ["user bob"], SEEN_MS, "ann's component was destroyed: its {{present}} left a tick later");
  assert.deepEqual(events(await bob.log(ch), "ann"), ["join", "leave"]);
  await close(ann, bob);
});

test("a component that never leaves nor unsubscribes is cleaned up with its owner", async () => {
  const ch = "/topic/forgetful";
  const ann = await open("ann");
  const bob = await open("bob");
  await bob.record(ch);
  await bob.add("p", "who", ch);
  await ann.add("f", "forgetful", ch);
  await bob.sees("p", ["user ann", "user bob"], SEEN_MS, "ann's component entered in its constructor");
  await until(ann.page, () => /^2 here/.test(window.t.shown("f")?.text ?? ""), null, SEEN_MS, "ann's component watches too");
  await ann.remove("f");
  await bob.sees("p", ["user bob"], SEEN_MS, "destroying the component destroyed its channel, which left");
  assert.deepEqual(events(await bob.log(ch), "ann"), ["join", "leave"]);
  // Its subscription ended too: the service holds nothing of the channel any more.
  const held = await ann.page.evaluate(async (c) => {
    const presence = await window.t.presence().connection();
    return presence.channel(c).count;
  }, ch);
  assert.equal(held, 0, "ann's SDK no longer follows the channel (its count is not kept)");
  await close(ann, bob);
});

test("tearing a component down and rendering it again at once shows the other user nothing", async () => {
  const ch = "/topic/flicker";
  const ann = await open("ann");
  const bob = await open("bob");
  await bob.record(ch);
  await bob.add("p", "who", ch);
  await bob.page.evaluate(() => window.t.watchText("p"));
  await ann.add("a", "who", ch);
  await bob.sees("p", ["user ann", "user bob"], SEEN_MS, "ann entered");

  // In one render: a re-keyed {{#each}} item, old component out, new one in.
  await ann.rekey("a", "b");
  // In two renders: out, rendered, then in again right away.
  await ann.page.evaluate(async () => {
    const { scene } = window.t;
    scene.remove("b");
    await new Promise((resolve) => requestAnimationFrame(resolve));
    if (document.querySelector('[data-part="b"]')) throw new Error("the part was not torn down");
    scene.add("c", "who", "/topic/flicker");
  });
  await ann.sees("c", ["user ann", "user bob"], SEEN_MS, "ann's new component shows the channel");
  await hold(SLACK_MS, "a leave or join sent by the teardowns would reach bob within the relay's flush and delivery slack");

  const log = await bob.log(ch);
  assert.deepEqual(events(log, "ann"), ["join"], `bob saw ann arrive once and nothing after: ${JSON.stringify(log)}`);
  const states = log.filter((e) => e.type === "state").map((e) => e.ids.join(","));
  assert.ok(states.slice(states.indexOf("ann,bob")).every((ids) => ids === "ann,bob"), `every state since had ann: ${states}`);
  const texts = await bob.page.evaluate(() => window.t.texts.p);
  const since = texts.findIndex((t) => /user ann/.test(t ?? ""));
  assert.ok(since !== -1 && texts.slice(since).every((t) => /^2 here/.test(t)), `bob's page never rendered ann gone: ${JSON.stringify(texts)}`);
  await close(ann, bob);
});

test("two components on one channel share it: one goes and the user stays, both go and the user leaves", async () => {
  const ch = "/topic/shared";
  const ann = await open("ann");
  const bob = await open("bob");
  await bob.record(ch);
  await bob.add("p", "who", ch);
  await ann.add("one", "who", ch);
  await ann.add("two", "who", ch);
  await bob.sees("p", ["user ann", "user bob"], SEEN_MS, "ann entered from two components");
  await ann.type("two", true);
  await bob.sees("p", ["user ann (typing)", "user bob"], SEEN_MS, "the latest meta is shown");

  await ann.remove("two");
  await bob.sees("p", ["user ann", "user bob"], SEEN_MS, "the meta of the component that stays is shown again");
  await hold(SLACK_MS, "a leave sent when the first component went would reach bob within the slack");
  assert.deepEqual(events(await bob.log(ch), "ann").filter((type) => type !== "update"), ["join"], "ann stays while one component holds the channel");
  await bob.type("p", true);
  await ann.sees("one", ["user ann", "user bob (typing)"], SEEN_MS, "the component that stays still watches the channel");

  await ann.remove("one");
  await bob.sees("p", ["user bob (typing)"], SEEN_MS, "the last component went");
  assert.deepEqual(events(await bob.log(ch), "ann").filter((type) => type !== "update"), ["join", "leave"]);
  await close(ann, bob);
});

test("the README's .hbs template enters with the modifier resolved by name from the addon's app-js", async () => {
  const ann = await open("ann");
  const bob = await open("bob");
  await bob.add("p", "who", "/topic/9");
  await ann.add("r", "reply", "9");
  await ann.type("r", true);
  await bob.sees("p", ["user ann (typing)", "user bob"], SEEN_MS, "ann's reply box entered /topic/9 with typing");
  await ann.remove("r");
  await bob.sees("p", ["user bob"], SEEN_MS, "the reply box closed");
  await close(ann, bob);
});

test("{{present}} given another channel leaves the old one and enters the new one", async () => {
  const ann = await open("ann");
  const bob = await open("bob");
  await bob.record("/topic/11");
  await bob.add("p", "who", "/topic/11");
  await bob.add("q", "who", "/topic/12");
  await ann.add("r", "reply", "11");
  await bob.sees("p", ["user ann", "user bob"], SEEN_MS, "ann's reply box entered /topic/11");
  await ann.move("r", "12");
  await bob.sees("q", ["user ann", "user bob"], SEEN_MS, "the modifier entered /topic/12");
  await bob.sees("p", ["user bob"], SEEN_MS, "and left /topic/11");
  assert.deepEqual(events(await bob.log("/topic/11"), "ann"), ["join", "leave"]);
  await close(ann, bob);
});

test("the addon README's examples: a component that enters and lists readers, a template with {{present}}", async () => {
  const ann = await open("ann");
  const bob = await open("bob");
  await bob.add("p", "who", "/topic/5");
  await ann.add("r", "readers", "5");
  await bob.sees("p", ["user ann", "user bob"], SEEN_MS, "ann's TopicReaders entered /topic/5");
  await until(
    ann.page,
    () => {
      const part = document.querySelector('[data-part="r"]');
      const names = [...part.querySelectorAll("img")].map((img) => img.alt).sort().join(",");
      return part.textContent.includes("2 reading") && names === "user ann,user bob";
    },
    null,
    SEEN_MS,
    "ann's TopicReaders renders the count and an image per reader",
  );
  await bob.add("q", "who", "/topic/42");
  await ann.add("t", "reply-42", "/topic/42");
  await ann.type("t", true);
  await bob.sees("q", ["user ann (typing)", "user bob"], SEEN_MS, "the template's {{present}} entered /topic/42 with typing");
  await close(ann, bob);
});

test("destroying the app (as between an app's tests) closes the connection: others see the leave", async () => {
  const ch = "/topic/teardown";
  const ann = await open("ann");
  const bob = await open("bob");
  await bob.record(ch);
  await bob.add("p", "who", ch);
  await ann.add("p", "who", ch);
  await bob.sees("p", ["user ann", "user bob"], SEEN_MS, "ann entered");
  await ann.page.evaluate(() => window.t.owner.application.destroy());
  await bob.sees("p", ["user bob"], SEEN_MS, "the service's willDestroy closed ann's connection, which left");
  assert.deepEqual(events(await bob.log(ch), "ann"), ["join", "leave"]);
  assert.equal(ann.sockets.length, 1);
  const [socket] = ann.sockets;
  if (!socket.isClosed()) await socket.waitForEvent("close", { timeout: SEEN_MS });
  await close(ann, bob);
});

test("a token the site signs wrong is the channel's error while the SDK asks again, and clears once one is accepted", async () => {
  const ch = "/room/wrong-secret";
  const una = await open("una", { secret: "wrong" });
  await una.add("p", "who", ch);
  const refused = await until(
    una.page,
    (c) => {
      const channel = window.t.presence().getChannel(c);
      return channel.error?.code === "bad_token" ? { status: channel.status, name: channel.error.name } : null;
    },
    ch,
    SEEN_MS,
    "a fresh token from the site is refused (after a backoff of 0.5 to 1 s)",
  );
  assert.deepEqual(refused, { status: "error", name: "RollcallError" });
  // The site fixes its secret: the SDK's next try gets a token the relay accepts.
  await una.context.addCookies([{ name: "secret", value: "right", url: site.url }]);
  const back = await until(
    una.page,
    (c) => {
      const channel = window.t.presence().getChannel(c);
      return channel.status === "connected" ? { error: channel.error, count: channel.count } : null;
    },
    ch,
    15_000,
    "the next token is accepted",
  );
  assert.deepEqual(back, { error: null, count: 1 });
  await close(una);
});

test("a refused enter is on the channel's tracked error", async () => {
  const ann = await open("ann");
  // /staff/* lets everyone watch and only the group "staff" appear (harness config).
  await ann.add("p", "who", "/staff/room");
  const error = await until(
    ann.page,
    () => {
      const error = window.t.presence().getChannel("/staff/room").error;
      return error ? { code: error.code, name: error.name } : null;
    },
    null,
    SEEN_MS,
    "the relay refuses ann's enter",
  );
  assert.deepEqual(error, { code: "forbidden_enter", name: "RollcallError" });
  assert.equal(await ann.page.evaluate(() => window.t.presence().getChannel("/staff/room").status), "error");
  await close(ann);
});

test("a channel the site decides: unavailable is the channel's tracked error while the site does not answer, and goes once it does", async () => {
  // The relay asks again once an answer is 1.5 s old, and after a failure waits 1 s.
  const deciding = await startDecidingRelay({ ttlMs: 1_500, retryMs: 1_000 });
  const at = await startAppSite(deciding.url);
  try {
    const ch = "/topic/8";
    const ann = await open("ann", { at });
    await ann.add("p", "who", ch);
    await ann.sees("p", ["user ann"], BOOT_MS, "the site lets ann in");
    const tracked = (c) => {
      const channel = window.t.presence().getChannel(c);
      return { error: channel.error?.code ?? null, status: channel.status, count: channel.count };
    };
    deciding.site.down = true;
    await until(
      ann.page,
      ([c, src]) => {
        const now = new Function(`return (${src})`)()(c);
        return now.error === "unavailable" && now.count === 0 ? now : null;
      },
      [ch, tracked.toString()],
      1_500 + SLACK_MS + 5_000,
      "the recheck finds the site down: the channel's error, nobody shown",
    );
    deciding.site.down = false;
    const back = await until(
      ann.page,
      ([c, src]) => {
        const now = new Function(`return (${src})`)()(c);
        return now.count === 1 ? now : null;
      },
      [ch, tracked.toString()],
      1_000 + 1_500 + SLACK_MS + 5_000,
      "ann is in again",
    );
    assert.deepEqual(back, { error: null, status: "connected", count: 1 });
    await close(ann);
  } finally {
    await at.close();
    deciding.stop();
  }
});

test("the addon README's status component renders the service's tracked status: connected, offline, connected again", async () => {
  const ola = await open("ola");
  await ola.add("s", "status");
  await ola.page.evaluate(() => window.t.watchText("s"));
  await ola.add("p", "who", "/topic/status");
  await ola.sees("p", ["user ola"], BOOT_MS, "ola entered");
  const shows = (text, why) => until(ola.page, (want) => window.t.shown("s")?.text === want, text, SEEN_MS, why);
  await shows("connected", "the welcome");
  await ola.context.setOffline(true);
  await shows("offline", "the browser went offline");
  await ola.context.setOffline(false);
  await shows("connected", "back online");
  const texts = await ola.page.evaluate(() => window.t.texts.s);
  assert.equal(texts[0], "connecting", JSON.stringify(texts));
  const since = texts.slice(texts.indexOf("connected"));
  assert.deepEqual([since[0], since[1], since.at(-1)], ["connected", "offline", "connected"], JSON.stringify(texts));
  assert.ok(since.every((t) => ["connected", "offline", "reconnecting…"].includes(t)), JSON.stringify(texts));
  const status = await ola.page.evaluate(() => window.t.presence().status);
  assert.equal(status, "connected");
  await close(ola);
});

/** A page whose status component (part "s") records every text it shows. */
async function withStatus(person) {
  await person.add("s", "status");
  await person.page.evaluate(() => window.t.watchText("s"));
  const shows = (text, ms, why) => until(person.page, (want) => window.t.shown("s")?.text === want, text, ms, why);
  const texts = () => person.page.evaluate(() => window.t.texts.s);
  return { shows, texts };
}

test("the service's tracked status through a relay restart: connected, reconnecting…, connected", async () => {
  const restarting = await restartableRelay();
  const at = await startAppSite(restarting.url);
  try {
    const rue = await open("rue", { at });
    const { shows, texts } = await withStatus(rue);
    await rue.add("p", "who", "/topic/restart");
    await rue.sees("p", ["user rue"], BOOT_MS, "rue entered");
    await shows("connected", SEEN_MS, "the welcome");
    await restarting.halt();
    await shows("reconnecting…", SEEN_MS, "the relay is gone");
    await until(rue.page, () => typeof window.t.presence().retryAt === "number", null, SEEN_MS, "the next attempt's time is tracked");
    await restarting.start();
    await shows("connected", 20_000, "the relay is back on its port");
    await rue.sees("p", ["user rue"], BOOT_MS, "rue is shown again");
    const seen = await texts();
    assert.deepEqual(seen.slice(seen.indexOf("connected")), ["connected", "reconnecting…", "connected"], JSON.stringify(seen));
    assert.equal(await rue.page.evaluate(() => window.t.presence().retryAt), null, "no next attempt once connected");
    await close(rue);
  } finally {
    await at.close();
    restarting.stop();
  }
});

test("the service's tracked status through a connection cut under the page: reconnecting…, then connected", async () => {
  const proxy = await startProxy(relay.url);
  const at = await startAppSite(proxy.url);
  try {
    const cy = await open("cy", { at });
    const { shows, texts } = await withStatus(cy);
    await cy.add("p", "who", "/topic/cut");
    await cy.sees("p", ["user cy"], BOOT_MS, "cy entered through the proxy");
    await shows("connected", SEEN_MS, "the welcome");
    proxy.drop();
    await shows("reconnecting…", SEEN_MS, "the socket was cut");
    await shows("connected", BOOT_MS, "the next attempt goes through");
    const seen = await texts();
    assert.deepEqual(seen.slice(seen.indexOf("connected")), ["connected", "reconnecting…", "connected"], JSON.stringify(seen));
    await close(cy);
  } finally {
    await at.close();
    proxy.close();
  }
});

test("the service's tracked status through a stalled network: reconnecting… within the lease timeout, then connected", async () => {
  const proxy = await startProxy(relay.url);
  const at = await startAppSite(proxy.url);
  try {
    const sol = await open("sol", { at });
    const { shows, texts } = await withStatus(sol);
    await sol.add("p", "who", "/topic/stall");
    await sol.sees("p", ["user sol"], BOOT_MS, "sol entered through the proxy");
    await shows("connected", SEEN_MS, "the welcome");
    proxy.freeze();
    await shows("reconnecting…", TIMING.lease_timeout_ms + SLACK_MS, "a check-in went unanswered");
    proxy.release();
    await shows("connected", BOOT_MS, "the network flows again");
    await sol.sees("p", ["user sol"], BOOT_MS, "sol is shown again");
    const seen = await texts();
    assert.deepEqual(seen.slice(seen.indexOf("connected")), ["connected", "reconnecting…", "connected"], JSON.stringify(seen));
    await close(sol);
  } finally {
    await at.close();
    proxy.close();
  }
});

test("the service's tracked status in the tabs that stay when the leader tab closes: never reconnecting", async () => {
  const context = await chrome.browser.newContext();
  const tabs = [];
  const statuses = [];
  for (let i = 0; i < 3; i++) {
    const tab = await open("lev", { context });
    const status = await withStatus(tab);
    await tab.add("p", "who", "/topic/handover");
    await status.shows("connected", BOOT_MS, `tab ${i} is told the leader's status`);
    tabs.push(tab);
    statuses.push(status);
  }
  assert.equal(tabs[0].sockets.length, 1, "the first tab holds the connection");
  await tabs[0].page.close();
  await hold(SLACK_MS, "a reconnecting status would show while the new leader connects");
  assert.equal(tabs.slice(1).filter((tab) => tab.sockets.length === 1).length, 1, "one of the others took the connection over");
  for (const i of [1, 2]) {
    const seen = await statuses[i].texts();
    assert.deepEqual(seen.slice(seen.indexOf("connected")), ["connected"], `tab ${i}: no reconnecting: ${JSON.stringify(seen)}`);
    assert.deepEqual(tabs[i].errors, []);
  }
  await context.close();
});
