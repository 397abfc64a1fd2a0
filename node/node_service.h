// node_service: the CSI Node service (spec v1.12 "Node Service RPC"), a thin adapter: it
// validates each request (InvalidArgument names the field), turns the volume and publish contexts
// into a VolumeTarget (common/volume_context.h is the contract), calls the Stager, and converts
// the result with ToGrpcStatus once. Until the start-up reconciliation has finished, calls that
// change state answer Unavailable.
#ifndef ISCSI_CSI_NODE_NODE_SERVICE_H_
#define ISCSI_CSI_NODE_NODE_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "csi.grpc.pb.h"
#include "node/node_metrics.h"
#include "node/stager.h"

namespace iscsi_csi::node {

struct NodeServiceOptions {
  std::string node_id;
  int64_t max_volumes_per_node = 64;
  std::map<std::string, std::string> topology;  // empty: no accessible_topology
};

// The parsers behind validation, exposed for table tests.
absl::StatusOr<VolumeTarget> ParseVolumeTarget(
    const google::protobuf::Map<std::string, std::string>& volume_context,
    const google::protobuf::Map<std::string, std::string>& publish_context);
absl::StatusOr<StageRequest> ParseStageRequest(const csi::v1::NodeStageVolumeRequest& request);
absl::StatusOr<PublishRequest> ParsePublishRequest(
    const csi::v1::NodePublishVolumeRequest& request);
// ParseTopology turns KEY=VALUE items into a map; InvalidArgument on a malformed item.
absl::StatusOr<std::map<std::string, std::string>> ParseTopology(
    const std::vector<std::string>& items);

class NodeService final : public csi::v1::Node::Service {
 public:
  // `metrics` may be null.
  NodeService(Stager* stager, NodeServiceOptions options, NodeMetrics* metrics = nullptr);

  // SetReady opens the state-changing RPCs (after reconciliation).
  void SetReady(bool ready) { ready_.store(ready, std::memory_order_release); }

  grpc::Status NodeStageVolume(grpc::ServerContext* context,
                               const csi::v1::NodeStageVolumeRequest* request,
                               csi::v1::NodeStageVolumeResponse* response) override;
  grpc::Status NodeUnstageVolume(grpc::ServerContext* context,
                                 const csi::v1::NodeUnstageVolumeRequest* request,
                                 csi::v1::NodeUnstageVolumeResponse* response) override;
  grpc::Status NodePublishVolume(grpc::ServerContext* context,
                                 const csi::v1::NodePublishVolumeRequest* request,
                                 csi::v1::NodePublishVolumeResponse* response) override;
  grpc::Status NodeUnpublishVolume(grpc::ServerContext* context,
                                   const csi::v1::NodeUnpublishVolumeRequest* request,
                                   csi::v1::NodeUnpublishVolumeResponse* response) override;
  grpc::Status NodeGetVolumeStats(grpc::ServerContext* context,
                                  const csi::v1::NodeGetVolumeStatsRequest* request,
                                  csi::v1::NodeGetVolumeStatsResponse* response) override;
  grpc::Status NodeExpandVolume(grpc::ServerContext* context,
                                const csi::v1::NodeExpandVolumeRequest* request,
                                csi::v1::NodeExpandVolumeResponse* response) override;
  grpc::Status NodeGetCapabilities(grpc::ServerContext* context,
                                   const csi::v1::NodeGetCapabilitiesRequest* request,
                                   csi::v1::NodeGetCapabilitiesResponse* response) override;
  grpc::Status NodeGetInfo(grpc::ServerContext* context,
                           const csi::v1::NodeGetInfoRequest* request,
                           csi::v1::NodeGetInfoResponse* response) override;

 private:
  absl::Status CheckReady() const;

  Stager* stager_;
  const NodeServiceOptions options_;
  NodeMetrics* metrics_;
  std::atomic<bool> ready_{false};
};

}  // namespace iscsi_csi::node

#endif  // ISCSI_CSI_NODE_NODE_SERVICE_H_
