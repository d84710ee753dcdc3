#!/usr/bin/env bash
# The SDK's wasm without its shell (lib.rs says what is in it), built and rewritten as
# sdk/build.sh builds the package (the same profile, panics trapped, wasm-opt's flags,
# short import names, the glue minified), then `gzip -9`.
#
#   bash bench/sdk/no-shell/measure.sh     prints the wasm's and the glue's bytes
#
# Needs what sdk/build.sh needs (wasm-bindgen on PATH, npm's binaryen and esbuild).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
export CARGO_TARGET_DIR="$root/target/no-shell"
# sdk/build.sh's inlining, which it says why.
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C llvm-args=-inline-threshold=8"
cargo build --quiet --release --target wasm32-unknown-unknown --manifest-path "$here/Cargo.toml"
out="$CARGO_TARGET_DIR/out"
rm -rf "$out"
wasm-bindgen --target web --out-dir "$out" --out-name rollcall_sdk \
  "$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/rollcall_no_shell.wasm"
wasm="$out/rollcall_sdk_bg.wasm"
node "$root/sdk/trap-panics.mjs" "$wasm"
"$root/node_modules/.bin/wasm-opt" --one-caller-inline-max-function-size=20 --converge -Oz \
  --flatten --rereloop -Oz -Oz --low-memory-unused \
  --strip-debug --strip-producers "$wasm" -o "$wasm.opt"
mv "$wasm.opt" "$wasm"
node "$root/sdk/short-imports.mjs" "$wasm" "$out/rollcall_sdk.js"
"$root/node_modules/.bin/esbuild" --log-level=warning --minify --format=esm "$out/rollcall_sdk.js" --outfile="$out/glue.js"
for f in "$wasm" "$out/glue.js"; do
  echo "$(basename "$f"): $(wc -c <"$f") bytes, $(gzip -9 -c "$f" | wc -c) gzipped"
done
