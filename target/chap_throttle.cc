#include "target/chap_throttle.h"

#include <algorithm>

namespace iscsi_csi::target {

absl::Duration ChapThrottle::LockedOut(absl::string_view initiator) const {
  absl::MutexLock lock(&mu_);
  auto it = records_.find(initiator);
  if (it == records_.end()) return absl::ZeroDuration();
  return std::max(absl::ZeroDuration(), it->second.locked_until - now_());
}

void ChapThrottle::Failure(absl::string_view initiator) {
  const absl::Time now = now_();
  absl::MutexLock lock(&mu_);
  auto it = records_.find(initiator);
  if (it == records_.end()) {
    if (records_.size() >= kMaxTracked) {
      auto oldest =
          std::min_element(records_.begin(), records_.end(), [](const auto& a, const auto& b) {
            return a.second.last_failure < b.second.last_failure;
          });
      records_.erase(oldest);
    }
    it = records_.emplace(std::string(initiator), Record{}).first;
  }
  Record& record = it->second;
  // A record whose last failure is long past starts over.
  if (record.failures > 0 && now - record.last_failure > 10 * kMaxLockout) record.failures = 0;
  ++record.failures;
  record.last_failure = now;
  if (record.failures > kFreeFailures) {
    const int doublings = std::min(record.failures - kFreeFailures - 1, 6);
    record.locked_until = now + std::min(absl::Seconds(1 << doublings), kMaxLockout);
  }
}

void ChapThrottle::Success(absl::string_view initiator) {
  absl::MutexLock lock(&mu_);
  auto it = records_.find(initiator);
  if (it != records_.end()) records_.erase(it);
}

}  // namespace iscsi_csi::target
