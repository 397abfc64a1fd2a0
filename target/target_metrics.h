// TargetCollector: a prometheus::Collectable that reads Target::Stats() and ListSessions() at
// scrape time (nothing is kept in between, so the I/O path pays only its atomic increments):
//   iscsi_csi_target_sessions{target,initiator}, iscsi_csi_target_connections{target,initiator}
//   iscsi_csi_target_logins_total{result}
//   iscsi_csi_target_scsi_commands_total{target}, iscsi_csi_target_scsi_errors_total{target}
//   iscsi_csi_target_read_bytes_total{target}, iscsi_csi_target_written_bytes_total{target}
//   iscsi_csi_target_scsi_command_duration_seconds{target,op}  (histogram, op read|write|other)
//   iscsi_csi_target_task_management_total{function}
//   iscsi_csi_target_digest_errors_total{kind}  (header|data)
//   iscsi_csi_target_dropped_connections_total
// Register it with Registry-independent Exposer::RegisterCollectable (see common/metrics.h).
#ifndef ISCSI_CSI_TARGET_TARGET_METRICS_H_
#define ISCSI_CSI_TARGET_TARGET_METRICS_H_

#include <vector>

#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"
#include "target/target.h"

namespace iscsi_csi::target {

class TargetCollector final : public prometheus::Collectable {
 public:
  // `target` must outlive the collector's registration.
  explicit TargetCollector(const Target& target) : target_(target) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const Target& target_;
};

// BuildTargetFamilies is the pure part of Collect (for tests).
std::vector<prometheus::MetricFamily> BuildTargetFamilies(const TargetStats::Snapshot& stats,
                                                          const std::vector<SessionInfo>& sessions);

}  // namespace iscsi_csi::target

#endif  // ISCSI_CSI_TARGET_TARGET_METRICS_H_
