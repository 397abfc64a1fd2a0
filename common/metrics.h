// metrics: the process's Prometheus registry, the /metrics HTTP endpoint, and the CSI
// operation metrics every mode records (one series per method and gRPC code).
#ifndef ISCSI_CSI_COMMON_METRICS_H_
#define ISCSI_CSI_COMMON_METRICS_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/strings/string_view.h"
#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/flags.h"
#include "prometheus/counter.h"
#include "prometheus/exposer.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace iscsi_csi {

// CsiMetrics: iscsi_csi_csi_operations_total{method,grpc_code},
// iscsi_csi_csi_operation_duration_seconds{method,grpc_code} and
// iscsi_csi_csi_operations_in_flight{method}.
class CsiMetrics {
 public:
  explicit CsiMetrics(prometheus::Registry& registry);

  // Begin counts an RPC in flight; End records its outcome and duration.
  void Begin(absl::string_view method);
  void End(absl::string_view method, absl::string_view grpc_code, double seconds);

 private:
  struct PerOutcome {
    prometheus::Counter* count;
    prometheus::Histogram* duration;
  };
  prometheus::Gauge& InFlight(absl::string_view method) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  prometheus::Family<prometheus::Counter>& operations_;
  prometheus::Family<prometheus::Histogram>& durations_;
  prometheus::Family<prometheus::Gauge>& in_flight_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, prometheus::Gauge*> in_flight_by_method_ ABSL_GUARDED_BY(mu_);
  // Keyed "method/grpc_code".
  absl::flat_hash_map<std::string, PerOutcome> outcomes_ ABSL_GUARDED_BY(mu_);
};

// StartMetricsEndpoint serves `registry` at http://address/metrics. Fails (instead of throwing)
// when the address cannot be bound.
absl::StatusOr<std::unique_ptr<prometheus::Exposer>> StartMetricsEndpoint(
    const ListenAddress& address, std::shared_ptr<prometheus::Registry> registry);

}  // namespace iscsi_csi

#endif  // ISCSI_CSI_COMMON_METRICS_H_
