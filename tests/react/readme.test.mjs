// The README's React example, exactly as written (only its relay URL swapped for the
// test relay's), bundled with esbuild and run by two users in Chromium: each sees the
// other's avatar, and one's typing shows on the other's page. The same for the example
// of the package's own README (sdk/react/README.md, its npm page).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { checkBuilt, startRelay, launchBrowser, TIMING, SLACK_MS } from "../browser/harness.mjs";
import { example, read } from "../readme/readme-lib.mjs";
import { bundle, scratch, serve } from "./site.mjs";

/** Load the page, the wasm, fetch a token, connect and get the first snapshot (~150 ms on loopback). */
const FIRST_STATE_MS = 10_000;
/** An update goes out at once; the relay flushes and delivers it within a tick. */
const DELIVERY_MS = 2_500;

const EXAMPLE_URL = "https://presence.example.com";

let relay;
let site;
let chrome;
let work;

/** The first jsx block of the package's own README (its npm page). */
function npmExample() {
  const block = read("sdk/react/README.md").match(/```jsx\n([\s\S]*?)\n```/);
  assert.ok(block, "sdk/react/README.md has no jsx block");
  return block[1];
}

/** Writes an example with the test relay's URL and a page that mounts its <Topic id="42">. */
function page(name, source) {
  assert.equal(source.split(EXAMPLE_URL).length, 2, `the ${name} example names ${EXAMPLE_URL} once`);
  writeFileSync(path.join(work.dir, `${name}-example.jsx`), source.replace(EXAMPLE_URL, relay.url));
  const main = path.join(work.dir, `${name}-main.jsx`);
  writeFileSync(
    main,
    `import { createRoot } from "react-dom/client";
import { Topic } from "./${name}-example.jsx";
createRoot(document.getElementById("root")).render(<Topic id="42" />);
`,
  );
  return main;
}

before(async () => {
  checkBuilt();
  relay = await startRelay();
  work = scratch();
  await bundle({ readme: page("readme", example("react")), npm: page("npm", npmExample()) }, work.dir);
  site = await serve(work.dir);
  chrome = await launchBrowser();
});

after(async () => {
  await chrome?.close();
  await site?.close();
  relay?.stop();
  work?.remove();
});

/** A signed-in user: the site's token endpoint knows them by a cookie. */
async function open(user, name = "readme") {
  const context = await chrome.browser.newContext();
  await context.addCookies([{ name: "user", value: user, url: site.url }]);
  const page = await context.newPage();
  const errors = [];
  /** What this browser told the relay. */
  const sent = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("websocket", (ws) => ws.on("framesent", ({ payload }) => sent.push(JSON.parse(String(payload)))));
  await page.goto(`${site.url}/${name}.html`);
  return { context, page, errors, sent };
}

test("the README's React example shows who is here and who is typing", async () => {
  const ann = await open("ann");
  const bob = await open("bob");
  for (const { page } of [ann, bob]) {
    await page.getByRole("heading", { name: "2 reading" }).waitFor({ timeout: FIRST_STATE_MS });
    assert.equal(await page.locator("aside").getAttribute("aria-busy"), "false");
    const avatars = await page.locator("ul.avatars li").evaluateAll((items) => items.map((li) => [li.title, li.textContent, li.className]));
    assert.deepEqual(avatars.sort(), [["user ann", "u", "active"], ["user bob", "u", "active"]]);
  }

  // Key by key, as a person types: one update when typing starts, one when it stops.
  await bob.page.locator("textarea").pressSequentially("I think");
  await ann.page.getByText("user bob typing…").waitFor({ timeout: DELIVERY_MS });
  await bob.page.locator("textarea").fill("");
  await ann.page.getByText("typing…").waitFor({ state: "detached", timeout: DELIVERY_MS });
  const updates = bob.sent.filter((m) => m.type === "update").map((m) => m.meta);
  assert.deepEqual(updates, [{ typing: true }, { typing: false }], "only the changes of typing went to the relay");

  // A closed page is gone for others after the relay's unload grace.
  await bob.context.close();
  await ann.page.getByRole("heading", { name: "1 reading" }).waitFor({ timeout: TIMING.unload_grace_ms + SLACK_MS });
  assert.deepEqual([...ann.errors, ...bob.errors], []);
  assert.equal(await ann.page.getByRole("alert").count(), 0);
  await ann.context.close();
});

test("the example of the package's own README shows who is here and who is typing", async () => {
  const ann = await open("ann", "npm");
  const bob = await open("bob", "npm");
  for (const { page } of [ann, bob]) {
    await page.getByText("2 reading: ").waitFor({ timeout: FIRST_STATE_MS });
  }
  await bob.page.locator("textarea").fill("I think");
  await ann.page.getByText("(someone is typing)").waitFor({ timeout: DELIVERY_MS });
  const text = await ann.page.locator("p").textContent();
  assert.match(text, /^2 reading: user (ann, user bob|bob, user ann) \(someone is typing\)$/);
  assert.deepEqual([...ann.errors, ...bob.errors], []);
  await ann.context.close();
  await bob.context.close();
});
