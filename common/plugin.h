// plugin: the life of a CSI plugin process (controller or node mode): validate the common
// flags, start metrics and the gRPC server with Identity and the mode's services, load the
// mode's state (Probe turns ready), wait for SIGTERM/SIGINT, drain, stop.
#ifndef ISCSI_CSI_COMMON_PLUGIN_H_
#define ISCSI_CSI_COMMON_PLUGIN_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "csi.pb.h"
#include "grpcpp/impl/codegen/service_type.h"
#include "prometheus/collectable.h"
#include "prometheus/registry.h"

namespace iscsi_csi {

struct PluginMode {
  std::string name;  // "controller" or "node", for logs
  // What GetPluginCapabilities reports for this mode.
  std::vector<csi::v1::PluginCapability> capabilities;
  // The mode's CSI services besides Identity (not owned; they outlive RunPlugin).
  std::vector<grpc::Service*> services;
  // Runs after the server accepts calls; Probe reports ready once it returns OK. An error ends
  // the process with exit code 1.
  std::function<absl::Status()> load_state;
  // Optional health check consulted by Probe once ready.
  std::function<absl::Status()> health;
  // Optional: called after the server has drained, to stop the mode's own machinery.
  std::function<void()> stop;
  // Optional: after load_state succeeds, more metrics to serve beside the process registry
  // (collected at scrape time, e.g. the embedded target's counters).
  std::function<std::vector<std::shared_ptr<prometheus::Collectable>>()> extra_metrics;
};

// The registry every metric of the process is registered in (served at --metrics-address).
std::shared_ptr<prometheus::Registry> ProcessRegistry();

// EnsureWritableDirectory creates `dir` (and its parents) when missing and checks that it is a
// directory this process can write to. FailedPrecondition names the directory and the reason.
absl::Status EnsureWritableDirectory(const std::string& dir);

// ValidateCommonFlags checks the values that need more than their type's parser.
absl::Status ValidateCommonFlags();

// RunPlugin runs `mode` until a termination signal and returns the process exit code.
int RunPlugin(const PluginMode& mode, const std::string& version);

}  // namespace iscsi_csi

#endif  // ISCSI_CSI_COMMON_PLUGIN_H_
