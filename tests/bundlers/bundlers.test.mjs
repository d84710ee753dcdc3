// The npm packages as a new user meets them: `npm pack` of rollcall (sdk/) and
// @rollcall/react (sdk/react/). The tarballs are installed by file into fresh apps built
// for production with Vite (TypeScript, checked by tsc), webpack 5 and Next.js (App
// Router: the READMEs' Server Component that signs the token and renders
// PresenceProvider, built with Turbopack and with webpack), and unpacked under a page
// that uses the README's import map, with no bundler. Each runs in Chromium against a
// real relay: two users see each other.
//
// Bounded: the bundlers (pinned in apps/*/package-lock.json) are installed once under
// .cache/ (gitignored) and only again when a lockfile changes; a warm run takes about
// a minute and a half, most of it the two `next build`s.
//
// Needs `cargo build -p rollcall-relay` and `bash sdk/build.sh` first.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { createServer } from "node:http";
import net from "node:net";
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ROOT, SECRET, checkBuilt, launchBrowser, startRelay, token } from "../browser/harness.mjs";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const APPS = path.join(HERE, "apps");
const CACHE = path.join(HERE, ".cache");
const PACKS = path.join(CACHE, "packs");

let relay;
let chrome;
/** The packed tarballs: { rollcall, react }. */
let tarballs;

