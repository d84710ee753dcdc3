// index.d.ts against a TypeScript consumer (types/consumer.tsx): it compiles, and each
// mistake marked @ts-expect-error is caught (an unused one fails too, so `any` types
// would not pass).

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { HERE } from "./site.mjs";

test("the package's types check a TSX consumer with tsc --strict", async () => {
  const tsc = path.join(HERE, "node_modules/typescript/bin/tsc");
  const run = promisify(execFile)(process.execPath, [tsc, "-p", path.join(HERE, "types")], { timeout: 60_000 });
  const { stdout } = await run.catch((e) => assert.fail(`tsc found errors:\n${e.stdout}${e.stderr}`));
  assert.equal(stdout, "");
});
