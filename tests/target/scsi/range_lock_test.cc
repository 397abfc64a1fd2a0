// RangeLock: shared ranges coexist, exclusive ranges exclude overlapping
// ones, disjoint ranges never wait, and waiters are served in order.
#include "target/scsi/range_lock.h"

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace iscsi_csi::target::scsi {
namespace {

// Starts Lock() on a thread; done() says whether it was granted.
class PendingLock {
 public:
  PendingLock(RangeLock& lock, uint64_t first, uint64_t count, bool exclusive)
      : thread_([&lock, this, first, count, exclusive] {
          RangeLock::Guard guard = lock.Lock(first, count, exclusive);
          granted_.Notify();
          release_.WaitForNotification();
        }) {}
  ~PendingLock() {
    Release();
    thread_.join();
  }
  bool GrantedWithin(absl::Duration d) { return granted_.WaitForNotificationWithTimeout(d); }
  void Release() {
    if (!release_.HasBeenNotified()) release_.Notify();
  }

 private:
  absl::Notification granted_;
  absl::Notification release_;
  std::thread thread_;
};

TEST(RangeLockTest, SharedLocksOnTheSameRangeCoexist) {
  RangeLock lock;
  RangeLock::Guard a = lock.Lock(0, 10, false);
  PendingLock b(lock, 5, 10, false);
  EXPECT_TRUE(b.GrantedWithin(absl::Seconds(5)));
}

TEST(RangeLockTest, ExclusiveLockWaitsForOverlappingSharedLock) {
  RangeLock lock;
  RangeLock::Guard shared = lock.Lock(0, 10, false);
  PendingLock exclusive(lock, 9, 1, true);
  EXPECT_FALSE(exclusive.GrantedWithin(absl::Milliseconds(50)));
  shared.Release();
  EXPECT_TRUE(exclusive.GrantedWithin(absl::Seconds(5)));
}

TEST(RangeLockTest, DisjointRangesNeverWait) {
  RangeLock lock;
  RangeLock::Guard exclusive = lock.Lock(0, 10, true);
  PendingLock other(lock, 10, 10, true);
  EXPECT_TRUE(other.GrantedWithin(absl::Seconds(5)));
}

TEST(RangeLockTest, ZeroLengthRangeIsGrantedAtOnce) {
  RangeLock lock;
  RangeLock::Guard exclusive = lock.Lock(0, 100, true);
  RangeLock::Guard empty = lock.Lock(50, 0, true);
  EXPECT_EQ(lock.PendingForTest(), 1u);
}

TEST(RangeLockTest, SharedRequestQueuesBehindAWaitingExclusiveOne) {
  RangeLock lock;
  RangeLock::Guard first = lock.Lock(0, 10, false);
  PendingLock exclusive(lock, 0, 10, true);
  ASSERT_FALSE(exclusive.GrantedWithin(absl::Milliseconds(20)));
  PendingLock late_shared(lock, 0, 10, false);
  // No starvation: the later shared request waits for the exclusive one.
  EXPECT_FALSE(late_shared.GrantedWithin(absl::Milliseconds(50)));
  first.Release();
  EXPECT_TRUE(exclusive.GrantedWithin(absl::Seconds(5)));
  EXPECT_FALSE(late_shared.GrantedWithin(absl::Milliseconds(20)));
  exclusive.Release();
  EXPECT_TRUE(late_shared.GrantedWithin(absl::Seconds(5)));
}

TEST(RangeLockTest, ExclusiveHoldersOfOneRangeNeverOverlapInTime) {
  RangeLock lock;
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        RangeLock::Guard guard = lock.Lock(100, 5, true);
        if (inside.fetch_add(1) != 0) ++overlaps;
        inside.fetch_sub(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_EQ(lock.PendingForTest(), 0u);
}

// --- TryLock: grants only what Lock would grant at once, queues nothing otherwise ---

TEST(RangeLockTryLockTest, FreeRangeIsGrantedAndTheGuardReleasesIt) {
  RangeLock lock;
  {
    RangeLock::Guard guard;
    ASSERT_TRUE(lock.TryLock(0, 10, /*exclusive=*/true, &guard));
    EXPECT_EQ(lock.PendingForTest(), 1u);
    // Held: an overlapping exclusive request must wait.
    RangeLock::Guard other;
    EXPECT_FALSE(lock.TryLock(5, 1, /*exclusive=*/true, &other));
  }
  EXPECT_EQ(lock.PendingForTest(), 0u);
  RangeLock::Guard again;
  EXPECT_TRUE(lock.TryLock(0, 10, /*exclusive=*/true, &again));
  again.Release();
  EXPECT_EQ(lock.PendingForTest(), 0u);
}

TEST(RangeLockTryLockTest, OverlapWithHeldExclusiveIsRefusedAndQueuesNothing) {
  RangeLock lock;
  RangeLock::Guard exclusive = lock.Lock(10, 10, /*exclusive=*/true);
  ASSERT_EQ(lock.PendingForTest(), 1u);
  RangeLock::Guard shared;
  EXPECT_FALSE(lock.TryLock(19, 5, /*exclusive=*/false, &shared));
  EXPECT_EQ(lock.PendingForTest(), 1u);
  RangeLock::Guard other_exclusive;
  EXPECT_FALSE(lock.TryLock(0, 11, /*exclusive=*/true, &other_exclusive));
  EXPECT_EQ(lock.PendingForTest(), 1u);
  // Adjacent ranges do not overlap.
  RangeLock::Guard before;
  RangeLock::Guard after;
  EXPECT_TRUE(lock.TryLock(0, 10, /*exclusive=*/true, &before));
  EXPECT_TRUE(lock.TryLock(20, 10, /*exclusive=*/false, &after));
  EXPECT_EQ(lock.PendingForTest(), 3u);
  before.Release();
  after.Release();
  // A refused request left nothing behind that would hold up the holder's successors.
  exclusive.Release();
  EXPECT_EQ(lock.PendingForTest(), 0u);
  RangeLock::Guard later;
  EXPECT_TRUE(lock.TryLock(10, 10, /*exclusive=*/true, &later));
}

TEST(RangeLockTryLockTest, ExclusiveOverlappingHeldSharedIsRefused) {
  RangeLock lock;
  RangeLock::Guard shared = lock.Lock(0, 10, /*exclusive=*/false);
  RangeLock::Guard exclusive;
  EXPECT_FALSE(lock.TryLock(9, 1, /*exclusive=*/true, &exclusive));
  EXPECT_EQ(lock.PendingForTest(), 1u);
}

TEST(RangeLockTryLockTest, SharedOverlappingHeldSharedIsGranted) {
  RangeLock lock;
  RangeLock::Guard first = lock.Lock(0, 10, /*exclusive=*/false);
  RangeLock::Guard second;
  EXPECT_TRUE(lock.TryLock(5, 10, /*exclusive=*/false, &second));
  EXPECT_EQ(lock.PendingForTest(), 2u);
  second.Release();
  EXPECT_EQ(lock.PendingForTest(), 1u);
}

TEST(RangeLockTryLockTest, EarlierWaitingConflictingRequestRefusesSharedTryLock) {
  RangeLock lock;
  RangeLock::Guard first = lock.Lock(0, 10, /*exclusive=*/false);
  PendingLock exclusive(lock, 5, 10, /*exclusive=*/true);
  // Wait until the exclusive request is queued (granted or waiting: it cannot be granted).
  while (lock.PendingForTest() < 2) std::this_thread::yield();
  // Sharing with `first` alone would be fine, but Lock would queue behind the waiting
  // exclusive request (no starvation), so TryLock must refuse.
  RangeLock::Guard late_shared;
  EXPECT_FALSE(lock.TryLock(0, 10, /*exclusive=*/false, &late_shared));
  EXPECT_EQ(lock.PendingForTest(), 2u);
  // Outside the waiting request's range there is no conflict.
  RangeLock::Guard disjoint;
  EXPECT_TRUE(lock.TryLock(15, 5, /*exclusive=*/true, &disjoint));
  disjoint.Release();
  // The refusal left the waiter's place intact: it is granted once `first` goes.
  first.Release();
  EXPECT_TRUE(exclusive.GrantedWithin(absl::Seconds(5)));
  exclusive.Release();
}

TEST(RangeLockTryLockTest, ZeroCountIsAlwaysGrantedAndHoldsNothing) {
  RangeLock lock;
  RangeLock::Guard exclusive = lock.Lock(0, 100, /*exclusive=*/true);
  RangeLock::Guard empty;
  EXPECT_TRUE(lock.TryLock(50, 0, /*exclusive=*/true, &empty));
  EXPECT_TRUE(lock.TryLock(50, 0, /*exclusive=*/false, &empty));
  EXPECT_EQ(lock.PendingForTest(), 1u);
  empty.Release();
  EXPECT_EQ(lock.PendingForTest(), 1u);
}

TEST(RangeLockTryLockTest, RangeReachingTheLastLbaIsLockedToTheEnd) {
  RangeLock lock;
  RangeLock::Guard top = lock.Lock(UINT64_MAX - 4, 100, /*exclusive=*/true);  // wraps: to the end
  RangeLock::Guard last;
  EXPECT_FALSE(lock.TryLock(UINT64_MAX - 1, 1, /*exclusive=*/false, &last));
  RangeLock::Guard below;
  EXPECT_TRUE(lock.TryLock(0, UINT64_MAX - 4, /*exclusive=*/true, &below));
}

TEST(RangeLockTryLockTest, GrantedTryLockMakesLaterLockWait) {
  RangeLock lock;
  RangeLock::Guard held;
  ASSERT_TRUE(lock.TryLock(0, 10, /*exclusive=*/false, &held));
  PendingLock exclusive(lock, 0, 1, /*exclusive=*/true);
  EXPECT_FALSE(exclusive.GrantedWithin(absl::Milliseconds(50)));
  held.Release();
  EXPECT_TRUE(exclusive.GrantedWithin(absl::Seconds(5)));
}

}  // namespace
}  // namespace iscsi_csi::target::scsi
