#!/usr/bin/env bash
# Run the Autobahn WebSocket conformance cases (kosoku) against pushwire's /rps/echo endpoint.
#   bash scripts/autobahn.sh          sections 1-7 and 10 (what the test suite runs)
#   bash scripts/autobahn.sh --all    every case, including section 9 (large messages, slow)
# The HTML/JSON report goes to .autobahn-report/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh test
port=9911
.venv/bin/pushwire-serve --port "$port" --echo --no-demo --log-level warning &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
sleep 1.5
args=(-x '12.*' -x '13.*')
[ "${1:-}" = "--all" ] || args+=(-x '9.*')
.venv/bin/kosoku -m fuzzingclient "${args[@]}" -o .autobahn-report "127.0.0.1:$port"
