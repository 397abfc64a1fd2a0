// server: the CSI gRPC server both modes run: listens on the --endpoint, installs the
// interceptor that logs one line per RPC (method, request id, volume id, code, duration; bodies
// only at VLOG(4) and redacted) and records CSI metrics, and drains in-flight RPCs on shutdown.
#ifndef ISCSI_CSI_COMMON_SERVER_H_
#define ISCSI_CSI_COMMON_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/endpoint.h"
#include "common/metrics.h"
#include "grpcpp/server.h"
#include "grpcpp/support/server_interceptor.h"

namespace iscsi_csi {

// MakeCallLoggerFactory returns the interceptor factory that logs and (when `metrics` is not
// null) measures every RPC. `metrics` must outlive the server.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeCallLoggerFactory(
    CsiMetrics* metrics);

class CsiServer {
 public:
  // Start listens on `endpoint` (preparing a unix socket path first: a stale socket file is
  // removed, a live one or a non-socket is refused), serves `services` (not owned; they must
  // outlive the server) and returns once the server accepts calls. The unix socket is made
  // mode 0660.
  static absl::StatusOr<std::unique_ptr<CsiServer>> Start(
      const Endpoint& endpoint, const std::vector<grpc::Service*>& services,
      CsiMetrics* metrics);

  ~CsiServer();
  CsiServer(const CsiServer&) = delete;
  CsiServer& operator=(const CsiServer&) = delete;

  // The TCP port bound (useful with tcp://host:0); 0 for unix sockets.
  int port() const { return port_; }
  const Endpoint& endpoint() const { return endpoint_; }

  // Shutdown stops accepting new RPCs, lets in-flight RPCs finish for up to `grace`, cancels
  // what is left, and removes the unix socket file. Idempotent.
  void Shutdown(absl::Duration grace);

 private:
  CsiServer(Endpoint endpoint, std::unique_ptr<grpc::Server> server, int port);

  Endpoint endpoint_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool shut_down_ = false;
};

// BlockTerminationSignals blocks SIGTERM and SIGINT in the calling thread and, by inheritance,
// in every thread it creates later. Call it first thing in main.
void BlockTerminationSignals();

// WaitForTerminationSignal waits until SIGTERM or SIGINT arrives and returns its number.
int WaitForTerminationSignal();

}  // namespace iscsi_csi

#endif  // ISCSI_CSI_COMMON_SERVER_H_
