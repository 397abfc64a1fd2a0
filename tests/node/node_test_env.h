// NodeTestEnv: a NodeService over a Stager over a FakeHost, with kubelet-like paths in a temporary
// directory, and request builders with sensible defaults. Shared by the service and
// reconciliation tests.
#ifndef ISCSI_CSI_TESTS_NODE_NODE_TEST_ENV_H_
#define ISCSI_CSI_TESTS_NODE_NODE_TEST_ENV_H_

#include <filesystem>
#include <memory>
#include <string>

#include "csi.pb.h"
#include "gtest/gtest.h"
#include "node/node_service.h"
#include "node/stager.h"
#include "node/staging_store.h"
#include "tests/fakes/fake_host.h"

namespace iscsi_csi::testing {

inline constexpr char kNodeId[] = "worker-1";
inline constexpr char kInitiator[] = "iqn.2026-11.io.iscsi-csi:node.worker-1";
inline constexpr char kPortal[] = "10.0.0.5:3260";
inline constexpr char kWwn1[] = "6001405f3a2c1e9b4d7e8a1c2b3d4e5f";
inline constexpr char kWwn2[] = "6001405aaaaaaaaaaaaaaaaaaaaaaaa2";

inline std::string IqnOf(const std::string& volume_id) {
  return "iqn.2026-11.io.iscsi-csi:" + volume_id;
}

class NodeTestEnv {
 public:
  NodeTestEnv() { Start(); }

  // Start (re)creates the store, stager and service over the same host and data dir, as a
  // restarted plugin process would.
  void Start() {
    service_.reset();
    stager_.reset();
    store_ = std::make_unique<node::StagingStore>(state_dir());
    node::StagerOptions options;
    options.initiator_iqn = kInitiator;
    options.iface = "iscsi-csi";
    options.dev_root = host_.dev_root();
    options.device_timeout = absl::Seconds(5);
    options.poll_interval = absl::Milliseconds(250);
    stager_ = std::make_unique<node::Stager>(
        node::Host{&host_.runner(), &host_.mounter(), &host_.sysfs(), &host_.clock()},
        store_.get(), options);
    node::NodeServiceOptions service_options;
    service_options.node_id = kNodeId;
    service_options.max_volumes_per_node = 64;
    service_ = std::make_unique<node::NodeService>(stager_.get(), service_options);
  }

  // Reconcile runs the start-up reconciliation and opens the service.
  absl::Status Reconcile() {
    absl::Status status = stager_->Reconcile();
    if (status.ok()) service_->SetReady(true);
    return status;
  }

  FakeHost& host() { return host_; }
  node::NodeService& service() { return *service_; }
  node::StagingStore& store() { return *store_; }
  std::string state_dir() const { return host_.root() + "/state/staging"; }
  std::string kubelet() const { return host_.root() + "/kubelet"; }
  std::string StagingPath(const std::string& volume_id) const {
    return kubelet() + "/plugins/kubernetes.io/csi/iscsi-csi.io/" + volume_id + "/globalmount";
  }
  std::string TargetPath(const std::string& volume_id, const std::string& pod = "pod-1") const {
    return kubelet() + "/pods/" + pod + "/volumes/kubernetes.io~csi/" + volume_id + "/mount";
  }

  // AddVolume puts a target for `volume_id` on the fake network.
  void AddVolume(const std::string& volume_id, const std::string& wwn = kWwn1,
                 const std::function<void(FakeTarget&)>& tweak = nullptr) {
    FakeTarget target;
    target.iqn = IqnOf(volume_id);
    target.wwn = wwn;
    if (tweak) tweak(target);
    host_.AddTarget(std::move(target));
  }

