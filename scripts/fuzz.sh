#!/usr/bin/env bash
# Runs every fuzz target for a fixed time with cargo-fuzz (libFuzzer), on the stable
# toolchain (RUSTC_BOOTSTRAP lets cargo-fuzz pass its sanitizer flags).
#   scripts/fuzz.sh [seconds per target, default 60]
# Crashes land in fuzz/artifacts/<target>/; turn each into a regression test.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-60}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked cargo-fuzz
export RUSTC_BOOTSTRAP=1
for target in $(cargo fuzz list); do
  echo "== $target (${seconds} s)"
  cargo fuzz run -O "$target" -- -max_total_time="$seconds" -print_final_stats=1 2>&1 \
    | grep -E "^(Done|stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY)" || true
done
