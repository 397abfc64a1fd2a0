#include "node/node_flags.h"

#include "absl/flags/flag.h"

ABSL_FLAG(int64_t, max_volumes_per_node, 64,
          "NodeGetInfo.max_volumes_per_node: how many volumes the CO may place on this node "
          "(each is one iSCSI session and one SCSI disk); 0 means no limit.");
ABSL_FLAG(std::vector<std::string>, topology, {},
          "A topology segment KEY=VALUE this node reports in NodeGetInfo.accessible_topology "
          "(e.g. topology.kubernetes.io/zone=z1). Give the flag once per segment.");
ABSL_FLAG(iscsi_csi::node::HostExec, host_exec, iscsi_csi::node::HostExec::kDirect,
          "How host tools (iscsiadm, mkfs, mount, ...) run: 'direct' runs them in the plugin's own "
          "mount namespace (plugin on the host, or an image that carries the tools and shares the "
          "host's /etc/iscsi, /dev and kubelet directory); 'nsenter' runs them through "
          "`nsenter --mount=/proc/1/ns/mnt --` in the host's mount namespace (needs hostPID) and "
          "mounts there too.");
ABSL_FLAG(absl::Duration, device_timeout, absl::Seconds(30),
          "How long NodeStageVolume waits for the SCSI disk after login (and NodeExpandVolume for "
          "the new size after a rescan) before giving up with DEADLINE_EXCEEDED and cleaning up.");
ABSL_FLAG(absl::Duration, command_timeout, absl::Minutes(2),
          "Timeout of one quick host command (iscsiadm, blkid, blockdev, sg_vpd, mount); the "
          "command is killed when it expires.");
ABSL_FLAG(absl::Duration, format_timeout, absl::Minutes(10),
          "Timeout of one slow host command (mkfs, fsck, resize2fs, xfs_growfs).");
