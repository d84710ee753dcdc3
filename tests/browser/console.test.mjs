// The operator console in real Chromium against a real relay: sign in, see who is where,
// watch joins and leaves arrive live with their causes, see a failing webhook's answer,
// draw the ledger, and show hostile names as text. Screenshots go to tests/artifacts/.
//
// Needs `cargo build -p rollcall-relay` first. Presence comes from plain WebSockets in
// other browser contexts (protocol v1), so the SDK is not involved.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { createInterface } from "node:readline";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ROOT, SECRET, token, launchBrowser } from "./harness.mjs";

const RELAY = process.env.ROLLCALL_RELAY_BIN ?? path.join(ROOT, "target/debug/rollcall-relay");
const ARTIFACTS = path.join(ROOT, "tests/artifacts");
const KEY = "console-test-key-7f3a9c0e5b";
const CH = "/room/console";
const HOSTILE = `<img src=x onerror="window.__pwned=1">`;
const RECONNECT_GRACE_MS = 1_500;

let relay;
let site;
let chrome;
const people = [];

/** A site whose webhook endpoint is down, answering with markup in its error. */
async function failingSite() {
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => res.writeHead(503, { "content-type": "text/html" }).end(`database is down ${HOSTILE}`));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${server.address().port}/hooks`, close: () => new Promise((r) => server.close(r)) };
}

async function startRelay(hookUrl, { apiKey = KEY } = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), "rollcall-console-"));
  const config = path.join(dir, "relay.toml");
  writeFileSync(config, `
[presence]
checkin_interval_ms = 1000
lease_timeout_ms = 4000
unload_grace_ms = 1000
reconnect_grace_ms = ${RECONNECT_GRACE_MS}

[webhooks]
secret = "console-test-webhook-secret-0123"
backoff_base_ms = 200
backoff_max_ms = 1000
[[webhooks.endpoint]]
url = "${hookUrl}"

[ledger]
heartbeat_ms = 200
`);
  const child = spawn(RELAY, ["--listen", "127.0.0.1:0", "--config", config], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ROLLCALL_SECRET: SECRET, ROLLCALL_API_KEY: apiKey, RUST_LOG: "error" },
  });
  const log = [];
  child.stderr.on("data", (chunk) => log.push(String(chunk)));
  const lines = createInterface({ input: child.stdout });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`relay printed no address\n${log.join("")}`)), 20_000);
    child.once("exit", (code) => reject(new Error(`relay exited (${code})\n${log.join("")}`)));
    lines.once("line", (line) => {
      clearTimeout(timer);
      const match = /listening on (http:\/\/\S+)/.exec(line);
      if (match) resolve(match[1]);
      else reject(new Error(`unexpected first line: ${line}`));
    });
  });
  lines.on("line", () => {});
  return { url, stop: () => child.exitCode === null && child.kill("SIGTERM") };
}

/** A user present through a plain WebSocket in a browser context of their own. */
async function person(sub, name) {
  const context = await chrome.browser.newContext();
  const page = await context.newPage();
  // A page of the relay's own origin (no console policy there) to open the socket from.
  await page.goto(`${relay.url}/healthz`);
  const signed = await token(sub, { name });
  await page.evaluate(async ({ url, token, client }) => {
    const ws = new WebSocket(`${url.replace("http", "ws")}/v1/ws`);
    window.ws = ws;
    window.ref = 0;
    window.replies = new Map();
    ws.onmessage = (e) => {
      const msg = JSON.parse(e.data);
      if (msg.ref !== undefined) window.replies.set(msg.ref, msg);
      if (msg.type === "welcome") window.welcome = msg;
    };
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    ws.send(JSON.stringify({ type: "hello", v: [1], token, client }));
    for (let i = 0; i < 100 && !window.welcome; i++) await new Promise((r) => setTimeout(r, 50));
    if (!window.welcome) throw new Error("no welcome");
  }, { url: relay.url, token: signed, client: `c-${sub}` });
  const request = (frame) => page.evaluate(async (frame) => {
    const ref = ++window.ref;
    window.ws.send(JSON.stringify({ ...frame, ref }));
    for (let i = 0; i < 100 && !window.replies.has(ref); i++) await new Promise((r) => setTimeout(r, 20));
    return window.replies.get(ref)?.type;
  }, frame);
  const p = {
    context,
    enter: async (ch, meta = {}) => assert.equal(await request({ type: "enter", ch, meta }), "ok", `${sub} enters ${ch}`),
    leave: async (ch) => assert.equal(await request({ type: "leave", ch }), "ok", `${sub} leaves ${ch}`),
    /** The socket closes without a word about unloading: the reconnect grace runs. */
    drop: () => page.evaluate(() => window.ws.close()),
  };
  people.push(p);
  return p;
}

before(async () => {
  if (!existsSync(RELAY)) throw new Error(`no relay at ${RELAY}: run \`cargo build -p rollcall-relay\` first`);
  site = await failingSite();
  relay = await startRelay(site.url);
  chrome = await launchBrowser();
  mkdirSync(ARTIFACTS, { recursive: true });
});

