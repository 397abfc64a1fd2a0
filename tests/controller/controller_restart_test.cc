// The built `iscsi-csi controller` binary across a crash: create, publish and write through
// iSCSI, SIGKILL the process, start it again on the same data dir and portal: the volume, its
// publication, its CHAP credentials and its data are all there before Probe reports ready, and
// the same initiator logs in again. Also: flag errors exit 2 naming the flag, and --help
// explains the controller's own flags.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/volume_context.h"
#include "csi.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/controller/controller_harness.h"
#include "tests/controller/csi_requests.h"
#include "tests/controller/status_matchers.h"
#include "tests/controller/test_dirs.h"
#include "tests/testutil/iscsi_session.h"
#include "tests/testutil/loopback.h"
#include "tests/testutil/process.h"

namespace iscsi_csi::controller {
namespace {

using ::iscsi_csi::controller::testing::BlockCap;
using ::iscsi_csi::controller::testing::ControllerHarness;
using ::iscsi_csi::controller::testing::CreateRequest;
using ::iscsi_csi::controller::testing::IsOk;
using ::iscsi_csi::controller::testing::kMiB;
using ::iscsi_csi::controller::testing::PublishRequest;
using ::iscsi_csi::controller::testing::ScratchDir;
using ::iscsi_csi::controller::testing::SnapshotRequest;
using ::iscsi_csi::controller::testing::SocketPath;
using ::iscsi_csi::testing::BinaryPath;
using ::iscsi_csi::testing::ChildProcess;
using ::iscsi_csi::testing::CommandResult;
using ::iscsi_csi::testing::FreeLoopbackPort;
using ::iscsi_csi::testing::IscsiSession;
using ::iscsi_csi::testing::ProcessResult;
using ::iscsi_csi::testing::RunProcess;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string Pattern(size_t length, uint8_t seed) {
  std::string data(length, '\0');
  for (size_t i = 0; i < length; ++i) data[i] = static_cast<char>(seed ^ (i * 13));
  return data;
}

class ControllerRestartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ScratchDir();
    socket_ = SocketPath();
    port_ = FreeLoopbackPort();
  }

  std::unique_ptr<ChildProcess> StartController(const std::string& log_name) {
    auto child = std::make_unique<ChildProcess>(
        std::vector<std::string>{BinaryPath(), "controller", "--endpoint=unix://" + socket_,
                                 "--data-dir=" + dir_ + "/data",
                                 absl::StrCat("--portal=127.0.0.1:", port_)},
        dir_ + "/" + log_name);
    // A fresh channel per attempt: a channel that saw the socket refuse (before the server
    // listened) would wait out its reconnect backoff.
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (absl::Now() < deadline) {
      channel_ = grpc::CreateChannel("unix://" + socket_, grpc::InsecureChannelCredentials());
      identity_ = csi::v1::Identity::NewStub(channel_);
      controller_ = csi::v1::Controller::NewStub(channel_);
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
      csi::v1::ProbeResponse probe;
      if (identity_->Probe(&context, {}, &probe).ok() && probe.ready().value()) return child;
      absl::SleepFor(absl::Milliseconds(50));
    }
    ADD_FAILURE() << "controller did not become ready: " << child->Stderr();
    return child;
  }

  template <typename Request, typename Response>
  grpc::Status Call(grpc::Status (csi::v1::Controller::Stub::*method)(grpc::ClientContext*,
                                                                      const Request&, Response*),
                    const Request& request, Response* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return (controller_.get()->*method)(&context, request, response);
  }

  std::string dir_;
  std::string socket_;
  uint16_t port_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<csi::v1::Identity::Stub> identity_;
  std::unique_ptr<csi::v1::Controller::Stub> controller_;
};

