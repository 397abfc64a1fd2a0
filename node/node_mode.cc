#include "node/node_mode.h"

#include <map>
#include <memory>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "common/flags.h"
#include "common/plugin.h"
#include "common/volume_context.h"
#include "glog/logging.h"
#include "node/host/clock.h"
#include "node/host/command_runner_posix.h"
#include "node/host/mounter_linux.h"
#include "node/host/sysfs.h"
#include "node/node_flags.h"
#include "node/node_metrics.h"
#include "node/node_service.h"
#include "node/stager.h"
#include "node/staging_store.h"

namespace iscsi_csi::node {
namespace {

int Run(const std::string& version) {
  const std::string node_id = absl::GetFlag(FLAGS_node_id);
  if (node_id.empty()) {
    LOG(ERROR) << "node: flag --node-id is required (the name the CO knows this node by)";
    return 2;
  }
  absl::StatusOr<std::string> initiator = InitiatorIqnForNode(node_id);
  if (!initiator.ok()) {
    LOG(ERROR) << "node: invalid value for flag --node-id: " << initiator.status().message();
    return 2;
  }
  absl::StatusOr<std::map<std::string, std::string>> topology =
      ParseTopology(absl::GetFlag(FLAGS_topology));
  if (!topology.ok()) {
    LOG(ERROR) << "node: invalid value for flag --topology: " << topology.status().message();
    return 2;
  }
  const int64_t max_volumes = absl::GetFlag(FLAGS_max_volumes_per_node);
  if (max_volumes < 0) {
    LOG(ERROR) << "node: invalid value for flag --max-volumes-per-node: must not be negative";
    return 2;
  }
  for (const auto& [name, value] : {std::pair<const char*, absl::Duration>{
                                        "device-timeout", absl::GetFlag(FLAGS_device_timeout)},
                                    {"command-timeout", absl::GetFlag(FLAGS_command_timeout)},
                                    {"format-timeout", absl::GetFlag(FLAGS_format_timeout)}}) {
    if (value <= absl::ZeroDuration()) {
      LOG(ERROR) << "node: invalid value for flag --" << name << ": must be positive";
      return 2;
    }
  }

  const HostExec host_exec = absl::GetFlag(FLAGS_host_exec);
  NodeMetrics metrics(*ProcessRegistry());
  PosixCommandRunner posix_runner(HostExecPrefix(host_exec));
  MeasuredCommandRunner runner(posix_runner, metrics);
  std::unique_ptr<Mounter> mounter;
  if (host_exec == HostExec::kNsenter) {
    mounter = std::make_unique<CommandMounter>(runner, "/proc/1/mountinfo");
  } else {
    mounter = std::make_unique<LinuxMounter>();
  }
  Sysfs sysfs("/sys");
  StagingStore store(absl::StrCat(absl::GetFlag(FLAGS_data_dir), "/staging"));

  StagerOptions options;
  options.initiator_iqn = *initiator;
  options.iface = kIscsiIface;
  options.device_timeout = absl::GetFlag(FLAGS_device_timeout);
  options.command_timeout = absl::GetFlag(FLAGS_command_timeout);
  options.format_timeout = absl::GetFlag(FLAGS_format_timeout);
  Stager stager(Host{&runner, mounter.get(), &sysfs, &RealClock()}, &store, options);

  NodeServiceOptions service_options;
  service_options.node_id = node_id;
  service_options.max_volumes_per_node = max_volumes;
  service_options.topology = *topology;
  NodeService service(&stager, service_options, &metrics);

  LOG(INFO) << "node " << node_id << " logs in as " << *initiator << " through iface "
            << kIscsiIface << " (host tools: " << AbslUnparseFlag(host_exec) << ")";
  PluginMode mode;
  mode.name = "node";
  mode.services = {&service};
  // The node has no Controller service: no plugin capabilities.
  mode.load_state = [&stager, &service] {
    absl::Status status = stager.Reconcile();
    if (status.ok()) service.SetReady(true);
    return status;
  };
  mode.stop = [&service] { service.SetReady(false); };
  Iscsiadm metrics_iscsiadm(runner, options.command_timeout);
  mode.extra_metrics = [&store, &metrics_iscsiadm] {
    return std::vector<std::shared_ptr<prometheus::Collectable>>{
        std::make_shared<NodeCollector>(store, metrics_iscsiadm)};
  };
  return RunPlugin(mode, version);
}

}  // namespace

Subcommand NodeSubcommand(const std::string& version) {
  Subcommand command;
  command.name = "node";
  command.summary = "CSI Identity and Node services (runs on every node)";
  command.description =
      "Serves the CSI Identity and Node services on --endpoint. Logs in to the controller's "
      "iSCSI target through its own open-iscsi iface 'iscsi-csi' with an initiator name derived "
      "from --node-id (the host's initiatorname.iscsi is left alone), verifies the disk's WWN, "
      "makes a filesystem only when the disk is blank, and mounts it for pods (or hands out the "
      "raw block device). Keeps one staging record per volume in <data-dir>/staging and, at "
      "start, reconciles them with the host's sessions and mounts before Probe reports ready. "
      "Needs open-iscsi (iscsiadm, iscsid), util-linux, e2fsprogs, xfsprogs and, on kernels "
      "without vpd_pg83 in sysfs, sg3-utils. Exits cleanly on SIGTERM or SIGINT after in-flight "
      "calls finish.";
  command.flags = {"endpoint",        "driver_name",     "node_id",         "data_dir",
                   "metrics_address", "log_level",       "shutdown_grace",  "max_volumes_per_node",
                   "topology",        "host_exec",       "device_timeout",  "command_timeout",
                   "format_timeout"};
  command.repeatable = {"topology"};
  command.run = [version] { return Run(version); };
  return command;
}

}  // namespace iscsi_csi::node
