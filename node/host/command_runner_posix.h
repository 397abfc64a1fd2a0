// command_runner_posix: CommandRunner over fork/exec with pipes, a deadline and a kill of the
// whole process group at the timeout. In a container the node plugin runs host tools in the
// host's mount namespace by prefixing `nsenter --mount=/proc/1/ns/mnt --` (--host-exec=nsenter);
// with --host-exec=direct the image's own tools run.
#ifndef ISCSI_CSI_NODE_HOST_COMMAND_RUNNER_POSIX_H_
#define ISCSI_CSI_NODE_HOST_COMMAND_RUNNER_POSIX_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "node/host/command_runner.h"

namespace iscsi_csi::node {

// HostExec: where host tools run.
enum class HostExec { kDirect, kNsenter };
bool AbslParseFlag(absl::string_view text, HostExec* mode, std::string* error);
std::string AbslUnparseFlag(HostExec mode);

// HostExecPrefix is the argv prepended to every command for `mode` (empty for kDirect).
std::vector<std::string> HostExecPrefix(HostExec mode);

class PosixCommandRunner final : public CommandRunner {
 public:
  // Each of stdout and stderr keeps at most this many bytes (the rest is read and dropped).
  static constexpr size_t kMaxOutputBytes = 4 << 20;

  explicit PosixCommandRunner(std::vector<std::string> prefix = {});

  absl::StatusOr<CommandResult> Run(const Command& command) override;

 private:
  const std::vector<std::string> prefix_;
};

}  // namespace iscsi_csi::node

#endif  // ISCSI_CSI_NODE_HOST_COMMAND_RUNNER_POSIX_H_
