#!/usr/bin/env bash
# demo-controller.sh: the controller and its embedded iSCSI target on 127.0.0.1, driven through
# CSI calls (csi-call) and checked with a real iSCSI client (libiscsi's iscsi-inq and
# iscsi-readcapacity16): create a volume, publish it to a node, log in as that node with the
# CHAP credentials from publish_context, show that another initiator is refused, grow the
# volume, unpublish and delete it. State lives under ./run/controller-demo. With --serve the
# controller keeps running (and the volume stays) until Ctrl-C.
#   PORTAL=127.0.0.1:3260 (default) picks where the target listens.
set -euo pipefail
cd "$(dirname "$0")/.."

serve=0
[[ "${1:-}" == "--serve" ]] && serve=1
portal=${PORTAL:-127.0.0.1:3260}
for tool in iscsi-inq iscsi-readcapacity16; do
  command -v "$tool" >/dev/null || { echo "needs $tool: apt-get install libiscsi-bin" >&2; exit 1; }
done

cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target iscsi-csi csi-call

bin=build/release/common/iscsi-csi
run=$PWD/run/controller-demo
rm -rf "$run" && mkdir -p "$run"
endpoint=unix://$run/controller.sock
call() { build/release/tests/tools/csi-call --endpoint="$endpoint" "$@"; }
# value KEY FILE: the value of a map entry (volume_context, publish_context) in csi-call output.
value() { grep -A1 "key: \"$1\"" "$2" | sed -n 's/^ *value: "\(.*\)"$/\1/p' | head -1; }

"$bin" controller --endpoint="$endpoint" --data-dir="$run/data" --portal="$portal" \
  2>"$run/controller.log" &
controller=$!
trap 'kill -TERM $controller 2>/dev/null; wait $controller 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  call Identity.Probe 2>/dev/null | grep -q "value: true" && break
  sleep 0.1
done

echo "== CreateVolume: 64 MiB, block access"
call Controller.CreateVolume 'name: "demo"
  capacity_range { required_bytes: 67108864 }
  volume_capabilities { block {} access_mode { mode: SINGLE_NODE_WRITER } }' | tee "$run/volume.txt"
volume_id=$(sed -n 's/^ *volume_id: "\(.*\)"$/\1/p' "$run/volume.txt")
target_iqn=$(value targetIQN "$run/volume.txt")

node=demo-node
initiator="iqn.2026-11.io.iscsi-csi:node.$node"   # common/volume_context.h InitiatorIqnForNode
echo "== ControllerPublishVolume to node $node (initiator $initiator)"
call Controller.ControllerPublishVolume "volume_id: \"$volume_id\" node_id: \"$node\"
  volume_capability { block {} access_mode { mode: SINGLE_NODE_WRITER } }" >"$run/publish.txt"
user=$(value chapUser "$run/publish.txt")
secret=$(value chapSecret "$run/publish.txt")
target_user=$(value chapTargetUser "$run/publish.txt")
target_secret=$(value chapTargetSecret "$run/publish.txt")
echo "publish_context: chapUser=$user chapTargetUser=$target_user (secrets not shown)"
# libiscsi URL: one-way CHAP in user%secret@, mutual CHAP as target_user/target_password.
url="iscsi://$user%$secret@$portal/$target_iqn/0?target_user=$target_user&target_password=$target_secret"

echo "== iscsi-inq as $initiator"
iscsi-inq -i "$initiator" "$url"
echo "== iscsi-readcapacity16 as $initiator"
iscsi-readcapacity16 -i "$initiator" "$url"
echo "== iscsi-inq as another initiator (refused by the ACL)"
iscsi-inq -i "iqn.2026-11.io.iscsi-csi:node.intruder" "$url" && exit 1 || true

echo "== ControllerExpandVolume to 128 MiB, then READ CAPACITY(16) again"
call Controller.ControllerExpandVolume "volume_id: \"$volume_id\"
  capacity_range { required_bytes: 134217728 }
  volume_capability { block {} access_mode { mode: SINGLE_NODE_WRITER } }"
iscsi-readcapacity16 -i "$initiator" "$url" | grep "Total size"

echo "== ListVolumes (published_node_ids, volume_condition)"
call Controller.ListVolumes | grep -E 'volume_id|published_node_ids|abnormal|message'

if ((serve)); then
  echo "controller: $endpoint  target: $portal  volume: $volume_id (Ctrl-C stops)"
  wait
  exit 0
fi

echo "== ControllerUnpublishVolume, then the node is refused too"
call Controller.ControllerUnpublishVolume "volume_id: \"$volume_id\" node_id: \"$node\""
iscsi-inq -i "$initiator" "$url" && exit 1 || true
echo "== DeleteVolume"
call Controller.DeleteVolume "volume_id: \"$volume_id\""
echo "done; controller log: $run/controller.log"
