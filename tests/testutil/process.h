// process: start a program as a child process for tests that drive the real binary (or a
// host tool), and find out whether such a tool is installed. A child dies with the thread that
// started it (PR_SET_PDEATHSIG), so a test killed by a signal or a ctest timeout leaves no
// target, controller or tool behind; start children from a thread that outlives them.
#ifndef ISCSI_CSI_TESTS_TESTUTIL_PROCESS_H_
#define ISCSI_CSI_TESTS_TESTUTIL_PROCESS_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace iscsi_csi::testing {

struct ProcessResult {
  int exit_code = -1;   // valid when !signaled
  int term_signal = 0;  // valid when signaled
  bool signaled = false;
  std::string stdout_text;
  std::string stderr_text;
};

// RunProcess runs argv to completion (killed after `timeout`) and captures both streams.
ProcessResult RunProcess(const std::vector<std::string>& argv,
                         absl::Duration timeout = absl::Seconds(30));

// ChildProcess is a running child whose stderr goes to a file (read with Stderr()). It gets
// SIGKILL when the thread that constructed it ends (the whole test process, usually).
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const std::string& stderr_path);
  ~ChildProcess();  // SIGKILLs the child if it still runs
  pid_t pid() const { return pid_; }
  void Signal(int signal_number);
  // Waits for exit; nullopt on timeout.
  std::optional<ProcessResult> Wait(absl::Duration timeout);
  std::string Stderr() const;

 private:
  pid_t pid_ = -1;
  std::string stderr_path_;
  bool reaped_ = false;
};

// The directory where the tests' built binaries live (set by CMake).
std::string BinaryPath();

// WaitForPath polls until `path` exists or the timeout passes.
bool WaitForPath(const std::string& path, absl::Duration timeout);

// HaveTool says whether `tool` can be run: an absolute path to an executable file, or a bare
// name found in /usr/bin, /usr/local/bin or /bin. Tests skip (or fail) on a missing tool.
bool HaveTool(const std::string& tool);

}  // namespace iscsi_csi::testing

#endif  // ISCSI_CSI_TESTS_TESTUTIL_PROCESS_H_
