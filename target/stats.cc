#include "target/stats.h"

#include <algorithm>

namespace iscsi_csi::target {

void LatencyCounts::Observe(uint64_t nanoseconds) {
  const double seconds = static_cast<double>(nanoseconds) * 1e-9;
  const size_t bucket = static_cast<size_t>(
      std::lower_bound(kLatencyBoundsSeconds.begin(), kLatencyBoundsSeconds.end(), seconds) -
      kLatencyBoundsSeconds.begin());
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_nanoseconds_.fetch_add(nanoseconds, std::memory_order_relaxed);
}

LatencyCounts::Snapshot LatencyCounts::Read() const {
  Snapshot snapshot;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    snapshot.buckets[i] = buckets_[i].load(std::memory_order_relaxed);
    snapshot.count += snapshot.buckets[i];
  }
  snapshot.sum_seconds =
      static_cast<double>(sum_nanoseconds_.load(std::memory_order_relaxed)) * 1e-9;
  return snapshot;
}

void IoStats::Record(IoOp op, bool good, uint64_t bytes_in, uint64_t bytes_out,
                     uint64_t nanoseconds) {
  commands.fetch_add(1, std::memory_order_relaxed);
  if (!good) errors.fetch_add(1, std::memory_order_relaxed);
  if (bytes_in > 0) read_bytes.fetch_add(bytes_in, std::memory_order_relaxed);
  if (bytes_out > 0) written_bytes.fetch_add(bytes_out, std::memory_order_relaxed);
  latency[static_cast<size_t>(op)].Observe(nanoseconds);
}

LoginResult LoginResultFor(uint8_t status_class, uint8_t status_detail) {
  if (status_class == 0) return LoginResult::kSuccess;
  if (status_class == 3) return LoginResult::kTargetError;
  if (status_class == 2) {
    switch (status_detail) {
      case 0x01:
        return LoginResult::kAuthFailure;
      case 0x02:
        return LoginResult::kAclDenied;
      case 0x03:
      case 0x04:
        return LoginResult::kNotFound;
      default:
        break;
    }
  }
  return LoginResult::kProtocolError;
}

std::shared_ptr<IoStats> TargetStats::ForTarget(absl::string_view iqn) {
  absl::MutexLock lock(&mu_);
  auto it = targets_.find(iqn);
  if (it == targets_.end()) {
    it = targets_.emplace(std::string(iqn), std::make_shared<IoStats>()).first;
  }
  return it->second;
}

void TargetStats::Forget(absl::string_view iqn) {
  absl::MutexLock lock(&mu_);
  auto it = targets_.find(iqn);
  if (it != targets_.end()) targets_.erase(it);
}

void TargetStats::CountLogin(LoginResult result) {
  logins_[static_cast<size_t>(result)].fetch_add(1, std::memory_order_relaxed);
}

void TargetStats::CountTaskManagement(uint8_t function) {
  const size_t index = function < kTmfNames.size() ? function : 0;
  task_management_[index].fetch_add(1, std::memory_order_relaxed);
}

void TargetStats::CountDigestError(bool header) {
  (header ? header_digest_errors_ : data_digest_errors_).fetch_add(1, std::memory_order_relaxed);
}

void TargetStats::CountDroppedConnection() {
  dropped_connections_.fetch_add(1, std::memory_order_relaxed);
}

TargetStats::Snapshot TargetStats::Read() const {
  Snapshot snapshot;
  for (size_t i = 0; i < logins_.size(); ++i) {
    snapshot.logins[i] = logins_[i].load(std::memory_order_relaxed);
  }
  for (size_t i = 0; i < task_management_.size(); ++i) {
    snapshot.task_management[i] = task_management_[i].load(std::memory_order_relaxed);
  }
  snapshot.header_digest_errors = header_digest_errors_.load(std::memory_order_relaxed);
  snapshot.data_digest_errors = data_digest_errors_.load(std::memory_order_relaxed);
  snapshot.dropped_connections = dropped_connections_.load(std::memory_order_relaxed);
  absl::MutexLock lock(&mu_);
  for (const auto& [iqn, io] : targets_) {
    Snapshot::PerTarget& t = snapshot.targets[iqn];
    t.commands = io->commands.load(std::memory_order_relaxed);
    t.errors = io->errors.load(std::memory_order_relaxed);
    t.read_bytes = io->read_bytes.load(std::memory_order_relaxed);
    t.written_bytes = io->written_bytes.load(std::memory_order_relaxed);
    for (size_t op = 0; op < io->latency.size(); ++op) t.latency[op] = io->latency[op].Read();
  }
  return snapshot;
}

}  // namespace iscsi_csi::target
