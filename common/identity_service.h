// identity_service: the CSI Identity service both modes serve (GetPluginInfo,
// GetPluginCapabilities, Probe). Probe reports ready only after the mode has loaded its state.
#ifndef ISCSI_CSI_COMMON_IDENTITY_SERVICE_H_
#define ISCSI_CSI_COMMON_IDENTITY_SERVICE_H_

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "csi.grpc.pb.h"

namespace iscsi_csi {

class IdentityService final : public csi::v1::Identity::Service {
 public:
  // `health`, when set, is consulted by Probe once ready: a non-OK status is returned to the
  // caller as the RPC status (the plugin is unhealthy and may need a restart).
  IdentityService(std::string driver_name, std::string version,
                  std::vector<csi::v1::PluginCapability> capabilities,
                  std::function<absl::Status()> health = nullptr);

  // SetReady flips what Probe reports. Modes call it once their state is loaded.
  void SetReady(bool ready) { ready_.store(ready, std::memory_order_release); }
  bool ready() const { return ready_.load(std::memory_order_acquire); }

  grpc::Status GetPluginInfo(grpc::ServerContext* context,
                             const csi::v1::GetPluginInfoRequest* request,
                             csi::v1::GetPluginInfoResponse* response) override;
  grpc::Status GetPluginCapabilities(grpc::ServerContext* context,
                                     const csi::v1::GetPluginCapabilitiesRequest* request,
                                     csi::v1::GetPluginCapabilitiesResponse* response) override;
  grpc::Status Probe(grpc::ServerContext* context, const csi::v1::ProbeRequest* request,
                     csi::v1::ProbeResponse* response) override;

 private:
  const std::string driver_name_;
  const std::string version_;
  const std::vector<csi::v1::PluginCapability> capabilities_;
  const std::function<absl::Status()> health_;
  std::atomic<bool> ready_{false};
};

// ServiceCapability builds a PluginCapability of the Service kind.
csi::v1::PluginCapability ServiceCapability(csi::v1::PluginCapability::Service::Type type);

}  // namespace iscsi_csi

#endif  // ISCSI_CSI_COMMON_IDENTITY_SERVICE_H_
