// The README's examples against a real relay: the config file example starts it, the
// Node example's token is welcomed with the identity it carries, the channel rules
// behave as the README says, and the server API answers in the shape it shows.
//
// Needs `cargo build -p rollcall-relay` first (scripts/test.sh does it).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { example, readmeTokenModule, root } from "./readme-lib.mjs";

const RELAY = process.env.ROLLCALL_RELAY_BIN ?? join(root, "target/debug/rollcall-relay");
const SECRET = "readme-relay-test-secret-0123456789";
const API_KEY = "readme-relay-test-api-key";
const ORIGIN = "https://example.com"; // the README's allowed_origins
const WAIT_MS = 10_000;

let relay;
let url;
let dir;

function withTimeout(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), WAIT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

before(async () => {
  assert.equal(typeof WebSocket, "function", "no global WebSocket: use Node 22+, or node --experimental-websocket on Node 20 (scripts/test.sh does)");
  assert.ok(existsSync(RELAY), `${RELAY} is missing: run cargo build -p rollcall-relay`);
  mkdirSync(join(root, "target"), { recursive: true });
  dir = mkdtempSync(join(root, "target", "readme-relay-"));
  const config = join(dir, "relay.toml");
  writeFileSync(config, example("relay-toml"));
  relay = spawn(RELAY, ["--config", config, "--listen", "127.0.0.1:0"], {
    env: { ...process.env, ROLLCALL_SECRET: SECRET, ROLLCALL_API_KEY: API_KEY },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise((_, reject) =>
    relay.once("exit", (code) => reject(new Error(`the relay exited (${code}) with the README's config`))),
  );
  const listening = new Promise((resolve) => {
    createInterface({ input: relay.stdout }).on("line", (line) => {
      const m = line.match(/listening on (http:\/\/\S+)/);
      if (m) resolve(m[1]);
    });
  });
  url = await withTimeout(Promise.race([listening, exited]), "the relay's start line");
});

after(() => {
  relay?.kill();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// A tiny protocol v1 client: sends frames, waits for the first frame that matches.
async function open(token, client) {
  const ws = new WebSocket(`${url.replace(/^http/, "ws")}/v1/ws`, { headers: { Origin: ORIGIN } });
  const frames = [];
  const waiters = [];
  ws.onmessage = (event) => {
    const msg = JSON.parse(event.data);
    frames.push(msg);
    for (const w of [...waiters]) {
      if (w.match(msg)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(msg);
      }
    }
  };
  await withTimeout(
    new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new Error("WebSocket refused"));
    }),
    "the WebSocket to open",
  );
  const conn = {
    send: (msg) => ws.send(JSON.stringify(msg)),
    next(match, what) {
      const seen = frames.find(match);
      if (seen) return Promise.resolve(seen);
      return withTimeout(new Promise((resolve) => waiters.push({ match, resolve })), what);
    },
    close: () => ws.close(),
  };
  conn.send({ type: "hello", v: [1], token, client });
  return conn;
}

test("the README's token is welcomed, rules apply, and the server API shows the user", async (t) => {
  const rollcallToken = await readmeTokenModule(t, SECRET);
  const ann = await open(
    await rollcallToken({ id: 7, name: "ann", avatarUrl: "https://example.com/ann.png", groups: [] }),
    "readme-ann",
  );
  t.after(() => ann.close());

  const welcome = await ann.next((m) => m.type === "welcome" || m.type === "error", "welcome");
  assert.equal(welcome.type, "welcome", JSON.stringify(welcome));
  assert.equal(welcome.v, 1);
  assert.deepEqual(welcome.user, { id: "7", name: "ann", avatar: "https://example.com/ann.png" });

  // "/topic/*" is public and names nobody: anyone may enter.
  ann.send({ type: "enter", ch: "/topic/42", meta: { typing: true }, ref: 1 });
  const entered = await ann.next((m) => m.ref === 1, "the answer to enter");
  assert.equal(entered.type, "ok", JSON.stringify(entered));

  // "/staff/**" admits the group "staff" only, and ann has no groups.
  ann.send({ type: "enter", ch: "/staff/room", ref: 2 });
  const refused = await ann.next((m) => m.ref === 2, "the answer to enter /staff/room");
  assert.equal(refused.type, "error");
  assert.equal(refused.code, "forbidden_enter");

  // The README's curl example, as fetch.
  const query = "channel=%2Ftopic%2F42&channel=%2Ftopic%2F43";
  const res = await fetch(`${url}/v1/presence?${query}`, {
    headers: { Authorization: `Bearer ${API_KEY}` },
  });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body["/topic/43"], null, "a channel with nobody is null");
  assert.equal(body["/topic/42"].count, 1);
  const [user] = body["/topic/42"].users;
  assert.equal(user.id, "7");
  assert.equal(user.name, "ann");
  assert.equal(user.status, "active");
  assert.deepEqual(user.meta, { typing: true });

  const anonymous = await fetch(`${url}/v1/presence?${query}`);
  assert.equal(anonymous.status, 401, "no key, no presence");
  assert.equal((await anonymous.json()).error, "unauthorized");

  const health = await (await fetch(`${url}/healthz`)).json();
  assert.equal(health.status, "ok");
  assert.equal(health.store, "memory");
});

test("a token signed with another secret is refused with bad_token", async (t) => {
  const { SignJWT } = await import("jose");
  const forged = await new SignJWT({ name: "mallory" })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject("666")
    .setExpirationTime("10m")
    .sign(new TextEncoder().encode("not-the-relay-secret-at-all"));
  const mallory = await open(forged, "readme-mallory");
  t.after(() => mallory.close());
  const answer = await mallory.next((m) => m.type === "welcome" || m.type === "error", "the answer to hello");
  assert.equal(answer.type, "error");
  assert.equal(answer.code, "bad_token");
});
