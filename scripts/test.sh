#!/usr/bin/env bash
# test.sh: builds iscsi-csi and runs its tests.
#   1. unit tests under AddressSanitizer + UndefinedBehaviorSanitizer (preset "asan"), then
#      the libFuzzer harnesses for a bounded time (scripts/fuzz.sh, clang);
#   2. the unit and conformance tests under ThreadSanitizer (scripts/tsan.sh: preset "tsan",
#      on Debian's abseil source rebuilt with TSan and cached in build/absl-tsan);
#   3. the optimised build (preset "release") and every test label that exists beyond unit
#      (conformance, e2e), each a ctest label; bench is run only on request (scripts/bench.sh).
# Exits non-zero when any build or test fails.
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=$(nproc)
summary=$(mktemp)
tsan_log=$(mktemp)
trap 'rm -f "$summary" "$tsan_log"' EXIT
# Runs ctest with the given arguments and keeps its closing "out of N" line for the total.
run_ctest() {
  local log rc=0
  log=$(mktemp)
  ctest "$@" 2>&1 | tee "$log" || rc=$?
  grep -E "tests passed, [0-9]+ tests? failed out of [0-9]+" "$log" | tail -1 >>"$summary" || true
  rm -f "$log"
  return "$rc"
}

echo "== unit tests (ASan + UBSan)"
cmake --preset asan >/dev/null
cmake --build --preset asan -j "$jobs"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_ctest --preset unit-asan
unset ASAN_OPTIONS UBSAN_OPTIONS

echo "== fuzzing (libFuzzer, ASan + UBSan; FUZZ_SECONDS=${FUZZ_SECONDS:-30} per harness)"
bash scripts/fuzz.sh

echo "== unit and conformance tests (ThreadSanitizer)"
JOBS=$jobs bash scripts/tsan.sh 2>&1 | tee "$tsan_log"
grep -E "tests passed, [0-9]+ tests? failed out of [0-9]+" "$tsan_log" >>"$summary" || true

echo "== release build"
cmake --preset release >/dev/null
cmake --build --preset release -j "$jobs"

labels=$(ctest --test-dir build/release --print-labels | sed -n 's/^  //p' | grep -vx -e unit -e bench || true)
for label in $labels; do
  echo "== $label tests"
  run_ctest --test-dir build/release -L "^${label}\$" --output-on-failure -j 1 --timeout 1800
done

# One closing line over every label run above.
awk '{ for (i = 1; i <= NF; i++) { if ($i == "failed") failed += $(i - 2); if ($i == "of") total += $(i + 1) } }
     END { printf "total: %d passed, %d failed\n", total - failed, failed }' "$summary"
