#!/usr/bin/env bash
# bad_values_test.sh: values.schema.json refuses bad values with a message that names them. Each
# file of tests/chart/bad-values holds one mistake and, as a comment line, the message Helm must
# print: "# expect-error: TEXT". Both `helm template` and `helm lint --strict` must fail.
# Exit 77 when Helm cannot be had.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

failures=0
count=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for values in "$chart_test_root"/tests/chart/bad-values/*.yaml; do
  name=${values#"$chart_test_root"/}
  want=$(sed -n 's/^# expect-error: //p' "$values")
  if [[ -z $want ]]; then
    echo "FAIL: $name has no '# expect-error:' line"
    failures=$((failures + 1))
    continue
  fi
  count=$((count + 1))
  rc=0
  chart_render "$values" >/dev/null 2>"$tmp/err" || rc=$?
  if ((rc == 0)); then
    echo "FAIL: $name: helm template accepted it"
    failures=$((failures + 1))
    continue
  fi
  if ! grep -qF -- "$want" "$tmp/err"; then
    echo "FAIL: $name: helm template exited $rc without the expected message"
    echo "  want: $want"
    sed 's/^/  got:  /' "$tmp/err"
    failures=$((failures + 1))
    continue
  fi
  if "$HELM" lint --strict "$chart_dir" --values "$values" >"$tmp/lint" 2>&1; then
    echo "FAIL: $name: helm lint --strict accepted it"
    failures=$((failures + 1))
    continue
  fi
  echo "ok: $name: refused (exit $rc): $want"
done

if ((failures > 0)); then
  echo "bad_values_test.sh: $failures failure(s)"
  exit 1
fi
echo "bad_values_test.sh: all $count bad values files refused with their message"
