#!/usr/bin/env bash
# Creates ./.venv and installs the project with the pinned versions of constraints.txt.
# Idempotent: a second run only re-checks. Used by scripts/demo and .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv with $($PY --version)"
    "$PY" -m venv .venv
fi
stamp=.venv/.mpac-installed
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "==> installing mpac-edge and its pinned dependencies (constraints.txt)"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -c constraints.txt -e ".${1:-[dev]}"
    echo "$want" > "$stamp"
fi
