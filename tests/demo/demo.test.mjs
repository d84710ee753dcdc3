// The demo site (www/) as two people see it: two browser contexts are two browser
// profiles, each with its own identity, against a real relay in demo mode.
//
// Needs `cargo build -p rollcall-relay` and `bash sdk/build.sh` first, then
// `node --test tests/demo/`. Screenshots of both people land in
// tests/artifacts/demo-<user>.png. ROLLCALL_RELAY_BIN and CHROMIUM_PATH override where
// the relay binary and Chromium are.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const RELAY = process.env.ROLLCALL_RELAY_BIN ?? path.join(ROOT, "target/debug/rollcall-relay");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ARTIFACTS = path.join(ROOT, "tests/artifacts");
const IDENTITY_KEY = "rollcall-demo/identity";

// Every wait is bounded. A leave after a page closes takes the relay's unload grace
// (3 s by default); the rest should take well under a second.
const WAIT_MS = 15_000;
const START_MS = 20_000;

const CHROMIUM_FLAGS = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

const PEOPLE = {
  ada: { id: "u-ada", name: "Ada Lovelace" },
  grace: { id: "u-grace", name: "Grace Hopper" },
};

/** More people, for the capped "who is online" (scripts/demo.toml caps it at 3). */
const CROWD = {
  alan: { id: "u-alan", name: "Alan Turing" },
  edsger: { id: "u-edsger", name: "Edsger Dijkstra" },
};

let relay;
let browser;
const people = {}; // key -> { context, page, errors }

before(async () => {
  assert.ok(existsSync(RELAY), `no relay at ${RELAY}: run \`cargo build -p rollcall-relay\` first`);
  assert.ok(existsSync(path.join(ROOT, "sdk/dist/rollcall.js")), "no sdk/dist/rollcall.js: run `bash sdk/build.sh` first");
  relay = await startRelay();
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
  // One after the other, so that Ada's page sees Grace arrive.
  for (const key of Object.keys(PEOPLE)) {
    people[key] = await openPerson(key, "/");
    await eventually(`${key}'s page is live`, async () => {
      assert.equal(await people[key].page.locator("#conn").getAttribute("data-state"), "live");
    });
  }
});

after(async () => {
  await browser?.close().catch(() => {});
  await relay?.stop();
});

test("two browser profiles are two people: each sees both names and '2 online'", async () => {
  for (const key of Object.keys(people)) {
    const { page } = people[key];
    await eventually(`${key} sees both people in the online bar`, async () => {
      assert.deepEqual((await present(page, "#online-stack")).sort(), ["Ada Lovelace", "Grace Hopper"]);
      assert.equal(await text(page, "#online-count-text"), "2 online");
    });
    await eventually(`${key} sees both people in the home page's list`, async () => {
      assert.deepEqual((await present(page, "#people")).sort(), ["Ada Lovelace", "Grace Hopper"]);
    });
    assert.equal(await text(page, "#me-name"), PEOPLE[key].name);
    assert.deepEqual(
      await page.$$eval("#online-stack > [data-user] .avatar", (avatars) => avatars.map((a) => a.dataset.status)),
      ["active", "active"],
      "both status dots say active",
    );
  }
});

test("the home page logs who came after it opened, not who was already there", async () => {
  await eventually("ada saw grace arrive", async () => {
    assert.match(await text(people.ada.page, "#activity"), /Grace Hopper came online/);
  });
  assert.equal(await text(people.grace.page, "#activity"), "", "grace found ada already there");
});

test("the server API panel shows what the relay says about /site/online", async () => {
  const { page } = people.grace;
  await eventually("grace's panel counts 2 on /site/online", async () => {
    const row = page.locator('#server-rows tr[data-channel="/site/online"]');
    assert.equal(await row.locator(".server-count").textContent(), "2");
    assert.deepEqual(
      (await present(page, '#server-rows tr[data-channel="/site/online"] .avatar-stack')).sort(),
      ["Ada Lovelace", "Grace Hopper"],
    );
  });
});

test("a topic page counts its readers: 'N reading'", async () => {
  const { page: ada } = people.ada;
  await ada.goto(`${relay.url}/topic.html?id=welcome`);
  await eventually("ada reads the topic alone", async () => {
    assert.equal(await text(ada, "#reading-count"), "1 reading");
  });
  const { page: grace } = people.grace;
  await grace.goto(`${relay.url}/topic.html?id=welcome`);
  for (const page of [ada, grace]) {
    await eventually("both read the topic", async () => {
      assert.equal(await text(page, "#reading-count"), "2 reading");
      assert.deepEqual((await present(page, "#readers")).sort(), ["Ada Lovelace", "Grace Hopper"]);
    });
  }
});

