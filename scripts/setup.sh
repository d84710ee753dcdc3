#!/usr/bin/env bash
# Installs what building and testing rollcall needs, and only what is missing, so a
# second run takes seconds. Everything comes from package registries (crates.io, npm,
# Debian): no step downloads a prebuilt binary from anywhere else.
#
#   scripts/setup.sh          everything the tests need
#   scripts/setup.sh --demo   only what the demo needs (no Chromium, no Redis)
#
# Prints one line per step that does something, and nothing when all is present.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh

for_demo=false
case "${1:-}" in
  --demo) for_demo=true ;;
  "") ;;
  *) echo "usage: scripts/setup.sh [--demo]" >&2; exit 2 ;;
esac

WASM_PACK_VERSION=0.15.1
log_dir=target/setup-logs

say() { echo "setup: $*"; }

# Runs a noisy install with its output in a log; shows the log's tail only if it fails.
quietly() {
  local name=$1; shift
  mkdir -p "$log_dir"
  if ! "$@" >"$log_dir/$name.log" 2>&1; then
    tail -n 30 "$log_dir/$name.log" >&2
    echo "setup: $name failed; the full log is $log_dir/$name.log" >&2
    exit 1
  fi
}

# The two prerequisites setup cannot install for you.
if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is missing; install Rust with rustup (https://rustup.rs) and run this again." >&2
  exit 1
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "setup: npm is missing; install Node.js 20 or newer with npm (e.g. apt-get install nodejs npm) and run this again." >&2
  exit 1
fi

# The SDK compiles to WebAssembly. Checking the sysroot is faster than asking rustup.
if [ ! -d "$(rustc --print sysroot)/lib/rustlib/wasm32-unknown-unknown" ]; then
  if ! command -v rustup >/dev/null 2>&1; then
    echo "setup: the wasm32-unknown-unknown target is missing and rustup is not here to add it; install Rust with rustup." >&2
    exit 1
  fi
  say "adding the Rust target wasm32-unknown-unknown"
  quietly rustup-target rustup target add wasm32-unknown-unknown
fi

# The pinned nightly, with its std's source, that the SDK's release wasm is built with
# (sdk/size-flags.sh says why): the minimal profile, about 15 s from rustup's servers.
# Read in a subshell: the size settings are not for what setup builds.
# shellcheck source=sdk/size-flags.sh
nightly=$(source sdk/size-flags.sh && echo "$SDK_NIGHTLY")
if [ -n "$nightly" ] && ! (source sdk/size-flags.sh && have_sdk_nightly); then
  if command -v rustup >/dev/null 2>&1; then
    say "installing Rust $nightly with rust-src, for the SDK's release wasm"
    # Not fatal: without it the wasm is built on stable, a little larger.
    mkdir -p "$log_dir"
    if ! rustup toolchain install "$nightly" --profile minimal --component rust-src \
      >"$log_dir/rustup-nightly.log" 2>&1; then
      say "could not install $nightly ($log_dir/rustup-nightly.log); the SDK's wasm is built on stable, 0.7 KB gzipped larger"
    fi
  else
    say "no rustup: the SDK's wasm is built on stable, 0.7 KB gzipped larger"
  fi
fi

# Debian packages, first: a C compiler and make for the C parts of what cargo builds
# (SQLite and jemalloc in the relay), demo or tests; Chromium and its driver for the
# wasm and browser tests, and Redis for the tests of several relays sharing state,
# which the demo does not need.
missing=()
command -v cc >/dev/null 2>&1 || missing+=(gcc)
command -v make >/dev/null 2>&1 || missing+=(make)
if ! $for_demo; then
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
fi
if [ ${#missing[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: ${missing[*]} missing and apt-get is not here; install them with your package manager." >&2
    exit 1
  fi
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo)
    else
      echo "setup: installing ${missing[*]} needs root, and sudo is not here; install them as root." >&2
      exit 1
    fi
  fi
  say "installing ${missing[*]} from Debian"
  quietly apt-update "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
  quietly apt-install "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
fi

# wasm-pack is built from crates.io; its own lockfile keeps the build reproducible.
if [ "$(wasm-pack --version 2>/dev/null || true)" != "wasm-pack $WASM_PACK_VERSION" ]; then
  say "building wasm-pack $WASM_PACK_VERSION from crates.io (a few minutes, once)"
  quietly wasm-pack cargo install wasm-pack --version "$WASM_PACK_VERSION" --locked
fi

# wasm-bindgen-cli must be exactly the wasm-bindgen version in Cargo.lock, or the
# generated glue does not match the module. Not --locked: the crates.io index here can
# lag behind the versions its lockfile names.
bindgen_version=$(awk '
  /^\[\[package\]\]/ { in_pkg = 0 }
  /^name = "wasm-bindgen"$/ { in_pkg = 1; next }
  in_pkg && /^version = / { gsub(/"/, "", $3); print $3; exit }
' Cargo.lock 2>/dev/null || true)
if [ -n "$bindgen_version" ] &&
   [ "$(wasm-bindgen --version 2>/dev/null || true)" != "wasm-bindgen $bindgen_version" ]; then
  say "building wasm-bindgen-cli $bindgen_version from crates.io (a few minutes, once)"
  quietly wasm-bindgen-cli cargo install wasm-bindgen-cli --version "$bindgen_version"
fi

# npm packages from the committed lockfiles: the root one (playwright-core, binaryen for
# wasm-opt, jose), and for the tests, any test directory or the SDK that keeps its own.
# node_modules/.package-lock.json is rewritten by every install, so it dates the tree.
npm_dirs=(.)
if ! $for_demo; then
  for lock in tests/*/package-lock.json sdk/package-lock.json; do
    if [ -f "$lock" ]; then npm_dirs+=("$(dirname "$lock")"); fi
  done
fi
for dir in "${npm_dirs[@]}"; do
  if [ ! -f "$dir/node_modules/.package-lock.json" ] ||
     [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    if [ "$dir" = . ]; then where="" log=npm-ci; else where=" in $dir" log="npm-ci-${dir//\//-}"; fi
    say "installing npm packages$where (npm ci)"
    quietly "$log" npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
  fi
done
