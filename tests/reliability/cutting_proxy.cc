#include "tests/reliability/cutting_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace iscsi_csi::reliability {

struct CuttingProxy::Link {
  int client_fd = -1;
  int upstream_fd = -1;
  std::thread to_target;
  std::thread to_initiator;
  std::atomic<int> pumps_done{0};

  void Shutdown() const {
    shutdown(client_fd, SHUT_RDWR);
    shutdown(upstream_fd, SHUT_RDWR);
  }
  void Join() {
    if (to_target.joinable()) to_target.join();
    if (to_initiator.joinable()) to_initiator.join();
    close(client_fd);
    close(upstream_fd);
  }
};

absl::StatusOr<std::unique_ptr<CuttingProxy>> CuttingProxy::Start(const std::string& upstream) {
  const size_t colon = upstream.rfind(':');
  uint32_t upstream_port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(upstream.substr(colon + 1), &upstream_port)) {
    return absl::InvalidArgumentError(absl::StrCat("proxy: bad upstream '", upstream, "'"));
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      listen(fd, 16) != 0 || getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    const int error = errno;
    if (fd >= 0) close(fd);
    return absl::InternalError(absl::StrCat("proxy: listen: ", strerror(error)));
  }
  std::unique_ptr<CuttingProxy> proxy(new CuttingProxy(fd, ntohs(address.sin_port),
                                                       upstream.substr(0, colon),
                                                       static_cast<uint16_t>(upstream_port)));
  proxy->acceptor_ = std::thread([p = proxy.get()] { p->AcceptLoop(); });
  return proxy;
}

CuttingProxy::CuttingProxy(int listen_fd, uint16_t port, std::string upstream_host,
                           uint16_t upstream_port)
    : listen_fd_(listen_fd),
      port_(port),
      upstream_host_(std::move(upstream_host)),
      upstream_port_(upstream_port) {}

CuttingProxy::~CuttingProxy() {
  stopping_ = true;
  shutdown(listen_fd_, SHUT_RDWR);  // wakes accept()
  acceptor_.join();
  close(listen_fd_);
  std::list<std::unique_ptr<Link>> links;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& link : links_) link->Shutdown();
    links.swap(links_);
  }
  for (const auto& link : links) link->Join();
}

std::string CuttingProxy::portal() const { return absl::StrCat("127.0.0.1:", port_); }

void CuttingProxy::ArmCut(Direction direction, uint64_t bytes) {
  absl::MutexLock lock(&mu_);
  armed_ = true;
  armed_direction_ = direction;
  remaining_ = bytes;
}

void CuttingProxy::Disarm() {
  absl::MutexLock lock(&mu_);
  armed_ = false;
}

void CuttingProxy::CutNow() {
  absl::MutexLock lock(&mu_);
  armed_ = false;
  CutAll();
  ++cuts_;
}

void CuttingProxy::CutAll() {
  for (const auto& link : links_) link->Shutdown();
}

void CuttingProxy::AcceptLoop() {
  while (!stopping_) {
    const int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // shut down
    }
    const int upstream = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(upstream_port_);
    inet_pton(AF_INET, upstream_host_.c_str(), &address.sin_addr);
    if (upstream < 0 || connect(upstream, reinterpret_cast<sockaddr*>(&address), sizeof address)) {
      if (upstream >= 0) close(upstream);
      close(client);
      continue;
    }
    const int one = 1;
    setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(upstream, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ++accepted_;
    std::list<std::unique_ptr<Link>> finished;
    {
      absl::MutexLock lock(&mu_);
      // Reap links whose both directions ended.
      for (auto it = links_.begin(); it != links_.end();) {
        if ((*it)->pumps_done.load() == 2) {
          finished.push_back(std::move(*it));
          it = links_.erase(it);
        } else {
          ++it;
        }
      }
      auto link = std::make_unique<Link>();
      link->client_fd = client;
      link->upstream_fd = upstream;
      Link* raw = link.get();
      links_.push_back(std::move(link));
      raw->to_target = std::thread([this, raw] { Pump(raw, kToTarget); });
      raw->to_initiator = std::thread([this, raw] { Pump(raw, kToInitiator); });
    }
    for (const auto& link : finished) link->Join();
  }
}

void CuttingProxy::Pump(Link* link, Direction direction) {
  const int from = direction == kToTarget ? link->client_fd : link->upstream_fd;
  const int to = direction == kToTarget ? link->upstream_fd : link->client_fd;
  std::vector<char> buffer(64 * 1024);
  while (true) {
    const ssize_t n = read(from, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    size_t allowed = static_cast<size_t>(n);
    bool cut = false;
    {
      absl::MutexLock lock(&mu_);
      if (armed_ && armed_direction_ == direction) {
        if (remaining_ <= allowed) {
          allowed = static_cast<size_t>(remaining_);
          cut = true;
          armed_ = false;
        } else {
          remaining_ -= allowed;
        }
      }
    }
    bool failed = false;
    for (size_t done = 0; done < allowed && !failed;) {
      const ssize_t w = send(to, buffer.data() + done, allowed - done, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;
      failed = w <= 0;
      if (!failed) done += static_cast<size_t>(w);
    }
    if (cut) {
      absl::MutexLock lock(&mu_);
      CutAll();
      ++cuts_;
      break;
    }
    if (failed) break;
  }
  // Either side gone: the other goes too (iSCSI has no half-open use).
  link->Shutdown();
  ++link->pumps_done;
}

}  // namespace iscsi_csi::reliability