test("a page in the background shows as hidden to the other person, then active again", async () => {
  const { page: ada } = people.ada;
  const { page: grace } = people.grace;
  const graceOnAda = '#readers > [data-user="u-grace"] .avatar';
  assert.equal(await ada.locator(graceOnAda).getAttribute("data-status"), "active");
  await setVisibility(grace, "hidden");
  await eventually("ada sees grace hidden", async () => {
    assert.equal(await ada.locator(graceOnAda).getAttribute("data-status"), "hidden");
    assert.match(await ada.locator(graceOnAda).getAttribute("aria-label"), /Grace Hopper, in the background/);
  });
  await setVisibility(grace, "visible");
  await eventually("ada sees grace active again", async () => {
    assert.equal(await ada.locator(graceOnAda).getAttribute("data-status"), "active");
  });
});

test("typing in a document shows 'typing…' to the other person, gone after a pause", async () => {
  const { page: ada } = people.ada;
  const { page: grace } = people.grace;
  await ada.goto(`${relay.url}/doc.html?id=roadmap`);
  await grace.goto(`${relay.url}/doc.html?id=roadmap`);
  for (const page of [ada, grace]) {
    await eventually("both are editing", async () => {
      assert.deepEqual((await present(page, "#editors")).sort(), ["Ada Lovelace", "Grace Hopper"]);
      assert.equal(await text(page, "#editing-count"), "2 editing");
    });
  }
  for (const page of [ada, grace]) {
    await eventually("the server API agrees: 2 on /doc/roadmap", async () => {
      assert.equal(await text(page, '#server-rows tr[data-channel="/doc/roadmap"] .server-count'), "2");
    });
  }
  assert.equal(await text(grace, "#typing"), "", "nobody types yet");

  await ada.locator("#doc-text").click();
  await ada.keyboard.press("End");
  const typing = ada.keyboard.type("\nQ3: presence for the mobile app", { delay: 110 });
  try {
    await eventually("grace sees ada typing", async () => {
      assert.equal(await text(grace, "#typing"), "Ada Lovelace is typing\u2026");
    });
    assert.equal(await text(ada, "#typing"), "", "ada is not told that she is typing");
    await eventually("ada's own row says typing", async () => {
      assert.equal(await text(ada, '#editors [data-user="u-ada"] .person-detail'), "typing…");
    });
    await sleep(600); // a few more letters in the picture
  } finally {
    await screenshots();
  }
  await typing;
  await eventually("the indicator goes after ada pauses", async () => {
    assert.equal(await text(grace, "#typing"), "");
  });
});

test("a second tab is the same person over one connection, which passes on when its tab closes", async () => {
  const { page: ada } = people.ada;
  await eventually("one tab, one connection", async () => {
    assert.equal(await text(ada, "#tabs-line"), "this browser: 1 tab, 1 connection");
  });
  const second = await people.ada.context.newPage();
  watchErrors(second, people.ada.errors);
  await second.goto(`${relay.url}/`);
  await eventually("the second tab is live", async () => {
    assert.equal(await second.locator("#conn").getAttribute("data-state"), "live");
    assert.ok((await present(second, "#online-stack")).includes("Ada Lovelace"));
  });
  for (const page of [ada, second]) {
    await eventually("two tabs, still one connection", async () => {
      assert.equal(await text(page, "#tabs-line"), "this browser: 2 tabs, 1 connection");
    });
  }
  // Not just in passing: a second connection would show up within a leader poll.
  await sleep(1_000);
  for (const page of [ada, second]) {
    assert.equal(await text(page, "#tabs-line"), "this browser: 2 tabs, 1 connection");
  }
  await eventually("grace still counts two people", async () => {
    assert.equal(await text(people.grace.page, "#online-count-text"), "2 online");
    assert.deepEqual((await present(people.grace.page, "#online-stack")).sort(), ["Ada Lovelace", "Grace Hopper"]);
  });
  assert.match(await text(ada, "#leader-line"), /^This tab holds the connection/);
  assert.match(await text(second, "#leader-line"), /^Another tab holds the connection/);

  // Closing the tab that holds the connection hands it to the other one; Grace's site
  // bar sees no leave and no join.
  await recordAnnouncements(people.grace.page);
  await ada.close();
  people.ada.page = second;
  await eventually("the second tab takes the connection over", async () => {
    assert.equal(await text(second, "#tabs-line"), "this browser: 1 tab, 1 connection");
    assert.match(await text(second, "#leader-line"), /^This tab holds the connection/);
    assert.equal(await second.locator("#conn").getAttribute("data-state"), "live");
  });
  // Past the unload grace (3 s): a lost presence would have been dropped by now.
  await sleep(4_000);
  assert.equal(await text(people.grace.page, "#online-count-text"), "2 online");
  assert.deepEqual(await announcements(people.grace.page), [], "grace saw no leave or join");
});

