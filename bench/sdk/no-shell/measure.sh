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
# The package's size settings (profile, inlining, wasm-opt's passes).
# shellcheck source=sdk/size-flags.sh
source "$root/sdk/size-flags.sh"
cargo build --quiet --release --target wasm32-unknown-unknown --manifest-path "$here/Cargo.toml"
out="$CARGO_TARGET_DIR/out"
rm -rf "$out"
wasm-bindgen --target web --out-dir "$out" --out-name rollcall_sdk \
  "$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/rollcall_no_shell.wasm"
wasm="$out/rollcall_sdk_bg.wasm"
node "$root/sdk/trap-panics.mjs" "$wasm"
"$root/node_modules/.bin/wasm-opt" "${WASM_OPT_FLAGS[@]}" "$wasm" -o "$wasm.opt"
mv "$wasm.opt" "$wasm"
node "$root/sdk/short-imports.mjs" "$wasm" "$out/rollcall_sdk.js"
"$root/node_modules/.bin/esbuild" --log-level=warning --minify --format=esm "$out/rollcall_sdk.js" --outfile="$out/glue.js"
for f in "$wasm" "$out/glue.js"; do
  echo "$(basename "$f"): $(wc -c <"$f") bytes, $(gzip -9 -c "$f" | wc -c) gzipped"
done
