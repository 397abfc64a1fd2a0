// node_metrics: what the node plugin adds to the process registry:
//   iscsi_csi_node_stage_total{result}                  NodeStageVolume outcomes ("ok" or the
//                                                        lower-case gRPC code name)
//   iscsi_csi_node_command_duration_seconds{tool}       how long each host tool took
// MeasuredCommandRunner wraps any CommandRunner to record the second one.
#ifndef ISCSI_CSI_NODE_NODE_METRICS_H_
#define ISCSI_CSI_NODE_NODE_METRICS_H_

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "node/host/command_runner.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace iscsi_csi::node {

class NodeMetrics {
 public:
  explicit NodeMetrics(prometheus::Registry& registry);

  void StageResult(const absl::Status& status);
  void CommandDuration(const std::string& tool, double seconds);

 private:
  prometheus::Family<prometheus::Counter>& stages_;
  prometheus::Family<prometheus::Histogram>& durations_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, prometheus::Histogram*> histograms_ ABSL_GUARDED_BY(mu_);
};

class MeasuredCommandRunner final : public CommandRunner {
 public:
  MeasuredCommandRunner(CommandRunner& inner, NodeMetrics& metrics)
      : inner_(inner), metrics_(metrics) {}
  absl::StatusOr<CommandResult> Run(const Command& command) override;

 private:
  CommandRunner& inner_;
  NodeMetrics& metrics_;
};

// StatusCodeLabel: "ok", "invalid_argument", "unauthenticated", ...
std::string StatusCodeLabel(const absl::Status& status);

}  // namespace iscsi_csi::node

#endif  // ISCSI_CSI_NODE_NODE_METRICS_H_
