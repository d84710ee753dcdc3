#!/usr/bin/env bash
# The benchmark of rollcall against its peers, in one command.
#
#   bench/run.sh           full run (about 40 minutes on 2 cores): writes BENCHMARKS.md
#   bench/run.sh --huge    the full run and a 100,000-member channel (capped, then
#                          count_only) across six relays sharing one Redis (six generator
#                          processes), relays and generators on both cores
#
# Elsewhere each server is pinned to core 0 and the generator to core 1, where it polls
# its sockets instead of sleeping between frames (`--sleeping-generator` for the old way).
#   bench/run.sh --quick   small sizes, about a minute: proves the harness works and writes
#                          bench/results/quick/ (BENCHMARKS.md and the full run's JSON are
#                          left alone).
#                          Uses debug builds, which the test suite builds anyway; it ends
#                          with "bench quick: N passed, M failed" and fails if any case did.
#   bench/run.sh --workloads w1,w7 --sizes 2000 --servers rollcall,soketi
#                          a part of the full run (other flags go to `rollcall-bench suite`)
#
# Installs the Node peers from bench/package-lock.json and, for a full run, sockudo (once:
# `cargo install`, 20+ minutes of CPU at the lowest priority; skipped when installed, and
# when the build fails the run goes on without it and says why in
# bench/results/sockudo-install.log). Builds the relay and the generator (release; debug for
# --quick), then runs every workload against every server on 127.0.0.1 only. Raw JSON goes
# to bench/results/ (not committed).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=()
extra=()
md=BENCHMARKS.md
out=bench/results
profile=release
for arg in "$@"; do
  case "$arg" in
    --quick) quick=(--quick); out=bench/results/quick; md=$out/BENCHMARKS.md; profile=debug ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) extra+=("$arg") ;;
  esac
done

if [[ ! -d bench/node_modules/@soketi/soketi || ! -d bench/node_modules/socket.io \
      || bench/package-lock.json -nt bench/node_modules/.package-lock.json ]]; then
  # npm 11 leaves the other platforms' optional builds of msgpackr-extract (deep in
  # soketi's dependencies) out of the lockfile and then refuses `npm ci`; `npm install`
  # installs the same locked versions.
  (cd bench && { npm ci --no-audit --no-fund --loglevel=silent 2>/dev/null \
    || npm install --no-audit --no-fund --loglevel=error; })
fi
# sockudo, the Rust Pusher server, for a full run: built once from crates.io.
sockudo_found() { command -v sockudo >/dev/null 2>&1 || [[ -x ${CARGO_HOME:-$HOME/.cargo}/bin/sockudo ]]; }
if [[ $profile == release ]] && ! sockudo_found; then
  mkdir -p "$out"
  log=$out/sockudo-install.log
  echo "bench: building sockudo (once; 20+ minutes of CPU, nice 19; log: $log)" >&2
  {
    if ! command -v protoc >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
      sudo=()
      [[ $(id -u) -eq 0 ]] || sudo=(sudo)
      "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y protobuf-compiler \
        || { "${sudo[@]}" apt-get update && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y protobuf-compiler; }
    fi
    nice -n 19 cargo install sockudo --locked --no-default-features --features local
  } >"$log" 2>&1 || echo "bench: sockudo did not build; the run goes on without it (see $log)" >&2
fi
if [[ $profile == release ]]; then
  cargo build --release --quiet -p rollcall-relay -p rollcall-bench
else
  cargo build --quiet -p rollcall-relay -p rollcall-bench
fi
mkdir -p "$out"
exec "target/$profile/rollcall-bench" suite "${quick[@]}" "${extra[@]}" --relay "target/$profile/rollcall-relay" --out "$out" --md "$md"
