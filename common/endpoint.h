// endpoint: the --endpoint flag's value type (unix:///path or tcp://host:port) and the
// start-up clean-up of a unix socket file left behind by a crashed predecessor.
#ifndef ISCSI_CSI_COMMON_ENDPOINT_H_
#define ISCSI_CSI_COMMON_ENDPOINT_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/string_view.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace iscsi_csi {

struct Endpoint {
  enum class Kind { kUnix, kTcp };
  Kind kind = Kind::kUnix;
  std::string path;  // kUnix: absolute socket path
  std::string host;  // kTcp: host name or address (IPv6 without brackets)
  uint16_t port = 0; // kTcp: 0 lets the kernel choose

  // The address in the form grpc::ServerBuilder and grpc::CreateChannel accept.
  std::string GrpcAddress() const;
  // The address in the flag's own syntax, for logs and help.
  std::string ToString() const;
};

// ParseEndpoint accepts "unix:///abs/path", "unix:/abs/path", "tcp://host:port" and
// "tcp://[v6addr]:port". Anything else is InvalidArgument with a message saying why.
absl::StatusOr<Endpoint> ParseEndpoint(absl::string_view text);

// PrepareUnixSocketPath makes `path` ready for bind(): creates missing parent directories,
// removes a stale socket file that nobody listens on (a crashed predecessor), and refuses
// (FailedPrecondition) when another process still accepts connections on it or when the path
// is something other than a socket, which we never delete.
absl::Status PrepareUnixSocketPath(const std::string& path);

}  // namespace iscsi_csi

// Abseil flag support, so `ABSL_FLAG(iscsi_csi::Endpoint, ...)` validates at parse time.
namespace iscsi_csi {
bool AbslParseFlag(absl::string_view text, Endpoint* endpoint, std::string* error);
std::string AbslUnparseFlag(const Endpoint& endpoint);
}  // namespace iscsi_csi

#endif  // ISCSI_CSI_COMMON_ENDPOINT_H_
