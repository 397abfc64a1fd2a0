// ChapThrottle: per-initiator backoff after failed CHAP authentication, so that a guessing
// initiator gets a few tries and then ever longer lockouts. The first kFreeFailures failures
// cost nothing; each further one locks the initiator name out for 1 s, 2 s, 4 s ... up to
// kMaxLockout. While locked out, a login that would need CHAP is refused with AUTHENTICATION
// FAILURE before any exchange, and the lockout is not extended (an initiator retrying in a
// loop comes back as soon as it ends). A successful login clears the record. Memory is bounded:
// at most kMaxTracked initiators, the least recently failed forgotten first.
//
// Thread safety: every method may be called from any thread.
#ifndef ISCSI_CSI_TARGET_CHAP_THROTTLE_H_
#define ISCSI_CSI_TARGET_CHAP_THROTTLE_H_

#include <functional>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace iscsi_csi::target {

class ChapThrottle {
 public:
  static constexpr int kFreeFailures = 3;
  static constexpr absl::Duration kMaxLockout = absl::Seconds(60);
  static constexpr size_t kMaxTracked = 4096;

  explicit ChapThrottle(std::function<absl::Time()> now = [] { return absl::Now(); })
      : now_(std::move(now)) {}

  // LockedOut: how long `initiator` must still wait (zero when it may try).
  absl::Duration LockedOut(absl::string_view initiator) const;
  void Failure(absl::string_view initiator);
  void Success(absl::string_view initiator);

 private:
  struct Record {
    int failures = 0;
    absl::Time last_failure;
    absl::Time locked_until;
  };
  const std::function<absl::Time()> now_;
  mutable absl::Mutex mu_;
  std::map<std::string, Record, std::less<>> records_ ABSL_GUARDED_BY(mu_);
};

}  // namespace iscsi_csi::target

#endif  // ISCSI_CSI_TARGET_CHAP_THROTTLE_H_
