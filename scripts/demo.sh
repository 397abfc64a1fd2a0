#!/usr/bin/env bash
# demo.sh: builds iscsi-csi and runs it: the controller and a node plugin on unix sockets under
# ./run, with the controller's data directory under ./run/data, then shows them answering CSI
# calls through csi-call. With --serve it keeps both running until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

serve=0
[[ "${1:-}" == "--serve" ]] && serve=1

cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target iscsi-csi csi-call

bin=build/release/common/iscsi-csi
call=build/release/tests/tools/csi-call
run=$PWD/run
mkdir -p "$run"

"$bin" controller --endpoint="unix://$run/controller.sock" --data-dir="$run/data" \
  --metrics-address=127.0.0.1:9810 2>"$run/controller.log" &
controller=$!
"$bin" node --node-id="$(hostname)" --endpoint="unix://$run/node.sock" \
  --data-dir="$run/node" 2>"$run/node.log" &
node=$!
trap 'kill -TERM $controller $node 2>/dev/null; wait $controller $node 2>/dev/null || true' EXIT

for sock in controller node; do
  for _ in $(seq 100); do
    "$call" --endpoint="unix://$run/$sock.sock" Identity.Probe 2>/dev/null | grep -q "value: true" && break
    sleep 0.1
  done
done

for sock in controller node; do
  echo "== $sock: Identity.GetPluginInfo"
  "$call" --endpoint="unix://$run/$sock.sock" Identity.GetPluginInfo
  echo "== $sock: Identity.GetPluginCapabilities"
  "$call" --endpoint="unix://$run/$sock.sock" Identity.GetPluginCapabilities
  echo "== $sock: Identity.Probe"
  "$call" --endpoint="unix://$run/$sock.sock" Identity.Probe
done
echo "== controller metrics (http://127.0.0.1:9810/metrics)"
exec 3<>/dev/tcp/127.0.0.1/9810
printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3
grep '^iscsi_csi_csi_operations_total' <&3 || true
exec 3>&-

echo
echo "== volumes: create, publish and read through iSCSI (scripts/demo-controller.sh)"
kill -TERM $controller 2>/dev/null; wait $controller 2>/dev/null || true
PORTAL=${PORTAL:-127.0.0.1:3260} bash scripts/demo-controller.sh

if ((serve)); then
  echo "controller: unix://$run/controller.sock  node: unix://$run/node.sock  (Ctrl-C stops)"
  wait
fi
