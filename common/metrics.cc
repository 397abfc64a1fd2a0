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
                     .Help("Time from receipt of a CSI RPC to its status, by method.")
                     .Register(registry)),
      in_flight_(prometheus::BuildGauge()
                     .Name("iscsi_csi_csi_operations_in_flight")
                     .Help("CSI RPCs being served now, by method.")
                     .Register(registry)) {}

CsiMetrics::PerMethod& CsiMetrics::ForMethod(absl::string_view method) {
  auto it = methods_.find(method);
  if (it != methods_.end()) return it->second;
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  PerMethod per{&durations_.Add({{"method", std::string(method)}}, kBuckets),
                &in_flight_.Add({{"method", std::string(method)}})};
  return methods_.emplace(std::string(method), per).first->second;
}

void CsiMetrics::Begin(absl::string_view method) {
  absl::MutexLock lock(&mu_);
  ForMethod(method).in_flight->Increment();
}

void CsiMetrics::End(absl::string_view method, absl::string_view grpc_code, double seconds) {
  absl::MutexLock lock(&mu_);
  PerMethod& per = ForMethod(method);
  per.in_flight->Decrement();
  per.duration->Observe(seconds);
  std::string key = absl::StrCat(method, "/", grpc_code);
  auto it = counters_.find(key);
  if (it == counters_.end()) {
    prometheus::Counter* counter = &operations_.Add(
        {{"method", std::string(method)}, {"grpc_code", std::string(grpc_code)}});
    it = counters_.emplace(std::move(key), counter).first;
  }
  it->second->Increment();
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
