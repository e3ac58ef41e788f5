#!/usr/bin/env bash
# Create .venv and install pushwire into it (compiling the Cython core), plus extras given as arguments.
# Usage: bash scripts/setup-env.sh [extra,...]     e.g. bash scripts/setup-env.sh test
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip setuptools wheel Cython
spec="."
[ -n "$extras" ] && spec=".[${extras}]"
# --no-build-isolation: build with the Cython just installed, so repeated runs are quick
.venv/bin/python -m pip install -q --disable-pip-version-check --no-build-isolation -e "$spec"
