// TargetStats: what the embedded target counts for operators (logins by result, task
// management, digest errors, dropped connections) and, per exported target, its SCSI commands,
// errors, bytes and latency. Everything on the I/O path is a relaxed atomic increment on an
// object the session already holds: no lock, no allocation, no map lookup per command. Readers
// (a metrics scrape) take a Snapshot; target/target_metrics.h turns it into Prometheus
// families. The library itself knows nothing of Prometheus.
#ifndef ISCSI_CSI_TARGET_STATS_H_
#define ISCSI_CSI_TARGET_STATS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace iscsi_csi::target {

// Upper bounds (seconds) of the SCSI command latency buckets; the last bucket is +Inf.
inline constexpr std::array<double, 17> kLatencyBoundsSeconds = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10};

// LatencyCounts: a lock-free histogram (cumulative buckets are computed when read).
class LatencyCounts {
 public:
  struct Snapshot {
    std::array<uint64_t, kLatencyBoundsSeconds.size() + 1> buckets{};  // not cumulative
    uint64_t count = 0;
    double sum_seconds = 0;
  };
  void Observe(uint64_t nanoseconds);
  Snapshot Read() const;

 private:
  std::array<std::atomic<uint64_t>, kLatencyBoundsSeconds.size() + 1> buckets_{};
  std::atomic<uint64_t> sum_nanoseconds_{0};
};

enum class IoOp : uint8_t { kRead = 0, kWrite = 1, kOther = 2 };
inline constexpr std::array<const char*, 3> kIoOpNames = {"read", "write", "other"};

// IoStats: one exported target's SCSI traffic.
struct IoStats {
  std::atomic<uint64_t> commands{0};
  std::atomic<uint64_t> errors{0};  // any status other than GOOD / CONDITION MET
  std::atomic<uint64_t> read_bytes{0};
  std::atomic<uint64_t> written_bytes{0};
  std::array<LatencyCounts, 3> latency;  // by IoOp

  // Record one finished command.
  void Record(IoOp op, bool good, uint64_t bytes_in, uint64_t bytes_out, uint64_t nanoseconds);
};

enum class LoginResult : uint8_t {
  kSuccess,
  kAuthFailure,    // 0x0201
  kAclDenied,      // 0x0202
  kNotFound,       // 0x0203, 0x0204
  kProtocolError,  // other initiator errors (class 2), timeouts, broken PDUs
  kTargetError,    // class 3
  kRateLimited,    // refused unheard: too many CHAP failures (ChapThrottle)
  kCount
};
inline constexpr std::array<const char*, static_cast<size_t>(LoginResult::kCount)>
    kLoginResultNames = {"success",        "auth_failure", "acl_denied",  "not_found",
                         "protocol_error", "target_error", "rate_limited"};
// LoginResultFor maps a Login Response status (class, detail) to a result.
LoginResult LoginResultFor(uint8_t status_class, uint8_t status_detail);

// Task management functions by RFC 7143 function code (1..8); 0 collects unknown codes.
inline constexpr std::array<const char*, 9> kTmfNames = {
    "other",          "abort_task",         "abort_task_set",    "clear_aca",
    "clear_task_set", "logical_unit_reset", "target_warm_reset", "target_cold_reset",
    "task_reassign"};

class TargetStats {
 public:
  struct Snapshot {
    std::array<uint64_t, static_cast<size_t>(LoginResult::kCount)> logins{};
    std::array<uint64_t, kTmfNames.size()> task_management{};
    uint64_t header_digest_errors = 0;
    uint64_t data_digest_errors = 0;
    uint64_t dropped_connections = 0;
    struct PerTarget {
      uint64_t commands = 0, errors = 0, read_bytes = 0, written_bytes = 0;
      std::array<LatencyCounts::Snapshot, 3> latency;
    };
    std::map<std::string, PerTarget> targets;
  };

  // ForTarget returns the target's counters, created on first use (login path; takes a lock).
  std::shared_ptr<IoStats> ForTarget(absl::string_view iqn);
  // Forget drops a removed target's series; sessions still holding its IoStats keep counting
  // into an object nobody reads.
  void Forget(absl::string_view iqn);

  void CountLogin(LoginResult result);
  void CountTaskManagement(uint8_t function);
  void CountDigestError(bool header);
  void CountDroppedConnection();

  Snapshot Read() const;

 private:
  std::array<std::atomic<uint64_t>, static_cast<size_t>(LoginResult::kCount)> logins_{};
  std::array<std::atomic<uint64_t>, kTmfNames.size()> task_management_{};
  std::atomic<uint64_t> header_digest_errors_{0};
  std::atomic<uint64_t> data_digest_errors_{0};
  std::atomic<uint64_t> dropped_connections_{0};
  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<IoStats>, std::less<>> targets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace iscsi_csi::target

#endif  // ISCSI_CSI_TARGET_STATS_H_
