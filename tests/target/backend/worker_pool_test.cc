// Tests for WorkerPool: work runs off the caller's thread, in parallel, and
// the destructor drains queued work.
#include "target/backend/worker_pool.h"

#include <atomic>
#include <thread>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace iscsi_csi::target::backend {
namespace {

TEST(WorkerPoolTest, WorkRunsOnAnotherThread) {
  WorkerPool pool(2);
  absl::Notification done;
  std::thread::id ran_on;
  pool.Schedule([&] {
    ran_on = std::this_thread::get_id();
    done.Notify();
  });
  done.WaitForNotification();
  EXPECT_NE(ran_on, std::this_thread::get_id());
}

TEST(WorkerPoolTest, ThreadsRunWorkConcurrently) {
  // Declared before the pool: its destructor joins the workers, which may still be inside
  // WaitForNotification when Notify returns.
  absl::Notification release;
  std::atomic<int> started{0};
  WorkerPool pool(3);
  for (int i = 0; i < 3; ++i) {
    pool.Schedule([&] {
      ++started;
      release.WaitForNotification();
    });
  }
  while (started.load() < 3) std::this_thread::yield();
  release.Notify();
}

TEST(WorkerPoolTest, DestructorRunsAllQueuedWork) {
  std::atomic<int> ran{0};
  {
    WorkerPool pool(1);
    for (int i = 0; i < 100; ++i) pool.Schedule([&] { ++ran; });
  }
  EXPECT_EQ(ran.load(), 100);
}

TEST(WorkerPoolTest, ZeroThreadsStillGetsOne) {
  WorkerPool pool(0);
  EXPECT_EQ(pool.thread_count(), 1);
}

}  // namespace
}  // namespace iscsi_csi::target::backend
