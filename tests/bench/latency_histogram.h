// latency_histogram: a log-linear histogram of latencies in nanoseconds for the load generator
// (HdrHistogram's layout with 64 sub-buckets per power of two: quantiles within 1.6%, constant
// memory however long the run).
#ifndef ISCSI_CSI_TESTS_BENCH_LATENCY_HISTOGRAM_H_
#define ISCSI_CSI_TESTS_BENCH_LATENCY_HISTOGRAM_H_

#include <array>
#include <cstdint>

namespace iscsi_csi::bench {

class LatencyHistogram {
 public:
  // Record adds one sample of `nanos` nanoseconds.
  void Record(uint64_t nanos);
  // Merge adds every sample of `other`.
  void Merge(const LatencyHistogram& other);
  // Quantile returns the sample at quantile q (0 < q <= 1), 0 when empty.
  uint64_t Quantile(double q) const;
  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }
  double Mean() const;

  // Bucket layout, public for tests: values below 128 have one bucket each; above, each power of
  // two is split into 64 buckets.
  static int BucketOf(uint64_t nanos);
  // The middle of bucket `index`'s value range.
  static uint64_t ValueOf(int index);

 private:
  static constexpr int kBuckets = 128 + 57 * 64;
  std::array<uint64_t, kBuckets> buckets_{};
  uint64_t count_ = 0;
  uint64_t max_ = 0;
  long double sum_ = 0;
};

}  // namespace iscsi_csi::bench

#endif  // ISCSI_CSI_TESTS_BENCH_LATENCY_HISTOGRAM_H_
