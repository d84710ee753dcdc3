// The size of the npm package `rollcall` as a page downloads it, and its budget: the
// one place the budget is kept. Measured as BENCHMARKS.md's SDK section measures it:
// each file of sdk/dist a page loads (the entry with the wasm-bindgen glue bundled in, the wasm),
// `gzip -9` on its own, summed. KB here are 1,000 bytes.
//
//   node sdk/size.mjs          prints the figure, exits 1 over the budget
//
// build.sh prints it after every build; tests/size fails the test command over it.

import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Today's size (33,455 bytes; 34,099 where the wasm is built on stable, without the
 * pinned nightly of size-flags.sh) with some room, so the next change is not blocked
 * by a few bytes. Lower it when the package shrinks; raising it is a decision, with the
 * reason in the commit.
 */
export const BUDGET_BYTES = 34_500;

export const DIST = fileURLToPath(new URL("./dist", import.meta.url));
export const FILES = ["rollcall.js", "rollcall_sdk_bg.wasm"];
/** The glue, a file of its own only where build.sh found no esbuild to bundle it. */
const UNBUNDLED_GLUE = "rollcall_sdk.js";

const gzipped = (file) => execFileSync("gzip", ["-9", "-c", file], { maxBuffer: 64 << 20 }).length;
const kb = (bytes) => `${(bytes / 1000).toFixed(1)} KB`;

/** `{ files: [{ name, bytes, gzipped }], wasm, js, total }`, gzipped bytes. */
export function measure(dist = DIST) {
  const names = existsSync(path.join(dist, UNBUNDLED_GLUE)) ? [...FILES, UNBUNDLED_GLUE] : FILES;
  const files = names.map((name) => {
    const file = path.join(dist, name);
    if (!existsSync(file)) throw new Error(`no ${file}: run \`bash sdk/build.sh\` first`);
    return { name, bytes: readFileSync(file).length, gzipped: gzipped(file) };
  });
  const wasm = files.filter((f) => f.name.endsWith(".wasm")).reduce((n, f) => n + f.gzipped, 0);
  const total = files.reduce((n, f) => n + f.gzipped, 0);
  return { files, wasm, js: total - wasm, total };
}

/** One line: the figure against the budget. */
export function describe({ wasm, js, total }) {
  const verdict = total <= BUDGET_BYTES ? "within" : "OVER";
  return `sdk size, gzipped: wasm ${kb(wasm)} + js ${kb(js)} = ${kb(total)} (${total.toLocaleString("en")} bytes), ${verdict} the budget of ${kb(BUDGET_BYTES)} (sdk/size.mjs)`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const size = measure();
  console.log(describe(size));
  if (size.total > BUDGET_BYTES) process.exit(1);
}
