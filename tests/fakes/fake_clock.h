// FakeClock: time moves only when the code under test sleeps (or a test calls Advance). A hook
// runs after every sleep so a fake world can change while the code polls ("the disk appears after
// the third poll").
#ifndef ISCSI_CSI_TESTS_FAKES_FAKE_CLOCK_H_
#define ISCSI_CSI_TESTS_FAKES_FAKE_CLOCK_H_

#include <functional>

#include "absl/synchronization/mutex.h"
#include "node/host/clock.h"

namespace iscsi_csi::testing {

class FakeClock final : public node::Clock {
 public:
  absl::Time Now() override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void SleepFor(absl::Duration duration) override {
    std::function<void()> hook;
    {
      absl::MutexLock lock(&mu_);
      now_ += duration;
      ++sleeps_;
      hook = on_sleep_;
    }
    if (hook) hook();
  }
  void Advance(absl::Duration duration) {
    absl::MutexLock lock(&mu_);
    now_ += duration;
  }
  int sleeps() {
    absl::MutexLock lock(&mu_);
    return sleeps_;
  }
  void set_on_sleep(std::function<void()> hook) {
    absl::MutexLock lock(&mu_);
    on_sleep_ = std::move(hook);
  }

 private:
  absl::Mutex mu_;
  absl::Time now_ = absl::FromUnixSeconds(1'800'000'000);
  int sleeps_ = 0;
  std::function<void()> on_sleep_;
};

}  // namespace iscsi_csi::testing

#endif  // ISCSI_CSI_TESTS_FAKES_FAKE_CLOCK_H_
