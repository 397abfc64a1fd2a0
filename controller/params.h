// params: validation of what CreateVolume and friends are asked for, as pure functions:
// StorageClass parameters, capacity ranges, volume capabilities (access modes and types) and
// topology. Messages name the offending field or key; codes follow DESIGN §4 and the CSI
// spec's error tables (InvalidArgument for malformed input, OutOfRange for a capacity range we
// cannot honour, ResourceExhausted for a topology we cannot provision in).
//
// Access modes (decision): SINGLE_NODE_WRITER, SINGLE_NODE_READER_ONLY,
// SINGLE_NODE_SINGLE_WRITER and SINGLE_NODE_MULTI_WRITER (one node at a time) and
// MULTI_NODE_READER_ONLY work for block and mount; MULTI_NODE_MULTI_WRITER only for block
// (ext4 and xfs are not cluster filesystems: two nodes mounting one read-write corrupt it);
// MULTI_NODE_SINGLE_WRITER is refused (the target cannot tell one writer from several).
#ifndef ISCSI_CSI_CONTROLLER_PARAMS_H_
#define ISCSI_CSI_CONTROLLER_PARAMS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "csi.pb.h"
#include "google/protobuf/map.h"

namespace iscsi_csi::controller {

// StorageClass parameters we understand.
inline constexpr char kParamFsType[] = "fsType";        // ext4 | xfs
inline constexpr char kParamBlockSize[] = "blockSize";  // 512 | 4096
// Added by csi-provisioner --extra-create-metadata; accepted and kept, never interpreted.
inline constexpr char kParamPvcName[] = "csi.storage.k8s.io/pvc/name";
inline constexpr char kParamPvcNamespace[] = "csi.storage.k8s.io/pvc/namespace";
inline constexpr char kParamPvName[] = "csi.storage.k8s.io/pv/name";
// Added by csi-snapshotter --extra-create-metadata to CreateSnapshot.
inline constexpr char kParamSnapshotName[] = "csi.storage.k8s.io/volumesnapshot/name";
inline constexpr char kParamSnapshotNamespace[] = "csi.storage.k8s.io/volumesnapshot/namespace";
inline constexpr char kParamSnapshotContentName[] = "csi.storage.k8s.io/volumesnapshotcontent/name";

inline constexpr uint32_t kDefaultBlockSize = 512;
inline constexpr uint64_t kDefaultVolumeBytes = 1ull << 30;  // 1 GiB
// CSI "Size Limits": names and ids are at most 128 bytes.
inline constexpr size_t kMaxNameBytes = 128;

using ParameterMap = std::map<std::string, std::string>;
ParameterMap ToParameterMap(const google::protobuf::Map<std::string, std::string>& map);

struct VolumeParameters {
  std::string fs_type;      // "" when not given
  uint32_t block_size = 0;  // 0 when not given
};

// ParseVolumeParameters checks every key and value; InvalidArgument names the key.
absl::StatusOr<VolumeParameters> ParseVolumeParameters(const ParameterMap& parameters);

// ParseSnapshotParameters accepts only the csi-snapshotter metadata keys.
absl::Status ParseSnapshotParameters(const ParameterMap& parameters);

// WithoutMetadata drops the csi.storage.k8s.io/ keys: what remains decides compatibility.
ParameterMap WithoutMetadata(const ParameterMap& parameters);

// CheckName applies the CSI rules for CreateVolume/CreateSnapshot names: required, at most 128
// bytes, none of the banned control characters. `field` names the field in messages.
absl::Status CheckName(absl::string_view name, absl::string_view field);

// CheckCapacityRange: required_bytes and limit_bytes not negative, required <= limit when
// both are set. InvalidArgument.
absl::Status CheckCapacityRange(const csi::v1::CapacityRange& range, absl::string_view field);

// ChooseCapacity picks the size of a new volume: at least `minimum_bytes` (the source's size
// for clones and restores, else 0), required_bytes rounded up to `block_size`, `default_bytes`
// when the range is absent or has only a limit (then capped by the limit, rounded down).
// OutOfRange when no multiple of the block size fits the range. `range` may be null.
absl::StatusOr<uint64_t> ChooseCapacity(const csi::v1::CapacityRange* range, uint32_t block_size,
                                        uint64_t minimum_bytes, uint64_t default_bytes);

// CapacityFits reports whether an existing volume of `capacity` satisfies `range` (null: yes).
bool CapacityFits(const csi::v1::CapacityRange* range, uint64_t capacity);

// Access types as a bit set (a volume remembers which ones it was created for).
inline constexpr uint32_t kAccessBlock = 1;
inline constexpr uint32_t kAccessMount = 2;

// CheckCapabilityWellFormed: access_mode present and known, access type (block or mount) set.
absl::Status CheckCapabilityWellFormed(const csi::v1::VolumeCapability& capability,
                                       absl::string_view field);
// CheckCapabilitySupported: well formed, and a combination we serve (see the file comment),
// with a mount fs_type of "", ext4 or xfs. InvalidArgument says why.
absl::Status CheckCapabilitySupported(const csi::v1::VolumeCapability& capability,
                                      absl::string_view field);

struct CapabilitySummary {
  uint32_t access_types = 0;  // kAccessBlock | kAccessMount
  std::string mount_fs_type;  // the one fs_type the mount capabilities name, or ""
};
// SummarizeCapabilities checks a request's capability list (required, each supported, at most
// one distinct mount fs_type) and summarizes it.
absl::StatusOr<CapabilitySummary> SummarizeCapabilities(
    const google::protobuf::RepeatedPtrField<csi::v1::VolumeCapability>& capabilities,
    absl::string_view field);

// AccessModeIsSingleNode: one node at a time. AccessModeIsReadOnly: the mode itself forbids
// writes (SINGLE_NODE_READER_ONLY, MULTI_NODE_READER_ONLY).
bool AccessModeIsSingleNode(csi::v1::VolumeCapability::AccessMode::Mode mode);
bool AccessModeIsReadOnly(csi::v1::VolumeCapability::AccessMode::Mode mode);

// Topology: the segments (key -> value) this controller's volumes are reachable from.
using Topology = std::map<std::string, std::string>;

// ParseTopology parses KEY=VALUE items (the --topology flag) and checks the CSI rules for
// keys (optional DNS-style prefix + '/', name of at most 63 alphanumerics, '-', '_', '.') and
// values; keys are case-insensitive, so "Zone" and "zone" together are refused.
absl::StatusOr<Topology> ParseTopology(const std::vector<std::string>& items);

// TopologyCovers: a request's topology segment `other` lies within ours: every one of our keys
// is present in `other` (compared case-insensitively) with the same value. `other` may carry
// more specific keys.
bool TopologyCovers(const Topology& ours, const csi::v1::Topology& other);

// CheckAccessibility: with `ours` empty everything is accepted (we do not announce
// VOLUME_ACCESSIBILITY_CONSTRAINTS). Otherwise, when `requirement` lists requisite topologies,
// one of them must lie within ours; ResourceExhausted ("unable to provision in
// accessible_topology") if none does. Preferred-only requirements never fail.
absl::Status CheckAccessibility(const Topology& ours,
                                const csi::v1::TopologyRequirement& requirement);

}  // namespace iscsi_csi::controller

#endif  // ISCSI_CSI_CONTROLLER_PARAMS_H_
