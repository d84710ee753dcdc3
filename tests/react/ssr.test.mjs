// Server rendering: the hooks render on the server without a browser and without
// connecting, showing the provider's `initial` state (or an empty one) as "connecting";
// the browser hydrates that HTML without a mismatch, then shows the relay's state.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { checkBuilt, startRelay, launchBrowser, token } from "../browser/harness.mjs";
import { HERE, bundle, scratch, serve } from "./site.mjs";

/** Load the page, the wasm, connect and get the first snapshot (~150 ms on loopback). */
const FIRST_STATE_MS = 10_000;

const user = (id, name) => ({ id, name, avatar: null, status: "active", meta: {} });
const INITIAL = { "/topic/ssr": { count: 2, users: [user("7", "ann"), user("8", "bob")] } };

let render;
let work;

before(async () => {
  work = scratch();
  await bundle({ server: path.join(HERE, "ssr-server.jsx") }, path.join(work.dir, "node"), { platform: "node" });
  await bundle({ ssr: path.join(HERE, "ssr-client.jsx") }, work.dir);
  ({ render } = await import(pathToFileURL(path.join(work.dir, "node", "server.js")).href));
});

after(() => work?.remove());

test("server rendering shows the initial state, or an empty one, as connecting and opens nothing", (t) => {
  // Anything that tried to connect would need one of these; on the server nothing may.
  for (const name of ["WebSocket", "BroadcastChannel"]) {
    const real = globalThis[name];
    globalThis[name] = class {
      constructor() {
        throw new Error(`server rendering opened a ${name}`);
      }
    };
    t.after(() => {
      globalThis[name] = real;
    });
  }
  const props = { url: "http://127.0.0.1:9", token: "not-used-on-the-server" };

  const html = render({ ...props, initial: INITIAL });
  assert.match(html, /<p id="readers" data-status="connecting">2<!-- --> reading: <!-- -->ann, bob<\/p>/);
  assert.match(html, /<span id="count">0<\/span>/, "a channel without an initial state counts 0");

  const empty = render(props);
  assert.match(empty, /<p id="readers" data-status="connecting">0<!-- --> reading: <\/p>/);
});

test("the browser hydrates the server's HTML without a mismatch, then shows the relay's state", async () => {
  checkBuilt();
  const relay = await startRelay();
  const site = await serve(work.dir);
  const chrome = await launchBrowser();
  try {
    const page = await chrome.browser.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
    await page.goto(`${site.url}/ssr.html`);
    await page.waitForFunction(() => window.hydrate !== undefined, null, { timeout: 10_000 });

    const props = { url: relay.url, token: await token("ann"), initial: INITIAL };
    const html = render(props);
    await page.evaluate(([h, p]) => {
      document.getElementById("root").innerHTML = h;
      window.hydrate(p);
    }, [html, props]);

    const readers = page.locator('#readers[data-status="connected"]');
    await readers.waitFor({ timeout: FIRST_STATE_MS });
    assert.equal(await readers.textContent(), "1 reading: user ann", "the relay's state replaced the initial one");
    assert.deepEqual(await page.evaluate(() => window.hydrationErrors), []);
    assert.deepEqual(errors, []);
  } finally {
    await chrome.close();
    await site.close();
    relay.stop();
  }
});
