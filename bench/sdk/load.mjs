// Time to load the SDK in headless Chromium: a fresh page imports the package's entry
// and awaits `preload()` (the wasm fetched, compiled and instantiated), served by the
// relay in demo mode on 127.0.0.1 from sdk/dist. No socket is opened: this is the part
// of `connect()` that the package's bytes and its glue decide (bench/sdk/first-state.mjs
// times the whole of it). Prints one JSON line: the median `load_ms` and every sample.
// Bounded: 60 s in all.
//
//   node bench/sdk/load.mjs [relay binary] [runs]

import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const RELAY = process.argv[2] ?? path.join(ROOT, "target/release/rollcall-relay");
const RUNS = Number(process.argv[3] ?? 5);
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

const fail = (why) => { console.log(JSON.stringify({ error: why })); process.exit(0); };
if (!existsSync(path.join(ROOT, "sdk/dist/rollcall.js"))) fail("sdk/dist is not built (bash sdk/build.sh)");
if (!existsSync(CHROMIUM)) fail(`no Chromium at ${CHROMIUM}`);
let chromium;
try {
  ({ chromium } = createRequire(path.join(ROOT, "package.json"))("playwright-core"));
} catch {
  fail("playwright-core is not installed at the repository root (npm ci)");
}

const guard = setTimeout(() => fail("timed out after 60 s"), 60_000);
const relay = spawn(RELAY, ["--demo", "--listen", "127.0.0.1:0"], {
  cwd: ROOT,
  stdio: ["ignore", "pipe", "ignore"],
  env: { ...process.env, RUST_LOG: "error" },
});
const url = await new Promise((resolve) => {
  createInterface({ input: relay.stdout }).on("line", (line) => {
    const m = line.match(/listening on (http:\/\/\S+)/);
    if (m) resolve(m[1]);
  });
});

const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
const samples = [];
try {
  for (let i = 0; i < RUNS; i++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${url}/healthz`);
    const sample = await page.evaluate(async () => {
      const t0 = performance.now();
      const m = await import("/sdk/rollcall.js");
      await m.preload();
      return { load_ms: performance.now() - t0 };
    });
    samples.push(sample);
    await context.close();
  }
} finally {
  await browser.close();
  relay.kill();
  clearTimeout(guard);
}
const median = samples.map((s) => s.load_ms).sort((a, b) => a - b)[Math.floor(samples.length / 2)];
console.log(JSON.stringify({ runs: samples.length, load_ms: median, samples }));
