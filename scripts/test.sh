#!/usr/bin/env bash
# Everything the test suite needs on a fresh machine, then the whole suite.
# Extra arguments go to pytest, e.g.: bash scripts/test.sh tests/core -x
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
bash scripts/setup-env.sh test
exec .venv/bin/python -m pytest "$@"
