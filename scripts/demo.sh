#!/usr/bin/env bash
# The one demo command: builds the SDK and the relay, then runs the relay in demo mode,
# serving www/ and handing out tokens to anyone who asks.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh

# The demo needs no Chromium and no Redis.
scripts/setup.sh --demo

if [ -f sdk/build.sh ]; then
  bash sdk/build.sh
else
  echo "demo: sdk/build.sh is not here yet; the pages will have no SDK to load." >&2
fi

if [ ! -f relay/Cargo.toml ]; then
  echo "demo: the relay (relay/Cargo.toml) is not here yet; nothing to start." >&2
  exit 1
fi
cargo build --release -p rollcall-relay

listen=${ROLLCALL_LISTEN:-127.0.0.1:7400}
echo
echo "rollcall demo: open http://$listen/ in two browsers (or one private window) to see two people."
echo "Demo tokens are for demos only: in --demo mode the relay signs a token for anyone who asks."
echo
exec target/release/rollcall-relay --demo --config scripts/demo.toml --listen "$listen"
