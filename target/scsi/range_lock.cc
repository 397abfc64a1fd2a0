// RangeLock: FIFO shared/exclusive LBA range locks (see range_lock.h).
#include "target/scsi/range_lock.h"

namespace iscsi_csi::target::scsi {

bool RangeLock::Grantable(Iterator self) const {
  for (auto it = requests_.begin(); it != self; ++it) {
    const bool overlap = it->first < self->end && self->first < it->end;
    if (overlap && (it->exclusive || self->exclusive)) return false;
  }
  return true;
}

RangeLock::Guard RangeLock::Lock(uint64_t first, uint64_t count, bool exclusive) {
  if (count == 0) return Guard();
  const uint64_t end = first + count < first ? UINT64_MAX : first + count;
  absl::MutexLock lock(&mu_);
  requests_.push_back(Request{first, end, exclusive});
  Iterator self = std::prev(requests_.end());
  struct Arg {
    const RangeLock* lock;
    Iterator self;
  } arg{this, self};
  mu_.Await(absl::Condition(
      +[](Arg* a) ABSL_NO_THREAD_SAFETY_ANALYSIS { return a->lock->Grantable(a->self); },
      &arg));
  return Guard(this, self);
}

bool RangeLock::TryLock(uint64_t first, uint64_t count, bool exclusive, Guard* guard) {
  // Whatever `guard` held is released first: doing it under mu_ would self-deadlock.
  *guard = Guard();
  if (count == 0) return true;
  const uint64_t end = first + count < first ? UINT64_MAX : first + count;
  absl::MutexLock lock(&mu_);
  requests_.push_back(Request{first, end, exclusive});
  Iterator self = std::prev(requests_.end());
  if (!Grantable(self)) {
    requests_.erase(self);
    return false;
  }
  *guard = Guard(this, self);
  return true;
}

void RangeLock::Unlock(Iterator self) {
  absl::MutexLock lock(&mu_);
  requests_.erase(self);
}

size_t RangeLock::PendingForTest() const {
  absl::MutexLock lock(&mu_);
  return requests_.size();
}

}  // namespace iscsi_csi::target::scsi
