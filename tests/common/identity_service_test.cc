// Talks to the Identity service over a real gRPC channel on a temporary unix socket.
#include "common/identity_service.h"

#include <unistd.h>

#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/server.h"
#include "csi.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"

namespace iscsi_csi {
namespace {

Endpoint UnixEndpoint(const std::string& name) {
  Endpoint endpoint;
  endpoint.kind = Endpoint::Kind::kUnix;
  endpoint.path = ::testing::TempDir() + "/id_" + std::to_string(getpid()) + "_" + name + ".sock";
  return endpoint;
}

std::unique_ptr<csi::v1::Identity::Stub> Connect(const Endpoint& endpoint) {
  return csi::v1::Identity::NewStub(
      grpc::CreateChannel(endpoint.GrpcAddress(), grpc::InsecureChannelCredentials()));
}

std::unique_ptr<grpc::ClientContext> Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return context;
}

class IdentityServiceTest : public ::testing::Test {
 protected:
  void StartServer(std::function<absl::Status()> health = nullptr) {
    identity_ = std::make_unique<IdentityService>(
        "iscsi-csi.io", "1.2.3+gabc",
        std::vector<csi::v1::PluginCapability>{
            ServiceCapability(csi::v1::PluginCapability::Service::CONTROLLER_SERVICE)},
        std::move(health));
    endpoint_ = UnixEndpoint(::testing::UnitTest::GetInstance()->current_test_info()->name());
    auto server = CsiServer::Start(endpoint_, {identity_.get()}, nullptr);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = Connect(endpoint_);
  }

  std::unique_ptr<IdentityService> identity_;
  Endpoint endpoint_;
  std::unique_ptr<CsiServer> server_;
  std::unique_ptr<csi::v1::Identity::Stub> stub_;
};

TEST_F(IdentityServiceTest, GetPluginInfoReturnsNameAndVersion) {
  StartServer();
  csi::v1::GetPluginInfoResponse response;
  grpc::Status st = stub_->GetPluginInfo(Context().get(), {}, &response);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(response.name(), "iscsi-csi.io");
  EXPECT_EQ(response.vendor_version(), "1.2.3+gabc");
}

TEST_F(IdentityServiceTest, GetPluginCapabilitiesReturnsWhatTheModeOffers) {
  StartServer();
  csi::v1::GetPluginCapabilitiesResponse response;
  ASSERT_TRUE(stub_->GetPluginCapabilities(Context().get(), {}, &response).ok());
  ASSERT_EQ(response.capabilities_size(), 1);
  EXPECT_EQ(response.capabilities(0).service().type(),
            csi::v1::PluginCapability::Service::CONTROLLER_SERVICE);
}

TEST_F(IdentityServiceTest, ProbeIsNotReadyUntilStateIsLoaded) {
  StartServer();
  csi::v1::ProbeResponse response;
  ASSERT_TRUE(stub_->Probe(Context().get(), {}, &response).ok());
  ASSERT_TRUE(response.has_ready());
  EXPECT_FALSE(response.ready().value());
  identity_->SetReady(true);
  ASSERT_TRUE(stub_->Probe(Context().get(), {}, &response).ok());
  EXPECT_TRUE(response.ready().value());
}

TEST_F(IdentityServiceTest, ProbeOfUnhealthyPluginReturnsTheError) {
  StartServer([] { return absl::UnavailableError("pool unreadable"); });
  identity_->SetReady(true);
  csi::v1::ProbeResponse response;
  grpc::Status st = stub_->Probe(Context().get(), {}, &response);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(st.error_message(), "pool unreadable");
}

TEST_F(IdentityServiceTest, UnixSocketIsGroupAccessibleOnly) {
  StartServer();
  struct stat st;
  ASSERT_EQ(stat(endpoint_.path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660);
}

TEST_F(IdentityServiceTest, ShutdownDrainsInFlightCallsAndRemovesSocket) {
  absl::Notification entered;
  StartServer([&entered] {
    entered.Notify();
    absl::SleepFor(absl::Milliseconds(500));
    return absl::OkStatus();
  });
  identity_->SetReady(true);
  grpc::Status probe_status;
  std::thread caller([&] {
    csi::v1::ProbeResponse response;
    probe_status = stub_->Probe(Context().get(), {}, &response);
  });
  entered.WaitForNotification();
  server_->Shutdown(absl::Seconds(10));
  caller.join();
  EXPECT_TRUE(probe_status.ok()) << probe_status.error_message();
  EXPECT_NE(access(endpoint_.path.c_str(), F_OK), 0);
}

TEST_F(IdentityServiceTest, SecondServerOnALiveSocketIsRefused) {
  StartServer();
  IdentityService other("x.io", "0", {});
  auto second = CsiServer::Start(endpoint_, {&other}, nullptr);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  // The first server still answers.
  csi::v1::GetPluginInfoResponse response;
  EXPECT_TRUE(stub_->GetPluginInfo(Context().get(), {}, &response).ok());
}

TEST_F(IdentityServiceTest, TcpEndpointWithPortZeroGetsAPort) {
  identity_ = std::make_unique<IdentityService>("iscsi-csi.io", "1", std::vector<csi::v1::PluginCapability>{});
  Endpoint endpoint;
  endpoint.kind = Endpoint::Kind::kTcp;
  endpoint.host = "127.0.0.1";
  auto server = CsiServer::Start(endpoint, {identity_.get()}, nullptr);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->port(), 0);
  endpoint.port = static_cast<uint16_t>((*server)->port());
  csi::v1::GetPluginInfoResponse response;
  EXPECT_TRUE(Connect(endpoint)->GetPluginInfo(Context().get(), {}, &response).ok());
  EXPECT_EQ(response.name(), "iscsi-csi.io");
}

}  // namespace
}  // namespace iscsi_csi
