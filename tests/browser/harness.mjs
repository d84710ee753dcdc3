// What every end-to-end test needs: a real relay with short graces, a static server on
// another origin for the test page and sdk/dist, signed tokens, Chromium, a TCP proxy
// that can freeze a connection without closing it, and a site that decides channels.

import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { createServer } from "node:http";
import { createHmac, timingSafeEqual } from "node:crypto";
import net from "node:net";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { SignJWT } from "jose";
import { chromium } from "playwright-core";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const RELAY = process.env.ROLLCALL_RELAY_BIN ?? path.join(ROOT, "target/debug/rollcall-relay");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const DIST = path.join(ROOT, "sdk/dist");
const PAGE = fileURLToPath(new URL("./page.html", import.meta.url));
export const SECRET = "browser-tests-secret-0123456789abcdef";

/** Short timings so every grace is seconds, not minutes. */
export const TIMING = {
  checkin_interval_ms: 1_000,
  lease_timeout_ms: 4_000,
  unload_grace_ms: 1_500,
  reconnect_grace_ms: 3_000,
};

/** The list_cap of the "/crowd/*" channels. */
export const LIST_CAP = 2;

/** Slack on top of a grace for the relay's reaper, its flush tick and delivery. */
export const SLACK_MS = 2_500;

export const CONFIG = `
[presence]
checkin_interval_ms = ${TIMING.checkin_interval_ms}
lease_timeout_ms = ${TIMING.lease_timeout_ms}
unload_grace_ms = ${TIMING.unload_grace_ms}
reconnect_grace_ms = ${TIMING.reconnect_grace_ms}

# Everyone may watch, only staff may appear.
[[channel]]
pattern = "/staff/*"
public = true
allowed_groups = ["staff"]

[[channel]]
pattern = "/count/*"
count_only = true

# Capped lists: every subscriber is sent the first two to arrive, itself and its friends.
[[channel]]
pattern = "/crowd/*"
list_cap = ${LIST_CAP}

[[channel]]
pattern = "/**"
`;

export const CHROMIUM_FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

export function checkBuilt() {
  if (!existsSync(RELAY)) throw new Error(`no relay at ${RELAY}: run \`cargo build -p rollcall-relay\` first`);
  if (!existsSync(path.join(DIST, "rollcall.js"))) throw new Error("no sdk/dist/rollcall.js: run `bash sdk/build.sh` first");
}

/**
 * A relay with the test config; resolves once it listens. By default on a free port
 * with SECRET; `listen` and `secret` restart one in place with another secret.
 */
export async function startRelay({ listen = "127.0.0.1:0", secret = SECRET, config: text = CONFIG } = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), "rollcall-relay-"));
  const config = path.join(dir, "relay.toml");
  writeFileSync(config, text);
  const child = spawn(RELAY, ["--listen", listen, "--config", config], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ROLLCALL_SECRET: secret, RUST_LOG: process.env.RUST_LOG ?? "warn" },
  });
  const log = [];
  child.stderr.on("data", (chunk) => log.push(String(chunk)));
  const lines = createInterface({ input: child.stdout });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`relay printed no address in 20 s\n${log.join("")}`)), 20_000);
    child.once("exit", (code) => reject(new Error(`relay exited (${code}) before listening\n${log.join("")}`)));
    lines.once("line", (line) => {
      clearTimeout(timer);
      const match = /listening on (http:\/\/\S+)/.exec(line);
      if (match) resolve(match[1]);
      else reject(new Error(`unexpected first line from the relay: ${line}`));
    });
  });
  lines.on("line", () => {});
  return {
    url,
    log,
    stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
    },
    /** Stop and resolve once the process is gone (its port is free again). */
    async halt() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await gone;
    },
  };
}

/**
 * A site that decides the channels `/topic/*` (`ask_site`) and a relay that asks it,
 * signed with DECIDER_SECRET. `decide(question)` answers (by default: anyone may watch
 * and enter); while `site.down` is set the site answers 503. The relay caches an answer
 * `ttl_ms` and, after a failure, refuses with `unavailable` for `retry_after_ms`.
 */
