// Builds the test app (tests/ember/app/) with Vite and serves it.
//
// No ember-cli: a small Vite plugin does what the Embroider/Vite pipeline does for an
// app like this one. `.gjs` goes through content-tag, templates are precompiled by
// babel-plugin-ember-template-compilation with ember-source's own compiler, decorators
// by decorator-transforms; `@ember/*` and `@glimmer/*` come from ember-source's ES
// modules; the addon's `app-js` files are merged under the app's module paths, read
// from its package.json as ember-cli and Embroider read them. The README's examples
// are modules too (`readme:NAME.EXT`), taken from README.md as written, and so are the
// addon's own README's (`addon-readme:NAME.EXT`).

import { createServer } from "node:http";
import { existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { transformAsync } from "@babel/core";
import { Preprocessor } from "content-tag";
import templateCompilation from "babel-plugin-ember-template-compilation";
import decoratorTransforms from "decorator-transforms";
import * as templateCompiler from "ember-source/ember-template-compiler/index.js";
import { build } from "vite";
import { token } from "../browser/harness.mjs";
import { example } from "../readme/readme-lib.mjs";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const APP = path.join(HERE, "app");
export const DIST = path.join(HERE, "dist");
const MODULES = path.join(HERE, "node_modules");
// The development build: its assertions catch misuse of tracking (e.g. a tracked
// write during render) that the production build would let pass.
const EMBER = path.join(MODULES, "ember-source/dist/dev/packages");
const ADDON = path.join(MODULES, "@rollcall/ember");

/** The block after `<!-- example: NAME -->` in the addon's README, as readme-lib finds them in README.md. */
function addonExample(name) {
  const text = readFileSync(path.join(ADDON, "README.md"), "utf8");
  const marker = `<!-- example: ${name} -->`;
  const block = text.slice(text.indexOf(marker) + marker.length).match(/^\s*```\w*\n([\s\S]*?)\n```/);
  if (!text.includes(marker) || !block) throw new Error(`sdk/ember/README.md has no example ${name}`);
  return block[1];
}

/** `@ember/service` -> ember-source's ES module for it, if ember-source has one. */
function emberModule(id) {
  for (const file of [`${id}.js`, `${id}/index.js`]) {
    const full = path.join(EMBER, file);
    if (existsSync(full) && statSync(full).isFile()) return full;
  }
  return null;
}

const preprocessor = new Preprocessor();

async function babel(code, filename) {
  const result = await transformAsync(code, {
    filename,
    babelrc: false,
    configFile: false,
    sourceMaps: false,
    plugins: [
      [templateCompilation, { compiler: templateCompiler, targetFormat: "wire" }],
      [decoratorTransforms, { runtime: { import: "decorator-transforms/runtime" } }],
    ],
  });
  return result.code;
}

/** An `.hbs` block as a template-only component, its names resolved by the owner (loose mode). */
function hbsModule(hbs) {
  return [
    `import { precompileTemplate } from "@ember/template-compilation";`,
    `import templateOnly from "@ember/component/template-only";`,
    `import { setComponentTemplate } from "@ember/component";`,
    `export default setComponentTemplate(precompileTemplate(${JSON.stringify(hbs)}, { strictMode: false }), templateOnly());`,
  ].join("\n");
}

/** `export default (prefix) => ({ "<prefix>/services/presence": module, ... })` from the addon's app-js. */
function appJsModule() {
  const pkg = JSON.parse(readFileSync(path.join(ADDON, "package.json"), "utf8"));
  if (pkg["ember-addon"]?.version !== 2) throw new Error("@rollcall/ember is not a v2 addon");
  const entries = Object.entries(pkg["ember-addon"]["app-js"] ?? {});
  const imports = entries.map(([, file], i) => `import * as m${i} from ${JSON.stringify(path.join(ADDON, file))};`);
  const names = entries.map(([appPath], i) => `[prefix + ${JSON.stringify(`/${appPath.replace(/^\.\//, "").replace(/\.js$/, "")}`)}]: m${i}`);
  return `${imports.join("\n")}\nexport default (prefix) => ({ ${names.join(", ")} });`;
}

function emberPlugin() {
  return {
    name: "rollcall-test-ember",
    enforce: "pre",
    resolveId(source) {
      if (source === "virtual:app-js" || /^(addon-)?readme:/.test(source)) return `\0${source}`;
      if (/^(@ember|@glimmer|@simple-dom)\/|^(ember|rsvp|backburner\.js|router_js|dag-map|route-recognizer)$/.test(source)) {
        return emberModule(source) ?? null;
      }
      if (source === "my-app/config/environment") return path.join(APP, "config/environment.js");
      return null;
    },
    load(id) {
      if (id === "\0virtual:app-js") return appJsModule();
      if (/^\0(addon-)?readme:/.test(id)) {
        const [, addon, name, ext] = id.match(/^\0(addon-)?readme:(.+)\.(\w+)$/);
        const block = addon ? addonExample(name) : example(name);
        return ext === "hbs" ? hbsModule(block) : block;
      }
      return null;
    },
    async transform(code, id) {
      const file = id.replace(/\?.*$/, "");
      const ours = /^\0(addon-)?readme:/.test(file) || (file.startsWith(APP) && !file.includes("node_modules"));
      if (!ours || !/\.(gjs|js|hbs)$/.test(file)) return null;
      const source = file.endsWith(".gjs") ? preprocessor.process(code, { filename: file }).code : code;
      return { code: await babel(source, file.replace(/^\0/, "")), map: null, moduleType: "js" };
    },
  };
}

/** Builds the app into tests/ember/dist; resolves with the build's duration in ms. */
export async function buildApp() {
  const started = performance.now();
  await build({
    root: APP,
    configFile: false,
    logLevel: "warn",
    // The addon and the SDK are linked from sdk/; their imports resolve from here.
    resolve: { preserveSymlinks: true },
    plugins: [emberPlugin()],
    build: { outDir: DIST, emptyOutDir: true, minify: false, target: "esnext", reportCompressedSize: false },
  });
  return Math.round(performance.now() - started);
}

const TYPES = { ".js": "text/javascript", ".wasm": "application/wasm", ".html": "text/html", ".css": "text/css" };

/**
 * The built app at `/`, with the relay's URL in its config meta tag, and
 * `/rollcall/token`, which signs a token for the `user` cookie as a site's backend would
 * for its session (with a secret the relay does not know while the cookie `secret` is
 * `wrong`).
 */
export async function startAppSite(relayUrl) {
  const config = encodeURIComponent(JSON.stringify({ modulePrefix: "my-app", rollcall: { url: relayUrl } }));
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, "http://x");
    if (url.pathname === "/rollcall/token") {
      const user = /(?:^|;\s*)user=([^;]+)/.exec(req.headers.cookie ?? "")?.[1];
      if (!user) {
        res.writeHead(401).end("no user cookie");
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      const wrong = /(?:^|;\s*)secret=wrong(?:;|$)/.test(req.headers.cookie ?? "");
      const options = wrong ? { secret: "a-secret-the-relay-does-not-know-0123" } : undefined;
      res.end(JSON.stringify({ token: await token(decodeURIComponent(user), {}, options) }));
      return;
    }
    const file = path.join(DIST, url.pathname === "/" ? "index.html" : path.normalize(url.pathname));
    if (!file.startsWith(DIST) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end("not found");
      return;
    }
    let body = readFileSync(file);
    if (file.endsWith(".html")) body = String(body).replace("%CONFIG%", config);
    res.writeHead(200, { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream", "cache-control": "no-store" });
    res.end(body);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}
