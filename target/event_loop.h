// EventLoop: one thread running epoll over non-blocking sockets, plus a queue of closures
// posted from other threads (woken through an eventfd) and a coarse tick for timers.
//
// The target runs a few of these (TargetOptions::io_threads) and spreads connections over
// them; a connection's sockets, buffers and protocol state are touched only on its loop's
// thread. Other threads (backing-store workers, the management pool, facade callers) reach
// a connection only by posting a closure to its loop.
#ifndef ISCSI_CSI_TARGET_EVENT_LOOP_H_
#define ISCSI_CSI_TARGET_EVENT_LOOP_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace iscsi_csi::target {

class EventLoop {
 public:
  // Handler receives the readiness events of one registered file descriptor.
  class Handler {
   public:
    virtual ~Handler() = default;
    // OnEvents is called with the epoll event bits (EPOLLIN, EPOLLOUT, EPOLLERR, ...).
    virtual void OnEvents(uint32_t events) = 0;
    // OnTick is called about every kTickInterval for timers (login and NOP-In timeouts).
    virtual void OnTick(absl::Time /*now*/) {}
  };

  static constexpr absl::Duration kTickInterval = absl::Milliseconds(250);

  // Create makes the epoll and eventfd descriptors; Start runs the thread.
  static absl::StatusOr<std::unique_ptr<EventLoop>> Create(std::string name);
  // Stops the thread (see Stop) and closes the descriptors.
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  void Start();
  // Stop ends the loop after the closures already posted have run, drops the handlers (their
  // descriptors are the handlers' business) and joins the thread. Closures posted after Stop
  // are destroyed without running. Idempotent; never call it from the loop thread.
  void Stop();

  // Post queues `fn` to run on the loop thread. Safe from any thread, including the loop's.
  void Post(absl::AnyInvocable<void() &&> fn);
  // RunSync posts `fn` and waits until it has run (or was dropped by Stop). Must not be
  // called on the loop thread.
  void RunSync(absl::AnyInvocable<void() &&> fn);

  bool InLoopThread() const { return std::this_thread::get_id() == thread_id_.load(); }

  // --- loop thread only ---
  // Add registers `fd` for `events`; the loop keeps `handler` alive until Remove.
  absl::Status Add(int fd, uint32_t events, std::shared_ptr<Handler> handler);
  absl::Status Modify(int fd, uint32_t events);
  // Remove unregisters `fd`; the handler is released after the current event batch.
  void Remove(int fd);

  // Number of registered handlers, for spreading connections (any thread, approximate).
  int load() const { return load_.load(std::memory_order_relaxed); }
  const std::string& name() const { return name_; }

 private:
  EventLoop(std::string name, int epoll_fd, int wake_fd);
  void Run();
  void Wake();
  void RunPosted();
  void Tick(absl::Time now);

  const std::string name_;
  const int epoll_fd_;
  const int wake_fd_;
  std::thread thread_;
  std::atomic<std::thread::id> thread_id_{};
  std::atomic<bool> running_{false};
  std::atomic<int> load_{0};

  absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void() &&>> posted_ ABSL_GUARDED_BY(mu_);
  // The batch RunPosted is running (loop thread only; kept to reuse its memory).
  std::deque<absl::AnyInvocable<void() &&>> running_batch_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;

  // Loop thread only.
  absl::flat_hash_map<int, std::shared_ptr<Handler>> handlers_;
  std::vector<std::shared_ptr<Handler>> released_;
  absl::Time next_tick_ = absl::InfinitePast();
};

}  // namespace iscsi_csi::target

#endif  // ISCSI_CSI_TARGET_EVENT_LOOP_H_