after(async () => {
  await chrome?.close();
  await site?.close();
  relay?.stop();
});

/** The console in a fresh context, with every request's URL kept. */
async function openConsole(at = relay) {
  const context = await chrome.browser.newContext();
  const page = await context.newPage();
  const urls = [];
  const errors = [];
  page.on("request", (req) => urls.push(req.url()));
  page.on("pageerror", (e) => errors.push(e));
  // The first look without a key is answered 401 (how the page learns it must ask).
  page.on("console", (m) => m.type() === "error" && !m.text().includes("status of 401") && errors.push(m.text()));
  await page.goto(`${at.url}/console`);
  await page.locator("#login").waitFor({ state: "visible" });
  return { context, page, urls, errors };
}

async function signIn(page, key) {
  await page.fill("#key", key);
  await page.click("#login-form button[type=submit]");
}

test("a wrong key is refused and the console stays closed", async () => {
  const { context, page, urls } = await openConsole();
  await signIn(page, "not-the-key");
  await page.locator("#login-error", { hasText: "Wrong key." }).waitFor();
  assert.equal(await page.locator("#tabs").isHidden(), true);
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, "a wrong key is not kept");
  assert.ok(urls.every((u) => !u.includes("not-the-key")), urls.join("\n"));
  await context.close();
});

test("a relay without an API key says so instead of asking for one that cannot work", async () => {
  const keyless = await startRelay(site.url, { apiKey: "" });
  try {
    const { context, page } = await openConsole(keyless);
    await page.locator("#login-error", { hasText: "The relay has no API key" }).waitFor();
    await signIn(page, "anything");
    await page.locator("#login-error", { hasText: "ROLLCALL_API_KEY" }).waitFor();
    assert.equal(await page.locator("#tabs").isHidden(), true);
    await context.close();
  } finally {
    keyless.stop();
  }
});

test("signed in, the console shows two users and their channel, hostile names as text, and a join live", async () => {
  const ann = await person("ann", HOSTILE);
  await ann.enter(CH, { note: HOSTILE });
  const bob = await person("bob", "Bob");
  await bob.enter(CH);

  const { context, page, urls, errors } = await openConsole();
  await signIn(page, KEY);
  await page.locator("#tabs").waitFor({ state: "visible" });
  const row = page.locator(`#channels tr[data-channel="${CH}"]`);
  await row.waitFor();
  assert.equal(await row.locator("td").nth(1).textContent(), "2");
  await row.click();
  await page.locator('#members tr[data-user="bob"]').waitFor();
  const annRow = page.locator('#members tr[data-user="ann"]');
  assert.equal(await annRow.locator("td").nth(1).textContent(), HOSTILE, "the name is shown as it is, as text");
  assert.equal(await annRow.locator("td").nth(3).textContent(), JSON.stringify({ note: HOSTILE }), "meta as text");
  assert.equal(await page.locator("#members img").count(), 0, "no element was made from a name");
  await page.screenshot({ path: path.join(ARTIFACTS, "console-now.png"), fullPage: true });

  await page.click('#tabs button[data-tab="live"]');
  await page.locator("#live-status[data-state=connected]").waitFor();
  const carl = await person("carl", "Carl");
  await carl.enter(CH);
  await page.locator('#events tr[data-type="channel.join"]', { hasText: "carl" }).waitFor({ timeout: 5_000 });
  // The filter hides other users' events and shows carl's.
  await page.fill("#filter-user", "carl");
  assert.equal(await page.locator('#events tr:visible', { hasText: "bob" }).count(), 0);
  assert.equal(await page.locator('#events tr:visible[data-type="channel.join"]', { hasText: "carl" }).count(), 1);
  await page.fill("#filter-user", "");

  assert.equal(await page.evaluate(() => window.__pwned), undefined, "no injected script ran");
  assert.equal(await page.evaluate(() => sessionStorage.getItem("rollcall.console.key")), KEY, "kept for this tab");
  assert.ok(urls.length > 3);
  assert.ok(urls.every((u) => !u.includes(KEY)), `the key is in no URL:\n${urls.join("\n")}`);
  assert.deepEqual(errors, []);
  await context.close();
});

