// The call-logging interceptor: one line per RPC with method, request id, volume id, code and
// duration; request bodies only at VLOG(4) and with secrets masked; metrics per method and code.
#include "common/server.h"

#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/metrics.h"
#include "csi.grpc.pb.h"
#include "glog/logging.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"

namespace iscsi_csi {
namespace {

using ::testing::AllOf;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSecret[] = "hunter2-very-secret";

// CapturingSink keeps every log line glog emits while it is registered.
class CapturingSink : public google::LogSink {
 public:
  void send(google::LogSeverity, const char*, const char*, int, const google::LogMessageTime&,
            const char* message, size_t message_len) override {
    absl::MutexLock lock(&mu_);
    lines_.emplace_back(message, message_len);
  }
  std::vector<std::string> lines() {
    absl::MutexLock lock(&mu_);
    return lines_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> lines_;
};

// A Node service that accepts NodeStageVolume for vol-ok and refuses everything else.
class FakeNode final : public csi::v1::Node::Service {
 public:
  grpc::Status NodeStageVolume(grpc::ServerContext*, const csi::v1::NodeStageVolumeRequest* req,
                               csi::v1::NodeStageVolumeResponse*) override {
    if (req->volume_id() == "vol-ok") return grpc::Status::OK;
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "staging_target_path is required");
  }
};

class ServerLoggingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    saved_v_ = FLAGS_v;
    FLAGS_v = 4;  // bodies are logged at VLOG(4): the secret must still not appear
    google::AddLogSink(&sink_);
    metrics_ = std::make_unique<CsiMetrics>(registry_);
    endpoint_.kind = Endpoint::Kind::kUnix;
    endpoint_.path = ::testing::TempDir() + "/srv_" + std::to_string(getpid()) + ".sock";
    auto server = CsiServer::Start(endpoint_, {&node_}, metrics_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = csi::v1::Node::NewStub(
        grpc::CreateChannel(endpoint_.GrpcAddress(), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    server_.reset();
    google::RemoveLogSink(&sink_);
    FLAGS_v = saved_v_;
  }

  grpc::Status Stage(const std::string& volume_id) {
    csi::v1::NodeStageVolumeRequest request;
    request.set_volume_id(volume_id);
    request.set_staging_target_path("/var/lib/kubelet/staging/" + volume_id);
    (*request.mutable_secrets())["node.session.auth.password"] = kSecret;
    (*request.mutable_publish_context())["chapSecret"] = kSecret;
    grpc::ClientContext context;
    csi::v1::NodeStageVolumeResponse response;
    return stub_->NodeStageVolume(&context, request, &response);
  }

  double CounterValue(const std::string& method, const std::string& code) {
    for (const prometheus::MetricFamily& family : registry_.Collect()) {
      if (family.name != "iscsi_csi_csi_operations_total") continue;
      for (const prometheus::ClientMetric& metric : family.metric) {
        std::string m, c;
        for (const prometheus::ClientMetric::Label& label : metric.label) {
          if (label.name == "method") m = label.value;
          if (label.name == "grpc_code") c = label.value;
        }
        if (m == method && c == code) return metric.counter.value;
      }
    }
    return 0;
  }

  int saved_v_ = 0;
  CapturingSink sink_;
  prometheus::Registry registry_;
  std::unique_ptr<CsiMetrics> metrics_;
  FakeNode node_;
  Endpoint endpoint_;
  std::unique_ptr<CsiServer> server_;
  std::unique_ptr<csi::v1::Node::Stub> stub_;
};

TEST_F(ServerLoggingTest, EachCallLogsOneLineWithMethodVolumeAndCode) {
  ASSERT_TRUE(Stage("vol-ok").ok());
  EXPECT_THAT(sink_.lines(), Contains(AllOf(HasSubstr("csi NodeStageVolume req="),
                                            HasSubstr("volume=vol-ok"), HasSubstr("code=OK"),
                                            HasSubstr("duration="))));
}

TEST_F(ServerLoggingTest, FailedCallLogsCodeAndMessage) {
  EXPECT_EQ(Stage("vol-bad").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(sink_.lines(),
              Contains(AllOf(HasSubstr("volume=vol-bad"), HasSubstr("code=InvalidArgument"),
                             HasSubstr("staging_target_path is required"))));
}

TEST_F(ServerLoggingTest, SecretValuesNeverReachTheLogEvenWithBodies) {
  ASSERT_TRUE(Stage("vol-ok").ok());
  Stage("vol-bad");
  std::vector<std::string> lines = sink_.lines();
  // The body was logged (VLOG 4) ...
  EXPECT_THAT(lines, Contains(HasSubstr("staging_target_path")));
  // ... but no line carries the secret.
  for (const std::string& line : lines) EXPECT_THAT(line, Not(HasSubstr(kSecret)));
}

TEST_F(ServerLoggingTest, MetricsCountCallsPerMethodAndCode) {
  ASSERT_TRUE(Stage("vol-ok").ok());
  ASSERT_TRUE(Stage("vol-ok").ok());
  Stage("vol-bad");
  EXPECT_EQ(CounterValue("NodeStageVolume", "OK"), 2);
  EXPECT_EQ(CounterValue("NodeStageVolume", "InvalidArgument"), 1);
}

}  // namespace
}  // namespace iscsi_csi
