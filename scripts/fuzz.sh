#!/usr/bin/env bash
# fuzz.sh: builds the libFuzzer harnesses of tests/fuzz (clang, ASan + UBSan, build/fuzz) and
#   1. replays every input under tests/fuzz/regressions/<harness>/ once (crashes found earlier);
#   2. fuzzes each harness for FUZZ_SECONDS (default 30) from a copy of its seed corpus
#      tests/fuzz/corpus/<harness>/ with its dictionary tests/fuzz/<harness>.dict.
# Prints one line per harness and exits non-zero on any crash, leak, timeout or build failure.
# A crashing input is kept under build/fuzz/artifacts/; once fixed, copy it to
# tests/fuzz/regressions/<harness>/ (and add a unit test next to the code).
#
# Usage: scripts/fuzz.sh [--regressions-only] [--merge] [harness...]
#   --regressions-only  build and replay the regression inputs, do not fuzz
#   --merge             afterwards, merge the new interesting inputs into tests/fuzz/corpus/
# Environment: FUZZ_SECONDS (30), FUZZ_JOBS (build jobs and harnesses run at once, 2),
#   CC / CXX (clang / clang++).
set -euo pipefail
cd "$(dirname "$0")/.."

all_harnesses=(fuzz_pdu fuzz_text_keys fuzz_chap fuzz_scsi fuzz_csi_requests)
# -max_len per harness: enough for a login or a few commands with parameter lists.
declare -A max_len=([fuzz_pdu]=4096 [fuzz_text_keys]=4096 [fuzz_chap]=2048 [fuzz_scsi]=4096
                    [fuzz_csi_requests]=4096)
seconds=${FUZZ_SECONDS:-30}
jobs=${FUZZ_JOBS:-2}
regressions_only=0
merge=0
harnesses=()
for arg in "$@"; do
  case "$arg" in
    --regressions-only) regressions_only=1 ;;
    --merge) merge=1 ;;
    fuzz_*) harnesses+=("$arg") ;;
    *) echo "usage: $0 [--regressions-only] [--merge] [harness...]" >&2; exit 2 ;;
  esac
done
[[ ${#harnesses[@]} -gt 0 ]] || harnesses=("${all_harnesses[@]}")

export CC=${CC:-clang} CXX=${CXX:-clang++}
if ! command -v "$CXX" >/dev/null; then
  echo "fuzz.sh: $CXX not found (apt-get install clang libclang-rt-14-dev)" >&2
  exit 1
fi

build=build/fuzz
echo "== build ($build, $CXX, ${harnesses[*]})"
cmake -G Ninja -S . -B "$build" -DISCSI_CSI_FUZZ=ON -DISCSI_CSI_BUILD_TESTS=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" >/dev/null
cmake --build "$build" -j "$jobs" --target "${harnesses[@]}"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
artifacts=$build/artifacts
mkdir -p "$artifacts"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0

echo "== regression inputs (tests/fuzz/regressions)"
for h in "${harnesses[@]}"; do
  dir=tests/fuzz/regressions/$h
  mapfile -t inputs < <(find "$dir" -type f 2>/dev/null | sort)
  if [[ ${#inputs[@]} -eq 0 ]]; then
    printf '%-18s regressions: none\n' "$h"
    continue
  fi
  if "$build/tests/fuzz/$h" -timeout=25 -rss_limit_mb=2560 "${inputs[@]}" \
    >"$work/$h.regress.log" 2>&1; then
    printf '%-18s regressions: %d inputs ok\n' "$h" "${#inputs[@]}"
  else
    printf '%-18s regressions: FAILED (log below)\n' "$h"
    tail -40 "$work/$h.regress.log"
    failed=1
  fi
done
if [[ $regressions_only -eq 1 ]]; then
  exit "$failed"
fi

# Fuzzes one harness; leaves its log and exit code in $work.
fuzz_one() {
  local h=$1 rc=0
  mkdir -p "$work/$h.corpus"
  cp tests/fuzz/corpus/"$h"/* "$work/$h.corpus/" 2>/dev/null || true
  "$build/tests/fuzz/$h" -max_total_time="$seconds" -max_len="${max_len[$h]}" \
    -dict="tests/fuzz/$h.dict" -timeout=25 -rss_limit_mb=2560 -print_final_stats=1 \
    -artifact_prefix="$artifacts/$h-" "$work/$h.corpus" >"$work/$h.log" 2>&1 || rc=$?
  echo "$rc" >"$work/$h.rc"
}

echo "== fuzzing, ${seconds}s per harness, $jobs at a time"
running=0
for h in "${harnesses[@]}"; do
  fuzz_one "$h" &
  running=$((running + 1))
  if [[ $running -ge $jobs ]]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait || true

for h in "${harnesses[@]}"; do
  rc=$(cat "$work/$h.rc" 2>/dev/null || echo 1)
  log=$work/$h.log
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1 || true)
  corpus=$(find "$work/$h.corpus" -type f | wc -l)
  if [[ $rc -eq 0 ]]; then
    result=ok
  else
    result="FAILED (exit $rc)"
    failed=1
  fi
  printf '%-18s %10s execs %7s/s  %-20s corpus %5d  %s\n' "$h" "$execs" "$speed" \
    "${cov:-cov: ?}" "$corpus" "$result"
  if [[ $rc -ne 0 ]]; then
    grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -20 || true
    tail -60 "$log"
  fi
  if [[ $merge -eq 1 && $rc -eq 0 ]]; then
    "$build/tests/fuzz/$h" -merge=1 -max_len="${max_len[$h]}" "tests/fuzz/corpus/$h" \
      "$work/$h.corpus" >/dev/null 2>&1
  fi
done
if [[ $failed -ne 0 ]]; then
  echo "fuzz.sh: FAILED; crashing inputs are in $artifacts/" >&2
fi
exit "$failed"