test("a rename reaches the other person without a leave and a join", async () => {
  const { page: ada } = people.ada;
  const { page: grace } = people.grace;
  await recordAnnouncements(grace);
  await ada.locator("#rename-open").click();
  await ada.locator("#rename-input").fill("Ada King");
  await ada.locator('#rename-form button[value="save"]').click();
  await eventually("ada's page shows her new name", async () => {
    assert.equal(await text(ada, "#me-name"), "Ada King");
  });
  await eventually("grace sees the new name", async () => {
    assert.deepEqual((await present(grace, "#online-stack")).sort(), ["Ada King", "Grace Hopper"]);
  });
  assert.deepEqual(await announcements(grace), [], "no leave or join was announced");
});

test("the site's 'who is online' is capped: some names, 'and N others', everyone on request", async () => {
  const { page } = people.ada;
  const crowd = [];
  try {
    for (const key of Object.keys(CROWD)) {
      const person = await openPerson(key, "/");
      crowd.push(person);
      await eventually(`${key}'s page is live`, async () => {
        assert.equal(await person.page.locator("#conn").getAttribute("data-state"), "live");
      });
    }
    await eventually("ada sees the first three and one other", async () => {
      assert.equal(await text(page, "#online-count-text"), "4 online");
      assert.equal(await text(page, "#people-summary"), "You, Alan Turing, Grace Hopper and 1 other.");
    });
    // Edsger came fourth: he sees the first three and himself. (Ada may have renamed
    // herself in an earlier test.)
    await eventually("edsger sees everyone by name", async () => {
      assert.match(await text(crowd[1].page, "#people-summary"), /^You, Ada [A-Za-z]+, Alan Turing, Grace Hopper\.$/);
    });
    await page.click("#people-more");
    await eventually("everyone is listed on request", async () => {
      const listed = await page.$$eval("#everyone-list li", (items) => items.map((item) => item.dataset.user));
      assert.deepEqual(listed, ["u-ada", "u-alan", "u-edsger", "u-grace"]);
      assert.equal(await text(page, "#people-more"), "That is everyone");
    });
    for (const person of crowd) assert.deepEqual(person.errors, []);
  } finally {
    for (const person of crowd) await person.context.close();
  }
  await eventually("the crowd left", async () => {
    assert.equal(await text(page, "#online-count-text"), "2 online");
  });
});

test("pages raise no uncaught errors", () => {
  for (const [key, { errors }] of Object.entries(people)) {
    assert.deepEqual(errors, [], `${key}'s pages threw`);
  }
});

test("when one browser closes, the other sees the leave", async () => {
  await people.ada.context.close();
  const { page: grace } = people.grace;
  await eventually("ada leaves grace's online bar and editor list", async () => {
    assert.deepEqual(await present(grace, "#online-stack"), ["Grace Hopper"]);
    assert.equal(await text(grace, "#online-count-text"), "1 online");
    assert.deepEqual(await present(grace, "#editors"), ["Grace Hopper"]);
    assert.equal(await text(grace, "#editing-count"), "1 editing");
  });
});

test("an offline browser says offline in the header, and is live again once back", async () => {
  const { context, page: grace } = people.grace;
  await context.setOffline(true);
  await eventually("grace's page shows offline", async () => {
    assert.equal(await grace.locator("#conn").getAttribute("data-state"), "offline");
    assert.equal(await text(grace, "#conn-text"), "offline");
  });
  await context.setOffline(false);
  await eventually("grace's page is live again", async () => {
    assert.equal(await grace.locator("#conn").getAttribute("data-state"), "live");
  });
});

test("when the relay goes away, the page says it is reconnecting", async () => {
  await relay.stop();
  const { page: grace } = people.grace;
  await eventually("grace's page shows reconnecting", async () => {
    assert.equal(await grace.locator("#conn").getAttribute("data-state"), "reconnecting");
    assert.equal(await text(grace, "#conn-text"), "reconnecting…");
    assert.equal(await grace.locator("#notice").isVisible(), true);
  });
});

