// control_plane: CSI controller figures with many volumes, for issue #11. Starts the real
// `iscsi-csi controller` binary on a fresh pool, then over its unix socket: CreateVolume,
// ControllerPublishVolume to one node, idle iSCSI sessions (the controller's VmRSS before and
// after, per session), a SIGTERM restart timed from exec to Probe ready with every volume
// exported, ControllerUnpublishVolume and DeleteVolume. Each method's throughput is calls over
// the wall time of its phase (one call at a time, as csi-provisioner's default worker count of
// one per PVC would), its latency quantiles from one sample per call.
#ifndef ISCSI_CSI_TESTS_BENCH_CONTROL_PLANE_H_
#define ISCSI_CSI_TESTS_BENCH_CONTROL_PLANE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/bench/latency_histogram.h"

namespace iscsi_csi::bench {

struct ControlPlaneOptions {
  std::string binary;    // iscsi-csi
  std::string work_dir;  // empty: a new directory under /dev/shm (else $TMPDIR), removed after
  std::string portal = "127.0.0.1:3260";
  int volumes = 1000;
  uint64_t volume_bytes = 1 << 20;
  int idle_sessions = 256;
};

struct MethodFigures {
  std::string method;
  int calls = 0;
  int failures = 0;
  double seconds = 0;  // wall time of the whole phase
  LatencyHistogram latency;
  double PerSecond() const { return seconds > 0 ? calls / seconds : 0; }
};

struct ControlPlaneResult {
  std::vector<MethodFigures> methods;  // CreateVolume, ControllerPublishVolume, ...
  double first_start_seconds = 0;      // exec to Probe ready on an empty pool
  double stop_seconds = 0;             // SIGTERM to exit with every volume exported
  double restart_seconds = 0;          // exec to Probe ready with every volume exported
  int64_t rss_empty_kib = 0;           // the controller after its first start
  int64_t rss_volumes_kib = 0;         // ... with every volume created and published
  int64_t rss_sessions_kib = 0;        // ... and the idle sessions logged in
  int sessions = 0;                    // idle sessions that logged in
  double kib_per_session = 0;
  int errors = 0;
  std::vector<std::string> error_samples;
};

absl::StatusOr<ControlPlaneResult> RunControlPlane(const ControlPlaneOptions& options);

// The goals of issue #11 for the control plane, checked against a result.
struct Goal {
  std::string name;
  std::string measured;
  bool met = false;
};
std::vector<Goal> ControlPlaneGoals(const ControlPlaneResult& result);

std::string ControlPlaneJson(const ControlPlaneOptions& options, const ControlPlaneResult& result);
std::string ControlPlaneText(const ControlPlaneOptions& options, const ControlPlaneResult& result);

// VmRssKib reads VmRSS from /proc/PID/status; -1 when unreadable.
int64_t VmRssKib(int pid);

}  // namespace iscsi_csi::bench

#endif  // ISCSI_CSI_TESTS_BENCH_CONTROL_PLANE_H_
