#include "controller/controller.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/identity_service.h"
#include "common/plugin.h"
#include "common/status_macros.h"
#include "glog/logging.h"

namespace iscsi_csi::controller {

Controller::Controller(ControllerOptions options, prometheus::Registry* registry)
    : options_(std::move(options)) {
  if (registry != nullptr) metrics_ = std::make_unique<ControllerMetrics>(*registry);
}

Controller::~Controller() { Stop(); }

absl::Status Controller::Start() {
  RETURN_IF_ERROR(EnsureWritableDirectory(options_.data_dir));
  target::TargetOptions target_options;
  target_options.portals = options_.listen;
  target_options.io_threads = options_.io_threads;
  target_options.backing_threads = options_.backing_threads;
  target_options.nop_in_interval_seconds = options_.nop_in_interval_seconds;
  target_options.max_connections = options_.max_connections;
  absl::StatusOr<std::unique_ptr<target::Target>> started =
      target::Target::Start(std::move(target_options));
  if (!started.ok()) {
    return absl::Status(started.status().code(),
                        absl::StrCat("start the iSCSI target: ", started.status().message()));
  }
  target_ = *std::move(started);
  ASSIGN_OR_RETURN(catalog_, Catalog::Open(absl::StrCat(options_.data_dir, "/catalog.db")));
  pool_ = std::make_unique<Pool>(options_.data_dir);
  exports_ = std::make_unique<TargetExportBackend>(target_.get());
  VolumeManagerOptions manager_options;
  manager_options.portals = AdvertisedPortals(options_, target_->portals());
  manager_options.capacity_bytes = options_.capacity_bytes;
  manager_options.topology = options_.topology;
  manager_options.default_volume_bytes = options_.default_volume_bytes;
  manager_options.metrics = metrics_.get();
  manager_ = std::make_unique<VolumeManager>(std::move(manager_options), catalog_.get(),
                                             pool_.get(), exports_.get());
  RETURN_IF_ERROR(manager_->Recover());
  service_.SetManager(manager_.get());
  LOG(INFO) << "controller: volumes advertise portal(s) "
            << absl::StrJoin(AdvertisedPortals(options_, target_->portals()), ",");
  return absl::OkStatus();
}

void Controller::Stop() {
  service_.SetManager(nullptr);
  if (target_ != nullptr) target_->Stop();
}

absl::Status Controller::Health() {
  if (catalog_ == nullptr) return absl::FailedPreconditionError("controller not started");
  return catalog_->Ping();
}

std::vector<csi::v1::PluginCapability> Controller::PluginCapabilities() const {
  std::vector<csi::v1::PluginCapability> capabilities;
  capabilities.push_back(ServiceCapability(csi::v1::PluginCapability::Service::CONTROLLER_SERVICE));
  if (!options_.topology.empty()) {
    capabilities.push_back(
        ServiceCapability(csi::v1::PluginCapability::Service::VOLUME_ACCESSIBILITY_CONSTRAINTS));
  }
  csi::v1::PluginCapability expansion;
  expansion.mutable_volume_expansion()->set_type(
      csi::v1::PluginCapability::VolumeExpansion::ONLINE);
  capabilities.push_back(expansion);
  return capabilities;
}

}  // namespace iscsi_csi::controller
