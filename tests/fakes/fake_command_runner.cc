#include "tests/fakes/fake_command_runner.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace iscsi_csi::testing {

void FakeCommandRunner::On(std::vector<std::string> prefix, Handler handler) {
  absl::MutexLock lock(&mu_);
  rules_.push_back(Rule{std::move(prefix), std::move(handler)});
}

void FakeCommandRunner::OnResult(std::vector<std::string> prefix, int exit_code,
                                 std::string stdout_text, std::string stderr_text) {
  node::CommandResult result{exit_code, std::move(stdout_text), std::move(stderr_text)};
  On(std::move(prefix), [result](const std::vector<std::string>&) { return result; });
}

absl::StatusOr<node::CommandResult> FakeCommandRunner::Run(const node::Command& command) {
  const std::vector<std::string> argv = command.Values();
  Handler handler;
  {
    absl::MutexLock lock(&mu_);
    calls_.push_back(command);
    for (auto it = rules_.rbegin(); it != rules_.rend(); ++it) {
      if (it->prefix.size() <= argv.size() &&
          std::equal(it->prefix.begin(), it->prefix.end(), argv.begin())) {
        handler = it->handler;
        break;
      }
    }
  }
  if (!handler) {
    return absl::NotFoundError(absl::StrCat("fake: no rule for ", command.ToString()));
  }
  return handler(argv);
}

std::vector<node::Command> FakeCommandRunner::calls() {
  absl::MutexLock lock(&mu_);
  return calls_;
}

std::vector<std::string> FakeCommandRunner::CallLines() {
  std::vector<std::string> lines;
  for (const node::Command& command : calls()) lines.push_back(command.ToString());
  return lines;
}

int FakeCommandRunner::Count(const std::vector<std::string>& tokens) {
  int count = 0;
  for (const node::Command& command : calls()) {
    const std::vector<std::string> argv = command.Values();
    bool all = true;
    for (const std::string& token : tokens) {
      if (std::find(argv.begin(), argv.end(), token) == argv.end()) all = false;
    }
    if (all) ++count;
  }
  return count;
}

void FakeCommandRunner::ClearCalls() {
  absl::MutexLock lock(&mu_);
  calls_.clear();
}

}  // namespace iscsi_csi::testing
