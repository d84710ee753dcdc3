// What the Pusher-compatibility tests share: a real relay with a [[pusher_app]] and short
// graces, a site's auth endpoints (channel authorization and user authentication) signed
// with node's crypto as a Pusher server library signs them, pusher-js clients pointed at
// the relay, a native rollcall client, and a small wait-for helper.

import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { createServer } from "node:http";
import { createHmac } from "node:crypto";
import { mkdtempSync, writeFileSync, existsSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import Pusher from "pusher-js";
import WebSocket from "ws";

// pusher-js's bundled Node WebSocket client arms a 30 s close-handshake timer when it
// closes a socket the server has already closed (as after a refusal with 4009); nothing
// waits on it, so it must not keep a finished test file alive for 30 s.
const armTimeout = globalThis.setTimeout;
globalThis.setTimeout = function (fn, ms, ...args) {
  const timer = armTimeout(fn, ms, ...args);
  if (ms >= 30_000) timer.unref?.();
  return timer;
};

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const RELAY = process.env.ROLLCALL_RELAY_BIN ?? path.join(ROOT, "target/debug/rollcall-relay");

export const APP = { id: "4242", key: "pusher-test-key", secret: "pusher-test-secret-0123" };
/** The secret of rollcall's own browser tokens (for the native client). */
export const TOKEN_SECRET = "pusher-tests-token-secret-0123456789";
export const CHANNEL = "presence-site-online";
export const ROLLCALL_CHANNEL = "/pusher/site-online";

/** Short timings so every grace is a fraction of a second. */
export const TIMING = { unload_grace_ms: 400, reconnect_grace_ms: 800, lease_timeout_ms: 3_000 };
/** Time within which a grace must end, on top of its length. */
export const SLACK_MS = 1_500;

export function hmac(secret, message) {
  return createHmac("sha256", secret).update(message).digest("hex");
}

/** Start `target/debug/rollcall-relay` on a free port; `extra` is appended to its config. */
export async function startRelay(extra = "") {
  if (!existsSync(RELAY)) {
    throw new Error(`${RELAY} is missing: run cargo build -p rollcall-relay first`);
  }
  const dir = mkdtempSync(path.join(tmpdir(), "rollcall-pusher-"));
  const config = path.join(dir, "relay.toml");
  writeFileSync(
    config,
    `
[auth]
secrets = ["${TOKEN_SECRET}"]

[presence]
checkin_interval_ms = 1000
lease_timeout_ms = ${TIMING.lease_timeout_ms}
unload_grace_ms = ${TIMING.unload_grace_ms}
reconnect_grace_ms = ${TIMING.reconnect_grace_ms}
flush_interval_ms = 10

[[pusher_app]]
id = "${APP.id}"
key = "${APP.key}"
secret = "${APP.secret}"
${extra}
`,
  );
  const env = { ...process.env };
  delete env.ROLLCALL_SECRET;
  delete env.ROLLCALL_CONFIG;
  delete env.ROLLCALL_LISTEN;
  const child = spawn(RELAY, ["--listen", "127.0.0.1:0", "--config", config], {
    stdio: ["ignore", "pipe", "pipe"],
    env,
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const lines = createInterface({ input: child.stdout });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the relay did not start: ${stderr}`)), 10_000);
    child.once("exit", (code) => reject(new Error(`the relay exited with ${code}: ${stderr}`)));
    lines.once("line", (line) => {
      clearTimeout(timer);
      const m = /rollcall-relay listening on (http:\/\/\S+)/.exec(line);
      m ? resolve(m[1]) : reject(new Error(`unexpected first line: ${line}`));
    });
  });
  const { hostname, port } = new URL(url);
  const exited = new Promise((resolve) => child.once("exit", resolve));
  return {
    url,
    host: hostname,
    port: Number(port),
    /** SIGTERM, as a deploy does; resolves when the process is gone. */
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

/**
 * A site's backend: `POST /pusher/auth?user=ID` signs presence (and private) channels for
 * ID, `POST /pusher/user-auth?user=ID` signs `pusher:signin`. `&secret=X` signs with X
 * instead of the app's secret (a wrong signature). `POST /pusher/webhooks` keeps what it
 * receives. Other paths are served by `pages`.
 */
export async function startSite(pages = {}) {
  const webhooks = [];
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, "http://site");
    let body = "";
    for await (const chunk of req) body += chunk;
    const form = new URLSearchParams(body);
    const user = url.searchParams.get("user") ?? "anon";
    const secret = url.searchParams.get("secret") ?? APP.secret;
    const socketId = form.get("socket_id");
    const json = (status, value) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(value));
    };
    if (url.pathname === "/pusher/auth") {
      const channel = form.get("channel_name");
      if (channel.startsWith("presence-")) {
        const channelData = JSON.stringify({ user_id: user, user_info: { name: `User ${user}` } });
        const auth = `${APP.key}:${hmac(secret, `${socketId}:${channel}:${channelData}`)}`;
        return json(200, { auth, channel_data: channelData });
      }
      return json(200, { auth: `${APP.key}:${hmac(secret, `${socketId}:${channel}`)}` });
    }
    if (url.pathname === "/pusher/webhooks") {
      webhooks.push({ headers: req.headers, rawBody: body });
      return json(200, {});
    }
    if (url.pathname === "/pusher/user-auth") {
      const userData = JSON.stringify({ id: user, user_info: { name: `User ${user}` } });
      return json(200, { auth: `${APP.key}:${hmac(secret, `${socketId}::user::${userData}`)}`, user_data: userData });
    }
    const page = pages[url.pathname];
    if (page) {
      res.writeHead(200, { "content-type": page.type });
      return res.end(page.body());
    }
    res.writeHead(404).end();
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    /** Pusher webhook requests received at /pusher/webhooks: {headers, rawBody}. */
    webhooks,
    close: () =>
      new Promise((resolve) => {
        server.close(resolve);
        server.closeAllConnections();
      }),
  };
}

/** A pusher-js client as a site would configure it, pointed at the relay. */
export function pusherClient(relay, site, user, { secret } = {}) {
  const extra = secret ? `&secret=${encodeURIComponent(secret)}` : "";
  return new Pusher(APP.key, {
    cluster: "mt1",
    wsHost: relay.host,
    wsPort: relay.port,
    forceTLS: false,
    enabledTransports: ["ws"],
    disableStats: true,
    channelAuthorization: { endpoint: `${site.url}/pusher/auth?user=${user}${extra}`, transport: "ajax" },
    userAuthentication: { endpoint: `${site.url}/pusher/user-auth?user=${user}${extra}`, transport: "ajax" },
  });
}

/** Resolve with the first emission of `event` on `emitter` (a pusher-js channel, connection, ...). */
export function once(emitter, event, ms = 5_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
    const handler = (data) => {
      clearTimeout(timer);
      emitter.unbind(event, handler);
      resolve(data);
    };
    emitter.bind(event, handler);
  });
}

/** Subscribe and wait for the members (pusher-js's `Members`). */
export async function join(client, channel = CHANNEL) {
  const ch = client.subscribe(channel);
  const members = await once(ch, "pusher:subscription_succeeded");
  return { ch, members };
}

/** Record "+id" / "-id" from a presence channel's member events. */
export function record(ch) {
  const seen = [];
  ch.bind("pusher:member_added", (m) => seen.push(`+${m.id}`));
  ch.bind("pusher:member_removed", (m) => seen.push(`-${m.id}`));
  return seen;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Poll `check` until it returns a truthy value, or fail after `ms`. */
export async function waitFor(check, ms = 5_000, what = "condition") {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function base64url(data) {
  return Buffer.from(data).toString("base64url");
}

/** A rollcall browser token (HS256) for `sub`. */
export function token(sub, name = `User ${sub}`) {
  const header = base64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const claims = base64url(JSON.stringify({ sub, name, exp: Math.floor(Date.now() / 1000) + 600 }));
  const sig = createHmac("sha256", TOKEN_SECRET).update(`${header}.${claims}`).digest("base64url");
  return `${header}.${claims}.${sig}`;
}

/**
 * A native rollcall client speaking protocol v1 (docs/protocol.md) over a WebSocket: what
 * the SDK does, without a browser. Keeps the channel's members from snapshot and diffs.
 */
export async function nativeClient(relay, user, client = `c-${user}`) {
  const ws = new WebSocket(`ws://${relay.host}:${relay.port}/v1/ws`);
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  const members = new Map();
  const frames = [];
  let ref = 0;
  const pending = new Map();
  ws.on("message", (text) => {
    const msg = JSON.parse(text);
    frames.push(msg);
    if (msg.type === "snapshot") {
      members.clear();
      for (const u of msg.users ?? []) members.set(u.id, u);
    } else if (msg.type === "diff") {
      for (const u of msg.join ?? []) members.set(u.id, u);
      for (const u of msg.update ?? []) members.set(u.id, u);
      for (const id of msg.leave ?? []) members.delete(id);
    } else if ((msg.type === "ok" || msg.type === "error") && pending.has(msg.ref)) {
      pending.get(msg.ref)(msg);
      pending.delete(msg.ref);
    }
  });
  const request = (frame) =>
    new Promise((resolve, reject) => {
      ref += 1;
      pending.set(ref, (msg) => (msg.type === "ok" ? resolve() : reject(new Error(msg.code))));
      ws.send(JSON.stringify({ ...frame, ref }));
    });
  ws.send(JSON.stringify({ type: "hello", v: [1], token: token(user), client }));
  await waitFor(() => frames.find((f) => f.type === "welcome" || f.type === "error"), 5_000, "welcome");
  if (frames[0].type !== "welcome") throw new Error(`refused: ${JSON.stringify(frames[0])}`);
  return {
    members,
    enter: (ch, meta = {}) => request({ type: "enter", ch, meta }),
    leave: (ch) => request({ type: "leave", ch }),
    subscribe: (ch) => request({ type: "subscribe", ch }),
    close: () => ws.close(1000),
  };
}

/** The web build of pusher-js, for pages. */
export function pusherJsWebBuild() {
  return readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), "node_modules/pusher-js/dist/web/pusher.min.js"));
}
