// Cold pages in headless Chromium against a relay in demo mode on 127.0.0.1 (it serves
// sdk/dist at /sdk/ and signs demo tokens), for the SDK's timings (first-state.mjs,
// load.mjs): each run gets a fresh browser context and a page on the relay's origin,
// and hands that page to the caller's `sample`. Bounded: 60 s in all; any failure is
// printed as one JSON line, `{"error": ...}`, as the bench suite reads it.

import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

const fail = (why) => { console.log(JSON.stringify({ error: why })); process.exit(0); };

/**
 * `runs` samples, `await sample(page, i)` each, from `[relay binary] [runs]` on the
 * command line (the release relay and `defaultRuns` when not given).
 */
export async function samplePages(sample, defaultRuns = 5) {
  const relayBin = process.argv[2] ?? path.join(ROOT, "target/release/rollcall-relay");
  const runs = Number(process.argv[3] ?? defaultRuns);
  if (!existsSync(path.join(ROOT, "sdk/dist/rollcall.js"))) fail("sdk/dist is not built (bash sdk/build.sh)");
  if (!existsSync(CHROMIUM)) fail(`no Chromium at ${CHROMIUM}`);
  let chromium;
  try {
    ({ chromium } = createRequire(path.join(ROOT, "package.json"))("playwright-core"));
  } catch {
    fail("playwright-core is not installed at the repository root (npm ci)");
  }

  const guard = setTimeout(() => fail("timed out after 60 s"), 60_000);
  const relay = spawn(relayBin, ["--demo", "--listen", "127.0.0.1:0"], {
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
    for (let i = 0; i < runs; i++) {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(`${url}/healthz`);
      samples.push(await sample(page, i));
      await context.close();
    }
  } finally {
    await browser.close();
    relay.kill();
    clearTimeout(guard);
  }
  return samples;
}

/** The median of `key` over `samples`. */
export const median = (samples, key) => samples.map((s) => s[key]).sort((a, b) => a - b)[Math.floor(samples.length / 2)];
