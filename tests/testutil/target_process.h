// target_process: a running `iscsi-csi target` child on 127.0.0.1 for tests that drive the real
// binary: started with a kernel-chosen port, waited for until it logs "iSCSI target listening
// on 127.0.0.1:<port>" (its portal and port are read from that line), stopped with SIGTERM
// (Stop) or SIGKILL (Kill, a crash), its pid there for /proc sampling.
#ifndef ISCSI_CSI_TESTS_TESTUTIL_TARGET_PROCESS_H_
#define ISCSI_CSI_TESTS_TESTUTIL_TARGET_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/testutil/process.h"

namespace iscsi_csi::testing {

class TargetProcess {
 public:
  // Starts `iscsi-csi target --portal=127.0.0.1:0 <flags>` with its log in `log_path` and waits
  // (30 s at most) for its "listening on" line; portal() is empty when it never came.
  TargetProcess(const std::vector<std::string>& flags, const std::string& log_path);
  ~TargetProcess();  // SIGKILLs the process if it still runs
  TargetProcess(const TargetProcess&) = delete;
  TargetProcess& operator=(const TargetProcess&) = delete;

  // "127.0.0.1:<port>"; empty when the target never listened.
  const std::string& portal() const { return portal_; }
  // The listening port; 0 when the target never listened.
  int port() const { return port_; }
  pid_t pid() const { return process_->pid(); }
  bool Alive();
  // The target's log (its stderr) so far.
  std::string log() const { return process_->Stderr(); }
  // Stop sends SIGTERM and waits; the exit code (128 + signal when a signal ended it), or
  // nullopt when it had to be killed after 30 s or had exited already.
  std::optional<int> Stop();
  // Kill sends SIGKILL (a crash: nothing is flushed or closed) and reaps the process.
  void Kill();

 private:
  std::unique_ptr<ChildProcess> process_;
  std::string portal_;
  int port_ = 0;
  bool exited_ = false;
};

}  // namespace iscsi_csi::testing

#endif  // ISCSI_CSI_TESTS_TESTUTIL_TARGET_PROCESS_H_
