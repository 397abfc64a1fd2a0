// Portal: listening sockets and accept (see portal.h).
#include "target/portal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"

namespace iscsi_csi::target {
namespace {

constexpr int kListenBacklog = 128;
constexpr int kMaxAcceptsPerEvent = 64;

absl::Status SocketError(absl::string_view what, const PortalAddress& address) {
  const int error_number = errno;
  return absl::UnavailableError(
      absl::StrCat("portal ", address.ToString(), ": ", what, ": ", std::strerror(error_number)));
}

}  // namespace

void FormatSocketAddress(const struct sockaddr_storage& address, std::string* host,
                         uint16_t* port) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const struct sockaddr_in*>(&address);
    inet_ntop(AF_INET, &v4->sin_addr, text, sizeof(text));
    *port = ntohs(v4->sin_port);
  } else if (address.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const struct sockaddr_in6*>(&address);
    if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
      inet_ntop(AF_INET, &v6->sin6_addr.s6_addr[12], text, sizeof(text));
    } else {
      inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof(text));
    }
    *port = ntohs(v6->sin6_port);
  } else {
    *port = 0;
  }
  *host = text;
}

std::string FormatHostPort(const std::string& host, uint16_t port) {
  if (host.find(':') != std::string::npos) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

absl::StatusOr<std::shared_ptr<Portal>> Portal::Listen(const PortalAddress& address,
                                                       AcceptCallback on_accept) {
  struct sockaddr_storage storage {};
  socklen_t length = 0;
  const bool v6 = address.host.find(':') != std::string::npos;
  if (v6) {
    auto* sin6 = reinterpret_cast<struct sockaddr_in6*>(&storage);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(address.port);
    if (inet_pton(AF_INET6, address.host.c_str(), &sin6->sin6_addr) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("portal ", address.ToString(), ": not an IPv6 address"));
    }
    length = sizeof(*sin6);
  } else {
    auto* sin = reinterpret_cast<struct sockaddr_in*>(&storage);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(address.port);
    const std::string host = address.host.empty() ? "0.0.0.0" : address.host;
    if (inet_pton(AF_INET, host.c_str(), &sin->sin_addr) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("portal ", address.ToString(), ": not an IPv4 address"));
    }
    length = sizeof(*sin);
  }
  const int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return SocketError("socket", address);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (v6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&storage), length) != 0) {
    absl::Status status = SocketError("bind", address);
    close(fd);
    return status;
  }
  if (listen(fd, kListenBacklog) != 0) {
    absl::Status status = SocketError("listen", address);
    close(fd);
    return status;
  }
  struct sockaddr_storage bound_storage {};
  socklen_t bound_length = sizeof(bound_storage);
  getsockname(fd, reinterpret_cast<struct sockaddr*>(&bound_storage), &bound_length);
  std::string bound_host;
  uint16_t bound_port = 0;
  FormatSocketAddress(bound_storage, &bound_host, &bound_port);
  PortalAddress bound{address.host, bound_port};
  return std::shared_ptr<Portal>(new Portal(fd, std::move(bound), std::move(on_accept)));
}

Portal::~Portal() { Close(); }

void Portal::Close() {
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
}

void Portal::OnEvents(uint32_t /*events*/) {
  for (int i = 0; i < kMaxAcceptsPerEvent && fd_ >= 0; ++i) {
    struct sockaddr_storage peer {};
    socklen_t peer_length = sizeof(peer);
    const int fd = accept4(fd_, reinterpret_cast<struct sockaddr*>(&peer), &peer_length,
                           SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int error_number = errno;
      if (error_number == EINTR || error_number == ECONNABORTED) continue;
      if (error_number == EAGAIN || error_number == EWOULDBLOCK) return;
      LOG_EVERY_T(WARNING, 10) << "portal " << bound_.ToString()
                               << ": accept: " << std::strerror(error_number);
      if (error_number == EMFILE || error_number == ENFILE || error_number == ENOBUFS ||
          error_number == ENOMEM) {
        // Out of descriptors or memory: the pending connection stays queued and the socket
        // stays readable, so keep listening and epoll would spin. Stop watching the socket
        // until a later tick; by then closed connections may have freed what accept needs.
        PauseAccepting();
      }
      return;
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    std::string peer_host;
    uint16_t peer_port = 0;
    FormatSocketAddress(peer, &peer_host, &peer_port);
    struct sockaddr_storage local {};
    socklen_t local_length = sizeof(local);
    getsockname(fd, reinterpret_cast<struct sockaddr*>(&local), &local_length);
    std::string local_host;
    uint16_t local_port = 0;
    FormatSocketAddress(local, &local_host, &local_port);
    on_accept_(fd, FormatHostPort(peer_host, peer_port), std::move(local_host));
  }
}

void Portal::PauseAccepting() {
  if (loop_ == nullptr || paused_) return;
  if (absl::Status status = loop_->Modify(fd_, 0); !status.ok()) {
    LOG(WARNING) << "portal " << bound_.ToString() << ": " << status;
    return;
  }
  paused_ = true;
  resume_at_ = absl::Now() + kAcceptPause;
}

void Portal::OnTick(absl::Time now) {
  if (!paused_ || now < resume_at_ || fd_ < 0) return;
  if (absl::Status status = loop_->Modify(fd_, EPOLLIN); !status.ok()) {
    LOG(WARNING) << "portal " << bound_.ToString() << ": " << status;
    return;
  }
  paused_ = false;
}

}  // namespace iscsi_csi::target
