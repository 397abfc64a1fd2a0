// volume_locks: one operation per volume id at a time. TryAcquire never waits: a second call for
// a busy volume gets nothing and the RPC answers Aborted (CSI: "operation pending for volume"),
// and the CO retries with backoff.
#ifndef ISCSI_CSI_NODE_VOLUME_LOCKS_H_
#define ISCSI_CSI_NODE_VOLUME_LOCKS_H_

#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace iscsi_csi::node {

class VolumeLocks {
 public:
  // Guard releases its key when destroyed.
  class Guard {
   public:
    Guard(Guard&& other) noexcept : locks_(other.locks_), key_(std::move(other.key_)) {
      other.locks_ = nullptr;
    }
    Guard& operator=(Guard&&) = delete;
    Guard(const Guard&) = delete;
    ~Guard() {
      if (locks_ != nullptr) locks_->Release(key_);
    }

   private:
    friend class VolumeLocks;
    Guard(VolumeLocks* locks, std::string key) : locks_(locks), key_(std::move(key)) {}
    VolumeLocks* locks_;
    std::string key_;
  };

  std::optional<Guard> TryAcquire(absl::string_view key) {
    absl::MutexLock lock(&mu_);
    if (!held_.insert(std::string(key)).second) return std::nullopt;
    return Guard(this, std::string(key));
  }

 private:
  void Release(const std::string& key) {
    absl::MutexLock lock(&mu_);
    held_.erase(key);
  }

  absl::Mutex mu_;
  absl::flat_hash_set<std::string> held_ ABSL_GUARDED_BY(mu_);
};

}  // namespace iscsi_csi::node

#endif  // ISCSI_CSI_NODE_VOLUME_LOCKS_H_
