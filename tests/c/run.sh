#!/usr/bin/env bash
# Builds tests/c/session_test.c with the system C compiler against include/spmt.h and the
# cdylib, runs it, then runs it again under valgrind (no leaks, no invalid accesses).
# SPMT_SKIP_VALGRIND=1 skips the valgrind pass (local iteration only; CI never sets it).
set -euo pipefail
cd "$(dirname "$0")/../.."
target="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --lib
lib="$target/debug"
out="$target/c-test"
mkdir -p "$out"
"${CC:-cc}" -std=c11 -Wall -Wextra -Werror -pedantic -g -O1 -Iinclude tests/c/session_test.c \
  -L"$lib" -Wl,-rpath,"$lib" -lspmt -lpthread -o "$out/session_test"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "== C ABI test"
"$out/session_test" "$work/plain"
if [ "${SPMT_SKIP_VALGRIND:-}" = 1 ]; then
  echo "== C ABI test under valgrind: skipped (SPMT_SKIP_VALGRIND=1)"
  exit 0
fi
echo "== C ABI test under valgrind"
valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,possible \
  --show-leak-kinds=definite,possible --num-callers=30 --quiet \
  --suppressions=tests/c/valgrind.supp \
  "$out/session_test" "$work/valgrind" --quick