TEST_F(ControllerRestartTest, AVolumeItsPublicationAndItsDataSurviveSigkill) {
  std::unique_ptr<ChildProcess> first = StartController("first.log");
  csi::v1::CreateVolumeResponse created;
  ASSERT_THAT(Call(&csi::v1::Controller::Stub::CreateVolume,
                   CreateRequest("survivor", 8 * kMiB, BlockCap()), &created),
              IsOk());
  const csi::v1::Volume volume = created.volume();
  csi::v1::ControllerPublishVolumeResponse published;
  ASSERT_THAT(Call(&csi::v1::Controller::Stub::ControllerPublishVolume,
                   PublishRequest(volume.volume_id(), "worker-1", BlockCap()), &published),
              IsOk());
  {
    absl::StatusOr<std::unique_ptr<IscsiSession>> client =
        ControllerHarness::LoginAsNode(volume, "worker-1", published.publish_context());
    ASSERT_THAT(client, IsOk());
    ASSERT_THAT((*client)->Write(0, Pattern(64 * 1024, 7)).ToStatus(), IsOk());
    ASSERT_THAT((*client)->Write(8 * kMiB / 512 - 8, Pattern(4096, 8)).ToStatus(), IsOk());
    // Acknowledged writes, no SYNCHRONIZE CACHE: the page cache outlives the process.
  }
  first->Signal(SIGKILL);
  ASSERT_TRUE(first->Wait(absl::Seconds(10)).has_value());

  std::unique_ptr<ChildProcess> second = StartController("second.log");
  csi::v1::ControllerGetVolumeRequest get;
  get.set_volume_id(volume.volume_id());
  csi::v1::ControllerGetVolumeResponse got;
  ASSERT_THAT(Call(&csi::v1::Controller::Stub::ControllerGetVolume, get, &got), IsOk());
  EXPECT_THAT(got.status().published_node_ids(), ElementsAre("worker-1"));
  EXPECT_FALSE(got.status().volume_condition().abnormal())
      << got.status().volume_condition().message();
  EXPECT_EQ(got.volume().volume_context().at(kCtxPortals), volume.volume_context().at(kCtxPortals));
  // The publication was restored before Probe said ready: the node logs in with what it has.
  absl::StatusOr<std::unique_ptr<IscsiSession>> client =
      ControllerHarness::LoginAsNode(volume, "worker-1", published.publish_context());
  ASSERT_THAT(client, IsOk()) << second->Stderr();
  const CommandResult head = (*client)->Read(0, 128);
  EXPECT_THAT(head.ToStatus(), IsOk());
  EXPECT_EQ(head.data, Pattern(64 * 1024, 7));
  const CommandResult tail = (*client)->Read(8 * kMiB / 512 - 8, 8);
  EXPECT_THAT(tail.ToStatus(), IsOk());
  EXPECT_EQ(tail.data, Pattern(4096, 8));
  EXPECT_FALSE(
      ControllerHarness::LoginAsNode(volume, "worker-2", published.publish_context()).ok());
  // Publishing again answers the same credentials.
  csi::v1::ControllerPublishVolumeResponse again;
  ASSERT_THAT(Call(&csi::v1::Controller::Stub::ControllerPublishVolume,
                   PublishRequest(volume.volume_id(), "worker-1", BlockCap()), &again),
              IsOk());
  EXPECT_EQ(again.publish_context().at(kPubChapSecret),
            published.publish_context().at(kPubChapSecret));
  client->reset();
  // Hang up first: the server's drain waits for connected clients.
  controller_.reset();
  identity_.reset();
  channel_.reset();

  second->Signal(SIGTERM);
  std::optional<ProcessResult> result = second->Wait(absl::Seconds(20));
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->exit_code, 0) << second->Stderr();
}

TEST_F(ControllerRestartTest, BadFlagsExitWithUsageErrorsNamingTheFlag) {
  struct Case {
    std::string name;
    std::vector<std::string> flags;
    std::string mention;
  };
  const std::vector<Case> cases = {
      {"wildcard portal without advertise", {"--portal=0.0.0.0:3260"}, "--advertise-portal"},
      {"bad capacity", {"--capacity=lots"}, "--capacity"},
      {"bad topology", {"--topology=zone"}, "--topology"},
      {"bad advertised portal", {"--advertise-portal=[::]:3260"}, "--advertise-portal"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv = {BinaryPath(), "controller", "--endpoint=unix://" + socket_,
                                     "--data-dir=" + dir_ + "/data"};
    argv.insert(argv.end(), c.flags.begin(), c.flags.end());
    ProcessResult result = RunProcess(argv, absl::Seconds(20));
    EXPECT_EQ(result.exit_code, 2) << c.name << ": " << result.stderr_text;
    EXPECT_THAT(result.stderr_text, HasSubstr(c.mention)) << c.name;
  }
}

TEST_F(ControllerRestartTest, HelpExplainsTheControllerFlags) {
  ProcessResult result = RunProcess({BinaryPath(), "controller", "--help"});
  EXPECT_EQ(result.exit_code, 0);
  for (const char* flag : {"--portal", "--advertise-portal", "--capacity", "--topology"}) {
    EXPECT_THAT(result.stdout_text, HasSubstr(flag));
  }
}

TEST_F(ControllerRestartTest, APortalThatCannotBeBoundFailsStartUp) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port_);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  ProcessResult result =
      RunProcess({BinaryPath(), "controller", "--endpoint=unix://" + socket_,
                  "--data-dir=" + dir_ + "/data", absl::StrCat("--portal=127.0.0.1:", port_)},
                 absl::Seconds(20));
  close(fd);
  EXPECT_EQ(result.exit_code, 1) << result.stderr_text;
  EXPECT_THAT(result.stderr_text, HasSubstr("iSCSI target"));
}

}  // namespace
}  // namespace iscsi_csi::controller
