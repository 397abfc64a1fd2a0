// RangeLock: shared/exclusive locks over LBA ranges of one logical unit.
//
// COMPARE AND WRITE (SBC-3 5.2) must be atomic against every other command
// touching its blocks: it takes its range exclusively, while the other
// block commands take theirs shared, so SIMPLE reads and writes still run
// concurrently with each other (the initiator owns their ordering) but never
// interleave with a compare-and-write.
//
// Grants are first-come first-served among overlapping requests: a request
// waits for every earlier overlapping request that conflicts with it,
// granted or still waiting. Earlier requests never wait for later ones, so
// there is no deadlock as long as a holder takes one range at a time, and an
// exclusive waiter is not starved by a stream of shared ones.
#ifndef ISCSI_CSI_TARGET_SCSI_RANGE_LOCK_H_
#define ISCSI_CSI_TARGET_SCSI_RANGE_LOCK_H_

#include <cstdint>
#include <list>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace iscsi_csi::target::scsi {

class RangeLock {
 public:
  class Guard;

  RangeLock() = default;
  RangeLock(const RangeLock&) = delete;
  RangeLock& operator=(const RangeLock&) = delete;

  // Lock blocks until [first, first + count) is granted. count 0 grants at
  // once and conflicts with nothing.
  Guard Lock(uint64_t first, uint64_t count, bool exclusive);

  // TryLock grants the range only when Lock would not wait (no earlier request,
  // granted or waiting, conflicts with it); otherwise it queues nothing and
  // returns false.
  bool TryLock(uint64_t first, uint64_t count, bool exclusive, Guard* guard);

  // Number of requests granted or waiting (for tests).
  size_t PendingForTest() const;

 private:
  struct Request {
    uint64_t first;
    uint64_t end;
    bool exclusive;
  };
  using Iterator = std::list<Request>::iterator;
  bool Grantable(Iterator self) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Unlock(Iterator self);

  mutable absl::Mutex mu_;
  std::list<Request> requests_ ABSL_GUARDED_BY(mu_);  // arrival order
};

// Guard releases its range on destruction. Movable, not copyable.
class RangeLock::Guard {
 public:
  Guard() = default;
  Guard(Guard&& other) noexcept : lock_(other.lock_), self_(other.self_) {
    other.lock_ = nullptr;
  }
  Guard& operator=(Guard&& other) noexcept {
    if (this != &other) {
      Release();
      lock_ = other.lock_;
      self_ = other.self_;
      other.lock_ = nullptr;
    }
    return *this;
  }
  ~Guard() { Release(); }
  void Release() {
    if (lock_ != nullptr) lock_->Unlock(self_);
    lock_ = nullptr;
  }

 private:
  friend class RangeLock;
  Guard(RangeLock* lock, Iterator self) : lock_(lock), self_(self) {}
  RangeLock* lock_ = nullptr;
  Iterator self_{};
};

}  // namespace iscsi_csi::target::scsi

#endif  // ISCSI_CSI_TARGET_SCSI_RANGE_LOCK_H_
