// Orders the optimized wasm's functions so that gzip finds more of each function's code
// in the ones just before it. gzip matches only within the last 32 KB it read, and the
// code is about twice that: in the order the linker left, similar functions (the drops
// of two enums, two map lookups, two decoders) often lie too far apart for their common
// code to be matched. The functions themselves are not changed, only their order.
//
// The order is searched on the code section's bodies, with zlib's deflate at level 9
// (gzip -9's): first greedily (each next function the one that adds the fewest bytes
// after the last 32 KB), then by moving a run of one to three functions to just after a
// function alike to the first (one of the few after which it compresses best), a move
// kept when the whole compresses no larger. The moves are drawn from a fixed seed, so a
// module is always given the same order. The order is then applied by wasm-opt: each
// function named by its rank, `--reorder-functions-by-name`, the names stripped again;
// wasm-opt rewrites every call and export for the new indices. Its StackIR is optimized
// on the way out as at -Oz, so reading and writing the module again adds nothing.
// Should the result not gzip smaller, the module is left as it was.
//
//   node sdk/order-functions.mjs <wasm-opt> <module.wasm> [cache dir]
//
// Run by build.sh after wasm-opt. The search takes about 30 s; with a cache directory,
// the order found is kept by the hash of the module and of this script, and reused by
// the next build of the same module (only the last module's is kept).

import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { deflateRawSync, gzipSync } from "node:zlib";
import { importEnd, leb as lebIn, toLeb } from "./leb.mjs";

/**
 * Moves tried after the greedy order, at about 3 ms each. On the SDK at 34 KB: 8,000 moves
 * of runs of 1 to 8 functions to random places found 250 bytes, 20,000 found 350; moves
 * to just after a function alike found 370 to 590 bytes in 8,000 (by the seed), 440 to
 * 600 in 16,000.
 */
const MOVES = 12_000;
/** How many of each function's most alike are tried as its neighbour. */
const NEAR = 8;
/** About gzip's window, what it can match against (32 KB less its lookahead). */
const WINDOW = 32_000;
/** The features the SDK's wasm is built with (Rust's defaults for wasm32-unknown-unknown). */
const FEATURES = [
  "--enable-bulk-memory",
  "--enable-nontrapping-float-to-int",
  "--enable-reference-types",
  "--enable-multivalue",
  "--enable-sign-ext",
  "--enable-mutable-globals",
];

const [wasmOpt, file, cacheDir] = process.argv.slice(2);
const bytes = new Uint8Array(readFileSync(file));
const leb = (at) => lebIn(bytes, at);

/** The number of imported functions and every defined function's body, in order. */
function read() {
  let imported = 0;
  const bodies = [];
  for (let at = 8; at < bytes.length; ) {
    const id = bytes[at];
    const [size, start] = leb(at + 1);
    if (id === 2) {
      let [count, p] = leb(start);
      for (; count > 0; count--) {
        for (let s = 0; s < 2; s++) {
          const [len, q] = leb(p);
          p = q + len;
        }
        if (bytes[p] === 0) imported++;
        p = importEnd(bytes, p);
      }
    } else if (id === 10) {
      let [count, p] = leb(start);
      for (; count > 0; count--) {
        const [len, q] = leb(p);
        bodies.push(bytes.subarray(q, q + len));
        p = q + len;
      }
    }
    at = start + size;
  }
  return { imported, bodies };
}

