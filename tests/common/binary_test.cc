// Drives the built iscsi-csi binary: help and flag errors, start-up on a unix socket, graceful
// SIGTERM, restart on a socket left behind by a SIGKILLed process, and the metrics endpoint.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "csi.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/testutil/loopback.h"
#include "tests/testutil/process.h"

namespace iscsi_csi {
namespace {

using ::iscsi_csi::testing::BinaryPath;
using ::iscsi_csi::testing::ChildProcess;
using ::iscsi_csi::testing::FreeLoopbackPort;
using ::iscsi_csi::testing::ProcessResult;
using ::iscsi_csi::testing::RunProcess;
using ::testing::HasSubstr;

const std::vector<std::string> kPluginFlags = {
    "--endpoint",        "--driver-name", "--node-id",       "--data-dir",
    "--metrics-address", "--log-level",   "--shutdown-grace"};

std::string Scratch(const std::string& name) {
  return ::testing::TempDir() + "/bin_" + std::to_string(getpid()) + "_" + name;
}

// ProbeReady asks the plugin at `socket` whether it is ready; false on any error.
bool ProbeReady(const std::string& socket) {
  auto stub = csi::v1::Identity::NewStub(
      grpc::CreateChannel("unix://" + socket, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  csi::v1::ProbeResponse response;
  return stub->Probe(&context, {}, &response).ok() && response.ready().value();
}

bool WaitReady(const std::string& socket, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (ProbeReady(socket)) return true;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return false;
}

TEST(BinaryTest, TopLevelHelpListsTheModes) {
  ProcessResult r = RunProcess({BinaryPath(), "--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* word : {"controller", "node", "target", "--version"}) {
    EXPECT_THAT(r.stdout_text, HasSubstr(word));
  }
}

TEST(BinaryTest, EachPluginModeHelpExplainsEveryFlag) {
  for (const char* mode : {"controller", "node"}) {
    ProcessResult r = RunProcess({BinaryPath(), mode, "--help"});
    EXPECT_EQ(r.exit_code, 0) << mode;
    for (const std::string& flag : kPluginFlags) {
      EXPECT_THAT(r.stdout_text, HasSubstr(flag)) << mode;
    }
    EXPECT_THAT(r.stdout_text, HasSubstr("default:")) << mode;
  }
  ProcessResult controller = RunProcess({BinaryPath(), "controller", "--help"});
  for (const char* flag : {"--portal", "--nop-in-interval", "--max-connections"}) {
    EXPECT_THAT(controller.stdout_text, HasSubstr(flag));
  }
  ProcessResult r = RunProcess({BinaryPath(), "help", "target"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.stdout_text, HasSubstr("iscsi-csi target"));
  for (const char* flag : {"--portal", "--export", "--allow", "--read-only", "--chap",
                           "--mutual-chap", "--block-size", "--io-threads", "--nop-in-interval",
                           "--max-connections", "--metrics-address", "--log-level"}) {
    EXPECT_THAT(r.stdout_text, HasSubstr(flag));
  }
}

TEST(BinaryTest, TargetRefusesBadSpecsNamingTheFlag) {
  struct Case {
    std::vector<std::string> args;
    std::string flag;
  };
  std::vector<Case> cases = {
      {{"target"}, "--export"},
      {{"target", "--export=iqn.2026-11.io.x:a"}, "--export"},
      {{"target", "--export=iqn.2026-11.io.x:a=/tmp/a:1G", "--portal=nowhere:99999"}, "--portal"},
      {{"target", "--export=iqn.2026-11.io.x:a=/tmp/a:1G", "--chap=iqn.2026-11.io.x:a=nocolon"},
       "--chap"},
      {{"target", "--export=iqn.2026-11.io.x:a=/tmp/a:1G",
        "--mutual-chap=iqn.2026-11.io.x:a=u:secret-secret"},
       "--mutual-chap"},
      {{"target", "--export=iqn.2026-11.io.x:a=/tmp/a:1G", "--block-size=1000"}, "--block-size"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv = {BinaryPath()};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    ProcessResult r = RunProcess(argv, absl::Seconds(20));
    EXPECT_FALSE(r.signaled) << c.flag;
    EXPECT_EQ(r.exit_code, 2) << c.flag << ": " << r.stderr_text;
    EXPECT_THAT(r.stderr_text, HasSubstr(c.flag)) << r.stderr_text;
  }
}

TEST(BinaryTest, TargetServesUntilSigtermAndLogsItsPortal) {
  std::string dir = Scratch("tgt");
  mkdir(dir.c_str(), 0755);
  ChildProcess child({BinaryPath(), "target", "--portal=127.0.0.1:0",
                      "--export=iqn.2026-11.io.iscsi-csi.test:bin=" + dir + "/d.img:8M"},
                     Scratch("tgt.log"));
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline &&
         child.Stderr().find("iSCSI target listening on") == std::string::npos) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_THAT(child.Stderr(), HasSubstr("iSCSI target listening on 127.0.0.1:"));
  struct stat st;
  ASSERT_EQ(stat((dir + "/d.img").c_str(), &st), 0) << "the export file is created";
  EXPECT_EQ(st.st_size, 8 << 20);
  EXPECT_LT(st.st_blocks, 64) << "and sparse";
  child.Signal(SIGTERM);
  auto result = child.Wait(absl::Seconds(20));
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->exit_code, 0) << result->stderr_text;
  EXPECT_THAT(result->stderr_text, HasSubstr("iSCSI target stopped"));
}

TEST(BinaryTest, VersionIsPrinted) {
  ProcessResult r = RunProcess({BinaryPath(), "--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.stdout_text, HasSubstr("iscsi-csi 0."));
}

TEST(BinaryTest, BadFlagValuesExitNonZeroNamingTheFlag) {
  struct Case {
    std::vector<std::string> args;
    std::string flag;
  };
  std::vector<Case> cases = {
      {{"controller", "--endpoint=nowhere"}, "--endpoint"},
      {{"controller", "--endpoint", "tcp://127.0.0.1:99999"}, "--endpoint"},
      {{"node", "--log-level=shout", "--node-id=n1"}, "--log-level"},
      {{"controller", "--metrics-address=localhost"}, "--metrics-address"},
      {{"controller", "--shutdown-grace=soon"}, "--shutdown-grace"},
      {{"controller", "--driver-name=-bad-", "--endpoint=unix://" + Scratch("dn.sock")},
       "--driver-name"},
      {{"controller", "--data-dir=relative/dir", "--endpoint=unix://" + Scratch("dd.sock")},
       "--data-dir"},
      {{"controller", "--no-such-flag=1"}, "--no-such-flag"},
      {{"node", "--endpoint=unix://" + Scratch("nid.sock")}, "--node-id"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv = {BinaryPath()};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    ProcessResult r = RunProcess(argv, absl::Seconds(20));
    EXPECT_FALSE(r.signaled) << c.flag;
    EXPECT_NE(r.exit_code, 0) << c.flag;
    EXPECT_THAT(r.stderr_text, HasSubstr(c.flag)) << r.stderr_text;
  }
}

TEST(BinaryTest, UnknownCommandExitsTwo) {
  ProcessResult r = RunProcess({BinaryPath(), "frobnicate"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.stderr_text, HasSubstr("unknown command 'frobnicate'"));
}

TEST(BinaryTest, ControllerServesProbeAndStopsCleanlyOnSigterm) {
  std::string socket = Scratch("ctl.sock");
  ChildProcess child({BinaryPath(), "controller", "--endpoint=unix://" + socket,
                      "--data-dir=" + Scratch("ctl-data"), "--portal=127.0.0.1:0"},
                     Scratch("ctl.log"));
  ASSERT_TRUE(WaitReady(socket, absl::Seconds(20))) << child.Stderr();
  child.Signal(SIGTERM);
  auto result = child.Wait(absl::Seconds(20));
  ASSERT_TRUE(result.has_value()) << "controller did not exit after SIGTERM";
  EXPECT_FALSE(result->signaled);
  EXPECT_EQ(result->exit_code, 0) << result->stderr_text;
  EXPECT_THAT(result->stderr_text, HasSubstr("draining"));
  EXPECT_NE(access(socket.c_str(), F_OK), 0) << "socket left behind after a clean stop";
}

TEST(BinaryTest, RestartOnSocketLeftByKilledProcessWorks) {
  std::string socket = Scratch("crash.sock");
  std::string data = Scratch("crash-data");
  {
    ChildProcess first(
        {BinaryPath(), "node", "--node-id=n1", "--endpoint=unix://" + socket, "--data-dir=" + data},
        Scratch("crash1.log"));
    ASSERT_TRUE(WaitReady(socket, absl::Seconds(20))) << first.Stderr();
    first.Signal(SIGKILL);
    ASSERT_TRUE(first.Wait(absl::Seconds(10)).has_value());
  }
  struct stat st;
  ASSERT_EQ(lstat(socket.c_str(), &st), 0) << "the crash should leave the socket file";
  ASSERT_TRUE(S_ISSOCK(st.st_mode));
  ChildProcess second(
      {BinaryPath(), "node", "--node-id=n1", "--endpoint=unix://" + socket, "--data-dir=" + data},
      Scratch("crash2.log"));
  EXPECT_TRUE(WaitReady(socket, absl::Seconds(20))) << second.Stderr();
  EXPECT_THAT(second.Stderr(), HasSubstr("removed stale socket"));
}

std::string HttpGet(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return "";
  }
  std::string request = absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
  (void)!write(fd, request.data(), request.size());
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

TEST(BinaryTest, MetricsEndpointCountsCsiCalls) {
  std::string socket = Scratch("met.sock");
  int port = FreeLoopbackPort();
  ChildProcess child({BinaryPath(), "controller", "--endpoint=unix://" + socket,
                      "--data-dir=" + Scratch("met-data"), "--portal=127.0.0.1:0",
                      absl::StrCat("--metrics-address=127.0.0.1:", port)},
                     Scratch("met.log"));
  ASSERT_TRUE(WaitReady(socket, absl::Seconds(20))) << child.Stderr();
  std::string body = HttpGet(port, "/metrics");
  EXPECT_THAT(body, HasSubstr("200 OK"));
  EXPECT_THAT(body, HasSubstr("iscsi_csi_csi_operations_total{grpc_code=\"OK\",method=\"Probe\"}"));
}

TEST(BinaryTest, StandaloneTargetServesItsMetrics) {
  std::string dir = Scratch("tgtmet");
  mkdir(dir.c_str(), 0755);
  const int port = FreeLoopbackPort();
  ASSERT_GT(port, 0);
  ChildProcess child({BinaryPath(), "target", "--portal=127.0.0.1:0",
                      "--export=iqn.2026-11.io.iscsi-csi.test:met=" + dir + "/d.img:8M",
                      absl::StrCat("--metrics-address=127.0.0.1:", port)},
                     Scratch("tgtmet.log"));
  std::string body;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  // The endpoint answers a moment before the target's collector is registered on it.
  while (absl::Now() < deadline &&
         body.find("iscsi_csi_target_logins_total") == std::string::npos) {
    absl::SleepFor(absl::Milliseconds(100));
    body = HttpGet(port, "/metrics");
  }
  EXPECT_THAT(body, HasSubstr("200 OK")) << child.Stderr();
  EXPECT_THAT(body, HasSubstr("iscsi_csi_target_logins_total"));
  EXPECT_THAT(body, HasSubstr("iscsi_csi_target_connections"));
}

TEST(BinaryTest, StandaloneTargetRefusesAMetricsAddressInUse) {
  std::string dir = Scratch("tgtmetbusy");
  mkdir(dir.c_str(), 0755);
  // Hold a listening socket on the port so that the exposer cannot bind it.
  const int holder = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(holder, 0);
  struct sockaddr_in address {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(holder, reinterpret_cast<struct sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(listen(holder, 1), 0);
  socklen_t length = sizeof(address);
  ASSERT_EQ(getsockname(holder, reinterpret_cast<struct sockaddr*>(&address), &length), 0);
  ProcessResult r =
      RunProcess({BinaryPath(), "target", "--portal=127.0.0.1:0",
                  "--export=iqn.2026-11.io.iscsi-csi.test:busy=" + dir + "/d.img:8M",
                  absl::StrCat("--metrics-address=127.0.0.1:", ntohs(address.sin_port))},
                 absl::Seconds(20));
  close(holder);
  EXPECT_EQ(r.exit_code, 1) << r.stderr_text;
  EXPECT_THAT(r.stderr_text, HasSubstr("--metrics-address")) << r.stderr_text;
}

}  // namespace
}  // namespace iscsi_csi
