// VolumeCollector: per-volume and pool figures read at scrape time (one catalogue query and one
// stat per volume; nothing on the CSI or I/O paths):
//   iscsi_csi_controller_volume_provisioned_bytes{volume}  capacity as provisioned
//   iscsi_csi_controller_volume_used_bytes{volume}         bytes allocated in the pool file
//   iscsi_csi_controller_pool_capacity_bytes               size of the pool's filesystem
// (iscsi_csi_controller_pool_free_bytes and the counts live in ControllerMetrics.)
#ifndef ISCSI_CSI_CONTROLLER_VOLUME_METRICS_H_
#define ISCSI_CSI_CONTROLLER_VOLUME_METRICS_H_

#include <vector>

#include "controller/catalog.h"
#include "controller/pool.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace iscsi_csi::controller {

class VolumeCollector final : public prometheus::Collectable {
 public:
  // Both must outlive the collector's registration.
  VolumeCollector(Catalog& catalog, const Pool& pool) : catalog_(catalog), pool_(pool) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  Catalog& catalog_;
  const Pool& pool_;
};

}  // namespace iscsi_csi::controller

#endif  // ISCSI_CSI_CONTROLLER_VOLUME_METRICS_H_
