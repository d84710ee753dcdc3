// The package's TypeScript types, as an app's tsc sees them: tests/ember/types/consumer.ts
// uses the service, the channel and the modifier's signature the way an app does, and
// marks misuse with @ts-expect-error, so types that went loose (any) fail too.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";

const HERE = fileURLToPath(new URL(".", import.meta.url));

test("the types describe the service, the channel and the modifier, and reject misuse", async () => {
  const tsc = fileURLToPath(new URL("node_modules/typescript/bin/tsc", import.meta.url));
  const { code, output } = await new Promise((resolve) => {
    // tsc on Ember's types takes a few seconds; a minute means something hangs.
    execFile(process.execPath, [tsc, "-p", "types/tsconfig.json"], { cwd: HERE, timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (error.code ?? "killed") : 0, output: stdout + stderr }),
    );
  });
  assert.equal(code, 0, `tsc found errors:\n${output}`);
});
