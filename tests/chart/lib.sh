# lib.sh: shared by the chart tests (sourced). Finds the checkout, installs Helm and the Node.js
# packages through scripts/chart-tools.sh (exit 77 when they cannot be had) and renders the chart.

chart_test_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
chart_dir=$chart_test_root/charts/iscsi-csi
chart_values_dir=$chart_test_root/tests/chart/values
chart_release=iscsi-csi
chart_namespace=iscsi-csi

# APIs the "every switch flipped" renders pretend the cluster serves, so that the objects gated
# on them (VolumeSnapshotClass, csi-snapshotter, ServiceMonitor) are rendered and checked too.
chart_api_versions=(--api-versions snapshot.storage.k8s.io/v1
                    --api-versions monitoring.coreos.com/v1)

chart_tools_env=$(bash "$chart_test_root/scripts/chart-tools.sh") || exit $?
eval "$chart_tools_env"

# chart_render VALUES_FILE|"" [helm args...]: helm template of the chart, to stdout.
chart_render() {
  local values=$1
  shift
  local args=(template "$chart_release" "$chart_dir" --namespace "$chart_namespace")
  [[ -n $values ]] && args+=(--values "$values")
  "$HELM" "${args[@]}" "$@"
}

# chart_values_files: the values files of tests/chart/values, one per line.
chart_values_files() {
  find "$chart_values_dir" -maxdepth 1 -name '*.yaml' | sort
}
