#!/usr/bin/env bash
# Builds the npm package `rollcall` into sdk/dist/: the wasm, its glue, the entry
# (rollcall.js) and the types, then prints their gzipped size against the budget.
#
#   bash sdk/build.sh            release build (what is published)
#   bash sdk/build.sh --dev      debug build, faster, larger
#
# Needs wasm-pack and wasm-bindgen-cli (the version pinned in sdk/Cargo.toml) on PATH,
# as scripts/setup.sh installs them. wasm-opt is used only from npm's binaryen
# (node_modules/.bin/wasm-opt): Debian's binaryen produces a module Chromium rejects.
set -euo pipefail

sdk=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$sdk/.." && pwd)
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

profile=--release
case "${1:-}" in
  --dev) profile=--dev ;;
  "") ;;
  *) echo "usage: sdk/build.sh [--dev]" >&2; exit 2 ;;
esac

# Size over speed for this one artifact; the workspace's release profile serves the relay.
export CARGO_PROFILE_RELEASE_OPT_LEVEL=z
export CARGO_PROFILE_RELEASE_LTO=true
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
export CARGO_PROFILE_RELEASE_PANIC=abort

cd "$sdk"
wasm-pack --quiet build --mode no-install --target web "$profile" \
  --out-dir pkg --out-name rollcall_sdk --no-pack --no-opt

wasm=pkg/rollcall_sdk_bg.wasm
wasm_opt=""
for candidate in "$sdk/node_modules/.bin/wasm-opt" "$root/node_modules/.bin/wasm-opt"; do
  if [ -x "$candidate" ]; then wasm_opt=$candidate; break; fi
done
if [ "$profile" = --release ] && [ -n "$wasm_opt" ]; then
  # --converge repeats -Oz until it stops paying; names, DWARF and the producers
  # section are of no use in the published module.
  "$wasm_opt" --converge -Oz --strip-debug --strip-producers "$wasm" -o "$wasm.opt"
  mv "$wasm.opt" "$wasm"
elif [ "$profile" = --release ]; then
  echo "build: no node_modules/.bin/wasm-opt (npm install binaryen); the wasm is not size-optimized." >&2
fi

rm -rf dist
mkdir -p dist
cp pkg/rollcall_sdk.js pkg/rollcall_sdk.d.ts pkg/rollcall_sdk_bg.wasm dist/
cp js/rollcall.js js/rollcall.d.ts dist/

if [ "$profile" = --release ]; then
  # The JSDoc of the glue and the entry repeats rollcall.d.ts, and their comments and
  # indentation are for reading: they are shipped without them. Line by line is safe
  # here: neither has a string or template literal that spans lines (node --check would
  # not catch one; the browser tests would).
  for js in dist/rollcall_sdk.js dist/rollcall.js; do
    node -e '
      const fs = require("fs");
      const file = process.argv[1];
      const text = fs.readFileSync(file, "utf8")
        .replace(/^[ \t]*\/\*\*[\s\S]*?\*\/[ \t]*\n/gm, "")
        .split("\n")
        .map((line) => line.trimStart())
        .filter((line) => line !== "" && !line.startsWith("//"))
        .join("\n");
      fs.writeFileSync(file, text + "\n");
    ' "$js"
    node --check "$js"
  done
fi

echo "build: sdk/dist ready"
# The figure against the budget (sdk/size.mjs keeps it; tests/size fails over it).
node "$sdk/size.mjs" || true
