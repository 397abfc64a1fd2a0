#!/usr/bin/env bash
# objects_test.sh: every object the chart renders (defaults, and every values file of
# tests/chart/values with the optional APIs served) validated against the Kubernetes OpenAPI
# schemas, for unknown fields, and across objects (tests/chart/validate_objects.mjs).
# Exit 77 when Helm or the Node.js packages cannot be had.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

renders=()
chart_render "" >"$tmp/defaults.yaml"
renders+=("$tmp/defaults.yaml")
chart_render "" "${chart_api_versions[@]}" >"$tmp/defaults-all-apis.yaml"
renders+=("$tmp/defaults-all-apis.yaml")
while IFS= read -r f; do
  out=$tmp/$(basename "$f" .yaml).yaml
  chart_render "$f" "${chart_api_versions[@]}" >"$out"
  renders+=("$out")
done < <(chart_values_files)
# deploy/ as committed is validated too (what `kubectl apply -f deploy/` sends).
cat "$chart_test_root"/deploy/*.yaml >"$tmp/deploy-dir.yaml"
renders+=("$tmp/deploy-dir.yaml")

node "$chart_test_root/tests/chart/validate_objects.mjs" "${renders[@]}"