/** A fixed sequence of numbers in [0, 1) (mulberry32). */
function random(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const deflated = (buf) => deflateRawSync(buf, { level: 9 }).length;

/** The order of `bodies` that deflates smallest, as found (positions into `bodies`). */
function search(bodies) {
  const left = new Set(bodies.keys());
  const order = [0];
  left.delete(0);
  let tail = Buffer.from(bodies[0]);
  while (left.size) {
    const base = deflated(tail);
    let best = -1;
    let bestCost = Infinity;
    for (const k of left) {
      const cost = deflated(Buffer.concat([tail, bodies[k]])) - base;
      if (cost < bestCost) [best, bestCost] = [k, cost];
    }
    order.push(best);
    left.delete(best);
    tail = Buffer.concat([tail, bodies[best]]);
    if (tail.length > WINDOW) tail = tail.subarray(tail.length - WINDOW);
  }
  const size = (o) => deflated(Buffer.concat(o.map((k) => bodies[k])));
  // Each function's NEAR most alike: the ones after which it adds the fewest bytes.
  const near = bodies.map((f, i) => {
    const scores = [];
    bodies.forEach((g, j) => {
      if (i !== j) scores.push([deflated(Buffer.concat([g, f])) - deflated(g), j]);
    });
    return scores
      .sort((a, b) => a[0] - b[0] || a[1] - b[1])
      .slice(0, NEAR)
      .map(([, j]) => j);
  });
  let current = order;
  let cost = size(current);
  const next = random(1);
  const n = bodies.length;
  for (let i = 0; i < MOVES; i++) {
    // A run of one to three functions moved just after one of the first's most alike.
    const f = Math.floor(next() * n);
    const g = near[f][Math.floor(next() * NEAR)];
    const run = 1 + Math.floor(next() * 3);
    const tried = current.slice();
    const moved = tried.splice(tried.indexOf(f), run);
    if (moved.includes(g)) continue;
    tried.splice(tried.indexOf(g) + 1, 0, ...moved);
    const c = size(tried);
    if (c <= cost) [current, cost] = [tried, c];
  }
  return current;
}

/** A `name` custom section naming each defined function `f` and its rank in `order`. */
function names(imported, order) {
  const width = String(order.length).length;
  // Function names are subsection 1 of the names section, a vector sorted by index.
  const byIndex = order.map((k, rank) => [imported + k, rank]).sort((a, b) => a[0] - b[0]);
  const sub = [...toLeb(order.length)];
  for (const [index, rank] of byIndex) {
    const name = Buffer.from(`f${String(rank).padStart(width, "0")}`);
    sub.push(...toLeb(index), ...toLeb(name.length), ...name);
  }
  const payload = [...toLeb(4), ...Buffer.from("name"), 1, ...toLeb(sub.length), ...sub];
  return Uint8Array.from([0, ...toLeb(payload.length), ...payload]);
}

const { imported, bodies } = read();
if (bodies.length < 2) {
  console.log("order-functions: fewer than two functions; nothing to order");
  process.exit(0);
}
// The order is the module's and this search's: either changed, it is searched again.
const hash = createHash("sha256")
  .update(bytes)
  .update(readFileSync(new URL(import.meta.url)))
  .digest("hex")
  .slice(0, 32);
const cached = cacheDir && join(cacheDir, `order-${hash}.json`);
let order;
if (cached && existsSync(cached)) {
  order = JSON.parse(readFileSync(cached, "utf8"));
} else {
  order = search(bodies);
  if (cached) {
    // Only the last module's order is kept: the directory does not grow with builds.
    mkdirSync(cacheDir, { recursive: true });
    for (const old of readdirSync(cacheDir)) {
      if (/^order-[0-9a-f]+\.json$/.test(old)) rmSync(join(cacheDir, old));
    }
    writeFileSync(cached, JSON.stringify(order));
  }
}

const named = `${file}.named`;
writeFileSync(named, Buffer.concat([bytes, names(imported, order)]));
const out = `${file}.ordered`;
execFileSync(wasmOpt, [
  ...FEATURES,
  named,
  "--reorder-functions-by-name",
  "--shrink-level=2",
  "--optimize-level=2",
  "--generate-stack-ir",
  "--optimize-stack-ir",
  "--strip-debug",
  "--strip-target-features",
  "-o",
  out,
]);
rmSync(named);
const ordered = readFileSync(out);
const before = gzipSync(bytes, { level: 9 }).length;
const after = gzipSync(ordered, { level: 9 }).length;
if (after < before) {
  writeFileSync(file, ordered);
  console.log(`order-functions: ${before} to ${after} bytes gzipped (${before - after} less)`);
} else {
  console.log(`order-functions: no smaller (${after} against ${before} bytes gzipped); left as it was`);
}
rmSync(out);
