#include "node/node_metrics.h"

#include <sys/statvfs.h>

#include <utility>

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
      unstages_(prometheus::BuildCounter()
                    .Name("iscsi_csi_node_unstage_total")
                    .Help("NodeUnstageVolume calls by result (ok or the gRPC code name)")
                    .Register(registry)),
      durations_(prometheus::BuildHistogram()
                     .Name("iscsi_csi_node_command_duration_seconds")
                     .Help("Run time of host tools the node plugin executes, by tool")
                     .Register(registry)) {
  // The success series exist from the start, at 0.
  stages_.Add({{"result", "ok"}});
  unstages_.Add({{"result", "ok"}});
}

void NodeMetrics::StageResult(const absl::Status& status) {
  stages_.Add({{"result", StatusCodeLabel(status)}}).Increment();
}

void NodeMetrics::UnstageResult(const absl::Status& status) {
  unstages_.Add({{"result", StatusCodeLabel(status)}}).Increment();
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

namespace iscsi_csi::node {
namespace {

prometheus::MetricFamily GaugeFamily(std::string name, std::string help) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = prometheus::MetricType::Gauge;
  return family;
}

prometheus::ClientMetric GaugeOf(std::vector<prometheus::ClientMetric::Label> labels,
                                 double value) {
  prometheus::ClientMetric metric;
  metric.label = std::move(labels);
  metric.gauge.value = value;
  return metric;
}

}  // namespace

std::vector<prometheus::MetricFamily> NodeCollector::Collect() const {
  prometheus::MetricFamily staged =
      GaugeFamily("iscsi_csi_node_staged_volumes", "Volumes staged on this node (or staging).");
  prometheus::MetricFamily session_up = GaugeFamily(
      "iscsi_csi_node_session_up",
      "1 when the staged volume's iSCSI session is logged in, 0 when it is not.");
  prometheus::MetricFamily fs_size = GaugeFamily(
      "iscsi_csi_node_volume_filesystem_size_bytes", "Size of a staged volume's filesystem.");
  prometheus::MetricFamily fs_used = GaugeFamily(
      "iscsi_csi_node_volume_filesystem_used_bytes", "Bytes used in a staged volume's filesystem.");
  absl::StatusOr<std::vector<StagingRecord>> records = store_.List();
  if (records.ok()) {
    staged.metric.push_back(GaugeOf({}, static_cast<double>(records->size())));
    absl::StatusOr<std::vector<IscsiSession>> sessions =
        records->empty() ? std::vector<IscsiSession>{} : iscsiadm_.ListSessions();
    for (const StagingRecord& record : *records) {
      if (sessions.ok()) {
        bool up = false;
        for (const IscsiSession& session : *sessions) {
          if (session.target_iqn == record.target_iqn() &&
              session.session_state == "LOGGED_IN") {
            up = true;
          }
        }
        session_up.metric.push_back(GaugeOf({{"volume", record.volume_id()}}, up ? 1 : 0));
      }
      if (record.state() != StagingRecord::STAGED ||
          record.access_type() != StagingRecord::MOUNT) {
        continue;
      }
      struct statvfs st {};
      if (::statvfs(record.staging_target_path().c_str(), &st) != 0) continue;
      const double block = static_cast<double>(st.f_frsize);
      fs_size.metric.push_back(GaugeOf({{"volume", record.volume_id()}},
                                       static_cast<double>(st.f_blocks) * block));
      fs_used.metric.push_back(GaugeOf({{"volume", record.volume_id()}},
                                       static_cast<double>(st.f_blocks - st.f_bfree) * block));
    }
  }
  return {std::move(staged), std::move(session_up), std::move(fs_size), std::move(fs_used)};
}

}  // namespace iscsi_csi::node
