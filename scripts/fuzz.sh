#!/usr/bin/env bash
# Runs each fuzz target of fuzz/ for a bounded time with cargo-fuzz (libFuzzer).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# SECONDS is the time per target (default 60, or $FUZZ_SECONDS); the targets default
# to all of them. Each run starts from the committed seeds (fuzz/seeds/<target>) and
# the working corpus (fuzz/corpus/<target>, not committed); crashes are written to
# fuzz/artifacts/<target>. Targets are built in release mode with debug assertions
# (so overflowing arithmetic panics) and AddressSanitizer. cargo-fuzz needs a nightly toolchain (`cargo +nightly`);
# set FUZZ_TOOLCHAIN to use another one. The script prints libFuzzer's execution
# count per target and exits non-zero if any target found a crash.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${1:-${FUZZ_SECONDS:-60}}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(spec_parser safetensors_reader partition_metadata bundle_reader)
fi
toolchain="${FUZZ_TOOLCHAIN:-nightly}"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
# Release builds with debug assertions: overflowing arithmetic panics, so a fuzzer
# finds it.
flags=(--release --debug-assertions)

if ! cargo "+$toolchain" fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz with the $toolchain toolchain is needed: cargo install cargo-fuzz; rustup toolchain install $toolchain" >&2
  exit 2
fi

cargo "+$toolchain" fuzz build "${flags[@]}" >&2
failed=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  log="artifacts/$t/last-run.log"
  echo "== $t: ${seconds}s" >&2
  if cargo "+$toolchain" fuzz run "${flags[@]}" "$t" "corpus/$t" "seeds/$t" -- \
      -max_total_time="$seconds" -rss_limit_mb=4096 -max_len=65536 \
      -artifact_prefix="artifacts/$t/" >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed=1
  fi
  execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || true)
  if [ -z "$execs" ]; then
    execs=$(grep -Eo '#[0-9]+' "$log" | tail -n 1 | tr -d '#' || true)
  fi
  cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -n 1 || true)
  echo "$t: $status, ${execs:-?} executions, $cov, corpus $(ls "corpus/$t" | wc -l) inputs (log: fuzz/$log)"
  if [ "$status" = FAILED ]; then
    grep -E 'panicked|ERROR|SUMMARY|artifact' "$log" | head -n 10 || true
  fi
done
exit "$failed"
