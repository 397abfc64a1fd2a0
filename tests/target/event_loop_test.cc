// EventLoop's posted-closure queue: a closure posted from the loop thread does not wake the
// loop through the eventfd, so the loop must not sleep (epoll timeout 0) while closures are
// pending; a closure posted from another thread onto an empty queue wakes it; every closure
// runs exactly once whichever thread posted it.
#include "target/event_loop.h"

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace iscsi_csi::target {
namespace {

std::unique_ptr<EventLoop> StartedLoop() {
  auto loop = EventLoop::Create("test-loop");
  EXPECT_TRUE(loop.ok()) << loop.status();
  if (!loop.ok()) return nullptr;
  (*loop)->Start();
  return std::move(*loop);
}

// A closure that re-posts itself from the loop thread until it has run `links` times, and
// notes when its first and last links ran (on the loop thread). Set `cancelled` to end it
// early.
class SelfPostingChain {
 public:
  SelfPostingChain(EventLoop& loop, int links) : loop_(loop), links_(links) {}

  void StartFromOtherThread() {
    loop_.Post([this] { Link(); });
  }
  bool WaitFor(absl::Duration timeout) { return done_.WaitForNotificationWithTimeout(timeout); }
  void Cancel() { cancelled_.store(true); }
  // From the first link to the last (valid once WaitFor said true).
  absl::Duration elapsed() const { return last_ - first_; }
  int ran() const { return ran_.load(); }
  bool ran_on_loop_thread() const { return on_loop_thread_.load(); }

 private:
  void Link() {
    const absl::Time now = absl::Now();
    if (ran_.load() == 0) first_ = now;
    if (!loop_.InLoopThread()) on_loop_thread_.store(false);
    if (ran_.fetch_add(1) + 1 == links_) {
      last_ = now;
      done_.Notify();
      return;
    }
    if (cancelled_.load()) return;
    loop_.Post([this] { Link(); });  // from the loop thread: no eventfd wake-up
  }

  EventLoop& loop_;
  const int links_;
  absl::Time first_;
  absl::Time last_;
  std::atomic<int> ran_{0};
  std::atomic<bool> on_loop_thread_{true};
  std::atomic<bool> cancelled_{false};
  absl::Notification done_;
};

TEST(EventLoopTest, ThousandSelfPostsFromTheLoopThreadFinishWellWithinOneTick) {
  std::unique_ptr<EventLoop> loop = StartedLoop();
  ASSERT_NE(loop, nullptr);
  SelfPostingChain chain(*loop, 1000);
  chain.StartFromOtherThread();
  const bool done = chain.WaitFor(absl::Seconds(5));
  chain.Cancel();
  loop->Stop();
  ASSERT_TRUE(done) << "only " << chain.ran() << " of 1000 links ran in 5 s";
  EXPECT_LT(chain.elapsed(), absl::Milliseconds(200));
  EXPECT_TRUE(chain.ran_on_loop_thread());
}

TEST(EventLoopTest, ShortSelfPostChainDoesNotSleepUntilTheTick) {
  std::unique_ptr<EventLoop> loop = StartedLoop();
  ASSERT_NE(loop, nullptr);
  // Nothing else posts and no descriptor is registered: a link that waited for the eventfd
  // or the tick would cost up to EventLoop::kTickInterval (250 ms).
  SelfPostingChain chain(*loop, 20);
  chain.StartFromOtherThread();
  const bool done = chain.WaitFor(absl::Seconds(5));
  chain.Cancel();
  loop->Stop();
  ASSERT_TRUE(done) << "only " << chain.ran() << " of 20 links ran in 5 s";
  EXPECT_LT(chain.elapsed(), absl::Milliseconds(100));
}

TEST(EventLoopTest, PostFromAnotherThreadWakesAnIdleLoop) {
  std::unique_ptr<EventLoop> loop = StartedLoop();
  ASSERT_NE(loop, nullptr);
  // Each round trip is posted onto an empty queue after the loop has had time to go back to
  // sleep in epoll_wait (the pause is set-up, not the measurement). A post that did not wake
  // it would wait for the tick timeout (250 ms) every time: 20 of them, about 5 s.
  absl::Duration in_round_trips;
  int ran = 0;
  for (int i = 0; i < 20; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
    const absl::Time start = absl::Now();
    loop->RunSync([&ran] { ++ran; });
    in_round_trips += absl::Now() - start;
  }
  EXPECT_EQ(ran, 20);
  EXPECT_LT(in_round_trips, absl::Seconds(2));
}

TEST(EventLoopTest, PostsFromFourThreadsAllRunExactlyOnce) {
  std::unique_ptr<EventLoop> loop = StartedLoop();
  ASSERT_NE(loop, nullptr);
  constexpr int kThreads = 4;
  constexpr int kPostsPerThread = 10000;
  // Touched only on the loop thread.
  std::vector<std::vector<int>> runs(kThreads, std::vector<int>(kPostsPerThread, 0));
  std::atomic<int> off_loop{0};
  std::vector<std::thread> posters;
  for (int t = 0; t < kThreads; ++t) {
    posters.emplace_back([&, t] {
      for (int i = 0; i < kPostsPerThread; ++i) {
        loop->Post([&, t, i] {
          if (!loop->InLoopThread()) ++off_loop;
          ++runs[t][i];
        });
      }
    });
  }
  for (std::thread& poster : posters) poster.join();
  // FIFO: this runs after every closure posted above.
  int total = 0;
  int wrong = 0;
  loop->RunSync([&] {
    for (const std::vector<int>& per_thread : runs) {
      for (int count : per_thread) {
        total += count;
        if (count != 1) ++wrong;
      }
    }
  });
  loop->Stop();
  EXPECT_EQ(total, kThreads * kPostsPerThread);
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(off_loop.load(), 0);
}

}  // namespace
}  // namespace iscsi_csi::target