export async function startDecidingRelay({ decide = () => ({ view: true, enter: true }), ttlMs = 1_500, retryMs = 1_000 } = {}) {
  const site = { down: false, questions: [] };
  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    if (!signedBySite(req.headers["rollcall-signature"] ?? "", body)) return res.writeHead(401).end();
    if (site.down) return res.writeHead(503).end();
    const question = JSON.parse(body);
    site.questions.push(question);
    const answer = /^\/topic\/\d+$/.test(question.channel) ? decide(question) : { exists: false };
    res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(answer));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${server.address().port}/decide`;
  const config =
    CONFIG.replace('[[channel]]\npattern = "/**"', '[[channel]]\npattern = "/topic/*"\nask_site = true\n\n[[channel]]\npattern = "/**"') +
    `\n[decisions]\nurl = "${url}"\nsecret = "${DECIDER_SECRET}"\nttl_ms = ${ttlMs}\nretry_after_ms = ${retryMs}\n`;
  if (!config.includes("ask_site")) throw new Error("the test config lost its catch-all channel rule");
  const relay = await startRelay({ config });
  return {
    url: relay.url,
    site,
    stop() {
      relay.stop();
      server.close();
    },
  };
}

export const DECIDER_SECRET = "browser-decisions-secret-0123456789";

function signedBySite(header, body) {
  const parts = Object.fromEntries(header.split(",").map((p) => [p.slice(0, p.indexOf("=")), p.slice(p.indexOf("=") + 1)]));
  const expected = createHmac("sha256", DECIDER_SECRET).update(`${parts.t}.`).update(body).digest("hex");
  const given = Buffer.from(String(parts.v1 ?? ""));
  return given.length === expected.length && timingSafeEqual(given, Buffer.from(expected));
}

/** A relay that can be stopped (`halt()`) and started again on the same port (`start()`). */
export async function restartableRelay() {
  let current = await startRelay();
  const listen = new URL(current.url).host;
  return {
    url: current.url,
    halt: () => current.halt(),
    async start() {
      current = await startRelay({ listen });
    },
    stop: () => current.stop(),
  };
}

const TYPES = { ".js": "text/javascript", ".wasm": "application/wasm", ".ts": "text/plain", ".html": "text/html" };

/** The test page at `/` and sdk/dist at `/sdk/`, on its own port (another origin). */
export async function startSite() {
  const server = createServer((req, res) => {
    const url = new URL(req.url, "http://x");
    let file = null;
    if (url.pathname === "/") file = PAGE;
    else if (url.pathname.startsWith("/sdk/")) {
      const name = path.basename(url.pathname);
      file = path.join(DIST, name);
    }
    if (!file || !existsSync(file)) {
      res.writeHead(404).end("not found");
      return;
    }
    res.writeHead(200, { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream", "cache-control": "no-store" });
    res.end(readFileSync(file));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(r)) };
}

/** An HS256 token as a site's backend would sign it. */
export async function token(sub, claims = {}, { secret = SECRET, expiresIn = "1h" } = {}) {
  return new SignJWT({ name: `user ${sub}`, ...claims })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(secret));
}

/** Chromium as a server, so a test can kill its process. */
export async function launchBrowser() {
  const server = await chromium.launchServer({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
  const browser = await chromium.connect(server.wsEndpoint());
  return {
    browser,
    kill: () => server.process().kill("SIGKILL"),
    close: async () => {
      await browser.close().catch(() => {});
      await server.close().catch(() => {});
    },
  };
}

/**
 * A tab of `context` with the test page loaded, its WebSockets counted and its page
 * errors kept. `connect` options are given later through `tab.connect`.
 */
/** Every uncaught error of every test page, for a last check. */
export const pageErrors = [];

export async function openTab(context, site) {
  const page = await context.newPage();
  const sockets = [];
  const errors = [];
  page.on("websocket", (ws) => sockets.push(ws));
  page.on("pageerror", (e) => {
    errors.push(String(e));
    pageErrors.push(`${page.url()}: ${e}`);
  });
  await page.goto(site.url);
  await page.waitForFunction(() => window.t !== undefined, null, { timeout: 10_000 });
  return {
    page,
    sockets,
    errors,
    connect: (options) => page.evaluate((o) => window.t.connect(o), options),
    isLeader: () => page.evaluate(() => window.t.presence.isLeader),
    enter: (ch, meta) => page.evaluate(([c, m]) => window.t.enter(c, m), [ch, meta ?? {}]),
    watch: (ch, options) => page.evaluate(([c, o]) => window.t.watch(c, o), [ch, options]),
    members: (ch, options) => page.evaluate(([c, o]) => window.t.members(c, o), [ch, options]),
    state: (ch) => page.evaluate((c) => window.t.states[c] ?? null, ch),
    events: () => page.evaluate(() => window.t.events),
    /** Resolves with the event once it has happened; rejects after `ms`, saying why. */
    async waitFor(type, ch, id, ms, why) {
      try {
        const handle = await page.waitForFunction(
          ([ty, c, i]) => window.t.seen(ty, c, i),
          [type, ch, id],
          { timeout: ms, polling: 50 },
        );
        return await handle.jsonValue();
      } catch (e) {
        throw new Error(`no ${type} of ${id} on ${ch} within ${ms} ms (${why}): ${e.message}`);
      }
    },
    async waitForState(ch, predicate, ms, why) {
      try {
        const handle = await page.waitForFunction(
          ([c, src]) => {
            const s = window.t.states[c];
            return s && new Function("s", `return (${src})(s)`)(s) ? s : null;
          },
          [ch, predicate.toString()],
          { timeout: ms, polling: 50 },
        );
        return await handle.jsonValue();
      } catch (e) {
        const last = await page.evaluate((c) => window.t.states[c] ?? null, ch).catch(() => null);
        throw new Error(`state of ${ch} never matched ${predicate} within ${ms} ms (${why}); last: ${JSON.stringify(last)}`);
      }
    },
  };
}

/**
 * A TCP proxy in front of the relay. `freeze()` stops forwarding in both directions
 * without closing anything: to both ends the network has silently died. `release()`
 * lets it flow again.
 */
export async function startProxy(target) {
  const { hostname, port } = new URL(target);
  const pairs = [];
  /** Connections opened while frozen: accepted, never answered. */
  const swallowed = [];
  let frozen = false;
  const server = net.createServer((client) => {
    if (frozen) {
      // Swallow new connections too: the network is dead.
      client.on("error", () => {});
      swallowed.push(client);
      return;
    }
    const upstream = net.connect(Number(port), hostname);
    const pair = { client, upstream };
    pairs.push(pair);
    client.on("data", (d) => { if (!pair.frozen) upstream.write(d); });
    upstream.on("data", (d) => { if (!pair.frozen) client.write(d); });
    const end = () => { if (!pair.frozen) { client.destroy(); upstream.destroy(); } };
    client.on("close", end);
    upstream.on("close", end);
    client.on("error", () => {});
    upstream.on("error", () => {});
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    /** Cut every connection now, as a dropped network would; new ones still pass. */
    drop() {
      for (const pair of pairs.splice(0)) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
    },
    freeze() {
      frozen = true;
      for (const pair of pairs) pair.frozen = true;
    },
    /**
     * The network is back: new connections pass. What was frozen cannot flow again (its
     * bytes were dropped), so those connections are cut now, as a NAT that forgot them
     * answers them with a reset; so are the ones swallowed meanwhile.
     */
    release() {
      frozen = false;
      for (const pair of pairs.splice(0)) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
      for (const client of swallowed.splice(0)) client.destroy();
    },
    close() {
      for (const { client, upstream } of pairs) { client.destroy(); upstream.destroy(); }
      for (const client of swallowed) client.destroy();
      server.close();
    },
  };
}

/** A bounded wait for something that has no event to await (e.g. proving an absence). */
export function hold(ms, why) {
  if (!why) throw new Error("say why this wait is needed");
  return new Promise((resolve) => setTimeout(resolve, ms));
}
