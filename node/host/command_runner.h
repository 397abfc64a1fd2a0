// command_runner: the one door through which the node plugin runs host tools (iscsiadm, blkid,
// mkfs, fsck, mount, resize2fs, xfs_growfs, blockdev, sg_vpd). Commands are argv vectors (never
// a shell line), carry a timeout, and mark secret arguments (CHAP passwords) so that every
// printable form shows "***" instead. A non-zero exit is a normal result, not an error: the
// caller maps exit codes (iscsiadm's table, blkid's 2 = nothing found, ...).
#ifndef ISCSI_CSI_NODE_HOST_COMMAND_RUNNER_H_
#define ISCSI_CSI_NODE_HOST_COMMAND_RUNNER_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace iscsi_csi::node {

// Arg is one argv entry; `secret` ones print as "***".
struct Arg {
  Arg(const char* v) : value(v) {}          // NOLINT: implicit on purpose, argv reads naturally
  Arg(std::string v) : value(std::move(v)) {}  // NOLINT
  Arg(absl::string_view v) : value(v) {}    // NOLINT
  std::string value;
  bool secret = false;
};

// Secret marks an argument whose value must never reach a log line.
Arg Secret(std::string value);

struct Command {
  std::vector<Arg> argv;  // argv[0] is the program, looked up in PATH
  absl::Duration timeout = absl::Minutes(2);

  // The program name without its directory ("iscsiadm"), for metrics and messages.
  std::string Tool() const;
  // ToString joins argv with spaces, secrets as "***".
  std::string ToString() const;
  // Plain argv values (secrets included): for runners and fakes, never for logs.
  std::vector<std::string> Values() const;
  // Mask replaces every occurrence of a secret argument's value in `text` with "***" (for
  // output a tool might echo back).
  std::string Mask(absl::string_view text) const;
};

struct CommandResult {
  int exit_code = 0;
  std::string stdout_text;
  std::string stderr_text;
};

class CommandRunner {
 public:
  virtual ~CommandRunner() = default;
  // Run executes `command` to completion. The status is an error only when the command could
  // not run or finish: NotFound (program missing), DeadlineExceeded (killed at the timeout),
  // Internal (fork/exec/pipe failure, killed by a signal).
  virtual absl::StatusOr<CommandResult> Run(const Command& command) = 0;
};

// FirstLine returns the first non-empty line of `text`, trimmed and capped at 300 characters.
std::string FirstLine(absl::string_view text);
// Summarize joins the non-empty lines of a tool's stderr with "; " (capped at 400 characters):
// what an error message quotes. Tools put their banner first and the reason last
// ("resize2fs 1.47.0 (5-Feb-2023)" / "resize2fs: Permission denied to resize filesystem").
std::string Summarize(absl::string_view text);

}  // namespace iscsi_csi::node

#endif  // ISCSI_CSI_NODE_HOST_COMMAND_RUNNER_H_
