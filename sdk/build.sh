#!/usr/bin/env bash
# Builds the npm package `rollcall` into sdk/dist/: the wasm, the entry (rollcall.js,
# with the wasm-bindgen glue bundled in) and the types, then prints their gzipped size
# against the budget.
#
#   bash sdk/build.sh            release build (what is published)
#   bash sdk/build.sh --dev      debug build, faster, larger
#
# Needs wasm-bindgen-cli (the version pinned in sdk/Cargo.toml) on PATH, as
# scripts/setup.sh installs it. wasm-opt is used only from npm's binaryen
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

# The size settings (profile, inlining, wasm-opt's passes), with why each is there.
# shellcheck source=sdk/size-flags.sh
source "$sdk/size-flags.sh"

cd "$sdk"
# The crate is also an rlib, for its wasm tests (sdk/tests); built as one, the module
# keeps code that only the rlib needs: 18 KB more (3.3 KB gzipped). So the package's
# wasm is built as a cdylib alone, and wasm-bindgen is run on it as wasm-pack would.
cargo_profile=(--release)
bindgen_flags=()
if [ "$profile" = --dev ]; then
  cargo_profile=()
  bindgen_flags=(--debug --keep-debug)
fi
# The release on the pinned nightly with std built in, when it is here (size-flags.sh).
toolchain=()
nightly=false
if [ "$profile" = --release ] && have_sdk_nightly; then
  toolchain=("+$SDK_NIGHTLY")
  cargo_profile+=(-Zbuild-std=std)
  export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="$CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS $SDK_NIGHTLY_RUSTFLAGS"
  nightly=true
elif [ "$profile" = --release ]; then
  echo "build: the wasm is built on stable, 0.6 KB gzipped larger (no ${SDK_NIGHTLY:-nightly} with rust-src here; scripts/setup.sh installs it)." >&2
fi
cargo "${toolchain[@]}" rustc --quiet --lib --crate-type cdylib --target wasm32-unknown-unknown "${cargo_profile[@]}" \
  --manifest-path "$sdk/Cargo.toml"
target_dir=$(cargo metadata --format-version 1 --no-deps --manifest-path "$sdk/Cargo.toml" |
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')
built="$target_dir/wasm32-unknown-unknown/$([ "$profile" = --dev ] && echo debug || echo release)/rollcall_sdk.wasm"
rm -rf pkg
# `--encode-into always`: strings go into the wasm by TextEncoder's encodeInto, which every
# browser with Web Locks has, without the glue's test for it and its fallback.
wasm-bindgen --target web --encode-into always --out-dir pkg --out-name rollcall_sdk "${bindgen_flags[@]}" "$built"

wasm=pkg/rollcall_sdk_bg.wasm
wasm_opt=""
for candidate in "$sdk/node_modules/.bin/wasm-opt" "$root/node_modules/.bin/wasm-opt"; do
  if [ -x "$candidate" ]; then wasm_opt=$candidate; break; fi
done
if [ "$profile" = --release ] && [ -n "$wasm_opt" ]; then
  # On stable, every panic is made to trap at once, without formatting a message nobody
  # sees (trap-panics.mjs says why; it uses npm's binaryen, like wasm-opt). The nightly
  # build has no panic runtime left to empty.
  $nightly || node "$sdk/trap-panics.mjs" "$wasm"
  "$wasm_opt" "${WASM_OPT_FLAGS[@]}" "$wasm" -o "$wasm.opt"
  mv "$wasm.opt" "$wasm"
  # The panics' text that wasm-opt cannot cut out of the data, blanked where nothing
  # reads it (dead-data.mjs says how it knows).
  node "$sdk/dead-data.mjs" "$wasm"
  # The functions in the order that gzips smallest (order-functions.mjs says how); the
  # order found is kept by the module's hash under the target directory.
  node "$sdk/order-functions.mjs" "$wasm_opt" "$wasm" "$target_dir/sdk-order"
elif [ "$profile" = --release ]; then
  echo "build: no node_modules/.bin/wasm-opt (npm install binaryen); the wasm is not size-optimized." >&2
fi

rm -rf dist
mkdir -p dist
cp pkg/rollcall_sdk.js pkg/rollcall_sdk_bg.wasm dist/
cp js/rollcall.js js/rollcall.d.ts dist/
# The entry instantiates the module it compiled with the glue's own two steps (its
# imports, and what it keeps of the instance), so the glue's `initSync`, with its checks
# of what it is given and its warning, stays out of the package.
printf '\nexport { __wbg_get_imports as imports, __wbg_finalize_init as finish };\n' >>dist/rollcall_sdk.js

if [ "$profile" = --release ]; then
  # wasm-bindgen's hashed import names and the glue's internal exports, shortened in the
  # wasm and in the glue alike.
  node "$sdk/short-names.mjs" dist/rollcall_sdk_bg.wasm dist/rollcall_sdk.js
fi

esbuild=""
for candidate in "$sdk/node_modules/.bin/esbuild" "$root/node_modules/.bin/esbuild"; do
  if [ -x "$candidate" ]; then esbuild=$candidate; break; fi
done
if [ -n "$esbuild" ]; then
  # The glue is bundled into the entry: one module, one file, gzipped as one stream,
  # and the glue's exports the entry does not use are dropped (0.5 KB gzipped less than
  # the two files). Released minified (1.1 KB gzipped less than without comments and
  # indentation): the types are in rollcall.d.ts. The entry's
  # `new URL("rollcall_sdk_bg.wasm", import.meta.url)` is kept as it is, so the module is
  # still found beside the entry, and bundlers still emit it; the entry loads it itself
  # (`preload`), so the glue's own loader is dropped with what else it does not use.
  minify=()
  [ "$profile" = --release ] && minify=(--minify)
  "$esbuild" --log-level=warning --bundle "${minify[@]}" --format=esm dist/rollcall.js --outfile=dist/rollcall.js.out
  mv dist/rollcall.js.out dist/rollcall.js
  rm dist/rollcall_sdk.js
  node --check dist/rollcall.js
else
  echo "build: no node_modules/.bin/esbuild (npm install); the entry and the glue stay two files, not minified." >&2
fi

echo "build: sdk/dist ready"
# The figure against the budget (sdk/size.mjs keeps it; tests/size fails over it).
node "$sdk/size.mjs" || true
