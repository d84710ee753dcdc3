#!/usr/bin/env bash
# The one test command: setup, build, then every suite that exists.
#
#   rust     cargo test --workspace (native; includes the relay's tests)
#   wasm     wasm-pack test --headless --chrome sdk          (once sdk/ exists)
#   <dir>    node --test for each tests/<dir>/ holding *.test.mjs and the like
#            (tests/browser, tests/readme, ...), one suite per directory
#
# Each suite's output goes to the terminal and to target/test-logs/<suite>.log. The last
# line is always "summary: N passed, M failed"; the exit status is non-zero when a test
# failed or a suite could not run (a build failure, a crash, a time-out).
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh

# A hung suite must not eat the whole CI budget; generous enough for a cold build.
suite_timeout=${ROLLCALL_SUITE_TIMEOUT:-900}
log_dir=target/test-logs

passed=0
failed=0
report=()
redis_port=""
suite_pid=""

finish() {
  stop_redis
  echo
  echo "== results"
  local line
  for line in "${report[@]}"; do echo "  $line"; done
  echo "summary: $passed passed, $failed failed"
  if [ "$failed" -eq 0 ]; then exit 0; fi
  exit 1
}

# Counts tests from cargo / wasm-bindgen-test ("test result: ok. N passed; M failed")
# and node's test runner (TAP "# pass N" or spec "ℹ pass N").
count_tests() {
  if [ ! -f "$1" ]; then echo 0 0; return; fi
  awk '
    /^test result: / {
      for (i = 2; i <= NF; i++) {
        if ($i ~ /^passed;?$/) p += $(i - 1)
        if ($i ~ /^failed;?$/) f += $(i - 1)
      }
    }
    /^(# |ℹ )pass [0-9]+$/ { p += $NF }
    /^(# |ℹ )fail [0-9]+$/ { f += $NF }
    /^bench quick: [0-9]+ passed, [0-9]+ failed$/ { p += $3; f += $5 }
    END { print p + 0, f + 0 }
  ' "$1"
}

# run_suite NAME COMMAND...: runs it in its own process group with a time limit, shows
# its output live and keeps it in the log. The output goes to a file, not a pipe, so a
# stray child (a browser, a relay) holding stdout cannot stall the run; whatever is left
# of the group afterwards is ended.
run_suite() {
  local name=$1; shift
  local log="$log_dir/$name.log"
  local started=$SECONDS
  echo
  echo "== $name: $*"
  : >"$log"
  # timeout makes itself a process group leader, so its pid names the group.
  timeout -k 10 "$suite_timeout" "$@" >"$log" 2>&1 </dev/null &
  local pid=$!
  suite_pid=$pid
  tail -n +1 -f --pid="$pid" "$log" || true
  local rc=0
  wait "$pid" || rc=$?
  kill -TERM -- "-$pid" 2>/dev/null || true
  suite_pid=""

  local p=0 f=0
  read -r p f < <(count_tests "$log") || true
  local note=""
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    note=" (timed out after ${suite_timeout}s)"
  elif [ "$rc" -ne 0 ]; then
    note=" (exit $rc)"
  fi
  # A suite that failed without reporting a failed test (build error, crash) still fails.
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1
  fi
  passed=$((passed + p))
  failed=$((failed + f))
  report+=("$name: $p passed, $f failed$note in $((SECONDS - started))s, log $log")
}

# A build is not a test, but when it fails the tests behind it cannot run: count it.
run_step() {
  local name=$1; shift
  echo
  echo "== $name: $*"
  if ! "$@" 2>&1 </dev/null | tee "$log_dir/$name.log"; then
    failed=$((failed + 1))
    report+=("$name: FAILED, log $log_dir/$name.log")
  fi
}

skip() {
  echo
  echo "== $1: skipped, $2"
  report+=("$1: skipped, $2")
}

# Redis for the tests of several relays sharing state. A private instance on a free
# port, no persistence; tests find it in ROLLCALL_TEST_REDIS_URL.
start_redis() {
  command -v redis-server >/dev/null 2>&1 || return 0
  redis_port=$(node -e '
    const s = require("net").createServer().listen(0, "127.0.0.1", () => {
      console.log(s.address().port); s.close();
    });')
  mkdir -p "$log_dir/redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$redis_port" --save "" \
    --appendonly no --dir "$repo_root/$log_dir/redis" \
    --pidfile "$repo_root/$log_dir/redis/redis.pid" \
    --logfile "$repo_root/$log_dir/redis/redis.log" >/dev/null
  local i
  for i in $(seq 50); do
    redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  export ROLLCALL_TEST_REDIS_URL="redis://127.0.0.1:$redis_port/"
  echo "redis for tests: $ROLLCALL_TEST_REDIS_URL"
}

stop_redis() {
  [ -n "$redis_port" ] || return 0
  redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
  redis_port=""
}
# On Ctrl-C or an early exit, end the running suite's group (it is not in ours) and Redis.
cleanup() {
  if [ -n "$suite_pid" ]; then kill -TERM -- "-$suite_pid" 2>/dev/null || true; fi
  stop_redis
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -rf "$log_dir"
mkdir -p "$log_dir"

if ! scripts/setup.sh; then
  failed=$((failed + 1))
  report+=("setup: FAILED (see above)")
  finish
fi

# Builds first: the end-to-end suites start the relay binary and load the SDK's dist/.
if [ -f relay/Cargo.toml ]; then
  run_step build-relay cargo build -p rollcall-relay
else
  skip build-relay "no relay/Cargo.toml yet"
fi
# The test binaries too: on a cold machine their build takes longer than a suite may run,
# and it is a build, not a test.
run_step build-tests cargo test --workspace --no-run
if [ -f sdk/build.sh ]; then
  run_step build-sdk bash sdk/build.sh
else
  skip build-sdk "no sdk/build.sh yet"
fi

start_redis

run_suite rust cargo test --workspace --no-fail-fast

if [ -f sdk/Cargo.toml ]; then
  # no-install: use the wasm-bindgen that setup pinned; a mismatch fails at once.
  run_suite wasm wasm-pack test --headless --chrome --mode no-install sdk
else
  skip wasm "no sdk/Cargo.toml yet"
fi

# The benchmark's short run: every workload against every peer at small sizes, to
# prove the harness works (the figures come from a full `bench/run.sh`).
if [ -f bench/run.sh ]; then
  run_suite bench bash bench/run.sh --quick
else
  skip bench "no bench/run.sh yet"
fi

# Node test files by node's own naming rules (helpers like harness.mjs are not tests).
node_test_files() {
  find "$1" -path '*/node_modules' -prune -o -type f \
    \( -name '*.test.js' -o -name '*.test.mjs' -o -name '*.test.cjs' \
       -o -name '*-test.js' -o -name '*-test.mjs' -o -name '*_test.js' -o -name '*_test.mjs' \
       -o -name 'test-*.js' -o -name 'test-*.mjs' -o -name 'test.js' -o -name 'test.mjs' \) \
    -print | sort
}

# Node 20 has a global WebSocket only behind a flag; tests may rely on it.
node_flags=()
if node -e 'process.exit(typeof WebSocket === "undefined" ? 0 : 1)'; then
  node_flags+=(--experimental-websocket)
fi

# One suite per directory of tests/ (browser, demo, readme, ...).
[ -d tests/browser ] || skip browser "no tests/browser/ yet"
for dir in tests/*/; do
  [ -d "$dir" ] || continue
  mapfile -t files < <(node_test_files "$dir")
  [ ${#files[@]} -gt 0 ] || continue
  # One file at a time: end-to-end files start relays and browsers on two shared cores.
  run_suite "$(basename "$dir")" node "${node_flags[@]}" --test --test-concurrency=1 \
    --test-reporter=spec "${files[@]}"
done

finish
