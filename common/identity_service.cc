#include "common/identity_service.h"

#include <utility>

#include "common/status_convert.h"

namespace iscsi_csi {

IdentityService::IdentityService(std::string driver_name, std::string version,
                                 std::vector<csi::v1::PluginCapability> capabilities,
                                 std::function<absl::Status()> health)
    : driver_name_(std::move(driver_name)),
      version_(std::move(version)),
      capabilities_(std::move(capabilities)),
      health_(std::move(health)) {}

grpc::Status IdentityService::GetPluginInfo(grpc::ServerContext*,
                                            const csi::v1::GetPluginInfoRequest*,
                                            csi::v1::GetPluginInfoResponse* response) {
  response->set_name(driver_name_);
  response->set_vendor_version(version_);
  return grpc::Status::OK;
}

grpc::Status IdentityService::GetPluginCapabilities(
    grpc::ServerContext*, const csi::v1::GetPluginCapabilitiesRequest*,
    csi::v1::GetPluginCapabilitiesResponse* response) {
  for (const csi::v1::PluginCapability& capability : capabilities_) {
    *response->add_capabilities() = capability;
  }
  return grpc::Status::OK;
}

grpc::Status IdentityService::Probe(grpc::ServerContext*, const csi::v1::ProbeRequest*,
                                    csi::v1::ProbeResponse* response) {
  const bool is_ready = ready();
  if (is_ready && health_) {
    if (absl::Status health = health_(); !health.ok()) return ToGrpcStatus(health);
  }
  response->mutable_ready()->set_value(is_ready);
  return grpc::Status::OK;
}

csi::v1::PluginCapability ServiceCapability(csi::v1::PluginCapability::Service::Type type) {
  csi::v1::PluginCapability capability;
  capability.mutable_service()->set_type(type);
  return capability;
}

}  // namespace iscsi_csi
