#include "controller/volume_metrics.h"

#include <string>
#include <utility>

namespace iscsi_csi::controller {
namespace {

prometheus::ClientMetric GaugeOf(std::vector<prometheus::ClientMetric::Label> labels,
                                 double value) {
  prometheus::ClientMetric metric;
  metric.label = std::move(labels);
  metric.gauge.value = value;
  return metric;
}

prometheus::MetricFamily GaugeFamily(std::string name, std::string help) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = prometheus::MetricType::Gauge;
  return family;
}

}  // namespace

std::vector<prometheus::MetricFamily> VolumeCollector::Collect() const {
  prometheus::MetricFamily provisioned =
      GaugeFamily("iscsi_csi_controller_volume_provisioned_bytes",
                  "Capacity of each ready volume, as provisioned.");
  prometheus::MetricFamily used = GaugeFamily(
      "iscsi_csi_controller_volume_used_bytes",
      "Bytes each ready volume's sparse file occupies in the pool (written, not unmapped).");
  if (absl::StatusOr<std::vector<VolumeRecord>> volumes =
          catalog_.ListVolumes("", 0, /*ready_only=*/true);
      volumes.ok()) {
    for (const VolumeRecord& volume : *volumes) {
      provisioned.metric.push_back(
          GaugeOf({{"volume", volume.id}}, static_cast<double>(volume.capacity_bytes)));
      if (absl::StatusOr<uint64_t> bytes = pool_.AllocatedBytes(pool_.VolumePath(volume.id));
          bytes.ok()) {
        used.metric.push_back(GaugeOf({{"volume", volume.id}}, static_cast<double>(*bytes)));
      }
    }
  }
  prometheus::MetricFamily capacity = GaugeFamily("iscsi_csi_controller_pool_capacity_bytes",
                                                  "Size of the filesystem holding the pool.");
  if (absl::StatusOr<uint64_t> bytes = pool_.CapacityBytes(); bytes.ok()) {
    capacity.metric.push_back(GaugeOf({}, static_cast<double>(*bytes)));
  }
  return {std::move(provisioned), std::move(used), std::move(capacity)};
}

}  // namespace iscsi_csi::controller
