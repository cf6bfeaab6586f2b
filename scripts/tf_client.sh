#!/usr/bin/env bash
# A real TensorFlow client of varscope's TF bundles (scripts/tf_client.py): TF reads
# what `varscope build --format tf` wrote (tf.train.load_checkpoint, TF1 Saver.restore
# into a differently partitioned graph), and varscope reads what TF's
# Saver(sharded=True) writes (convert, inspect, --init-from with a scope map), and TF
# reads a bundle written as 3 parts (build --shard I/3) and merged (varscope merge).
#
# The venv with tensorflow-cpu (from PyPI) is cached in ~/.cache/varscope/tf-venv
# and reused while it imports TensorFlow.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
venv="${VARSCOPE_TF_VENV:-$HOME/.cache/varscope/tf-venv}"
work="$target/tf-client"

if ! "$venv/bin/python" -c "import tensorflow" > /dev/null 2>&1; then
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "tensorflow-cpu>=2.16,<3"
fi

cargo build --quiet --bin varscope
rm -rf "$work"
mkdir -p "$work"
status=0
TF_CPP_MIN_LOG_LEVEL=2 "$venv/bin/python" scripts/tf_client.py "$target/debug/varscope" "$work" || status=1
rm -rf "$work"
exit $status
