#include "node/host/clock.h"

#include "absl/time/clock.h"

namespace iscsi_csi::node {
namespace {

class WallClock final : public Clock {
 public:
  absl::Time Now() override { return absl::Now(); }
  void SleepFor(absl::Duration duration) override { absl::SleepFor(duration); }
};

}  // namespace

Clock& RealClock() {
  static auto* clock = new WallClock();
  return *clock;
}

}  // namespace iscsi_csi::node
