#!/usr/bin/env bash
# Install pushwire into .venv and start the server on its embedded in-memory default:
# the demo page on http://127.0.0.1:9100/. Extra arguments go to pushwire-serve (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh client
exec .venv/bin/pushwire-serve "$@"
