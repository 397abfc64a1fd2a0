#include "common/server.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

#include "absl/strings/string_view.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/redact.h"
#include "glog/logging.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace iscsi_csi {
namespace {

using grpc::experimental::InterceptionHookPoints;

std::atomic<uint64_t> next_request_id{1};

// "/csi.v1.Node/NodeStageVolume" -> "NodeStageVolume".
absl::string_view ShortMethod(absl::string_view full) {
  size_t slash = full.rfind('/');
  return slash == absl::string_view::npos ? full : full.substr(slash + 1);
}

std::string CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "Canceled";
    case grpc::StatusCode::UNKNOWN: return "Unknown";
    case grpc::StatusCode::INVALID_ARGUMENT: return "InvalidArgument";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DeadlineExceeded";
    case grpc::StatusCode::NOT_FOUND: return "NotFound";
    case grpc::StatusCode::ALREADY_EXISTS: return "AlreadyExists";
    case grpc::StatusCode::PERMISSION_DENIED: return "PermissionDenied";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "ResourceExhausted";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FailedPrecondition";
    case grpc::StatusCode::ABORTED: return "Aborted";
    case grpc::StatusCode::OUT_OF_RANGE: return "OutOfRange";
    case grpc::StatusCode::UNIMPLEMENTED: return "Unimplemented";
    case grpc::StatusCode::INTERNAL: return "Internal";
    case grpc::StatusCode::UNAVAILABLE: return "Unavailable";
    case grpc::StatusCode::DATA_LOSS: return "DataLoss";
    case grpc::StatusCode::UNAUTHENTICATED: return "Unauthenticated";
    default: return absl::StrCat("Code", static_cast<int>(code));
  }
}

// CallLogger follows one RPC: request id and volume id from the request, then one line and
// the metrics when the status is sent.
class CallLogger final : public grpc::experimental::Interceptor {
 public:
  CallLogger(std::string method, CsiMetrics* metrics)
      : method_(std::move(method)),
        short_method_(ShortMethod(method_)),
        is_csi_(absl::StartsWith(method_, "/csi.v1.")),
        quiet_(short_method_ == "Probe"),
        metrics_(metrics),
        request_id_(next_request_id.fetch_add(1, std::memory_order_relaxed)),
        start_(absl::Now()) {
    if (metrics_ != nullptr) metrics_->Begin(short_method_);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE)) {
      OnRequest(methods->GetRecvMessage());
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      OnStatus(methods->GetSendStatus());
    }
    methods->Proceed();
  }

 private:
  void OnRequest(void* raw) {
    if (raw == nullptr || !is_csi_) return;
    // Our services are generated protobuf services: the request is a protobuf message.
    const auto* request = static_cast<const google::protobuf::Message*>(raw);
    const google::protobuf::FieldDescriptor* field =
        request->GetDescriptor()->FindFieldByName("volume_id");
    if (field != nullptr && field->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_STRING &&
        !field->is_repeated()) {
      volume_id_ = request->GetReflection()->GetString(*request, field);
    }
    if (quiet_) {
      VLOG(5) << "csi request " << short_method_ << " req=" << request_id_ << " "
              << RedactedDebugString(*request);
    } else {
      VLOG(4) << "csi request " << short_method_ << " req=" << request_id_ << " "
              << RedactedDebugString(*request);
    }
  }

  void OnStatus(const grpc::Status& status) {
    double seconds = absl::ToDoubleSeconds(absl::Now() - start_);
    std::string code = CodeName(status.error_code());
    if (metrics_ != nullptr) metrics_->End(short_method_, code, seconds);
    std::string line = absl::StrCat("csi ", short_method_, " req=", request_id_,
                                    volume_id_.empty() ? "" : " volume=", volume_id_,
                                    " code=", code, " duration=", absl::FormatDuration(absl::Now() - start_));
    if (!status.ok()) {
      LOG(WARNING) << line << " error=\"" << status.error_message() << "\"";
    } else if (quiet_) {
      VLOG(5) << line;
    } else {
      LOG(INFO) << line;
    }
    (void)seconds;
  }

  const std::string method_;
  const absl::string_view short_method_;
  const bool is_csi_;
  const bool quiet_;
  CsiMetrics* const metrics_;
  const uint64_t request_id_;
  const absl::Time start_;
  std::string volume_id_;
};

class CallLoggerFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit CallLoggerFactory(CsiMetrics* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new CallLogger(info->method() == nullptr ? "" : info->method(), metrics_);
  }

 private:
  CsiMetrics* const metrics_;
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeCallLoggerFactory(
    CsiMetrics* metrics) {
  return std::make_unique<CallLoggerFactory>(metrics);
}

absl::StatusOr<std::unique_ptr<CsiServer>> CsiServer::Start(
    const Endpoint& endpoint, const std::vector<grpc::Service*>& services, CsiMetrics* metrics) {
  if (endpoint.kind == Endpoint::Kind::kUnix) {
    if (absl::Status st = PrepareUnixSocketPath(endpoint.path); !st.ok()) return st;
  }
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(endpoint.GrpcAddress(), grpc::InsecureServerCredentials(),
                           endpoint.kind == Endpoint::Kind::kTcp ? &port : nullptr);
  for (grpc::Service* service : services) builder.RegisterService(service);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
  creators.push_back(MakeCallLoggerFactory(metrics));
  builder.experimental().SetInterceptorCreators(std::move(creators));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", endpoint.ToString()));
  }
  if (endpoint.kind == Endpoint::Kind::kUnix) {
    // Only the owner and its group (the CO's sidecars) may talk to the driver.
    if (chmod(endpoint.path.c_str(), 0660) != 0) {
      LOG(WARNING) << "chmod 0660 " << endpoint.path << ": " << strerror(errno);
    }
  }
  LOG(INFO) << "serving CSI on " << endpoint.ToString()
            << (port != 0 ? absl::StrCat(" (port ", port, ")") : "");
  return std::unique_ptr<CsiServer>(new CsiServer(endpoint, std::move(server), port));
}

CsiServer::CsiServer(Endpoint endpoint, std::unique_ptr<grpc::Server> server, int port)
    : endpoint_(std::move(endpoint)), server_(std::move(server)), port_(port) {}

CsiServer::~CsiServer() { Shutdown(absl::ZeroDuration()); }

void CsiServer::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  server_->Shutdown(std::chrono::system_clock::now() +
                    std::chrono::microseconds(absl::ToInt64Microseconds(grace)));
  server_->Wait();
  if (endpoint_.kind == Endpoint::Kind::kUnix) {
    if (unlink(endpoint_.path.c_str()) != 0 && errno != ENOENT) {
      LOG(WARNING) << "remove socket " << endpoint_.path << ": " << strerror(errno);
    }
  }
}

void BlockTerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int WaitForTerminationSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int signal_number = 0;
  while (sigwait(&set, &signal_number) != 0) {
  }
  return signal_number;
}

}  // namespace iscsi_csi