test("when the relay comes back, the page is live again", async () => {
  // A restarted demo relay signs with a new secret: the page must get a new token.
  relay = await startRelay(new URL(relay.url).host);
  const { page: grace } = people.grace;
  await eventually("grace's page is live again and alone", async () => {
    assert.equal(await grace.locator("#conn").getAttribute("data-state"), "live");
    assert.equal(await text(grace, "#online-count-text"), "1 online");
    assert.equal(await grace.locator("#notice").isVisible(), false);
  }, 30_000);
});

// ---- helpers ------------------------------------------------------------------------

async function startRelay(listen = "127.0.0.1:0") {
  const child = spawn(RELAY, ["--demo", "--config", path.join(ROOT, "scripts/demo.toml"), "--listen", listen], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "warn" },
  });
  const log = [];
  child.stderr.on("data", (chunk) => log.push(String(chunk)));
  const lines = createInterface({ input: child.stdout });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`relay printed no address in ${START_MS} ms\n${log.join("")}`)), START_MS);
    child.once("exit", (code) => reject(new Error(`relay exited (${code}) before listening\n${log.join("")}`)));
    lines.once("line", (line) => {
      clearTimeout(timer);
      const match = /listening on (http:\/\/\S+)/.exec(line);
      if (match) resolve(match[1]);
      else reject(new Error(`unexpected first line from the relay: ${line}`));
    });
  });
  lines.on("line", () => {}); // keep draining stdout
  const exited = new Promise((resolve) => child.once("exit", resolve));
  return {
    url,
    log,
    stop() {
      if (child.exitCode === null && !child.killed) child.kill("SIGTERM");
      return exited;
    },
  };
}

async function openPerson(key, where) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  // Headless pages are always visible; this lets a test put one in the background.
  await context.addInitScript(() => {
    const state = () => window.__visibility ?? "visible";
    Object.defineProperty(Document.prototype, "visibilityState", { get: state, configurable: true });
    Object.defineProperty(Document.prototype, "hidden", { get: () => state() === "hidden", configurable: true });
  });
  await context.addInitScript(([storageKey, value]) => {
    try {
      if (!localStorage.getItem(storageKey)) localStorage.setItem(storageKey, value);
    } catch {
      // about:blank has no localStorage.
    }
  }, [IDENTITY_KEY, JSON.stringify(PEOPLE[key] ?? CROWD[key])]);
  const page = await context.newPage();
  const errors = [];
  watchErrors(page, errors);
  await page.goto(`${relay.url}${where}`);
  return { context, page, errors };
}

/** Every join and leave is announced to screen readers in #announcer: record them. */
async function recordAnnouncements(page) {
  await page.evaluate(() => {
    const announcer = document.getElementById("announcer");
    window.announced = [];
    window.announcerObserver?.disconnect();
    window.announcerObserver = new MutationObserver(() => window.announced.push(announcer.textContent));
    window.announcerObserver.observe(announcer, { childList: true, characterData: true, subtree: true });
  });
}

function announcements(page) {
  return page.evaluate(() => window.announced);
}

async function setVisibility(page, state) {
  await page.evaluate((value) => {
    window.__visibility = value;
    document.dispatchEvent(new Event("visibilitychange"));
  }, state);
}

function watchErrors(page, errors) {
  page.on("pageerror", (error) => errors.push(`${page.url()}: ${error.message}`));
}

/** Names of the people shown (not leaving) in a roster list. */
function present(page, listSelector) {
  return page.$$eval(`${listSelector} > [data-user]:not([data-leaving])`, (items) =>
    items.map((item) => item.dataset.name));
}

async function text(page, selector) {
  return ((await page.locator(selector).first().textContent()) ?? "").trim();
}

/** Retries `check` until it passes or WAIT_MS runs out, then fails with its last error. */
async function eventually(what, check, timeoutMs = WAIT_MS) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) {
        error.message = `${what} (within ${timeoutMs} ms): ${error.message}\nrelay stderr:\n${relay?.log.join("").slice(-2000) ?? ""}`;
        throw error;
      }
      await sleep(100);
    }
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function screenshots() {
  mkdirSync(ARTIFACTS, { recursive: true });
  for (const [key, { page }] of Object.entries(people)) {
    if (!page.isClosed()) await page.screenshot({ path: path.join(ARTIFACTS, `demo-${key}.png`), fullPage: true });
  }
}
