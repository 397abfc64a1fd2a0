#include "common/plugin.h"

#include <string.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <system_error>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "common/flags.h"
#include "common/identity_service.h"
#include "common/metrics.h"
#include "common/server.h"
#include "glog/logging.h"

namespace iscsi_csi {

std::shared_ptr<prometheus::Registry> ProcessRegistry() {
  static auto* registry = new std::shared_ptr<prometheus::Registry>(
      std::make_shared<prometheus::Registry>());
  return *registry;
}

absl::Status EnsureWritableDirectory(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(absl::StrCat("create directory ", dir, ": ", ec.message()));
  }
  if (!std::filesystem::is_directory(dir, ec)) {
    return absl::FailedPreconditionError(absl::StrCat(dir, " is not a directory"));
  }
  if (access(dir.c_str(), W_OK | X_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(dir, " is not writable: ", strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status ValidateCommonFlags() {
  if (absl::Status st = ValidateDriverName(absl::GetFlag(FLAGS_driver_name)); !st.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("invalid value '",
                                                   absl::GetFlag(FLAGS_driver_name),
                                                   "' for flag --driver-name: ", st.message()));
  }
  if (absl::GetFlag(FLAGS_data_dir).empty() || absl::GetFlag(FLAGS_data_dir)[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid value '", absl::GetFlag(FLAGS_data_dir),
                     "' for flag --data-dir: must be an absolute path"));
  }
  if (absl::GetFlag(FLAGS_shutdown_grace) < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("invalid value for flag --shutdown-grace: must not be negative");
  }
  return absl::OkStatus();
}

int RunPlugin(const PluginMode& mode, const std::string& version) {
  ApplyLogLevel(absl::GetFlag(FLAGS_log_level));
  if (absl::Status st = ValidateCommonFlags(); !st.ok()) {
    LOG(ERROR) << mode.name << ": " << st.message();
    return 2;
  }
  const std::string driver_name = absl::GetFlag(FLAGS_driver_name);
  LOG(INFO) << "iscsi-csi " << version << " starting in " << mode.name << " mode as "
            << driver_name;

  CsiMetrics metrics(*ProcessRegistry());
  std::unique_ptr<prometheus::Exposer> exposer;
  if (const ListenAddress address = absl::GetFlag(FLAGS_metrics_address); address.enabled) {
    auto started = StartMetricsEndpoint(address, ProcessRegistry());
    if (!started.ok()) {
      LOG(ERROR) << "--metrics-address: " << started.status().message();
      return 1;
    }
    exposer = *std::move(started);
    LOG(INFO) << "serving metrics on http://" << address.ToString() << "/metrics";
  }

  IdentityService identity(driver_name, version, mode.capabilities, mode.health);
  std::vector<grpc::Service*> services = {&identity};
  services.insert(services.end(), mode.services.begin(), mode.services.end());
  auto server = CsiServer::Start(absl::GetFlag(FLAGS_endpoint), services, &metrics);
  if (!server.ok()) {
    LOG(ERROR) << "--endpoint: " << server.status().message();
    return 1;
  }

  if (mode.load_state) {
    if (absl::Status st = mode.load_state(); !st.ok()) {
      LOG(ERROR) << mode.name << " start-up failed: " << st.message();
      (*server)->Shutdown(absl::ZeroDuration());
      if (mode.stop) mode.stop();
      return 1;
    }
  }
  std::vector<std::shared_ptr<prometheus::Collectable>> extra_metrics;
  if (exposer != nullptr && mode.extra_metrics) {
    extra_metrics = mode.extra_metrics();
    for (const auto& collectable : extra_metrics) exposer->RegisterCollectable(collectable);
  }
  identity.SetReady(true);
  LOG(INFO) << mode.name << " ready";

  int signal_number = WaitForTerminationSignal();
  const absl::Duration grace = absl::GetFlag(FLAGS_shutdown_grace);
  LOG(INFO) << "received " << strsignal(signal_number) << "; draining in-flight calls (up to "
            << absl::FormatDuration(grace) << ")";
  identity.SetReady(false);
  (*server)->Shutdown(grace);
  if (mode.stop) mode.stop();
  LOG(INFO) << mode.name << " stopped";
  return 0;
}

}  // namespace iscsi_csi
