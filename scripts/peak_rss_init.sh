#!/usr/bin/env bash
# Peak RSS of materializing a 1 GiB float32 variable (normal initializer).
# Usage: scripts/peak_rss_init.sh   (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/time ]; then
    apt-get install -y time >/dev/null
fi
cargo build --release --example init_rss
/usr/bin/time -v target/release/examples/init_rss 2>/tmp/init_rss_time.txt
grep -E "Maximum resident set size|Elapsed \(wall clock\)" /tmp/init_rss_time.txt
kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' /tmp/init_rss_time.txt)
echo "peak RSS: $((kb / 1024)) MiB for a 1024 MiB variable"
