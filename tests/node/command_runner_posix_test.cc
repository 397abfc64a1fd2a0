// PosixCommandRunner against real programs (/bin/sh, coreutils): output capture, exit codes, a
// missing program, the kill at the timeout, the host-exec prefix, and secrets that never print.
#include "node/host/command_runner_posix.h"

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/node/status_matchers.h"

namespace iscsi_csi::node {
namespace {

using ::iscsi_csi::testing::IsOk;
using ::iscsi_csi::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

Command Sh(const std::string& script, absl::Duration timeout = absl::Seconds(10)) {
  Command command;
  command.argv = {"sh", "-c", script};
  command.timeout = timeout;
  return command;
}

TEST(PosixCommandRunnerTest, CapturesStdoutStderrAndExitCode) {
  PosixCommandRunner runner;
  absl::StatusOr<CommandResult> result = runner.Run(Sh("echo out; echo err >&2; exit 3"));
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->exit_code, 3);
  EXPECT_EQ(result->stdout_text, "out\n");
  EXPECT_EQ(result->stderr_text, "err\n");
}

TEST(PosixCommandRunnerTest, ArgumentsAreNotInterpretedByAShell) {
  PosixCommandRunner runner;
  Command command;
  command.argv = {"printf", "%s|", "a b", "$(id)", ";reboot"};
  absl::StatusOr<CommandResult> result = runner.Run(command);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->stdout_text, "a b|$(id)|;reboot|");
}

TEST(PosixCommandRunnerTest, SbinIsOnThePathAndTheLocaleIsC) {
  PosixCommandRunner runner;
  absl::StatusOr<CommandResult> result = runner.Run(Sh("echo $PATH; echo $LC_ALL"));
  ASSERT_THAT(result, IsOk());
  EXPECT_THAT(result->stdout_text, HasSubstr("/usr/sbin"));
  EXPECT_THAT(result->stdout_text, HasSubstr("\nC\n"));
}

TEST(PosixCommandRunnerTest, MissingProgramIsNotFound) {
  PosixCommandRunner runner;
  Command command;
  command.argv = {"iscsi-csi-no-such-tool"};
  EXPECT_THAT(runner.Run(command), StatusIs(absl::StatusCode::kNotFound));
}

TEST(PosixCommandRunnerTest, TimeoutKillsTheWholeProcessGroup) {
  PosixCommandRunner runner;
  const absl::Time start = absl::Now();
  // The grandchild keeps the pipe open; only a group kill ends the wait.
  EXPECT_THAT(runner.Run(Sh("sleep 30 & sleep 30", absl::Milliseconds(300))),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST(PosixCommandRunnerTest, PrefixIsPrepended) {
  PosixCommandRunner runner({"env", "ISCSI_CSI_PREFIX_SEEN=1"});
  absl::StatusOr<CommandResult> result = runner.Run(Sh("echo $ISCSI_CSI_PREFIX_SEEN"));
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->stdout_text, "1\n");
}

TEST(PosixCommandRunnerTest, PrefixThatCannotExecTheToolIsNotFound) {
  // env, like nsenter, exits 127 when it cannot find the program.
  PosixCommandRunner runner({"env"});
  Command command;
  command.argv = {"iscsi-csi-no-such-tool"};
  EXPECT_THAT(runner.Run(command), StatusIs(absl::StatusCode::kNotFound));
}

TEST(PosixCommandRunnerTest, SecretsAreMaskedInOutputAndLogLine) {
  PosixCommandRunner runner;
  Command command;
  command.argv = {"sh", "-c", "echo \"echoed $1\" >&2; exit 1", "sh", Secret("s3cr3t-value")};
  absl::StatusOr<CommandResult> result = runner.Run(command);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->stderr_text, "echoed ***\n");
  EXPECT_THAT(command.ToString(), Not(HasSubstr("s3cr3t-value")));
}

TEST(PosixCommandRunnerTest, OutputIsCapped) {
  PosixCommandRunner runner;
  absl::StatusOr<CommandResult> result =
      runner.Run(Sh("head -c 6000000 /dev/zero", absl::Seconds(20)));
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->exit_code, 0);
  EXPECT_EQ(result->stdout_text.size(), PosixCommandRunner::kMaxOutputBytes);
}

TEST(HostExecTest, FlagValues) {
  HostExec mode = HostExec::kDirect;
  std::string error;
  EXPECT_TRUE(AbslParseFlag("nsenter", &mode, &error));
  EXPECT_EQ(mode, HostExec::kNsenter);
  EXPECT_EQ(AbslUnparseFlag(mode), "nsenter");
  EXPECT_FALSE(AbslParseFlag("chroot", &mode, &error));
  EXPECT_THAT(HostExecPrefix(HostExec::kNsenter),
              ::testing::ElementsAre("nsenter", "--mount=/proc/1/ns/mnt", "--"));
  EXPECT_TRUE(HostExecPrefix(HostExec::kDirect).empty());
}

}  // namespace
}  // namespace iscsi_csi::node
