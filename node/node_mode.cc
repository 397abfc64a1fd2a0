#include "node/node_mode.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "common/flags.h"
#include "common/plugin.h"
#include "glog/logging.h"

namespace iscsi_csi::node {
namespace {

// The node keeps one staging record per staged volume under <data-dir>/staging.
absl::Status EnsureStateDir(const std::string& data_dir) {
  const std::string dir = absl::StrCat(data_dir, "/staging");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(absl::StrCat("create ", dir, ": ", ec.message()));
  }
  if (access(dir.c_str(), W_OK | X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("state dir ", dir, " is not writable: ", strerror(errno)));
  }
  return absl::OkStatus();
}

int Run(const std::string& version) {
  if (absl::GetFlag(FLAGS_node_id).empty()) {
    LOG(ERROR) << "node: flag --node-id is required (the name the CO knows this node by)";
    return 2;
  }
  PluginMode mode;
  mode.name = "node";
  const std::string data_dir = absl::GetFlag(FLAGS_data_dir);
  mode.load_state = [data_dir] { return EnsureStateDir(data_dir); };
  return RunPlugin(mode, version);
}

}  // namespace

Subcommand NodeSubcommand(const std::string& version) {
  Subcommand command;
  command.name = "node";
  command.summary = "CSI Identity and Node services (runs on every node)";
  command.description =
      "Serves the CSI Identity and Node services on --endpoint. Logs in to the controller's "
      "iSCSI target with the host's open-iscsi initiator, verifies the device, makes a "
      "filesystem when it is blank and mounts it for pods. Keeps its staging records in "
      "--data-dir. Exits cleanly on SIGTERM or SIGINT after in-flight calls finish.";
  command.flags = {"endpoint", "driver_name", "node_id", "data_dir",
                   "metrics_address", "log_level", "shutdown_grace"};
  command.run = [version] { return Run(version); };
  return command;
}

}  // namespace iscsi_csi::node