test("a leave appears in the live stream with its cause, and pausing holds events back", async () => {
  const { context, page } = await openConsole();
  await signIn(page, KEY);
  await page.click('#tabs button[data-tab="live"]');
  await page.locator("#live-status[data-state=connected]").waitFor();
  const dan = await person("dan", "Dan");
  await dan.enter(CH);
  await page.locator('#events tr[data-type="channel.join"]', { hasText: "dan" }).waitFor();
  await dan.leave(CH);
  const left = page.locator('#events tr[data-type="channel.leave"][data-user="dan"]');
  await left.waitFor({ timeout: 5_000 });
  assert.equal(await left.getAttribute("data-cause"), "leave");

  await page.click("#pause");
  const eve = await person("eve", "Eve");
  await eve.enter(CH);
  await eve.drop();
  await page.waitForTimeout(RECONNECT_GRACE_MS + 1_500);
  assert.equal(await page.locator('#events tr[data-user="eve"]').count(), 0, "nothing shown while paused");
  await page.click("#pause");
  const dropped = page.locator('#events tr[data-type="channel.leave"][data-user="eve"]');
  await dropped.waitFor({ timeout: 5_000 });
  assert.equal(await dropped.getAttribute("data-cause"), "reconnect_grace");
  await page.screenshot({ path: path.join(ARTIFACTS, "console-live.png"), fullPage: true });
  await context.close();
});

test("a failing webhook endpoint shows its error, as text", async () => {
  const { context, page } = await openConsole();
  await signIn(page, KEY);
  await page.click('#tabs button[data-tab="webhooks"]');
  const endpoint = page.locator(`#endpoints tr[data-url="${site.url}"]`);
  await endpoint.waitFor();
  await endpoint.locator("button", { hasText: "Send a test event" }).click();
  const result = endpoint.locator(".test-result");
  await result.filter({ hasText: "database is down" }).waitFor({ timeout: 10_000 });
  const text = await result.textContent();
  assert.ok(text.includes("503") && text.includes(HOSTILE), text);
  // The queued presence events fail too; the table says so after its next refresh.
  await endpoint.locator(".last-error", { hasText: "503" }).waitFor({ timeout: 10_000 });
  assert.equal(await page.locator("#endpoints img").count(), 0);
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  await page.screenshot({ path: path.join(ARTIFACTS, "console-webhooks.png"), fullPage: true });
  await context.close();
});

test("the ledger's charts draw its sessions", async () => {
  // Someone who came and went, so the ledger holds an ended session with a channel.
  const fay = await person("fay", "Fay");
  await fay.enter("/doc/ledger");
  await new Promise((r) => setTimeout(r, 400));
  await fay.leave("/doc/ledger");

  const { context, page, errors } = await openConsole();
  await signIn(page, KEY);
  await page.click('#tabs button[data-tab="ledger"]');
  const day = page.locator("#chart-24h svg");
  await day.waitFor();
  assert.equal(await day.getAttribute("data-points"), "288");
  const peak = await day.locator("title").textContent();
  assert.match(peak, /peak [1-9]/, "users online in the last day are drawn");
  assert.equal(await page.locator("#chart-30d svg").getAttribute("data-points"), "720");
  assert.ok((await page.locator("#chart-status svg rect.active").count()) >= 1, "today's active time is a bar");

  await page.fill("#user-id", "fay");
  await page.click("#user-form button");
  await page.locator("#chart-timeline svg rect.session").first().waitFor();
  const labels = await page.locator("#chart-channels svg text.label").allTextContents();
  assert.ok(labels.includes("/doc/ledger"), labels.join(", "));
  await page.screenshot({ path: path.join(ARTIFACTS, "console-ledger.png"), fullPage: true });
  assert.deepEqual(errors, []);
  await context.close();
});
