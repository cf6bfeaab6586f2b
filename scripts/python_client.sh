#!/usr/bin/env bash
# A real client of varscope checkpoints: builds a small model with the CLI, then loads
# the checkpoint with the `safetensors` Python package (from PyPI, in a venv under
# target/) and checks names, shapes, dtypes and values against what the Rust side
# dumped — including a partitioned variable reassembled from its shards.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
venv="$target/python-client-venv"
work="$target/python-client"

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check numpy safetensors

cargo build --quiet --bin varscope
bin="$target/debug/varscope"

rm -rf "$work"
mkdir -p "$work"
# bfloat16 tensors (tiny.toml has some) have no numpy dtype: they are checked for
# names and shapes only; client.toml has float32, float64 and int64 tensors.
"$bin" build examples/tiny.toml -o "$work/tiny.safetensors" --quiet \
    --dump-expected "$work/expected.json" --workers 2 --threads 2 > "$work/build.log"
"$bin" build examples/client.toml -o "$work/client.safetensors" --quiet \
    --dump-expected "$work/client.json" > "$work/client-build.log"

status=0
"$venv/bin/python" scripts/python_client_test.py "$work/tiny.safetensors" "$work/expected.json" || status=1
"$venv/bin/python" scripts/python_client_test.py "$work/client.safetensors" "$work/client.json" || status=1
# The checker must notice a checkpoint that does not match.
if "$venv/bin/python" scripts/python_client_test.py "$work/client.safetensors" "$work/expected.json" > "$work/negative.log"; then
    echo "FAIL: the python client accepted a checkpoint of another model" >&2
    status=1
else
    echo "python client: a mismatched checkpoint is rejected, as it should be"
fi
rm -rf "$work"
exit $status
