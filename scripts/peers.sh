#!/usr/bin/env bash
# Builds and runs the side-by-side benchmark against candle-nn (benches/peers, a
# standalone crate with its own lock file and target directory) and prints its
# markdown table. Arguments go to the benchmark: --rounds N, --million N, --only abc, …
# (--help lists them). The first run compiles candle, which takes a few minutes.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
manifest="$root/benches/peers/Cargo.toml"
if ! command -v cargo >/dev/null 2>&1; then
    echo "peers.sh: cargo not found; install a Rust toolchain (rustup) first" >&2
    exit 1
fi
# Its own target directory unless the caller chose one.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/benches/peers/target}"
exec cargo run --release --manifest-path "$manifest" -- "$@"
