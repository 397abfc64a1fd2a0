// ControllerHarness: the whole controller in-process (real embedded target on 127.0.0.1 with
// a kernel-chosen port, catalogue and pool in a temp dir) behind the real CSI gRPC server on a
// unix socket, with a Controller stub and helpers to log in through libiscsi.
#ifndef ISCSI_CSI_TESTS_CONTROLLER_CONTROLLER_HARNESS_H_
#define ISCSI_CSI_TESTS_CONTROLLER_CONTROLLER_HARNESS_H_

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/endpoint.h"
#include "common/server.h"
#include "common/volume_context.h"
#include "controller/controller.h"
#include "csi.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/controller/test_dirs.h"
#include "tests/testutil/iscsi_session.h"

namespace iscsi_csi::controller::testing {

class ControllerHarness {
 public:
  static ControllerOptions Options(const std::string& dir) {
    ControllerOptions options;
    options.data_dir = dir + "/data";
    options.listen = {target::PortalAddress{"127.0.0.1", 0}};
    options.io_threads = 2;
    options.backing_threads = 2;
    options.nop_in_interval_seconds = 0;
    options.default_volume_bytes = 16 << 20;
    return options;
  }

  // Start brings everything up; check ok() afterwards.
  void Start(ControllerOptions options, const std::string& socket) {
    controller_ = std::make_unique<Controller>(std::move(options));
    absl::Status started = controller_->Start();
    ASSERT_TRUE(started.ok()) << started;
    absl::StatusOr<Endpoint> endpoint = ParseEndpoint("unix://" + socket);
    ASSERT_TRUE(endpoint.ok()) << endpoint.status();
    absl::StatusOr<std::unique_ptr<CsiServer>> server =
        CsiServer::Start(*endpoint, {controller_->service()}, nullptr);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = csi::v1::Controller::NewStub(
        grpc::CreateChannel(endpoint->GrpcAddress(), grpc::InsecureChannelCredentials()));
  }

  void Stop() {
    if (server_ != nullptr) server_->Shutdown(absl::Seconds(5));
    server_.reset();
    if (controller_ != nullptr) controller_->Stop();
    controller_.reset();
  }

  ~ControllerHarness() { Stop(); }

  csi::v1::Controller::Stub& stub() { return *stub_; }
  Controller& controller() { return *controller_; }
  target::Target& target() { return *controller_->target(); }
  std::string portal() const { return controller_->target()->portals().at(0).ToString(); }

  // Login logs `node` in to the volume as its node plugin would: the node's initiator name and
  // the publish_context credentials (mutual CHAP).
  static absl::StatusOr<std::unique_ptr<::iscsi_csi::testing::IscsiSession>> LoginAsNode(
      const csi::v1::Volume& volume, const std::string& node,
      const google::protobuf::Map<std::string, std::string>& publish_context) {
    ::iscsi_csi::testing::SessionOptions login;
    login.portal = volume.volume_context().at(kCtxPortals);
    login.target_iqn = volume.volume_context().at(kCtxTargetIqn);
    absl::StatusOr<std::string> initiator = InitiatorIqnForNode(node);
    if (!initiator.ok()) return initiator.status();
    login.initiator_name = *initiator;
    auto get = [&](const char* key) {
      auto it = publish_context.find(key);
      return it == publish_context.end() ? std::string() : it->second;
    };
    login.chap_user = get(kPubChapUser);
    login.chap_secret = get(kPubChapSecret);
    login.target_chap_user = get(kPubChapTargetUser);
    login.target_chap_secret = get(kPubChapTargetSecret);
    return ::iscsi_csi::testing::IscsiSession::Login(login);
  }

 private:
  std::unique_ptr<Controller> controller_;
  std::unique_ptr<CsiServer> server_;
  std::unique_ptr<csi::v1::Controller::Stub> stub_;
};

}  // namespace iscsi_csi::controller::testing

#endif  // ISCSI_CSI_TESTS_CONTROLLER_CONTROLLER_HARNESS_H_
