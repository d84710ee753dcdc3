#!/usr/bin/env bash
# The benchmark of rollcall against its peers, in one command.
#
#   bench/run.sh           full run (about 15-20 minutes on 2 cores): writes BENCHMARKS.md
#   bench/run.sh --quick   small sizes, about a minute: proves the harness works and writes
#                          bench/results/quick/ (BENCHMARKS.md and the full run's JSON are
#                          left alone).
#                          Uses debug builds, which the test suite builds anyway; it ends
#                          with "bench quick: N passed, M failed" and fails if any case did.
#
# Installs the Node peers from bench/package-lock.json, builds the relay and the
# generator (release; debug for --quick), then runs every workload against every server on
# 127.0.0.1 only. Raw JSON goes to bench/results/ (not committed).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=()
md=BENCHMARKS.md
out=bench/results
profile=release
for arg in "$@"; do
  case "$arg" in
    --quick) quick=(--quick); out=bench/results/quick; md=$out/BENCHMARKS.md; profile=debug ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "bench/run.sh: unknown argument $arg (use --quick or nothing)" >&2; exit 2 ;;
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
if [[ $profile == release ]]; then
  cargo build --release --quiet -p rollcall-relay -p rollcall-bench
else
  cargo build --quiet -p rollcall-relay -p rollcall-bench
fi
mkdir -p "$out"
exec "target/$profile/rollcall-bench" suite "${quick[@]}" --relay "target/$profile/rollcall-relay" --out "$out" --md "$md"
