// fuzz_csi_requests: libFuzzer harness for the validation of CSI requests: the pure functions
// of controller/params.h and volume_id.h, and node_service.h's request parsers
// (ParseStageRequest, ParsePublishRequest, ParseVolumeTarget, ParseTopology), which turn a
// volume and publish context into portals, IQN, LUN, WWN and CHAP settings. Nothing here
// touches the host: no catalogue, no files, no iscsiadm.
//
// Input: one selector byte, then a serialized csi.v1 request message (ParseFromArray);
// selector % 8 picks the message: CreateVolume, CreateSnapshot, ValidateVolumeCapabilities,
// ControllerPublishVolume, ControllerExpandVolume, NodeStageVolume, NodePublishVolume, or
// (7) newline-separated topology items for both ParseTopology functions.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "controller/params.h"
#include "controller/volume_id.h"
#include "csi.pb.h"
#include "node/node_service.h"
#include "tests/fuzz/fuzz_input.h"

namespace iscsi_csi {
namespace {

using controller::ParameterMap;

// Our own topology, as the controller would announce it.
const controller::Topology& OurTopology() {
  static const auto* topology = new controller::Topology{{"topology.iscsi-csi.io/zone", "a"},
                                                         {"topology.iscsi-csi.io/rack", "r1"}};
  return *topology;
}

// ChooseCapacity's result, when it has one, fits the range and is a whole number of blocks.
void CheckCapacity(const csi::v1::CapacityRange* range, uint32_t block_size, uint64_t minimum) {
  if (range != nullptr && !controller::CheckCapacityRange(*range, "capacity_range").ok()) return;
  const absl::StatusOr<uint64_t> capacity =
      controller::ChooseCapacity(range, block_size, minimum, controller::kDefaultVolumeBytes);
  if (!capacity.ok()) return;
  if (*capacity % block_size != 0 || *capacity < minimum) std::abort();
  if (!controller::CapacityFits(range, *capacity)) std::abort();
}

void CreateVolume(const uint8_t* data, size_t size) {
  csi::v1::CreateVolumeRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return;
  (void)controller::CheckName(request.name(), "name");
  const ParameterMap parameters = controller::ToParameterMap(request.parameters());
  const absl::StatusOr<controller::VolumeParameters> parsed =
      controller::ParseVolumeParameters(parameters);
  (void)controller::WithoutMetadata(parameters);
  uint32_t block_size = controller::kDefaultBlockSize;
  if (parsed.ok() && parsed->block_size != 0) block_size = parsed->block_size;
  if (parsed.ok() && block_size != 512 && block_size != 4096) std::abort();
  CheckCapacity(request.has_capacity_range() ? &request.capacity_range() : nullptr, block_size, 0);
  const absl::Status summary =
      controller::SummarizeCapabilities(request.volume_capabilities(), "volume_capabilities")
          .status();
  if (fuzz::Verbose()) {
    std::fprintf(stderr, "create: parameters %s, capabilities %s\n",
                 parsed.status().ToString().c_str(), summary.ToString().c_str());
  }
  if (request.has_accessibility_requirements()) {
    const csi::v1::TopologyRequirement& requirement = request.accessibility_requirements();
    (void)controller::CheckAccessibility(OurTopology(), requirement);
    (void)controller::CheckAccessibility({}, requirement);
    for (const csi::v1::Topology& topology : requirement.requisite()) {
      (void)controller::TopologyCovers(OurTopology(), topology);
    }
  }
  if (request.has_volume_content_source()) {
    const csi::v1::VolumeContentSource& source = request.volume_content_source();
    (void)controller::IsVolumeId(source.volume().volume_id());
    (void)controller::IsSnapshotId(source.snapshot().snapshot_id());
  }
}

void CreateSnapshot(const uint8_t* data, size_t size) {
  csi::v1::CreateSnapshotRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return;
  (void)controller::CheckName(request.name(), "name");
  (void)controller::IsVolumeId(request.source_volume_id());
  (void)controller::ParseSnapshotParameters(controller::ToParameterMap(request.parameters()));
}

void ValidateVolumeCapabilities(const uint8_t* data, size_t size) {
  csi::v1::ValidateVolumeCapabilitiesRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return;
  (void)controller::IsVolumeId(request.volume_id());
  (void)controller::ParseVolumeParameters(controller::ToParameterMap(request.parameters()));
  (void)controller::SummarizeCapabilities(request.volume_capabilities(), "volume_capabilities");
  for (const csi::v1::VolumeCapability& capability : request.volume_capabilities()) {
    const absl::Status supported =
        controller::CheckCapabilitySupported(capability, "volume_capability");
    // Supported implies well formed.
    if (supported.ok() &&
        !controller::CheckCapabilityWellFormed(capability, "volume_capability").ok()) {
      std::abort();
    }
    (void)controller::AccessModeIsSingleNode(capability.access_mode().mode());
    (void)controller::AccessModeIsReadOnly(capability.access_mode().mode());
  }
}

void ControllerPublish(const uint8_t* data, size_t size) {
  csi::v1::ControllerPublishVolumeRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return;
  (void)controller::IsVolumeId(request.volume_id());
  if (request.has_volume_capability()) {
    (void)controller::CheckCapabilitySupported(request.volume_capability(), "volume_capability");
  }
}

void ControllerExpand(const uint8_t* data, size_t size) {
  csi::v1::ControllerExpandVolumeRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return;
  (void)controller::IsVolumeId(request.volume_id());
  CheckCapacity(request.has_capacity_range() ? &request.capacity_range() : nullptr, 4096,
                uint64_t{1} << 20);
}

void NodeStage(const uint8_t* data, size_t size) {
  csi::v1::NodeStageVolumeRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return;
  const absl::Status stage = node::ParseStageRequest(request).status();
  if (fuzz::Verbose()) std::fprintf(stderr, "stage: %s\n", stage.ToString().c_str());
  (void)node::ParseVolumeTarget(request.volume_context(), request.publish_context());
}

void NodePublish(const uint8_t* data, size_t size) {
  csi::v1::NodePublishVolumeRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return;
  const absl::Status publish = node::ParsePublishRequest(request).status();
  if (fuzz::Verbose()) std::fprintf(stderr, "publish: %s\n", publish.ToString().c_str());
}

void Topology(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  const std::vector<std::string> items = absl::StrSplit(text, '\n');
  const absl::StatusOr<controller::Topology> ours = controller::ParseTopology(items);
  (void)node::ParseTopology(items);
  if (ours.ok()) {
    csi::v1::Topology topology;
    for (const auto& [key, value] : *ours) (*topology.mutable_segments())[key] = value;
    if (!controller::TopologyCovers(*ours, topology)) std::abort();  // reflexive
  }
}

}  // namespace
}  // namespace iscsi_csi

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  if (size < 1) return 0;
  const uint8_t* data = bytes + 1;
  const size_t rest = size - 1;
  switch (bytes[0] % 8) {
    case 0:
      iscsi_csi::CreateVolume(data, rest);
      break;
    case 1:
      iscsi_csi::CreateSnapshot(data, rest);
      break;
    case 2:
      iscsi_csi::ValidateVolumeCapabilities(data, rest);
      break;
    case 3:
      iscsi_csi::ControllerPublish(data, rest);
      break;
    case 4:
      iscsi_csi::ControllerExpand(data, rest);
      break;
    case 5:
      iscsi_csi::NodeStage(data, rest);
      break;
    case 6:
      iscsi_csi::NodePublish(data, rest);
      break;
    default:
      iscsi_csi::Topology(data, rest);
      break;
  }
  return 0;
}
