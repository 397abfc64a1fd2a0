// CuttingProxy: a TCP proxy on 127.0.0.1 between an initiator and the target that can cut the
// connection mid-transfer: once armed, it forwards a given number of further bytes in one
// direction, then shuts down and closes both sides of every connection it carries (what a
// failing switch port or a killed middlebox does). Two threads per connection (one per
// direction, blocking I/O) and one accepting.
#ifndef ISCSI_CSI_TESTS_RELIABILITY_CUTTING_PROXY_H_
#define ISCSI_CSI_TESTS_RELIABILITY_CUTTING_PROXY_H_

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace iscsi_csi::reliability {

class CuttingProxy {
 public:
  enum Direction { kToTarget = 0, kToInitiator = 1 };

  // Listens on 127.0.0.1 (a kernel-chosen port) and forwards to `upstream` ("host:port").
  static absl::StatusOr<std::unique_ptr<CuttingProxy>> Start(const std::string& upstream);
  ~CuttingProxy();  // cuts everything and joins the threads
  CuttingProxy(const CuttingProxy&) = delete;
  CuttingProxy& operator=(const CuttingProxy&) = delete;

  std::string portal() const;  // "127.0.0.1:PORT"
  // ArmCut: after `bytes` more bytes have been forwarded in `direction` (0: at the next byte),
  // every connection is cut. One shot: the proxy disarms itself when it cuts.
  void ArmCut(Direction direction, uint64_t bytes);
  void Disarm();
  // CutNow cuts every connection at once (nothing needs to flow).
  void CutNow();
  int cuts() const { return cuts_.load(); }
  int connections() const { return accepted_.load(); }

 private:
  struct Link;
  CuttingProxy(int listen_fd, uint16_t port, std::string upstream_host, uint16_t upstream_port);
  void AcceptLoop();
  void Pump(Link* link, Direction direction);
  void CutAll() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int listen_fd_;
  const uint16_t port_;
  const std::string upstream_host_;
  const uint16_t upstream_port_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> cuts_{0};
  std::atomic<int> accepted_{0};
  std::thread acceptor_;

  absl::Mutex mu_;
  bool armed_ ABSL_GUARDED_BY(mu_) = false;
  Direction armed_direction_ ABSL_GUARDED_BY(mu_) = kToTarget;
  uint64_t remaining_ ABSL_GUARDED_BY(mu_) = 0;
  std::list<std::unique_ptr<Link>> links_ ABSL_GUARDED_BY(mu_);
};

}  // namespace iscsi_csi::reliability

#endif  // ISCSI_CSI_TESTS_RELIABILITY_CUTTING_PROXY_H_
