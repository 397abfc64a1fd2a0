// target_process: a running `iscsi-csi target` child for the reliability tests (its portal
// from the "listening on" log line, its pid for /proc sampling), plus a scratch directory per
// test and the /proc figures the tests watch (VmRSS, open descriptors).
#ifndef ISCSI_CSI_TESTS_RELIABILITY_TARGET_PROCESS_H_
#define ISCSI_CSI_TESTS_RELIABILITY_TARGET_PROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/testutil/process.h"

namespace iscsi_csi::reliability {

class TargetProcess {
 public:
  // Starts `iscsi-csi target --portal=127.0.0.1:0 <flags>` and waits (30 s at most) for its
  // "listening on" line; portal() is empty when it never came.
  TargetProcess(const std::vector<std::string>& flags, const std::string& log_path);
  ~TargetProcess();  // SIGKILLs the process if it still runs

  const std::string& portal() const { return portal_; }
  pid_t pid() const { return process_->pid(); }
  bool Alive();
  std::string log() const { return process_->Stderr(); }
  // Stop sends SIGTERM and waits; the exit code, or nullopt when it had to be killed.
  std::optional<int> Stop();

 private:
  std::unique_ptr<::iscsi_csi::testing::ChildProcess> process_;
  std::string portal_;
  bool exited_ = false;
};

// ScratchDir returns an empty directory named after the running test.
std::string ScratchDir();
// RemoveScratchDir deletes `dir` unless the running test has failed (its logs stay for a look).
void RemoveScratchDir(const std::string& dir);

// ProcessRssBytes: VmRSS of `pid` from /proc/PID/status; 0 when unreadable.
uint64_t ProcessRssBytes(pid_t pid);
// ProcessFdCount: the entries of /proc/PID/fd; -1 when unreadable.
int ProcessFdCount(pid_t pid);

// EnvSeconds reads a positive number of seconds from the environment variable `name`.
double EnvSeconds(const char* name, double default_seconds);

}  // namespace iscsi_csi::reliability

#endif  // ISCSI_CSI_TESTS_RELIABILITY_TARGET_PROCESS_H_
