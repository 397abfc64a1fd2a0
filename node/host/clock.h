// clock: the time source the node plugin polls and waits with. Production uses the real clock;
// tests inject a fake one so that "wait up to 30 s for the disk" runs in microseconds.
#ifndef ISCSI_CSI_NODE_HOST_CLOCK_H_
#define ISCSI_CSI_NODE_HOST_CLOCK_H_

#include "absl/time/time.h"

namespace iscsi_csi::node {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() = 0;
  // SleepFor blocks the calling thread for `duration` (a fake advances its time instead).
  virtual void SleepFor(absl::Duration duration) = 0;
};

// RealClock returns the process-wide wall clock (absl::Now / absl::SleepFor).
Clock& RealClock();

}  // namespace iscsi_csi::node

#endif  // ISCSI_CSI_NODE_HOST_CLOCK_H_
