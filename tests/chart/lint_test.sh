#!/usr/bin/env bash
# lint_test.sh: `helm lint --strict` and `helm template` of charts/iscsi-csi with its defaults and
# with every values file of tests/chart/values (together they flip every documented switch).
# A values file states what its render must contain, as comment lines:
#   # expect: TEXT          the render contains TEXT (fixed string)
#   # expect-not: TEXT      it does not
#   # expect-not-re: REGEX  no line matches the extended regular expression
# Exit 77 when Helm cannot be had (scripts/chart-tools.sh).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

check_file() {
  local values=$1 label=${1:-defaults} out before=$failures
  label=${label#"$chart_test_root"/}
  if ! "$HELM" lint --strict "$chart_dir" ${values:+--values "$values"} >"$tmp/lint.log" 2>&1; then
    cat "$tmp/lint.log"
    fail "$label: helm lint --strict"
    return
  fi
  out=$tmp/render.yaml
  if ! chart_render "$values" "${chart_api_versions[@]}" >"$out" 2>"$tmp/template.err"; then
    cat "$tmp/template.err"
    fail "$label: helm template"
    return
  fi
  local objects expectations=0 line text
  objects=$(grep -c '^kind: ' "$out" || true)
  if [[ -n $values ]]; then
    while IFS= read -r line; do
      case $line in
        "# expect: "*)
          text=${line#"# expect: "}
          grep -qF -- "$text" "$out" || fail "$label: render lacks: $text" ;;
        "# expect-not: "*)
          text=${line#"# expect-not: "}
          ! grep -qF -- "$text" "$out" || fail "$label: render has: $text" ;;
        "# expect-not-re: "*)
          text=${line#"# expect-not-re: "}
          ! grep -qE -- "$text" "$out" || fail "$label: render matches: $text" ;;
        *) continue ;;
      esac
      expectations=$((expectations + 1))
    done <"$values"
  fi
  ((failures == before)) &&
    echo "ok: $label: lint --strict clean, $objects objects rendered, $expectations expectations met"
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check_file ""
while IFS= read -r f; do
  check_file "$f"
done < <(chart_values_files)

# The defaults render no snapshot or monitoring objects unless the cluster serves those APIs.
chart_render "" >"$tmp/plain.yaml"
for kind in VolumeSnapshotClass ServiceMonitor PrometheusRule; do
  ! grep -q "^kind: $kind\$" "$tmp/plain.yaml" || fail "defaults: $kind rendered without its API"
done
chart_render "$chart_values_dir/all-optional-on.yaml" >"$tmp/noapi.yaml"
for kind in VolumeSnapshotClass ServiceMonitor PrometheusRule; do
  ! grep -q "^kind: $kind\$" "$tmp/noapi.yaml" || fail "all-optional-on: $kind rendered without its API"
done
# NOTES.txt: `helm install` renders it, which needs a cluster; render it here through a copy of
# the chart where a ConfigMap template runs the same text through tpl.
render_notes() {
  rm -rf "$tmp/notes-chart"
  cp -r "$chart_dir" "$tmp/notes-chart"
  mv "$tmp/notes-chart/templates/NOTES.txt" "$tmp/notes-chart/notes-source.txt"
  cat >"$tmp/notes-chart/templates/notes.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata:
  name: notes
data:
  notes: |
    {{- tpl (.Files.Get "notes-source.txt") . | nindent 4 }}
YAML
  "$HELM" template "$chart_release" "$tmp/notes-chart" --namespace "$chart_namespace" \
    --show-only templates/notes.yaml "$@"
}
render_notes >"$tmp/notes.txt"
grep -qF "kubectl label node <NODE> iscsi-csi.io/storage-node=true" "$tmp/notes.txt" ||
  fail "defaults: NOTES do not tell how to label the storage node"
grep -qF "storageClassName: iscsi-csi" "$tmp/notes.txt" || fail "defaults: NOTES lack the PVC example"
render_notes --values "$chart_values_dir/all-optional-on.yaml" >"$tmp/notes.txt"
grep -qF "WARNING: sidecars.snapshotter.enabled" "$tmp/notes.txt" ||
  fail "all-optional-on: NOTES lack the warning about the missing snapshot API"
grep -qF "WARNING: metrics.serviceMonitor.enabled" "$tmp/notes.txt" ||
  fail "all-optional-on: NOTES lack the warning about the missing monitoring API"
grep -qF "WARNING: metrics.prometheusRule.enabled" "$tmp/notes.txt" ||
  fail "all-optional-on: NOTES lack the warning about the PrometheusRule left out"
render_notes --values "$chart_values_dir/all-optional-on.yaml" "${chart_api_versions[@]}" >"$tmp/notes.txt"
! grep -qF "WARNING" "$tmp/notes.txt" || fail "all-optional-on: NOTES warn although the APIs are served"
echo "ok: NOTES.txt renders its instructions and warnings"

if ((failures > 0)); then
  echo "lint_test.sh: $failures failure(s)"
  exit 1
fi
echo "lint_test.sh: all renders lint clean and meet their expectations"
