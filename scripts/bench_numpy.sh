#!/usr/bin/env bash
# Runs scripts/bench_numpy.py in a throw-away venv outside the repository.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${NUMPY_BENCH_VENV:-/tmp/varscope-numpy-venv}"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet numpy
fi
"$venv/bin/python" "$here/bench_numpy.py"
