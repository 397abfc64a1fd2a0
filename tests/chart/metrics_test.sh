#!/usr/bin/env bash
# metrics_test.sh: the chart's monitoring objects with every metrics switch on.
#   1. metrics_check.mjs: the PrometheusRule's alerts carry severity, summary and description;
#      the Grafana dashboard parses, its ConfigMap carries it unchanged, and every PromQL
#      expression of both names only metrics of tests/metrics/metric_names.txt (the list the
#      acceptance test tests/metrics checks against real scrapes), and the dashboard shows them all;
#   2. `promtool check rules` on the PrometheusRule's spec (defaults and tests/chart/values
#      thresholds) and on every dashboard expression;
#   3. `promtool test rules` (tests/chart/alerts_test.yaml): each alert fires on the series that
#      should raise it and not on healthy ones;
#   4. thresholds that make no sense (critical above warning) fail the render.
# Exit 77 when Helm, the Node.js packages or promtool (Debian package prometheus) are missing.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

promtool=${PROMTOOL:-$(command -v promtool || true)}
if [[ -z $promtool ]]; then
  echo "metrics_test.sh: promtool not found (apt-get install prometheus)"
  exit 77
fi

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

names=$chart_test_root/tests/metrics/metric_names.txt
dashboard=$chart_dir/dashboards/iscsi-csi.json
all_on=(--set metrics.enabled=true --set metrics.serviceMonitor.enabled=true --set metrics.prometheusRule.enabled=true
        --set metrics.grafanaDashboard.enabled=true "${chart_api_versions[@]}")

# check_render LABEL VALUES_FILE|"": steps 1 and 2 on one render.
check_render() {
  local label=$1 values=$2 out=$tmp/$1
  mkdir -p "$out"
  if ! chart_render "$values" "${all_on[@]}" >"$out/render.yaml" 2>"$out/err"; then
    cat "$out/err"
    fail "$label: helm template"
    return
  fi
  node "$chart_test_root/tests/chart/metrics_check.mjs" "$out/render.yaml" "$names" "$dashboard" \
    "$out" || fail "$label: metrics_check.mjs"
  for rules in rules.yaml dashboard-rules.yaml; do
    [[ -f $out/$rules ]] || continue
    if "$promtool" check rules "$out/$rules" >"$out/promtool.log" 2>&1; then
      echo "ok: $label: promtool check rules $rules: $(grep -o 'SUCCESS: [0-9]* rules found' "$out/promtool.log")"
    else
      cat "$out/promtool.log"
      fail "$label: promtool check rules $rules"
    fi
  done
}

check_render defaults ""
while IFS= read -r f; do
  check_render "$(basename "$f" .yaml)" "$f"
done < <(chart_values_files)

# 3. The alerts against synthetic series, with the default thresholds.
if [[ -f $tmp/defaults/rules-bare.yaml ]]; then
  cp "$chart_test_root/tests/chart/alerts_test.yaml" "$tmp/defaults/"
  if (cd "$tmp/defaults" && "$promtool" test rules alerts_test.yaml) >"$tmp/test.log" 2>&1; then
    echo "ok: promtool test rules alerts_test.yaml: every alert fires when it should"
  else
    cat "$tmp/test.log"
    fail "promtool test rules alerts_test.yaml"
  fi
else
  fail "defaults: no rules to test"
fi

# 4. A critical pool threshold above the warning one is refused with its reason.
if chart_render "" "${all_on[@]}" --set metrics.prometheusRule.thresholds.poolFreeCriticalPercent=20 \
    >/dev/null 2>"$tmp/err"; then
  fail "critical pool threshold above warning: rendered"
elif ! grep -qF "poolFreeCriticalPercent must be below poolFreeWarningPercent" "$tmp/err"; then
  cat "$tmp/err"
  fail "critical pool threshold above warning: refused without the reason"
else
  echo "ok: a critical pool threshold above the warning one is refused"
fi

# Off by default, and nothing without metrics.
chart_render "" "${chart_api_versions[@]}" >"$tmp/defaults.yaml"
for kind in PrometheusRule ConfigMap; do
  ! grep -q "^kind: $kind\$" "$tmp/defaults.yaml" || fail "defaults: $kind rendered"
done
chart_render "" "${all_on[@]}" --set metrics.enabled=false >"$tmp/no-metrics.yaml"
for kind in PrometheusRule ConfigMap ServiceMonitor; do
  ! grep -q "^kind: $kind\$" "$tmp/no-metrics.yaml" || fail "metrics.enabled=false: $kind rendered"
done

if ((failures > 0)); then
  echo "metrics_test.sh: $failures failure(s)"
  exit 1
fi
echo "metrics_test.sh: alerts and dashboard check out against tests/metrics/metric_names.txt"
