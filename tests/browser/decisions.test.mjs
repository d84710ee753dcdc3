// Channels the site decides, through the SDK in real Chromium against a real relay and
// a small HTTP server playing the site: a user may enter /topic/1 but not /topic/2, and
// when the site changes its mind the user leaves for everyone once the answer expires.
// When the site is down at that moment, the page shows nobody rather than the people
// last seen, and the channel comes back by itself once the site answers again.
//
// Needs `cargo build -p rollcall-relay` and `bash sdk/build.sh` first.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";
import { checkBuilt, startRelay, startSite, launchBrowser, openTab, token, CONFIG } from "./harness.mjs";

const SITE_SECRET = "browser-decisions-secret-0123456789";
const TTL_MS = 1_500;
// How long the relay refuses with `unavailable` after the site failed.
const RETRY_MS = 1_000;

let relay;
let site;
let chrome;
let decider;
const questions = [];
// The site's rules, changed by the tests: who may enter which topic.
let mayEnter = (user, topic) => topic === "1";
// The site does not answer (503) while this is set.
let siteDown = false;

function signed(header, body) {
  const parts = Object.fromEntries(header.split(",").map((p) => [p.slice(0, p.indexOf("=")), p.slice(p.indexOf("=") + 1)]));
  const expected = createHmac("sha256", SITE_SECRET).update(`${parts.t}.`).update(body).digest("hex");
  const given = Buffer.from(String(parts.v1 ?? ""));
  return given.length === expected.length && timingSafeEqual(given, Buffer.from(expected));
}

before(async () => {
  checkBuilt();
  decider = createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    if (!signed(req.headers["rollcall-signature"] ?? "", body)) return res.writeHead(401).end();
    if (siteDown) return res.writeHead(503).end();
    const q = JSON.parse(body);
    questions.push(q);
    const topic = q.channel.match(/^\/topic\/(\d+)$/)?.[1];
    const answer = topic ? { view: true, enter: mayEnter(q.user.id, topic) } : { exists: false };
    res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(answer));
  });
  await new Promise((resolve) => decider.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${decider.address().port}/decide`;
  const config =
    CONFIG.replace('[[channel]]\npattern = "/**"', '[[channel]]\npattern = "/topic/*"\nask_site = true\n\n[[channel]]\npattern = "/**"') +
    `\n[decisions]\nurl = "${url}"\nsecret = "${SITE_SECRET}"\nttl_ms = ${TTL_MS}\nretry_after_ms = ${RETRY_MS}\n`;
  assert.ok(config.includes("ask_site"), "the test config has the rule");
  relay = await startRelay({ config });
  site = await startSite();
  chrome = await launchBrowser();
});

after(async () => {
  await chrome?.close();
  await site?.close();
  relay?.stop();
  decider?.close();
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
  const asked = questions.filter((q) => q.user.id === "ann").map((q) => q.channel).sort();
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
  assert.ok(questions.some((q) => q.user.id === "bea" && q.action === "recheck"));
  for (const p of [bea, cal]) await p.context.close();
});

test("when the site cannot be asked again, the channel shows nobody, then comes back by itself", async () => {
  const ch = "/topic/3";
  mayEnter = () => true;
  const dee = await person("dee", ch);
  assert.deepEqual(await dee.tab.enter(ch, {}), { ok: true });
  await dee.tab.waitForState(ch, (s) => s.users.some((u) => u.id === "dee"), 5_000, "dee sees herself");
  siteDown = true;
  await dee.tab.waitFor("error", ch, "unavailable", TTL_MS + 5_000, "the recheck finds the site down");
  const shown = await dee.tab.waitForState(ch, (s) => s.count === 0, 1_000, "the list last seen is gone");
  assert.deepEqual(shown.users, [], "nobody shown while the relay says nothing about the channel");
  siteDown = false;
  await dee.tab.waitForState(
    ch,
    (s) => s.users.some((u) => u.id === "dee"),
    RETRY_MS + TTL_MS + 5_000,
    "entered and watching again, without a reconnect",
  );
  assert.equal(dee.tab.sockets.length, 1, "the same socket all along");
  await dee.context.close();
});
