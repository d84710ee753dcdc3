// Makes every panic of the wasm trap at once, as `panic = "abort"` with std built with
// `panic_immediate_abort` would (which only a nightly `build-std` can do), and drops the
// text formatting that only panics used.
//
// 1. The body of each function of Rust's panic runtime (`core::panicking::*`,
//    `std::panicking::*`: `panic_fmt`, `panic_bounds_check`, the hook, the message
//    payloads) and of the `-> !` helpers of core and alloc that build a panic's message
//    becomes `unreachable`. Nothing changes for a page: under `panic = "abort"` a panic
//    already ends in a trap, and on wasm32-unknown-unknown the hook that runs before it
//    writes the message nowhere (std has no stderr there).
// 2. Then, if no other function calls into `core::fmt` (the SDK does no formatting of
//    its own: no `format!`, `to_string` of numbers, `Debug`), the formatting machinery
//    (`fmt::write`, `Formatter`, the `Display`/`Debug`/`Write` impls) is emptied too.
//    wasm-opt cannot drop it by itself: the messages' argument lists put those functions
//    in the function table, which the glue needs exported, so they look reachable. When
//    some function does format, they are left as they are and the build says which.
//
//   node sdk/trap-panics.mjs pkg/rollcall_sdk_bg.wasm
//
// Run by build.sh on wasm-bindgen's output, which still has the function names, before
// wasm-opt (which then drops what no longer has a caller, and the names). It fails, and
// so the build, when it finds no `panic_fmt`: the names it relies on have changed.

import binaryen from "binaryen";
import { readFileSync, writeFileSync } from "node:fs";

const [file] = process.argv.slice(2);
// The module's function names are needed to find the runtime; they are stripped later.
binaryen.setDebugInfo(true);
const module = binaryen.readBinary(readFileSync(file));

// Demangled names carry the crate's hash: `core[c5930c85a12de822]::panicking::...`.
const crate = (names) => `(?:${names})(?:\\[[0-9a-f]+\\])?`;
const RUNTIME = new RegExp(`^<?${crate("core|std")}::panicking::`);
// Functions of core and alloc that only ever panic (`-> !`), with the message they build.
const PANICS = new RegExp(
  `^<?${crate("core|alloc")}::.*::(?:slice_index_fail|assert_failed|panic_already_borrowed|` +
    `panic_already_mutably_borrowed|panic_poisoned|unwrap_failed|expect_failed|handle_error|` +
    `capacity_overflow)$`,
);
// The formatting machinery: `core::fmt`, `alloc::fmt`, and the impls of its traits.
const FORMATTING = new RegExp(
  `^<?${crate("core|alloc")}::(?:fmt|str::count)::|` +
    ` as ${crate("core")}::fmt::(?:Display|Debug|Write|LowerHex|UpperHex|Octal|Binary|Pointer)>::`,
);

/** The functions defined in the module (not imported) whose name `test` accepts. */
function defined(test) {
  const found = [];
  for (let i = 0; i < module.getNumFunctions(); i++) {
    const fn = module.getFunctionByIndex(i);
    const info = binaryen.getFunctionInfo(fn);
    if (!info.base && test(info.name)) found.push([fn, info.name]);
  }
  return found;
}

const trap = (fns) => fns.forEach(([fn]) => binaryen.Function.setBody(fn, module.unreachable()));

const panics = defined((name) => RUNTIME.test(name) || PANICS.test(name));
if (!panics.some(([, name]) => name.includes("::panicking::panic_fmt"))) {
  console.error(`trap-panics: no core::panicking::panic_fmt in ${file}; were the names stripped?`);
  process.exit(1);
}
trap(panics);

// Who calls into the formatting machinery directly, now that panics no longer do.
const formatting = defined((name) => FORMATTING.test(name));
const inside = new Set([...panics, ...formatting].map(([, name]) => name));
const targets = new Set(formatting.map(([, name]) => name));
const formats = new Set();
let current = null;
for (const line of module.emitText().split("\n")) {
  const header = line.match(/^ \(func \$(?:"([^"]*)"|(\S+))/);
  if (header) {
    current = header[1] ?? header[2];
    continue;
  }
  const call = line.match(/\(call \$(?:"([^"]*)"|(\S+))/);
  if (call && targets.has(call[1] ?? call[2]) && !inside.has(current)) formats.add(current);
}
if (formats.size === 0) {
  trap(formatting);
} else {
  console.error(
    `trap-panics: formatting kept (its ${formatting.length} functions), as these format text:\n  ` +
      [...formats].join("\n  "),
  );
}

if (!module.validate()) {
  console.error(`trap-panics: the module does not validate after the change`);
  process.exit(1);
}
writeFileSync(file, module.emitBinary());
module.dispose();
