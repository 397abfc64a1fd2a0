#include "common/metrics.h"

#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"

namespace iscsi_csi {

CsiMetrics::CsiMetrics(prometheus::Registry& registry)
    : operations_(prometheus::BuildCounter()
                      .Name("iscsi_csi_csi_operations_total")
                      .Help("CSI RPCs completed, by method and gRPC status code.")
                      .Register(registry)),
      durations_(prometheus::BuildHistogram()
                     .Name("iscsi_csi_csi_operation_duration_seconds")
                     .Help("Time from receipt of a CSI RPC to its status, by method and gRPC status code.")
                     .Register(registry)),
      in_flight_(prometheus::BuildGauge()
                     .Name("iscsi_csi_csi_operations_in_flight")
                     .Help("CSI RPCs being served now, by method.")
                     .Register(registry)) {}

prometheus::Gauge& CsiMetrics::InFlight(absl::string_view method) {
  auto it = in_flight_by_method_.find(method);
  if (it == in_flight_by_method_.end()) {
    prometheus::Gauge* gauge = &in_flight_.Add({{"method", std::string(method)}});
    it = in_flight_by_method_.emplace(std::string(method), gauge).first;
  }
  return *it->second;
}

void CsiMetrics::Begin(absl::string_view method) {
  absl::MutexLock lock(&mu_);
  InFlight(method).Increment();
}

void CsiMetrics::End(absl::string_view method, absl::string_view grpc_code, double seconds) {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  absl::MutexLock lock(&mu_);
  InFlight(method).Decrement();
  std::string key = absl::StrCat(method, "/", grpc_code);
  auto it = outcomes_.find(key);
  if (it == outcomes_.end()) {
    const prometheus::Labels labels = {{"method", std::string(method)},
                                       {"grpc_code", std::string(grpc_code)}};
    PerOutcome per{&operations_.Add(labels), &durations_.Add(labels, kBuckets)};
    it = outcomes_.emplace(std::move(key), per).first;
  }
  it->second.count->Increment();
  it->second.duration->Observe(seconds);
}

absl::StatusOr<std::unique_ptr<prometheus::Exposer>> StartMetricsEndpoint(
    const ListenAddress& address, std::shared_ptr<prometheus::Registry> registry) {
  try {
    auto exposer = std::make_unique<prometheus::Exposer>(address.ToString());
    exposer->RegisterCollectable(registry);
    return exposer;
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("serve metrics on ", address.ToString(), ": ", e.what()));
  }
}

}  // namespace iscsi_csi
