#include "controller/controller_mode.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "common/flags.h"
#include "common/plugin.h"
#include "glog/logging.h"

namespace iscsi_csi::controller {
namespace {

// EnsureDataDir creates the controller's data directory (catalogue and pool) when missing and
// checks that it is a writable directory.
absl::Status EnsureDataDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(absl::StrCat("create data dir ", dir, ": ", ec.message()));
  }
  if (!std::filesystem::is_directory(dir, ec)) {
    return absl::FailedPreconditionError(absl::StrCat("data dir ", dir, " is not a directory"));
  }
  if (access(dir.c_str(), W_OK | X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("data dir ", dir, " is not writable: ", strerror(errno)));
  }
  return absl::OkStatus();
}

int Run(const std::string& version) {
  PluginMode mode;
  mode.name = "controller";
  // No capabilities yet: CONTROLLER_SERVICE is announced when the Controller service lands.
  const std::string data_dir = absl::GetFlag(FLAGS_data_dir);
  mode.load_state = [data_dir] { return EnsureDataDir(data_dir); };
  return RunPlugin(mode, version);
}

}  // namespace

Subcommand ControllerSubcommand(const std::string& version) {
  Subcommand command;
  command.name = "controller";
  command.summary = "CSI Identity and Controller services with the embedded iSCSI target";
  command.description =
      "Serves the CSI Identity and Controller services on --endpoint and exports volumes on the "
      "iSCSI target embedded in the same process. Runs as one replica next to its storage pool "
      "in --data-dir. Exits cleanly on SIGTERM or SIGINT after in-flight calls finish.";
  command.flags = {"endpoint", "driver_name", "node_id", "data_dir",
                   "metrics_address", "log_level", "shutdown_grace"};
  command.run = [version] { return Run(version); };
  return command;
}

}  // namespace iscsi_csi::controller
