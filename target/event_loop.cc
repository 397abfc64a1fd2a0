// EventLoop: epoll + eventfd + a posted-closure queue (see event_loop.h).
#include "target/event_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "glog/logging.h"

namespace iscsi_csi::target {
namespace {

constexpr int kMaxEventsPerWait = 64;

absl::Status ErrnoError(absl::string_view what) {
  const int error_number = errno;
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(error_number)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<EventLoop>> EventLoop::Create(std::string name) {
  const int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) return ErrnoError("event loop: epoll_create1");
  const int wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd < 0) {
    absl::Status status = ErrnoError("event loop: eventfd");
    close(epoll_fd);
    return status;
  }
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.fd = wake_fd;
  if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, wake_fd, &event) != 0) {
    absl::Status status = ErrnoError("event loop: register eventfd");
    close(wake_fd);
    close(epoll_fd);
    return status;
  }
  return std::unique_ptr<EventLoop>(new EventLoop(std::move(name), epoll_fd, wake_fd));
}

EventLoop::EventLoop(std::string name, int epoll_fd, int wake_fd)
    : name_(std::move(name)), epoll_fd_(epoll_fd), wake_fd_(wake_fd) {}

EventLoop::~EventLoop() {
  Stop();
  close(wake_fd_);
  close(epoll_fd_);
}

void EventLoop::Start() {
  CHECK(!running_.load()) << "event loop " << name_ << " started twice";
  running_.store(true);
  thread_ = std::thread([this] { Run(); });
}

void EventLoop::Stop() {
  CHECK(!InLoopThread()) << "EventLoop::Stop called on its own thread";
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  Wake();
  if (thread_.joinable()) thread_.join();
  // Whatever was posted after the loop's last drain is dropped here, off the loop.
  std::deque<absl::AnyInvocable<void() &&>> dropped;
  {
    absl::MutexLock lock(&mu_);
    dropped.swap(posted_);
  }
  dropped.clear();
  handlers_.clear();
  released_.clear();
  load_.store(0);
}

void EventLoop::Post(absl::AnyInvocable<void() &&> fn) {
  bool wake = false;
  {
    absl::MutexLock lock(&mu_);
    if (!stopped_ || running_.load()) {
      // The loop checks the queue after every batch of events and does not sleep while it
      // holds anything, so only a closure that finds it empty, posted from another thread,
      // needs to wake the loop (one eventfd write instead of one per closure).
      wake = posted_.empty() && !InLoopThread();
      posted_.push_back(std::move(fn));
      fn = nullptr;
    }
  }
  if (fn != nullptr) return;  // stopped: `fn` is destroyed here without running
  if (wake) Wake();
}

void EventLoop::RunSync(absl::AnyInvocable<void() &&> fn) {
  CHECK(!InLoopThread()) << "EventLoop::RunSync called on its own thread";
  auto done = std::make_shared<absl::Notification>();
  // The guard notifies even when the closure is dropped without running.
  struct NotifyOnDestroy {
    std::shared_ptr<absl::Notification> done;
    ~NotifyOnDestroy() {
      if (done != nullptr && !done->HasBeenNotified()) done->Notify();
    }
  };
  auto guard = std::make_shared<NotifyOnDestroy>();
  guard->done = done;
  Post([fn = std::move(fn), guard = std::move(guard)]() mutable { std::move(fn)(); });
  done->WaitForNotification();
}

void EventLoop::Wake() {
  const uint64_t one = 1;
  // EAGAIN means the counter is already non-zero: the loop will wake anyway.
  [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
}

absl::Status EventLoop::Add(int fd, uint32_t events, std::shared_ptr<Handler> handler) {
  DCHECK(InLoopThread() || !running_.load());
  epoll_event event{};
  event.events = events;
  event.data.fd = fd;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) {
    return ErrnoError(absl::StrCat("event loop ", name_, ": register fd ", fd));
  }
  handlers_[fd] = std::move(handler);
  load_.fetch_add(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::Status EventLoop::Modify(int fd, uint32_t events) {
  epoll_event event{};
  event.events = events;
  event.data.fd = fd;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &event) != 0) {
    return ErrnoError(absl::StrCat("event loop ", name_, ": modify fd ", fd));
  }
  return absl::OkStatus();
}

void EventLoop::Remove(int fd) {
  auto it = handlers_.find(fd);
  if (it == handlers_.end()) return;
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  released_.push_back(std::move(it->second));
  handlers_.erase(it);
  load_.fetch_sub(1, std::memory_order_relaxed);
}

void EventLoop::RunPosted() {
  {
    absl::MutexLock lock(&mu_);
    running_batch_.swap(posted_);
  }
  for (auto& fn : running_batch_) std::move(fn)();
  running_batch_.clear();
}

void EventLoop::Tick(absl::Time now) {
  // Copy first: a tick may close a connection, which removes its handler.
  std::vector<std::shared_ptr<Handler>> handlers;
  handlers.reserve(handlers_.size());
  for (auto& [fd, handler] : handlers_) handlers.push_back(handler);
  for (auto& handler : handlers) handler->OnTick(now);
}

void EventLoop::Run() {
  thread_id_.store(std::this_thread::get_id());
  std::vector<epoll_event> events(kMaxEventsPerWait);
  const int tick_ms = static_cast<int>(absl::ToInt64Milliseconds(kTickInterval));
  int timeout_ms = tick_ms;
  while (true) {
    const int n = epoll_wait(epoll_fd_, events.data(), kMaxEventsPerWait, timeout_ms);
    if (n < 0 && errno != EINTR) {
      PLOG(ERROR) << "event loop " << name_ << ": epoll_wait";
    }
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == wake_fd_) {
        uint64_t count = 0;
        [[maybe_unused]] ssize_t r = read(wake_fd_, &count, sizeof(count));
        continue;
      }
      auto it = handlers_.find(fd);
      if (it == handlers_.end()) continue;  // removed earlier in this batch
      std::shared_ptr<Handler> handler = it->second;
      handler->OnEvents(events[i].events);
    }
    RunPosted();
    const absl::Time now = absl::Now();
    if (now >= next_tick_) {
      next_tick_ = now + kTickInterval;
      Tick(now);
    }
    released_.clear();
    bool stop;
    bool pending;
    {
      absl::MutexLock lock(&mu_);
      pending = !posted_.empty();
      stop = stopped_ && !pending;
    }
    if (stop) break;
    // Closures posted by this thread did not wake it: do not sleep on them.
    timeout_ms = pending ? 0 : tick_ms;
  }
  running_.store(false);
  thread_id_.store(std::thread::id());
}

}  // namespace iscsi_csi::target
