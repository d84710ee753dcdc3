// The README's Node handler for channels the site decides, run as a site would run it,
// behind a real relay: the relay's signed questions pass the README's check, its
// answers let a user enter /topic/1 but not /topic/2, and a forged question is refused.
//
// Needs `cargo build -p rollcall-relay` first (scripts/test.sh does it).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { example, readmeTokenModule, root } from "./readme-lib.mjs";

const RELAY = process.env.ROLLCALL_RELAY_BIN ?? join(root, "target/debug/rollcall-relay");
const SECRET = "readme-decide-test-secret-0123456789";
const SITE_SECRET = "readme-decide-site-secret-0123456789";
const API_KEY = "readme-decide-test-api-key";
const WAIT_MS = 10_000;

let dir;
let relay;
let site;
let url;
let siteUrl;
const questions = [];

function withTimeout(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), WAIT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// The forum's own rules, as the README's handler expects them.
const rules = {
  topicExists: async (id) => ["1", "2"].includes(id),
  mayView: async (user, id) => id === "1" || user.groups.includes("staff"),
  mayEnter: async (user, id) => id === "1",
};

before(async () => {
  assert.ok(existsSync(RELAY), `${RELAY} is missing: run cargo build -p rollcall-relay`);
  mkdirSync(join(root, "target"), { recursive: true });
  dir = mkdtempSync(join(root, "target", "readme-decide-"));
  writeFileSync(join(dir, "rollcall-verify.mjs"), example("node-verify"));
  writeFileSync(join(dir, "rollcall-decide.mjs"), example("node-decide"));
  const { rollcallDecide } = await import(pathToFileURL(join(dir, "rollcall-decide.mjs")).href);
  const handler = rollcallDecide(SITE_SECRET, rules);
  site = createServer((req, res) => {
    questions.push(req.headers["rollcall-signature"]);
    handler(req, res);
  });
  await new Promise((resolve) => site.listen(0, "127.0.0.1", resolve));
  siteUrl = `http://127.0.0.1:${site.address().port}/rollcall/decide`;

  const config = join(dir, "relay.toml");
  writeFileSync(
    config,
    `[decisions]\nurl = "${siteUrl}"\nsecret = "${SITE_SECRET}"\n\n[[channel]]\npattern = "/topic/*"\nask_site = true\n`,
  );
  relay = spawn(RELAY, ["--config", config, "--listen", "127.0.0.1:0"], {
    env: { ...process.env, ROLLCALL_SECRET: SECRET, ROLLCALL_API_KEY: API_KEY },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise((_, reject) =>
    relay.once("exit", (code) => reject(new Error(`the relay exited (${code})`))),
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
  site?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function open(token, client) {
  const ws = new WebSocket(`${url.replace(/^http/, "ws")}/v1/ws`);
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
  await conn.next((m) => m.type === "welcome", "welcome");
  return conn;
}

test("the README's Node handler answers the relay: /topic/1 may be entered, /topic/2 not, /topic/3 does not exist", async (t) => {
  const rollcallToken = await readmeTokenModule(t, SECRET);
  const ann = await open(await rollcallToken({ id: 7, name: "ann", groups: [] }), "decide-ann");
  t.after(() => ann.close());

  ann.send({ type: "enter", ch: "/topic/1", ref: 1 });
  assert.equal((await ann.next((m) => m.ref === 1, "enter /topic/1")).type, "ok");

  ann.send({ type: "enter", ch: "/topic/2", ref: 2 });
  const refused = await ann.next((m) => m.ref === 2, "enter /topic/2");
  assert.equal(refused.code, "forbidden_enter", JSON.stringify(refused));

  ann.send({ type: "subscribe", ch: "/topic/3", ref: 3 });
  const missing = await ann.next((m) => m.ref === 3, "subscribe /topic/3");
  assert.equal(missing.code, "forbidden_view");
  assert.match(missing.message, /does not exist/);

  const staff = await open(await rollcallToken({ id: 8, name: "bob", groups: ["staff"] }), "decide-bob");
  t.after(() => staff.close());
  staff.send({ type: "subscribe", ch: "/topic/2", ref: 4 });
  assert.equal((await staff.next((m) => m.ref === 4, "staff watch /topic/2")).type, "ok");

  assert.equal(questions.length, 4, "one signed question per user and channel");
  assert.ok(questions.every((s) => /^t=\d+,v1=[0-9a-f]{64}$/.test(s)), JSON.stringify(questions));
});

test("the README's Node handler refuses a question that is not signed with the secret", async () => {
  const body = JSON.stringify({ type: "channel.decide", action: "enter", channel: "/topic/1", user: { id: "7", groups: [] } });
  const forged = await fetch(siteUrl, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Rollcall-Signature": `t=${Math.floor(Date.now() / 1000)},v1=${"0".repeat(64)}` },
    body,
  });
  assert.equal(forged.status, 401);
  const unsigned = await fetch(siteUrl, { method: "POST", body });
  assert.equal(unsigned.status, 401);
});
