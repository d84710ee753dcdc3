#!/usr/bin/env bash
# Profile the relay under one workload: the release relay runs under `perf record`
# on core 0, one generator process drives it from core 1, then the flat profile is
# printed. Loopback only; the generator stops by itself.
#
#   bench/profile.sh w2 5000        # W2 at 5,000 members (fill, then 40 join/leave rounds)
#   bench/profile.sh w1 10000       # W1: fill one channel to 10,000
#
# Needs `perf` (Debian: linux-perf). Writes bench/results/perf-<workload>-<size>.data.
set -euo pipefail
cd "$(dirname "$0")/.."
workload=${1:?workload: w1..w5}
size=${2:?size}
shift 2
command -v perf >/dev/null || { echo "bench/profile.sh: perf is not installed (apt-get install linux-perf)" >&2; exit 2; }
cargo build --release --quiet -p rollcall-relay -p rollcall-bench
mkdir -p bench/results
data=bench/results/perf-$workload-$size.data
config=bench/results/relay-profile.toml
printf '[limits]\nmax_connections = 200000\n' > "$config"
out=$(mktemp)
pin() { if command -v taskset >/dev/null && [[ $(nproc) -ge 2 ]]; then taskset -c "$1" "${@:2}"; else "${@:2}"; fi; }
ROLLCALL_SECRET=bench-secret-0123456789abcdef RUST_LOG=error \
  pin 0 perf record -F 999 -g -o "$data" target/release/rollcall-relay --config "$config" --listen 127.0.0.1:0 >"$out" 2>/dev/null &
perf_pid=$!
for _ in $(seq 1 100); do grep -q "listening on" "$out" && break; sleep 0.1; done
addr=$(grep -o "http://[0-9.:]*" "$out" | head -1 | sed 's|http://||')
relay_pid=$(pgrep -P "$perf_pid" | head -1)
[[ -n $addr && -n $relay_pid ]] || { echo "bench/profile.sh: the relay did not start" >&2; kill "$perf_pid"; exit 1; }
pin 1 timeout 300 target/release/rollcall-bench shard --proto rollcall --addr "$addr" \
  --workload "$workload" --size "$size" --no-wait --max-seconds 280 "$@" | grep -o '"phase":"[a-z]*"' || true
echo "relay CPU: $(awk '{printf "%.2f s", ($14+$15)/100}' "/proc/$relay_pid/stat"), $(grep VmRSS "/proc/$relay_pid/status")"
kill -INT "$relay_pid"
wait "$perf_pid" 2>/dev/null || true
rm -f "$out"
perf report -i "$data" --no-children --sort dso -g none --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | head -4
perf report -i "$data" --no-children --sort dso,symbol -g none --percent-limit 0.8 --stdio 2>/dev/null \
  | grep -v '^#' | grep -v '^$' | cut -c1-120 | head -30
