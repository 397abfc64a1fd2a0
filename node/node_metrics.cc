#include "node/node_metrics.h"

#include "absl/strings/ascii.h"
#include "absl/time/clock.h"

namespace iscsi_csi::node {

std::string StatusCodeLabel(const absl::Status& status) {
  return absl::AsciiStrToLower(absl::StatusCodeToString(status.code()));
}

NodeMetrics::NodeMetrics(prometheus::Registry& registry)
    : stages_(prometheus::BuildCounter()
                  .Name("iscsi_csi_node_stage_total")
                  .Help("NodeStageVolume calls by result (ok or the gRPC code name)")
                  .Register(registry)),
      durations_(prometheus::BuildHistogram()
                     .Name("iscsi_csi_node_command_duration_seconds")
                     .Help("Run time of host tools the node plugin executes, by tool")
                     .Register(registry)) {}

void NodeMetrics::StageResult(const absl::Status& status) {
  stages_.Add({{"result", StatusCodeLabel(status)}}).Increment();
}

void NodeMetrics::CommandDuration(const std::string& tool, double seconds) {
  prometheus::Histogram* histogram = nullptr;
  {
    absl::MutexLock lock(&mu_);
    auto it = histograms_.find(tool);
    if (it == histograms_.end()) {
      static const prometheus::Histogram::BucketBoundaries kBuckets = {
          0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
      it = histograms_.emplace(tool, &durations_.Add({{"tool", tool}}, kBuckets)).first;
    }
    histogram = it->second;
  }
  histogram->Observe(seconds);
}

absl::StatusOr<CommandResult> MeasuredCommandRunner::Run(const Command& command) {
  const absl::Time start = absl::Now();
  absl::StatusOr<CommandResult> result = inner_.Run(command);
  metrics_.CommandDuration(command.Tool(), absl::ToDoubleSeconds(absl::Now() - start));
  return result;
}

}  // namespace iscsi_csi::node
