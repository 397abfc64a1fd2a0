// FakeCommandRunner: a scripted CommandRunner with a call log. Rules match on an argv prefix; the
// most recently added matching rule answers (so a test can override one answer of a fake world).
// A command no rule matches answers NotFound, like a missing program.
#ifndef ISCSI_CSI_TESTS_FAKES_FAKE_COMMAND_RUNNER_H_
#define ISCSI_CSI_TESTS_FAKES_FAKE_COMMAND_RUNNER_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "node/host/command_runner.h"

namespace iscsi_csi::testing {

class FakeCommandRunner final : public node::CommandRunner {
 public:
  using Handler =
      std::function<absl::StatusOr<node::CommandResult>(const std::vector<std::string>& argv)>;

  // On answers commands whose argv starts with `prefix` through `handler`.
  void On(std::vector<std::string> prefix, Handler handler);
  // OnResult answers with a fixed result.
  void OnResult(std::vector<std::string> prefix, int exit_code, std::string stdout_text = "",
                std::string stderr_text = "");

  absl::StatusOr<node::CommandResult> Run(const node::Command& command) override;

  std::vector<node::Command> calls();
  // CallLines: every call as its log line (secrets masked), in order.
  std::vector<std::string> CallLines();
  // Count: calls whose argv contains every one of `tokens` (in any position).
  int Count(const std::vector<std::string>& tokens);
  void ClearCalls();

 private:
  struct Rule {
    std::vector<std::string> prefix;
    Handler handler;
  };
  absl::Mutex mu_;
  std::vector<Rule> rules_ ABSL_GUARDED_BY(mu_);
  std::vector<node::Command> calls_ ABSL_GUARDED_BY(mu_);
};

}  // namespace iscsi_csi::testing

#endif  // ISCSI_CSI_TESTS_FAKES_FAKE_COMMAND_RUNNER_H_
