// op_locks: at most one operation per key (a volume id, a volume name, a snapshot id or name)
// at a time, without waiting (DESIGN §5): TryAcquire hands back an RAII guard, or nothing when
// the key is busy, and the RPC answers ABORTED (CSI "operation pending for volume").
#ifndef ISCSI_CSI_CONTROLLER_OP_LOCKS_H_
#define ISCSI_CSI_CONTROLLER_OP_LOCKS_H_

#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace iscsi_csi::controller {

class OpLocks {
 public:
  // Guard releases its key when destroyed. Move-only.
  class Guard {
   public:
    Guard(Guard&& other) noexcept : locks_(other.locks_), key_(std::move(other.key_)) {
      other.locks_ = nullptr;
    }
    Guard& operator=(Guard&& other) noexcept;
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    ~Guard();
    const std::string& key() const { return key_; }

   private:
    friend class OpLocks;
    Guard(OpLocks* locks, std::string key) : locks_(locks), key_(std::move(key)) {}
    OpLocks* locks_;
    std::string key_;
  };

  OpLocks() = default;
  OpLocks(const OpLocks&) = delete;
  OpLocks& operator=(const OpLocks&) = delete;

  // TryAcquire returns a guard for `key`, or nullopt when another guard holds it.
  std::optional<Guard> TryAcquire(absl::string_view key);

  // Held reports whether `key` is held (for tests and logs).
  bool Held(absl::string_view key) const;

 private:
  void Release(const std::string& key);

  mutable absl::Mutex mu_;
  absl::flat_hash_set<std::string> held_ ABSL_GUARDED_BY(mu_);
};

}  // namespace iscsi_csi::controller

#endif  // ISCSI_CSI_CONTROLLER_OP_LOCKS_H_
