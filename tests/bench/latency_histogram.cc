#include "tests/bench/latency_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace iscsi_csi::bench {

int LatencyHistogram::BucketOf(uint64_t nanos) {
  if (nanos < 128) return static_cast<int>(nanos);
  const int msb = 63 - std::countl_zero(nanos);  // >= 7
  const int shift = msb - 6;                     // (nanos >> shift) is in [64, 127]
  return 128 + (shift - 1) * 64 + static_cast<int>((nanos >> shift) - 64);
}

uint64_t LatencyHistogram::ValueOf(int index) {
  if (index < 128) return static_cast<uint64_t>(index);
  const int shift = (index - 128) / 64 + 1;
  const uint64_t low = static_cast<uint64_t>((index - 128) % 64 + 64) << shift;
  return low + (uint64_t{1} << shift) / 2;
}

void LatencyHistogram::Record(uint64_t nanos) {
  ++buckets_[std::min(BucketOf(nanos), kBuckets - 1)];
  ++count_;
  max_ = std::max(max_, nanos);
  sum_ += static_cast<long double>(nanos);
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (int i = 0; i < kBuckets; ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

uint64_t LatencyHistogram::Quantile(double q) const {
  if (count_ == 0) return 0;
  // The rank of the sample at q, 1-based: the smallest r with r >= q * count.
  const auto rank =
      static_cast<uint64_t>(std::max(1.0, std::ceil(q * static_cast<double>(count_) - 1e-9)));
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += buckets_[i];
    if (seen >= rank) return std::min(ValueOf(i), max_);
  }
  return max_;
}

double LatencyHistogram::Mean() const {
  return count_ == 0 ? 0.0 : static_cast<double>(sum_ / static_cast<long double>(count_));
}

}  // namespace iscsi_csi::bench
