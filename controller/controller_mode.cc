#include "controller/controller_mode.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "common/flags.h"
#include "common/plugin.h"
#include "controller/controller.h"
#include "controller/options.h"
#include "controller/volume_metrics.h"
#include "glog/logging.h"
#include "target/target_metrics.h"

// Flags shared with other modes, defined where the binary already has them:
// --portal with `iscsi-csi target` (common/target_command.cc: where the target listens) and
// --topology with `iscsi-csi node` (node/node_flags.cc: KEY=VALUE segments; here the segment
// the controller's volumes are reachable from, reported as accessible_topology and checked
// against accessibility_requirements; with it the plugin announces
// VOLUME_ACCESSIBILITY_CONSTRAINTS).
// TODO(common): move both to common/flags so that this library does not lean on the binary.
ABSL_DECLARE_FLAG(std::vector<std::string>, portal);
ABSL_DECLARE_FLAG(std::vector<std::string>, topology);
// Target tuning shared with `iscsi-csi target` (common/target_command.cc).
ABSL_DECLARE_FLAG(int, nop_in_interval);
ABSL_DECLARE_FLAG(int, max_connections);

ABSL_FLAG(std::vector<std::string>, advertise_portal, {},
          "host:port that volume contexts name for nodes to log in to, e.g. the "
          "address of a Kubernetes Service in front of the controller. Default: the --portal "
          "addresses; required when a --portal listens on every interface (0.0.0.0, [::]).");
ABSL_FLAG(std::string, capacity, "",
          "Upper bound on the bytes provisioned in the pool (volumes plus snapshots), in bytes "
          "or with K, M, G, T (binary). Empty: only the pool filesystem's free space limits.");

namespace iscsi_csi::controller {
namespace {

int Run(const std::string& version) {
  ControllerFlagValues flags;
  flags.data_dir = absl::GetFlag(FLAGS_data_dir);
  flags.portals = absl::GetFlag(FLAGS_portal);
  flags.advertise_portals = absl::GetFlag(FLAGS_advertise_portal);
  flags.capacity = absl::GetFlag(FLAGS_capacity);
  flags.topology = absl::GetFlag(FLAGS_topology);
  flags.nop_in_interval = absl::GetFlag(FLAGS_nop_in_interval);
  flags.max_connections = absl::GetFlag(FLAGS_max_connections);
  absl::StatusOr<ControllerOptions> options = ParseControllerOptions(flags);
  if (!options.ok()) {
    ApplyLogLevel(absl::GetFlag(FLAGS_log_level));
    LOG(ERROR) << "controller: " << options.status().message();
    return 2;
  }
  auto controller = std::make_unique<Controller>(*std::move(options), ProcessRegistry().get());

  PluginMode mode;
  mode.name = "controller";
  mode.capabilities = controller->PluginCapabilities();
  mode.services = {controller->service()};
  mode.load_state = [&controller] { return controller->Start(); };
  mode.health = [&controller] { return controller->Health(); };
  mode.stop = [&controller] { controller->Stop(); };
  mode.extra_metrics = [&controller] {
    return std::vector<std::shared_ptr<prometheus::Collectable>>{
        std::make_shared<target::TargetCollector>(*controller->target()),
        std::make_shared<VolumeCollector>(*controller->catalog(), *controller->pool())};
  };
  return RunPlugin(mode, version);
}

}  // namespace

Subcommand ControllerSubcommand(const std::string& version) {
  Subcommand command;
  command.name = "controller";
  command.summary = "CSI Identity and Controller services with the embedded iSCSI target";
  command.description =
      "Serves the CSI Identity and Controller services on --endpoint and exports volumes on the "
      "iSCSI target embedded in the same process, listening on --portal. Volumes are sparse "
      "files under --data-dir/volumes, recorded in --data-dir/catalog.db (SQLite, mode 0600: "
      "it holds CHAP secrets). Each volume is LUN 0 of its own target; only the nodes it is "
      "published to may log in, with the volume's CHAP credentials. Runs as one replica next "
      "to its pool. On start it finishes or undoes what a crash interrupted and exports every "
      "volume again before Probe reports ready. In this mode --topology names the segment "
      "(KEY=VALUE, once per key) the volumes are reachable from: reported as "
      "accessible_topology, checked against accessibility_requirements and GetCapacity, and "
      "announced as VOLUME_ACCESSIBILITY_CONSTRAINTS. Exits cleanly on SIGTERM or SIGINT "
      "after in-flight calls finish.";
  command.flags = {"endpoint",         "driver_name", "node_id",        "data_dir",
                   "metrics_address",  "log_level",   "shutdown_grace", "portal",
                   "advertise_portal", "capacity",    "topology",       "nop_in_interval",
                   "max_connections"};
  command.repeatable = {"portal", "advertise_portal", "topology"};
  command.run = [version] { return Run(version); };
  return command;
}

}  // namespace iscsi_csi::controller
