// The package's weight as a page downloads it (sdk/dist's entry, glue and wasm, each
// `gzip -9`, summed), against the budget kept in sdk/size.mjs.
//
// Needs `bash sdk/build.sh` first (the release build: a --dev build is far larger).

import { test } from "node:test";
import assert from "node:assert/strict";
import { BUDGET_BYTES, describe, measure } from "../../sdk/size.mjs";

test("the rollcall package, wasm and JS gzipped, stays within its budget", (t) => {
  const size = measure();
  t.diagnostic(describe(size));
  for (const file of size.files) t.diagnostic(`  ${file.name}: ${file.bytes} bytes, ${file.gzipped} gzipped`);
  assert.ok(
    size.total <= BUDGET_BYTES,
    `${describe(size)}: shrink it, or raise BUDGET_BYTES in sdk/size.mjs with the reason`,
  );
});
