// Portal: one listening TCP socket (IPv4 or IPv6) of the target. Accepts connections
// without blocking and hands each accepted socket (non-blocking, TCP_NODELAY) to a callback
// that places it on an event loop.
#ifndef ISCSI_CSI_TARGET_PORTAL_H_
#define ISCSI_CSI_TARGET_PORTAL_H_

#include <sys/socket.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "target/event_loop.h"
#include "target/target.h"

namespace iscsi_csi::target {

// FormatSocketAddress renders the numeric host of `address` (IPv4-mapped IPv6 addresses as
// IPv4) and its port.
void FormatSocketAddress(const struct sockaddr_storage& address, std::string* host, uint16_t* port);
// FormatPeer renders "host:port" or "[v6]:port".
std::string FormatHostPort(const std::string& host, uint16_t port);

class Portal final : public EventLoop::Handler {
 public:
  // on_accept(fd, peer "host:port", local host) takes ownership of `fd`.
  using AcceptCallback = std::function<void(int fd, std::string peer, std::string local_host)>;

  // Listen binds and listens (SO_REUSEADDR; IPV6_V6ONLY for IPv6). An empty host listens on
  // every IPv4 address ("::" for every IPv6 address).
  static absl::StatusOr<std::shared_ptr<Portal>> Listen(const PortalAddress& address,
                                                        AcceptCallback on_accept);
  ~Portal() override;
  Portal(const Portal&) = delete;
  Portal& operator=(const Portal&) = delete;

  // AttachTo records the loop the portal was added to (Add(fd(), EPOLLIN, portal)): the
  // portal stops and restarts watching its socket there when accept runs out of resources.
  void AttachTo(EventLoop* loop) { loop_ = loop; }
  void OnEvents(uint32_t events) override;
  void OnTick(absl::Time now) override;
  // Close closes the listening socket (after the caller removed it from its loop).
  void Close();

  int fd() const { return fd_; }
  // The bound address, with the kernel's port when port 0 was asked for.
  const PortalAddress& bound() const { return bound_; }

 private:
  Portal(int fd, PortalAddress bound, AcceptCallback on_accept)
      : fd_(fd), bound_(std::move(bound)), on_accept_(std::move(on_accept)) {}

  // How long accepting pauses after EMFILE, ENFILE, ENOBUFS or ENOMEM.
  static constexpr absl::Duration kAcceptPause = absl::Milliseconds(500);
  void PauseAccepting();

  int fd_;
  PortalAddress bound_;
  AcceptCallback on_accept_;
  // Loop thread only.
  EventLoop* loop_ = nullptr;
  bool paused_ = false;
  absl::Time resume_at_;
};

}  // namespace iscsi_csi::target

#endif  // ISCSI_CSI_TARGET_PORTAL_H_