/** Runs a command; resolves with its stdout, rejects with all its output on failure. */
function run(command, args, { cwd, env, timeout = 300_000 } = {}) {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { cwd, env: { ...process.env, ...env }, timeout, maxBuffer: 32 << 20 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${command} ${args.join(" ")} in ${cwd} failed: ${error.message}\n${stdout}\n${stderr}`));
        else resolve(stdout);
      },
    );
  });
}

/** Runs `fn`, telling how long it took (a slow step shows in the suite's log). */
async function timed(t, what, fn) {
  const started = Date.now();
  const result = await fn();
  t.diagnostic(`${what}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return result;
}

/** `npm pack` of a package directory; returns the tarball's path. */
async function pack(dir) {
  const out = await run("npm", ["pack", "--json", "--pack-destination", PACKS], { cwd: dir });
  const [{ filename, files }] = JSON.parse(out.slice(out.indexOf("[")));
  return { file: path.join(PACKS, filename), files: files.map((f) => f.path) };
}

/**
 * A fresh copy of apps/<name> under .cache/<name>: its bundlers installed from its
 * lockfile (only when that changed), the tarballs installed by file, its sources copied
 * anew and every earlier build removed.
 */
async function prepare(t, name, packages) {
  const source = path.join(APPS, name);
  const dir = path.join(CACHE, name);
  mkdirSync(dir, { recursive: true });
  const lock = readFileSync(path.join(source, "package-lock.json"), "utf8");
  const installed = path.join(dir, "node_modules/.rollcall-lock.json");
  if (!existsSync(installed) || readFileSync(installed, "utf8") !== lock) {
    for (const file of readdirSync(dir)) rmSync(path.join(dir, file), { recursive: true, force: true });
    cpSync(path.join(source, "package.json"), path.join(dir, "package.json"));
    cpSync(path.join(source, "package-lock.json"), path.join(dir, "package-lock.json"));
    await timed(t, `npm ci of ${name}'s bundler (once)`, () =>
      run("npm", ["ci", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: dir, timeout: 600_000 }));
    writeFileSync(installed, lock);
  }
  // Everything but node_modules goes: the app is as its sources say, and nothing else.
  for (const file of readdirSync(dir)) {
    if (file !== "node_modules") rmSync(path.join(dir, file), { recursive: true, force: true });
  }
  cpSync(source, dir, { recursive: true });
  await timed(t, "npm install of the tarballs", () =>
    run("npm", ["install", "--no-save", "--no-audit", "--no-fund", "--loglevel=error", ...packages], { cwd: dir }));
  return dir;
}

/**
 * The Next.js example of a package README: `{ path: code }` from the fenced block after
 * each `<!-- next: PATH -->` marker.
 */
function nextExample(readme) {
  const text = readFileSync(path.join(ROOT, readme), "utf8");
  const files = {};
  for (const [, file, code] of text.matchAll(/<!-- next: (\S+) -->\s*```\w*\n([\s\S]*?)\n```/g)) files[file] = `${code}\n`;
  assert.ok(Object.keys(files).length > 0, `${readme} has no Next.js example`);
  return files;
}

/** A free port on loopback. */
function freePort() {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const TYPES = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".wasm": "application/wasm" };

/** A static server for a production build, as any host would serve it. */
async function serve(dir) {
  const server = createServer((req, res) => {
    const { pathname } = new URL(req.url, "http://x");
    if (pathname === "/favicon.ico") {
      res.writeHead(204).end();
      return;
    }
    const file = path.join(dir, pathname === "/" ? "index.html" : path.normalize(pathname));
    if (!file.startsWith(dir) || !existsSync(file)) {
      res.writeHead(404).end("not found");
      return;
    }
    res.writeHead(200, { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream" });
    res.end(readFileSync(file));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

/** In the page: the #who element's data once it lists ann and bob with `status`. */
function whoShowsBoth(status) {
  const who = document.querySelector("#who");
  return who?.dataset.ids === "ann,bob" && who.dataset.status === status ? { ...who.dataset, text: who.textContent } : null;
}

/**
 * Two users, each in their own browser profile, open the page `open(context, user)`
 * names; `shows` (run in the page with `arg`) must find both in each. Returns what the
 * first page showed.
 */
async function twoUsersSeeEachOther(open, shows, arg) {
  const errors = [];
  const contexts = [];
  try {
    const pages = [];
    for (const user of ["ann", "bob"]) {
      const context = await chrome.browser.newContext();
      contexts.push(context);
      const page = await context.newPage();
      page.on("pageerror", (e) => errors.push(`${user}: ${e}`));
      // A browser asks for /favicon.ico by itself; any other failed load is an error.
      page.on("response", (r) => {
        if (r.status() >= 400 && new URL(r.url()).pathname !== "/favicon.ico") errors.push(`${user}: ${r.status()} ${r.url()}`);
      });
      page.on("console", (m) => {
        if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) errors.push(`${user}: console: ${m.text()}`);
      });
      await page.goto(await open(context, user));
      pages.push(page);
    }
    let shown;
    for (const page of pages) {
      try {
        const handle = await page.waitForFunction(shows, arg, { timeout: 15_000, polling: 50 });
        shown ??= await handle.jsonValue();
      } catch (e) {
        const seen = await page.evaluate(() => document.body.innerHTML.slice(0, 1000));
        throw new Error(`the page never showed ann and bob: ${seen}\n${errors.join("\n")}\n${e.message}`);
      }
    }
    assert.deepEqual(errors, [], "no page error");
    return shown;
  } finally {
    for (const context of contexts) await context.close();
  }
}

before(async () => {
  checkBuilt();
  rmSync(PACKS, { recursive: true, force: true });
  mkdirSync(PACKS, { recursive: true });
  const rollcall = await pack(path.join(ROOT, "sdk"));
  const react = await pack(path.join(ROOT, "sdk/react"));
  tarballs = { rollcall, react };
  relay = await startRelay();
  chrome = await launchBrowser();
});

after(async () => {
  await chrome?.close();
  relay?.stop();
});

test("npm pack ships each package's npm README, both licenses, and @rollcall/react's \"use client\"", async () => {
  const { rollcall, react } = tarballs;
  for (const file of ["README.md", "LICENSE-MIT", "LICENSE-APACHE", "package.json", "dist/rollcall.js", "dist/rollcall.d.ts", "dist/rollcall_sdk_bg.wasm"]) {
    assert.ok(rollcall.files.includes(file), `rollcall's tarball has ${file}: ${rollcall.files}`);
  }
  for (const file of ["README.md", "LICENSE-MIT", "LICENSE-APACHE", "package.json", "index.js", "index.d.ts", "store.js"]) {
    assert.ok(react.files.includes(file), `@rollcall/react's tarball has ${file}: ${react.files}`);
  }
  const dir = path.join(PACKS, "unpacked");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  await run("tar", ["-xzf", react.file, "-C", dir]);
  assert.match(readFileSync(path.join(dir, "package/index.js"), "utf8"), /^"use client";\n/, "the directive is index.js's first line");
  await run("tar", ["-xzf", rollcall.file, "-C", dir]);
  const readme = readFileSync(path.join(dir, "package/README.md"), "utf8");
  assert.match(readme, /npm install rollcall/, "rollcall's README is the npm one");
  assert.doesNotMatch(readme, /DESIGN\.md|cargo |wasm-pack /, "no repository build steps in the npm README");
  for (const name of ["package.json"]) {
    const meta = JSON.parse(readFileSync(path.join(dir, "package", name), "utf8"));
    assert.ok(meta.repository && meta.homepage && meta.keywords?.length, "repository, homepage and keywords");
  }
});

test("no bundler: the npm README's import map loads the packed dist/ in a page that shows who is here", async (t) => {
  const readme = readFileSync(path.join(ROOT, "sdk/README.md"), "utf8");
  const block = /<!-- example: import-map -->\s*```html\n([\s\S]*?)\n```/.exec(readme);
  assert.ok(block, "sdk/README.md has the import-map example");
  // A site as the README describes it: the package's files under /node_modules/rollcall/,
  // and the page's own bits (its #online element, its getToken) around the example.
  const site = path.join(CACHE, "importmap");
  rmSync(site, { recursive: true, force: true });
  mkdirSync(path.join(site, "node_modules/rollcall"), { recursive: true });
  await run("tar", ["-xzf", tarballs.rollcall.file, "-C", path.join(site, "node_modules/rollcall"), "--strip-components=1"]);
  const page = (user) => `<!doctype html><meta charset="utf-8"><p id="online"></p>
<script>window.getToken = async () => (await fetch("/token?user=${user}")).text();</script>
${block[1].replace("https://presence.example.com", relay.url)}\n`;
  writeFileSync(path.join(site, "ann.html"), page("ann"));
  writeFileSync(path.join(site, "bob.html"), page("bob"));
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, "http://x");
    if (url.pathname === "/token") return res.end(await token(url.searchParams.get("user")));
    if (url.pathname === "/favicon.ico") return res.writeHead(204).end();
    const file = path.join(site, path.normalize(url.pathname));
    if (!file.startsWith(site) || !existsSync(file)) return res.writeHead(404).end("not found");
    res.writeHead(200, { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream" });
    res.end(readFileSync(file));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  try {
    const shown = await timed(t, "two users in Chromium", () =>
      twoUsersSeeEachOther(
        async (_, user) => `${base}/${user}.html`,
        () => (document.querySelector("#online")?.textContent === "2 online" ? "2 online" : null),
      ));
    assert.equal(shown, "2 online");
  } finally {
    await new Promise((r) => server.close(r));
  }
});

test("Vite: tsc --noEmit is clean, and the production build shows who is here", async (t) => {
  const dir = await prepare(t, "vite", [tarballs.rollcall.file]);
  await timed(t, "tsc --noEmit", () => run(path.join(dir, "node_modules/.bin/tsc"), ["--noEmit", "-p", "."], { cwd: dir }));
  await timed(t, "vite build", () => run(path.join(dir, "node_modules/.bin/vite"), ["build"], { cwd: dir }));
  const assets = readdirSync(path.join(dir, "dist/assets"));
  assert.ok(assets.some((f) => f.endsWith(".wasm")), `the wasm is emitted as an asset: ${assets}`);
  const site = await serve(path.join(dir, "dist"));
  try {
    const shown = await timed(t, "two users in Chromium", () => twoUsersSeeEachOther(
      async (_, user) => `${site.url}/?relay=${encodeURIComponent(relay.url)}&token=${await token(user)}`,
      whoShowsBoth,
      "connected",
    ));
    assert.equal(shown.count, "2");
  } finally {
    await site.close();
  }
});

test("webpack 5: the production build of a React app with @rollcall/react shows who is here", async (t) => {
  const dir = await prepare(t, "webpack", [tarballs.rollcall.file, tarballs.react.file]);
  await timed(t, "webpack (production)", () => run(process.execPath, ["build.mjs"], { cwd: dir }));
  assert.ok(readdirSync(path.join(dir, "dist")).some((f) => f.endsWith(".wasm")), "the wasm is emitted as an asset");
  const site = await serve(path.join(dir, "dist"));
  try {
    const shown = await timed(t, "two users in Chromium", () => twoUsersSeeEachOther(
      async (_, user) => `${site.url}/?relay=${encodeURIComponent(relay.url)}&token=${await token(user)}`,
      whoShowsBoth,
      "connected",
    ));
    assert.equal(shown.connection, "connected");
  } finally {
    await site.close();
  }
});

/**
 * The READMEs' Next.js example in a fresh App Router app, built by `next build` with
 * `args` (Turbopack by default, `--webpack` for webpack) and served by `next start`.
 */
async function nextApp(t, args) {
  const example = nextExample("sdk/react/README.md");
  assert.deepEqual(nextExample("sdk/README.md"), example, "both READMEs show the same Next.js example");
  const dir = await prepare(t, "next", [tarballs.rollcall.file, tarballs.react.file]);
  for (const [file, code] of Object.entries(example)) {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    writeFileSync(path.join(dir, file), code);
  }
  const env = { NEXT_TELEMETRY_DISABLED: "1" };
  await timed(t, ["next build", ...args].join(" "), () => run(path.join(dir, "node_modules/.bin/next"), ["build", ...args], { cwd: dir, env }));
  const port = await freePort();
  const server = spawn(path.join(dir, "node_modules/.bin/next"), ["start", "-H", "127.0.0.1", "-p", String(port)], {
    cwd: dir,
    env: { ...process.env, ...env, ROLLCALL_URL: relay.url, ROLLCALL_SECRET: SECRET },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const log = [];
  server.stdout.on("data", (d) => log.push(String(d)));
  server.stderr.on("data", (d) => log.push(String(d)));
  try {
    const base = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 30_000;
    let html = null;
    const started = Date.now();
    while (html === null) {
      try {
        const res = await fetch(base, { headers: { cookie: "user=ann" } });
        html = await res.text();
        assert.equal(res.status, 200, html.slice(0, 2000));
      } catch (e) {
        if (e instanceof assert.AssertionError || Date.now() > deadline) throw new Error(`${e.message}\n${log.join("")}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    t.diagnostic(`next start, first page: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    // Rendered on the server: the provider's children, connecting, and no secret.
    assert.match(html, /<p aria-busy="true">0<!-- --> online: <\/p>/, "the server rendered the client component, connecting");
    assert.ok(!html.includes(SECRET), "the secret stays on the server");
    const shown = await timed(t, "two users in Chromium", () =>
      twoUsersSeeEachOther(
        async (context, user) => {
          await context.addCookies([{ name: "user", value: user, url: base }]);
          return base;
        },
        () => {
          const p = document.querySelector("main p, body p");
          const text = p?.textContent ?? "";
          return p?.getAttribute("aria-busy") === "false" && text.startsWith("2 online: ") && text.includes("user ann") && text.includes("user bob") ? text : null;
        },
      ));
    assert.match(shown, /^2 online: user (ann|bob), user (ann|bob)$/);
  } finally {
    server.kill("SIGTERM");
  }
}

test("Next.js App Router with Turbopack: the READMEs' Server Component signs the token and renders PresenceProvider; next build, next start", (t) =>
  nextApp(t, []));

test("Next.js App Router with webpack: the same app, next build --webpack, next start", (t) => nextApp(t, ["--webpack"]));
