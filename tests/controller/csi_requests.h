// csi_requests: builders for the CSI requests the controller tests send.
#ifndef ISCSI_CSI_TESTS_CONTROLLER_CSI_REQUESTS_H_
#define ISCSI_CSI_TESTS_CONTROLLER_CSI_REQUESTS_H_

#include <cstdint>
#include <string>

#include "csi.pb.h"

namespace iscsi_csi::controller::testing {

using AccessMode = csi::v1::VolumeCapability::AccessMode;

inline constexpr int64_t kMiB = 1 << 20;

inline csi::v1::VolumeCapability MountCap(AccessMode::Mode mode = AccessMode::SINGLE_NODE_WRITER,
                                          const std::string& fs_type = "") {
  csi::v1::VolumeCapability capability;
  capability.mutable_access_mode()->set_mode(mode);
  capability.mutable_mount()->set_fs_type(fs_type);
  return capability;
}

inline csi::v1::VolumeCapability BlockCap(AccessMode::Mode mode = AccessMode::SINGLE_NODE_WRITER) {
  csi::v1::VolumeCapability capability;
  capability.mutable_access_mode()->set_mode(mode);
  capability.mutable_block();
  return capability;
}

inline csi::v1::CreateVolumeRequest CreateRequest(
    const std::string& name, int64_t required_bytes = 16 * kMiB,
    const csi::v1::VolumeCapability& capability = MountCap()) {
  csi::v1::CreateVolumeRequest request;
  request.set_name(name);
  if (required_bytes > 0) request.mutable_capacity_range()->set_required_bytes(required_bytes);
  *request.add_volume_capabilities() = capability;
  return request;
}

inline csi::v1::CreateVolumeRequest CloneRequest(const std::string& name,
                                                 const std::string& source_volume_id,
                                                 int64_t required_bytes = 0) {
  csi::v1::CreateVolumeRequest request = CreateRequest(name, required_bytes);
  request.mutable_volume_content_source()->mutable_volume()->set_volume_id(source_volume_id);
  return request;
}

inline csi::v1::CreateVolumeRequest RestoreRequest(const std::string& name,
                                                   const std::string& snapshot_id,
                                                   int64_t required_bytes = 0) {
  csi::v1::CreateVolumeRequest request = CreateRequest(name, required_bytes);
  request.mutable_volume_content_source()->mutable_snapshot()->set_snapshot_id(snapshot_id);
  return request;
}

inline csi::v1::DeleteVolumeRequest DeleteRequest(const std::string& volume_id) {
  csi::v1::DeleteVolumeRequest request;
  request.set_volume_id(volume_id);
  return request;
}

inline csi::v1::ControllerPublishVolumeRequest PublishRequest(
    const std::string& volume_id, const std::string& node_id,
    const csi::v1::VolumeCapability& capability = MountCap(), bool readonly = false) {
  csi::v1::ControllerPublishVolumeRequest request;
  request.set_volume_id(volume_id);
  request.set_node_id(node_id);
  *request.mutable_volume_capability() = capability;
  request.set_readonly(readonly);
  return request;
}

inline csi::v1::ControllerUnpublishVolumeRequest UnpublishRequest(const std::string& volume_id,
                                                                  const std::string& node_id) {
  csi::v1::ControllerUnpublishVolumeRequest request;
  request.set_volume_id(volume_id);
  request.set_node_id(node_id);
  return request;
}

inline csi::v1::CreateSnapshotRequest SnapshotRequest(const std::string& name,
                                                      const std::string& source_volume_id) {
  csi::v1::CreateSnapshotRequest request;
  request.set_name(name);
  request.set_source_volume_id(source_volume_id);
  return request;
}

inline csi::v1::ControllerExpandVolumeRequest ExpandRequest(const std::string& volume_id,
                                                            int64_t required_bytes) {
  csi::v1::ControllerExpandVolumeRequest request;
  request.set_volume_id(volume_id);
  request.mutable_capacity_range()->set_required_bytes(required_bytes);
  return request;
}

}  // namespace iscsi_csi::controller::testing

#endif  // ISCSI_CSI_TESTS_CONTROLLER_CSI_REQUESTS_H_
