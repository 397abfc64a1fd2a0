// controller_metrics: what the controller holds and does, for Prometheus (STYLE §7 names):
//   iscsi_csi_controller_volumes, iscsi_csi_controller_snapshots,
//   iscsi_csi_controller_publications, iscsi_csi_controller_provisioned_bytes,
//   iscsi_csi_controller_pool_free_bytes, iscsi_csi_controller_abnormal_volumes (gauges),
//   iscsi_csi_controller_copies_total{method="reflink"|"sparse_copy"},
//   iscsi_csi_controller_recovery_actions_total{action="finished"|"undone"|"orphan_removed"}.
// No per-volume labels: the CSI operation metrics already carry the per-call view.
#ifndef ISCSI_CSI_CONTROLLER_CONTROLLER_METRICS_H_
#define ISCSI_CSI_CONTROLLER_CONTROLLER_METRICS_H_

#include <cstdint>

#include "absl/strings/string_view.h"
#include "controller/catalog.h"
#include "controller/pool.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace iscsi_csi::controller {

class ControllerMetrics {
 public:
  // Registers the families in `registry` (once per registry).
  explicit ControllerMetrics(prometheus::Registry& registry);

  void SetInventory(const CatalogInventory& inventory);
  void SetPoolFreeBytes(uint64_t bytes);
  void SetAbnormalVolumes(int count);
  void CountCopy(CopyMethod method);
  // `action`: "finished", "undone" or "orphan_removed".
  void CountRecoveryAction(absl::string_view action);

 private:
  prometheus::Gauge& volumes_;
  prometheus::Gauge& snapshots_;
  prometheus::Gauge& publications_;
  prometheus::Gauge& provisioned_bytes_;
  prometheus::Gauge& pool_free_bytes_;
  prometheus::Gauge& abnormal_volumes_;
  prometheus::Family<prometheus::Counter>& copies_;
  prometheus::Family<prometheus::Counter>& recovery_actions_;
};

}  // namespace iscsi_csi::controller

#endif  // ISCSI_CSI_CONTROLLER_CONTROLLER_METRICS_H_
