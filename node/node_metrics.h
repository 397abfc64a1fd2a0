// node_metrics: what the node plugin adds to the process registry:
//   iscsi_csi_node_stage_total{result}                  NodeStageVolume outcomes ("ok" or the
//                                                        lower-case gRPC code name)
//   iscsi_csi_node_unstage_total{result}                NodeUnstageVolume outcomes, the same
//   iscsi_csi_node_command_duration_seconds{tool}       how long each host tool took
// MeasuredCommandRunner wraps any CommandRunner to record the last one. NodeCollector adds,
// at scrape time, from the staging records, one `iscsiadm -m session` and statvfs:
//   iscsi_csi_node_staged_volumes                       volumes staged (or being staged)
//   iscsi_csi_node_session_up{volume}                   1 when the volume's iSCSI session is
//                                                        logged in, else 0
//   iscsi_csi_node_volume_filesystem_{size,used}_bytes{volume}  of mounted staged volumes
#ifndef ISCSI_CSI_NODE_NODE_METRICS_H_
#define ISCSI_CSI_NODE_NODE_METRICS_H_

#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "node/host/command_runner.h"
#include "node/host/iscsiadm.h"
#include "node/staging_store.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace iscsi_csi::node {

class NodeMetrics {
 public:
  explicit NodeMetrics(prometheus::Registry& registry);

  void StageResult(const absl::Status& status);
  void UnstageResult(const absl::Status& status);
  void CommandDuration(const std::string& tool, double seconds);

 private:
  prometheus::Family<prometheus::Counter>& stages_;
  prometheus::Family<prometheus::Counter>& unstages_;
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

class NodeCollector final : public prometheus::Collectable {
 public:
  // Both must outlive the collector's registration.
  NodeCollector(const StagingStore& store, Iscsiadm& iscsiadm)
      : store_(store), iscsiadm_(iscsiadm) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const StagingStore& store_;
  Iscsiadm& iscsiadm_;
};

// StatusCodeLabel: "ok", "invalid_argument", "unauthenticated", ...
std::string StatusCodeLabel(const absl::Status& status);

}  // namespace iscsi_csi::node

#endif  // ISCSI_CSI_NODE_NODE_METRICS_H_
