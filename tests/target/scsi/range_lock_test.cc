// RangeLock: shared ranges coexist, exclusive ranges exclude overlapping
// ones, disjoint ranges never wait, and waiters are served in order.
#include "target/scsi/range_lock.h"

#include <atomic>
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

}  // namespace
}  // namespace iscsi_csi::target::scsi
