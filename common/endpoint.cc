#include "common/endpoint.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"

namespace iscsi_csi {
namespace {

constexpr absl::string_view kUnixScheme = "unix:";
constexpr absl::string_view kTcpScheme = "tcp://";

bool NeedsBrackets(const std::string& host) { return host.find(':') != std::string::npos; }

absl::StatusOr<Endpoint> ParseUnix(absl::string_view rest) {
  // "unix:///abs" leaves "///abs"; "unix:/abs" leaves "/abs". Both mean /abs.
  if (absl::StartsWith(rest, "//")) {
    rest.remove_prefix(2);
    if (!absl::StartsWith(rest, "/")) {
      return absl::InvalidArgumentError(
          "unix endpoint must name an absolute path, as in unix:///run/csi/csi.sock");
    }
  }
  if (!absl::StartsWith(rest, "/")) {
    return absl::InvalidArgumentError(
        "unix endpoint must name an absolute path, as in unix:///run/csi/csi.sock");
  }
  Endpoint endpoint;
  endpoint.kind = Endpoint::Kind::kUnix;
  endpoint.path = std::string(rest);
  // sockaddr_un.sun_path holds 108 bytes including the terminating NUL.
  if (endpoint.path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("unix socket path is ", endpoint.path.size(),
                                                   " bytes; the limit is ",
                                                   sizeof(sockaddr_un{}.sun_path) - 1));
  }
  if (endpoint.path.back() == '/') {
    return absl::InvalidArgumentError("unix socket path must name a file, not a directory");
  }
  return endpoint;
}

absl::StatusOr<Endpoint> ParseTcp(absl::string_view rest) {
  Endpoint endpoint;
  endpoint.kind = Endpoint::Kind::kTcp;
  absl::string_view port_text;
  if (absl::StartsWith(rest, "[")) {
    size_t close = rest.find(']');
    if (close == absl::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
      return absl::InvalidArgumentError("tcp endpoint with an IPv6 address must look like tcp://[::1]:port");
    }
    endpoint.host = std::string(rest.substr(1, close - 1));
    port_text = rest.substr(close + 2);
  } else {
    size_t colon = rest.rfind(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError("tcp endpoint must look like tcp://host:port");
    }
    endpoint.host = std::string(rest.substr(0, colon));
    if (endpoint.host.find(':') != std::string::npos) {
      return absl::InvalidArgumentError("IPv6 addresses need brackets: tcp://[::1]:port");
    }
    port_text = rest.substr(colon + 1);
  }
  if (endpoint.host.empty()) {
    return absl::InvalidArgumentError("tcp endpoint is missing the host");
  }
  uint32_t port = 0;
  if (port_text.empty() || !absl::SimpleAtoi(port_text, &port) || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("tcp endpoint port '", port_text, "' is not a number from 0 to 65535"));
  }
  endpoint.port = static_cast<uint16_t>(port);
  return endpoint;
}

}  // namespace

std::string Endpoint::GrpcAddress() const {
  if (kind == Kind::kUnix) return absl::StrCat("unix://", path);
  if (NeedsBrackets(host)) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

std::string Endpoint::ToString() const {
  if (kind == Kind::kUnix) return absl::StrCat("unix://", path);
  return absl::StrCat("tcp://", GrpcAddress());
}

absl::StatusOr<Endpoint> ParseEndpoint(absl::string_view text) {
  if (absl::StartsWith(text, kUnixScheme)) return ParseUnix(text.substr(kUnixScheme.size()));
  if (absl::StartsWith(text, kTcpScheme)) return ParseTcp(text.substr(kTcpScheme.size()));
  return absl::InvalidArgumentError(absl::StrCat(
      "'", text, "' is not an endpoint; use unix:///path/to/csi.sock or tcp://host:port"));
}

absl::Status PrepareUnixSocketPath(const std::string& path) {
  std::error_code ec;
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::filesystem::create_directories(parent, ec);
    if (ec) {
      return absl::FailedPreconditionError(
          absl::StrCat("create directory ", parent.string(), ": ", ec.message()));
    }
  }
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat("stat ", path, ": ", strerror(errno)));
  }
  if (!S_ISSOCK(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " exists and is not a socket; refusing to remove it"));
  }
  // A socket file: is anybody still accepting on it?
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int rc = connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  int connect_errno = errno;
  close(fd);
  if (rc == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("another process is serving on ", path, "; refusing to take it over"));
  }
  if (connect_errno != ECONNREFUSED && connect_errno != ENOENT) {
    return absl::FailedPreconditionError(
        absl::StrCat("probe of existing socket ", path, ": ", strerror(connect_errno)));
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return absl::FailedPreconditionError(
        absl::StrCat("remove stale socket ", path, ": ", strerror(errno)));
  }
  LOG(INFO) << "removed stale socket " << path << " left by an earlier process";
  return absl::OkStatus();
}

bool AbslParseFlag(absl::string_view text, Endpoint* endpoint, std::string* error) {
  absl::StatusOr<Endpoint> parsed = ParseEndpoint(text);
  if (!parsed.ok()) {
    *error = std::string(parsed.status().message());
    return false;
  }
  *endpoint = *std::move(parsed);
  return true;
}

std::string AbslUnparseFlag(const Endpoint& endpoint) { return endpoint.ToString(); }

}  // namespace iscsi_csi
