#include "tests/testutil/target_process.h"

#include <signal.h>

#include <regex>

#include "absl/time/clock.h"

namespace iscsi_csi::testing {

TargetProcess::TargetProcess(const std::vector<std::string>& flags, const std::string& log_path) {
  std::vector<std::string> argv = {BinaryPath(), "target", "--portal=127.0.0.1:0"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  process_ = std::make_unique<ChildProcess>(argv, log_path);
  const std::regex listening("iSCSI target listening on (127\\.0\\.0\\.1:([0-9]+))");
  for (absl::Time deadline = absl::Now() + absl::Seconds(30); absl::Now() < deadline;) {
    std::smatch m;
    const std::string text = process_->Stderr();
    if (std::regex_search(text, m, listening)) {
      portal_ = m[1];
      port_ = std::stoi(m[2]);
      return;
    }
    if (!Alive()) return;
    absl::SleepFor(absl::Milliseconds(20));
  }
}

TargetProcess::~TargetProcess() = default;

bool TargetProcess::Alive() {
  if (exited_) return false;
  if (process_->Wait(absl::ZeroDuration()).has_value()) exited_ = true;
  return !exited_;
}

std::optional<int> TargetProcess::Stop() {
  if (exited_) return std::nullopt;
  process_->Signal(SIGTERM);
  std::optional<ProcessResult> result = process_->Wait(absl::Seconds(30));
  if (!result.has_value()) {
    process_->Signal(SIGKILL);
    process_->Wait(absl::Seconds(30));
    exited_ = true;
    return std::nullopt;
  }
  exited_ = true;
  return result->signaled ? 128 + result->term_signal : result->exit_code;
}

void TargetProcess::Kill() {
  if (exited_) return;
  process_->Signal(SIGKILL);
  process_->Wait(absl::Seconds(30));
  exited_ = true;
}

}  // namespace iscsi_csi::testing
