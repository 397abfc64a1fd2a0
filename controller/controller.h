// controller: the controller mode's machinery in one object: the embedded target, the
// catalogue, the pool, the export backend, the VolumeManager and the gRPC service. Built
// cheaply first (so the service can be registered with the gRPC server), then Start()ed from
// the plugin's load_state: target up, catalogue open, crash recovery, every volume exported
// again; only then does the service answer (and Probe report ready).
#ifndef ISCSI_CSI_CONTROLLER_CONTROLLER_H_
#define ISCSI_CSI_CONTROLLER_CONTROLLER_H_

#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "controller/catalog.h"
#include "controller/controller_metrics.h"
#include "controller/controller_service.h"
#include "controller/options.h"
#include "controller/pool.h"
#include "controller/target_export_backend.h"
#include "controller/volume_manager.h"
#include "csi.pb.h"
#include "target/target.h"

namespace iscsi_csi::controller {

class Controller {
 public:
  // `registry` (optional, not owned) receives the controller's metrics.
  explicit Controller(ControllerOptions options, prometheus::Registry* registry = nullptr);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Start starts the target on the --portal addresses, opens <data_dir>/catalog.db, recovers
  // and exports every volume, then lets the service answer. Call once.
  absl::Status Start();
  // Stop makes the service answer UNAVAILABLE and stops the target. Idempotent.
  void Stop();
  // Health: the catalogue answers (Probe's check once ready).
  absl::Status Health();

  // The gRPC service (valid for the controller's lifetime).
  csi::v1::Controller::Service* service() { return &service_; }
  // CONTROLLER_SERVICE, online expansion, and accessibility constraints with --topology.
  std::vector<csi::v1::PluginCapability> PluginCapabilities() const;

  // After Start: the running pieces (tests reach the target and the manager through these).
  target::Target* target() { return target_.get(); }
  VolumeManager* manager() { return manager_.get(); }
  Catalog* catalog() { return catalog_.get(); }
  Pool* pool() { return pool_.get(); }

 private:
  const ControllerOptions options_;
  ControllerService service_;
  std::unique_ptr<ControllerMetrics> metrics_;
  std::unique_ptr<target::Target> target_;
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<Pool> pool_;
  std::unique_ptr<TargetExportBackend> exports_;
  std::unique_ptr<VolumeManager> manager_;
};

}  // namespace iscsi_csi::controller

#endif  // ISCSI_CSI_CONTROLLER_CONTROLLER_H_
