// Blanks the text that only panics used, in the optimized wasm's data: once
// sdk/trap-panics.mjs has made every panic trap and wasm-opt has dropped what built the
// messages, the messages themselves are still in the data segments (wasm-opt cannot cut
// bytes out of a segment). What stays is std's message pieces ("index out of bounds: the
// len is "), the paths of the source files that panic locations name (the toolchain's,
// the registry's under the builder's home), and the digit pairs that formatted numbers.
// They do not compress: about 0.5 KB gzipped. Blanked to zeros, they compress to almost
// nothing (the zeros stay: splitting the segments around them, `wasm-opt
// --memory-packing`, gzips larger). This is what a nightly std built with
// `panic_immediate_abort` and `-Zlocation-detail=none` leaves out.
//
// Only what is shown unreferenced is blanked. A candidate is:
// - a panic location's file: a 16-byte `Location { file: &str, line, col }` in the data
//   whose file is printable text ending in ".rs";
// - one of std's panic messages below, found by its text.
// It is blanked only if no constant or load/store offset in the code points into it (or
// just before it), and every pointer to it in the data sits where the code does not point
// either: not into the 16 bytes of a location from its file's pointer on, not within 16
// bytes of a message's piece (a list of pieces is read from its start). Only the emptied
// panic calls used those. Else it is kept, and the build says so.
//
//   node sdk/dead-data.mjs pkg/rollcall_sdk_bg.wasm
//
// Run by build.sh after wasm-opt.

import binaryen from "binaryen";
import { readFileSync, writeFileSync } from "node:fs";
import { leb as lebIn, signedLeb as signedLebIn } from "./leb.mjs";

const [file] = process.argv.slice(2);
const bytes = new Uint8Array(readFileSync(file));
const leb = (at) => lebIn(bytes, at);
const signedLeb = (at) => signedLebIn(bytes, at);

// std's panic messages and the digit pairs of its number formatting.
const MESSAGES = [
  "capacity overflow",
  " index out of bounds: the len is ",
  " but the index is ",
  "insertion index (is ",
  ") should be <= len (is ",
  "removal index (is ",
  ") should be < len (is ",
  "RefCell already mutably borrowed",
  "RefCell already borrowed",
  "closure invoked recursively or after being dropped",
  "Tried to shrink to a larger capacity",
  Array.from({ length: 100 }, (_, i) => String(i).padStart(2, "0")).join(""),
];
/** How far before a text the code may point and still reach it. */
const BEFORE = 8;
/**
 * How far from a pointer in the data the code may point and still read it: a location is
 * 16 bytes from its file's pointer on; a message's pieces are 8 bytes a piece, so a piece
 * may be read from a list that starts before it.
 */
const NEAR = 16;

/** The active data segments: `{ address, at }` (`at`: where its bytes are in the file) and `length`. */
function segments() {
  const found = [];
  let at = 8;
  while (at < bytes.length) {
    const id = bytes[at];
    let size;
    [size, at] = leb(at + 1);
    const end = at + size;
    if (id === 11) {
      let count;
      [count, at] = leb(at);
      for (let i = 0; i < count; i++) {
        let flags;
        [flags, at] = leb(at);
        if (flags === 1) {
          // Passive: no address of its own; left alone.
          let length;
          [length, at] = leb(at);
          at += length;
          continue;
        }
        if (flags === 2) [, at] = leb(at);
        // An offset expression `i32.const N end`.
        if (bytes[at] !== 0x41) throw new Error("dead-data: a data segment's offset is not a constant");
        let address;
        [address, at] = signedLeb(at + 1);
        if (bytes[at++] !== 0x0b) throw new Error("dead-data: a data segment's offset is not a constant");
        let length;
        [length, at] = leb(at);
        found.push({ address, at, length });
        at += length;
      }
    }
    at = end;
  }
  return found;
}

// Where the code points: every i32 constant and every load/store offset.
const module = binaryen.readBinary(bytes);
const text = module.emitText();
module.dispose();
const pointed = [];
for (const line of text.split("\n")) {
  if (/^ \(data /.test(line)) continue;
  for (const m of line.matchAll(/i32\.const (-?\d+)|offset=(\d+)/g)) pointed.push(Number(m[1] ?? m[2]));
}
pointed.sort((a, b) => a - b);

/** Does the code point into [start - before, end)? */
function codePoints(start, end, before) {
  let lo = 0;
  let hi = pointed.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (pointed[mid] < start - before) lo = mid + 1;
    else hi = mid;
  }
  return lo < pointed.length && pointed[lo] < end;
}

const segs = segments();
const byteAt = (address) => {
  const s = segs.find((s) => address >= s.address && address < s.address + s.length);
  return s ? s.at + (address - s.address) : -1;
};
const word = (at) => bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] * 2 ** 24);
const printable = (at, length) => {
  for (let i = 0; i < length; i++) if (bytes[at + i] < 0x20 || bytes[at + i] > 0x7e) return false;
  return true;
};

// The candidates, as address ranges.
const candidates = [];
for (const s of segs) {
  for (let a = s.address + ((4 - (s.address % 4)) % 4); a + 16 <= s.address + s.length; a += 4) {
    const at = byteAt(a);
    const [ptr, len] = [word(at), word(at + 4)];
    const target = byteAt(ptr);
    if (len < 4 || len > 400 || target < 0 || !printable(target, len)) continue;
    const name = Buffer.from(bytes.subarray(target, target + len)).toString("latin1");
    if (name.endsWith(".rs")) candidates.push({ start: ptr, end: ptr + len, what: name, location: true });
  }
  const data = Buffer.from(bytes.subarray(s.at, s.at + s.length));
  for (const message of MESSAGES) {
    for (let i = data.indexOf(message, 0, "latin1"); i >= 0; i = data.indexOf(message, i + 1, "latin1")) {
      candidates.push({ start: s.address + i, end: s.address + i + message.length, what: JSON.stringify(message) });
    }
  }
}

// Pointers in the data, by where they point.
const dataPointers = [];
for (const s of segs) {
  for (let a = s.address + ((4 - (s.address % 4)) % 4); a + 4 <= s.address + s.length; a += 4) {
    dataPointers.push({ from: a, to: word(byteAt(a)) });
  }
}

let blanked = 0;
const kept = [];
for (const c of candidates) {
  const live =
    codePoints(c.start, c.end, BEFORE) ||
    dataPointers.some(
      (p) => p.to >= c.start && p.to < c.end && codePoints(p.from, p.from + NEAR, c.location ? 0 : NEAR),
    );
  if (live) {
    kept.push(c.what);
    continue;
  }
  const at = byteAt(c.start);
  for (let i = 0; i < c.end - c.start; i++) {
    if (bytes[at + i] !== 0) blanked++;
    bytes[at + i] = 0;
  }
}
writeFileSync(file, bytes);
const keptNote = kept.length ? `; kept, as the code may read them: ${[...new Set(kept)].join(", ")}` : "";
console.log(`dead-data: ${blanked} bytes of panic text blanked${keptNote}`);
