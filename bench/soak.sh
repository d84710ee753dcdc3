#!/usr/bin/env bash
# The churn soak, 10-minute form: the relay binary on its default configuration (an
# empty config file), holders who stay, and newcomers who each enter 20 channels and go
# two seconds later, half by closing the page (leave, close 4001) and half by dropping
# off the network. It fails unless, once the session ledger has turned over three times its
# cap, the relay's RSS and SQLite's own memory count stay within ±10% for the rest of
# the run (the second half, in this form), every newcomer got in, and the holders'
# channel counts exactly the holders at the end. The same test, 50 s long, runs in
# `cargo test -p rollcall-relay` (relay/tests/soak.rs).
#
#   bench/soak.sh                   # 600 s, 50 newcomers/s, 1,000 holders
#   bench/soak.sh 120 100 500       # seconds, newcomers per second, holders
#   SOAK_PROFILE=dev bench/soak.sh  # the debug build (no release build needed)
#
# Prints a sample every 30 s and writes the log to bench/results/soak-<time>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
rate=${2:-50}
holders=${3:-1000}
profile=${SOAK_PROFILE:-release}
# One descriptor per holder and newcomer, in the test and in the relay.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
mkdir -p bench/results
out=bench/results/soak-$(date -u +%Y%m%d-%H%M%S).txt
flags=()
[[ $profile == release ]] && flags=(--release)
echo "soak: ${secs} s, ${rate} newcomers/s, ${holders} holders, ${profile} build; log in $out"
ROLLCALL_SOAK_SECS=$secs ROLLCALL_SOAK_RATE=$rate ROLLCALL_SOAK_HOLDERS=$holders \
  cargo test "${flags[@]}" -q -p rollcall-relay --test soak -- --nocapture 2>&1 | tee "$out"
