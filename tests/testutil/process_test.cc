// Tests of the shared test helpers: a child started through ChildProcess dies with the process
// that started it (PR_SET_PDEATHSIG), RunProcess reports exit codes, HaveTool and
// FreeLoopbackPort.
#include "tests/testutil/process.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <optional>
#include <string>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/testutil/loopback.h"

namespace iscsi_csi::testing {
namespace {

std::string Comm(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(in, name);
  return name;
}

// A helper process (a fork of this test) starts `sleep 600` through ChildProcess, reports its
// pid and waits. The helper is SIGKILLed, as a test killed by a ctest timeout would be: its
// child must get SIGKILL too. This process is made a child subreaper so the orphan is
// reparented here and its end is seen with waitpid (an exited orphan of an init that does not
// reap would still answer kill(pid, 0) as a zombie).
TEST(ChildProcessTest, AChildDiesWhenTheProcessThatStartedItIsKilled) {
  ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  int report[2];
  ASSERT_EQ(pipe(report), 0);
  const std::string log = ::testing::TempDir() + "/pdeathsig_" + std::to_string(getpid());
  const pid_t helper = fork();
  ASSERT_GE(helper, 0);
  if (helper == 0) {
    close(report[0]);
    ChildProcess child({"/bin/sleep", "600"}, log);
    const pid_t pid = child.pid();
    if (write(report[1], &pid, sizeof pid) != sizeof pid) _exit(1);
    for (;;) pause();  // until SIGKILLed: never back into the test
  }
  close(report[1]);
  pid_t child = -1;
  const bool reported = read(report[0], &child, sizeof child) == sizeof child;
  close(report[0]);
  // The child runs `sleep` (the death signal was set before exec and survives it).
  const absl::Time exec_deadline = absl::Now() + absl::Seconds(10);
  while (reported && Comm(child) != "sleep" && absl::Now() < exec_deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  const bool started = reported && Comm(child) == "sleep";

  kill(helper, SIGKILL);
  int helper_status = 0;
  ASSERT_EQ(waitpid(helper, &helper_status, 0), helper);
  ASSERT_TRUE(reported) << "the helper did not report its child";

  std::optional<int> status;
  for (const absl::Time deadline = absl::Now() + absl::Seconds(10); absl::Now() < deadline;) {
    int s = 0;
    if (waitpid(child, &s, WNOHANG) == child) {
      status = s;
      break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  if (!status.has_value()) {  // leaked: do not leave it behind
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
  }
  prctl(PR_SET_CHILD_SUBREAPER, 0);
  unlink(log.c_str());
  EXPECT_TRUE(started) << "the child never ran sleep";
  ASSERT_TRUE(status.has_value()) << "the child outlived the process that started it (10 s)";
  EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL) << "status " << *status;
  EXPECT_NE(kill(child, 0), 0) << "the child is gone";
}

TEST(ChildProcessTest, WaitReportsTheExitCodeAndSignalStopsTheChild) {
  const std::string log = ::testing::TempDir() + "/child_" + std::to_string(getpid());
  ChildProcess exits({"/bin/sh", "-c", "echo oops >&2; exit 3"}, log);
  std::optional<ProcessResult> result = exits.Wait(absl::Seconds(10));
  ASSERT_TRUE(result.has_value());
  EXPECT_FALSE(result->signaled);
  EXPECT_EQ(result->exit_code, 3);
  EXPECT_EQ(result->stderr_text, "oops\n");

  ChildProcess sleeps({"/bin/sleep", "600"}, log);
  EXPECT_FALSE(sleeps.Wait(absl::Milliseconds(50)).has_value());
  sleeps.Signal(SIGTERM);
  result = sleeps.Wait(absl::Seconds(10));
  ASSERT_TRUE(result.has_value());
  EXPECT_TRUE(result->signaled);
  EXPECT_EQ(result->term_signal, SIGTERM);
  unlink(log.c_str());
}

TEST(RunProcessTest, CapturesBothStreamsAndTheExitCode) {
  ProcessResult result = RunProcess({"/bin/sh", "-c", "echo out; echo err >&2; exit 5"});
  EXPECT_EQ(result.exit_code, 5);
  EXPECT_EQ(result.stdout_text, "out\n");
  EXPECT_EQ(result.stderr_text, "err\n");
}

TEST(HaveToolTest, FindsBareNamesAndAbsolutePaths) {
  EXPECT_TRUE(HaveTool("sh"));
  EXPECT_TRUE(HaveTool("/bin/sh"));
  EXPECT_FALSE(HaveTool("no-such-tool-iscsi-csi"));
  EXPECT_FALSE(HaveTool("/nonexistent/sh"));
  EXPECT_FALSE(HaveTool("/etc/passwd")) << "not executable";
}

TEST(FreeLoopbackPortTest, ReturnsAPortThatCanBeBound) {
  const uint16_t port = FreeLoopbackPort();
  ASSERT_NE(port, 0);
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  close(fd);
}

}  // namespace
}  // namespace iscsi_csi::testing
