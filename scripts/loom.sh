#!/usr/bin/env bash
# Runs every loom model (loom-tests/*.rs) against the real store and scope code.
#
# Separate target dir (the --cfg loom build shares nothing with the normal one),
# release with debug assertions, and a preemption bound of 3 for every model
# (the models themselves run in about 10 s on 2 cores; the cold build takes about
# 8 min, a warm one seconds). Extra arguments go to the test binaries (e.g. a test
# name filter). Exits non-zero when a model fails.
#
# Replaying a failure: LOOM_LOG=trace LOOM_LOCATION=1 scripts/loom.sh NAME
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/loom}"
export RUSTFLAGS="--cfg loom -C debug-assertions"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}"

targets=()
for f in loom-tests/*.rs; do
    targets+=(--test "loom_$(basename "$f" .rs)")
done

start=$SECONDS
# No CLI feature: the models need the library only.
cargo test --release --no-default-features "${targets[@]}" -- "$@"
echo "loom: all models passed in $((SECONDS - start)) s (LOOM_MAX_PREEMPTIONS=$LOOM_MAX_PREEMPTIONS)"
