#!/usr/bin/env bash
# The rules' weight in the browser, alone: built and optimized as sdk/build.sh builds the
# package's wasm (the same toolchain, profile and wasm-opt flags), then `gzip -9`. On
# stable, Rust's panic runtime stays in (about 0.4 KB before gzip): sdk/trap-panics.mjs
# finds it by the demangled names wasm-bindgen writes, and this module does not go
# through wasm-bindgen; on the package's nightly there is none. Its functions are not
# put in the order that gzips smallest (sdk/order-functions.mjs): the order found, and
# what it saves, differs from one module to the next, so the figure follows the code alone.
#
#   bash bench/sdk/rules-size/measure.sh        prints raw and gzipped bytes
#
# Needs wasm-opt from npm's binaryen (`npm ci` at the root), as build.sh does.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
export CARGO_TARGET_DIR="$root/target/rules-size"
# The package's size settings (profile, inlining, wasm-opt's passes).
# shellcheck source=sdk/size-flags.sh
source "$root/sdk/size-flags.sh"
# On the package's pinned nightly with std built in, when it is here, as build.sh does.
toolchain=() build_std=()
if have_sdk_nightly; then
  toolchain=("+$SDK_NIGHTLY") build_std=(-Zbuild-std=std)
  export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="$CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS $SDK_NIGHTLY_RUSTFLAGS"
fi
cargo "${toolchain[@]}" build --quiet --release --target wasm32-unknown-unknown "${build_std[@]}" --manifest-path "$here/Cargo.toml"
wasm="$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/rollcall_rules_size.wasm"
out="$CARGO_TARGET_DIR/rules.wasm"
"$root/node_modules/.bin/wasm-opt" "${WASM_OPT_FLAGS[@]}" "$wasm" -o "$out"
echo "the rules alone: $(wc -c <"$out") bytes, $(gzip -9 -c "$out" | wc -c) gzipped"
