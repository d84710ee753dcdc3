// Makes every panic of the wasm trap at once, as `panic = "abort"` with std built with
// `panic_immediate_abort` would (which only a nightly `build-std` can do): the body of
// each function of Rust's panic runtime (`core::panicking::*`, `std::panicking::*`:
// `panic_fmt`, `panic_bounds_check`, the panic hook and its message payloads) becomes
// `unreachable`. Nothing changes for a page: under `panic = "abort"` a panic already
// ends in a trap, and on wasm32-unknown-unknown the hook that runs before it writes the
// message nowhere (std has no stderr there). What goes is the work of formatting that
// message, and with it the code that only a panic reaches (0.8 KB gzipped).
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

// The demangled names carry the crate's hash: `core[c5930c85a12de822]::panicking::...`.
const RUNTIME = /^<?(?:core|std)(?:\[[0-9a-f]+\])?::panicking::/;
// Functions of core and alloc that only ever panic (`-> !`), with the message they build.
const PANICS = /^<?(?:core|alloc)\b.*::(?:slice_index_fail|assert_failed|panic_already_borrowed|panic_already_mutably_borrowed|panic_poisoned|unwrap_failed|expect_failed|handle_error|capacity_overflow)$/;
let trapped = [];
for (let i = 0; i < module.getNumFunctions(); i++) {
  const fn = module.getFunctionByIndex(i);
  const info = binaryen.getFunctionInfo(fn);
  if (info.base || !(RUNTIME.test(info.name) || PANICS.test(info.name))) continue; // an import, or not a panic
  binaryen.Function.setBody(fn, module.unreachable());
  trapped.push(info.name);
}
if (!trapped.some((name) => name.includes("::panicking::panic_fmt"))) {
  console.error(`trap-panics: no core::panicking::panic_fmt in ${file}; were the names stripped?`);
  process.exit(1);
}
if (!module.validate()) {
  console.error(`trap-panics: the module does not validate after the change`);
  process.exit(1);
}
writeFileSync(file, module.emitBinary());
module.dispose();
