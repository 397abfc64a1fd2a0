// volume_context: the contract between the controller and the node plugin, carried by the CO
// in Volume.volume_context (static, safe to cache, no secrets) and in
// ControllerPublishVolumeResponse.publish_context (per node; carries CHAP secrets, so it is
// masked in logs by common/redact).
//
// Node identity: the node plugin reports its --node-id as NodeGetInfo.node_id (the Kubernetes
// node name). The iSCSI initiator name it logs in with is derived from that id, never read from
// the host, so the controller can put exactly that name in the target's ACL at
// ControllerPublishVolume: InitiatorIqnForNode(node_id). The node plugin logs in through its
// own open-iscsi interface record (kIscsiIface) that carries this initiator name, leaving the
// host's /etc/iscsi/initiatorname.iscsi alone.
#ifndef ISCSI_CSI_COMMON_VOLUME_CONTEXT_H_
#define ISCSI_CSI_COMMON_VOLUME_CONTEXT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace iscsi_csi {

// volume_context keys (set by CreateVolume).
inline constexpr char kCtxPortals[] = "portals";      // "10.0.0.5:3260,[fd00::5]:3260"
inline constexpr char kCtxTargetIqn[] = "targetIQN";  // "iqn.2026-11.io.iscsi-csi:<volume id>"
inline constexpr char kCtxLun[] = "lun";              // "0"
inline constexpr char kCtxWwn[] = "wwn";              // 32 lower-case hex digits, NAA 6
inline constexpr char kCtxBlockSize[] = "blockSize";  // "512" or "4096"
inline constexpr char kCtxFsType[] = "fsType";        // "ext4" or "xfs", when known at creation

// publish_context keys (set by ControllerPublishVolume for one node).
inline constexpr char kPubChapUser[] = "chapUser";          // one-way CHAP: node -> target
inline constexpr char kPubChapSecret[] = "chapSecret";
inline constexpr char kPubChapTargetUser[] = "chapTargetUser";  // mutual: target -> node
inline constexpr char kPubChapTargetSecret[] = "chapTargetSecret";

// The open-iscsi interface record the node plugin creates and uses for every session.
inline constexpr char kIscsiIface[] = "iscsi-csi";

// Prefix of every IQN this driver makes (targets and initiators).
inline constexpr char kIqnPrefix[] = "iqn.2026-11.io.iscsi-csi";

// InitiatorIqnForNode maps a node id to the initiator name the node logs in with:
// "iqn.2026-11.io.iscsi-csi:node.<node id, lower-cased>". InvalidArgument when the id has
// characters an iSCSI name cannot carry (RFC 3722: letters, digits, '-', '.', ':').
absl::StatusOr<std::string> InitiatorIqnForNode(absl::string_view node_id);

// TargetIqnForVolume: "iqn.2026-11.io.iscsi-csi:<volume id>".
std::string TargetIqnForVolume(absl::string_view volume_id);

}  // namespace iscsi_csi

#endif  // ISCSI_CSI_COMMON_VOLUME_CONTEXT_H_
