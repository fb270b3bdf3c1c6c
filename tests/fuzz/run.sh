#!/usr/bin/env bash
# Builds the fuzz targets and runs each for SECONDS (default 10: CI's smoke run).
#   bash tests/fuzz/run.sh [SECONDS] [TARGET]     e.g. bash tests/fuzz/run.sh 1800 package_xml
# Stable Rust: the targets get libFuzzer's coverage instrumentation from the same
# SanitizerCoverage flags cargo-fuzz passes (without nightly's -Zsanitizer), and only the
# target's code is instrumented (an explicit --target keeps build scripts and proc macros out).
# Every regression input in tests/fuzz/regressions/<target>/ is replayed first. An input that
# crashes is saved in target/fuzz/artifacts/<target>/ and fails the run: fix the bug, then keep
# the input in tests/fuzz/regressions/<target>/.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
only=${2:-}
triple=$(rustc -vV | sed -n 's/^host: //p')
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing"
cargo build --release --quiet --manifest-path tests/fuzz/Cargo.toml --target "$triple" \
  --target-dir target/fuzz
bin=target/fuzz/$triple/release
failed=0
for t in bulk_json session_settings queue_message package_xml rest_json user_mapping; do
  if [ -n "$only" ] && [ "$only" != "$t" ]; then continue; fi
  corpus=target/fuzz/corpus/$t
  artifacts=target/fuzz/artifacts/$t
  mkdir -p "$corpus" "$artifacts"
  cp tests/fuzz/seeds/$t/* "$corpus"/
  if compgen -G "tests/fuzz/regressions/$t/*" >/dev/null; then
    "$bin/$t" tests/fuzz/regressions/$t/* >"$artifacts/regressions.log" 2>&1 || {
      echo "fuzz $t: a regression input fails again (log: $artifacts/regressions.log)" >&2
      failed=1
      continue
    }
  fi
  log=$artifacts/run.log
  if "$bin/$t" "$corpus" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    units=$(ls "$corpus" | wc -l)
    echo "fuzz $t: $runs executions in ${secs}s, no crash; corpus $units inputs"
  else
    echo "fuzz $t: CRASH (input saved in $artifacts/, log $log):" >&2
    grep -E "^(==|SUMMARY|thread|panicked|Test unit written)" "$log" | head -20 >&2 || true
    failed=1
  fi
done
exit $failed
