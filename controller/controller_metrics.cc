#include "controller/controller_metrics.h"

#include <string>

namespace iscsi_csi::controller {
namespace {

prometheus::Gauge& MakeGauge(prometheus::Registry& registry, const std::string& name,
                             const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry).Add({});
}

}  // namespace

ControllerMetrics::ControllerMetrics(prometheus::Registry& registry)
    : volumes_(MakeGauge(registry, "iscsi_csi_controller_volumes", "Volumes ready to use.")),
      snapshots_(MakeGauge(registry, "iscsi_csi_controller_snapshots", "Snapshots ready to use.")),
      publications_(MakeGauge(registry, "iscsi_csi_controller_publications",
                              "Volume-to-node publications (ACL entries on the target).")),
      provisioned_bytes_(MakeGauge(registry, "iscsi_csi_controller_provisioned_bytes",
                                   "Bytes provisioned in the pool: volume capacities plus "
                                   "snapshot sizes (what --capacity limits).")),
      pool_free_bytes_(MakeGauge(registry, "iscsi_csi_controller_pool_free_bytes",
                                 "Free bytes of the pool filesystem (statvfs).")),
      abnormal_volumes_(MakeGauge(registry, "iscsi_csi_controller_abnormal_volumes",
                                  "Volumes whose backing file is missing or whose export "
                                  "failed.")),
      copies_(prometheus::BuildCounter()
                  .Name("iscsi_csi_controller_copies_total")
                  .Help("Snapshot and clone copies, by method.")
                  .Register(registry)),
      recovery_actions_(prometheus::BuildCounter()
                            .Name("iscsi_csi_controller_recovery_actions_total")
                            .Help("Interrupted operations finished or undone at start, and "
                                  "pool files without a record removed.")
                            .Register(registry)) {}

void ControllerMetrics::SetInventory(const CatalogInventory& inventory) {
  volumes_.Set(static_cast<double>(inventory.volumes));
  snapshots_.Set(static_cast<double>(inventory.snapshots));
  publications_.Set(static_cast<double>(inventory.publications));
  provisioned_bytes_.Set(static_cast<double>(inventory.provisioned_bytes));
}

void ControllerMetrics::SetPoolFreeBytes(uint64_t bytes) {
  pool_free_bytes_.Set(static_cast<double>(bytes));
}

void ControllerMetrics::SetAbnormalVolumes(int count) {
  abnormal_volumes_.Set(static_cast<double>(count));
}

void ControllerMetrics::CountCopy(CopyMethod method) {
  copies_.Add({{"method", method == CopyMethod::kReflink ? "reflink" : "sparse_copy"}}).Increment();
}

void ControllerMetrics::CountRecoveryAction(absl::string_view action) {
  recovery_actions_.Add({{"action", std::string(action)}}).Increment();
}

}  // namespace iscsi_csi::controller