  csi::v1::NodeStageVolumeRequest StageRequest(const std::string& volume_id,
                                               const std::string& wwn = kWwn1) const {
    csi::v1::NodeStageVolumeRequest request;
    request.set_volume_id(volume_id);
    request.set_staging_target_path(StagingPath(volume_id));
    request.mutable_volume_capability()->mutable_mount()->set_fs_type("ext4");
    request.mutable_volume_capability()->mutable_access_mode()->set_mode(
        csi::v1::VolumeCapability::AccessMode::SINGLE_NODE_WRITER);
    auto& context = *request.mutable_volume_context();
    context["portals"] = kPortal;
    context["targetIQN"] = IqnOf(volume_id);
    context["lun"] = "0";
    context["wwn"] = wwn;
    context["blockSize"] = "512";
    return request;
  }

  static void MakeBlock(csi::v1::VolumeCapability* capability) {
    capability->clear_mount();
    capability->mutable_block();
  }

  csi::v1::NodePublishVolumeRequest PublishRequest(const std::string& volume_id,
                                                   const std::string& pod = "pod-1") const {
    csi::v1::NodePublishVolumeRequest request;
    request.set_volume_id(volume_id);
    request.set_staging_target_path(StagingPath(volume_id));
    request.set_target_path(TargetPath(volume_id, pod));
    request.mutable_volume_capability()->mutable_mount()->set_fs_type("ext4");
    request.mutable_volume_capability()->mutable_access_mode()->set_mode(
        csi::v1::VolumeCapability::AccessMode::SINGLE_NODE_WRITER);
    return request;
  }

  grpc::Status Stage(const csi::v1::NodeStageVolumeRequest& request) {
    csi::v1::NodeStageVolumeResponse response;
    return service_->NodeStageVolume(nullptr, &request, &response);
  }
  grpc::Status Unstage(const std::string& volume_id, const std::string& path = "") {
    csi::v1::NodeUnstageVolumeRequest request;
    request.set_volume_id(volume_id);
    request.set_staging_target_path(path.empty() ? StagingPath(volume_id) : path);
    csi::v1::NodeUnstageVolumeResponse response;
    return service_->NodeUnstageVolume(nullptr, &request, &response);
  }
  grpc::Status Publish(const csi::v1::NodePublishVolumeRequest& request) {
    csi::v1::NodePublishVolumeResponse response;
    return service_->NodePublishVolume(nullptr, &request, &response);
  }
  grpc::Status Unpublish(const std::string& volume_id, const std::string& target_path) {
    csi::v1::NodeUnpublishVolumeRequest request;
    request.set_volume_id(volume_id);
    request.set_target_path(target_path);
    csi::v1::NodeUnpublishVolumeResponse response;
    return service_->NodeUnpublishVolume(nullptr, &request, &response);
  }
  grpc::Status Stats(const std::string& volume_id, const std::string& path,
                     csi::v1::NodeGetVolumeStatsResponse* response) {
    csi::v1::NodeGetVolumeStatsRequest request;
    request.set_volume_id(volume_id);
    request.set_volume_path(path);
    return service_->NodeGetVolumeStats(nullptr, &request, response);
  }
  grpc::Status Expand(const std::string& volume_id, const std::string& path, int64_t required,
                      csi::v1::NodeExpandVolumeResponse* response, int64_t limit = 0) {
    csi::v1::NodeExpandVolumeRequest request;
    request.set_volume_id(volume_id);
    request.set_volume_path(path);
    request.mutable_capacity_range()->set_required_bytes(required);
    request.mutable_capacity_range()->set_limit_bytes(limit);
    return service_->NodeExpandVolume(nullptr, &request, response);
  }

  std::optional<node::StagingRecord> Record(const std::string& volume_id) {
    absl::StatusOr<std::optional<node::StagingRecord>> record = store_->Read(volume_id);
    EXPECT_TRUE(record.ok()) << record.status();
    return record.value_or(std::nullopt);
  }

 private:
  FakeHost host_;
  std::unique_ptr<node::StagingStore> store_;
  std::unique_ptr<node::Stager> stager_;
  std::unique_ptr<node::NodeService> service_;
};

}  // namespace iscsi_csi::testing

#endif  // ISCSI_CSI_TESTS_NODE_NODE_TEST_ENV_H_
