// The site the React tests load: the test app (app.jsx) and the README's React example,
// bundled at test time with esbuild from this directory's packages (react, react-dom,
// and @rollcall/react and rollcall linked from sdk/), served on their own origin with
// the SDK's wasm beside the bundles and a token endpoint as a site's backend has one.

import { createServer } from "node:http";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { ROOT, token } from "../browser/harness.mjs";

export const HERE = fileURLToPath(new URL(".", import.meta.url));
const MODULES = path.join(HERE, "node_modules");

/** A fresh directory under target/ for sources written by a test and for bundles. */
export function scratch() {
  mkdirSync(path.join(ROOT, "target"), { recursive: true });
  const dir = mkdtempSync(path.join(ROOT, "target", "react-test-"));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Bundles `entries` ({ name: source file }) into `dir` as a site's build would: ES
 * modules, React's development build (StrictMode's double mount happens only there), the
 * wasm copied beside the bundles where the SDK's glue looks for it. `react: 18` builds
 * with React 18 instead of 19.
 */
export async function bundle(entries, dir, { platform = "browser", react = 19 } = {}) {
  // React's CommonJS builds require node's modules; an ES module bundle needs a require.
  const banner = platform === "node" ? { js: 'import { createRequire } from "node:module"; const require = createRequire(import.meta.url);' } : {};
  if (!existsSync(MODULES)) throw new Error(`no ${MODULES}: run \`npm ci\` in tests/react (scripts/setup.sh does)`);
  await build({
    entryPoints: entries,
    outdir: dir,
    bundle: true,
    format: "esm",
    platform,
    jsx: "automatic",
    // Resolve the linked packages where they are installed, not in sdk/, so there is one
    // React; files written outside this directory (the README's example) find it too.
    preserveSymlinks: true,
    nodePaths: [MODULES],
    define: { "process.env.NODE_ENV": '"development"' },
    banner,
    // React 18 is installed under aliases; its subpaths (react-dom/client, ...) follow.
    alias: react === 18 ? { react: "react-18", "react-dom": "react-dom-18" } : {},
    logLevel: "error",
  });
  if (platform === "browser") copyFileSync(path.join(ROOT, "sdk/dist/rollcall_sdk_bg.wasm"), path.join(dir, "rollcall_sdk_bg.wasm"));
}

const TYPES = { ".js": "text/javascript", ".wasm": "application/wasm", ".html": "text/html" };

/**
 * Serves `dir`: `/NAME.html` is a page that runs the bundle NAME.js in #root, and
 * `/rollcall/token` signs a token for the user named by the `user` cookie.
 */
export async function serve(dir) {
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, "http://x");
    if (url.pathname === "/rollcall/token") {
      const user = /(?:^|;\s*)user=([\w-]+)/.exec(req.headers.cookie ?? "")?.[1];
      if (!user) return res.writeHead(401).end("no user cookie");
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify({ token: await token(user) }));
    }
    // The browser asks for one; a 404 would show as a console error.
    if (url.pathname === "/favicon.ico") return res.writeHead(204).end();
    const page = /^\/([\w-]+)\.html$/.exec(url.pathname);
    if (page && existsSync(path.join(dir, `${page[1]}.js`))) {
      res.writeHead(200, { "content-type": TYPES[".html"] });
      return res.end(`<!doctype html><meta charset="utf-8"><div id="root"></div><script type="module" src="/${page[1]}.js"></script>`);
    }
    const file = path.join(dir, path.basename(url.pathname));
    if (!existsSync(file)) return res.writeHead(404).end("not found");
    res.writeHead(200, { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream", "cache-control": "no-store" });
    res.end(readFileSync(file));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(r)) };
}
